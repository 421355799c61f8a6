"""``python -m graphscope.app``: the same as ``graphscope dashboard``."""

import sys

from graphscope.cli import main

sys.exit(main(["dashboard", *sys.argv[1:]]))
