"""plotly and graphviz are imported only where pictures are made, never by the core or the CLI's start."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import graphscope, graphscope.formats, graphscope.passes.pipeline, graphscope.runtime.run, graphscope.cli
from graphscope.formats import chrome_trace, report_json
from graphscope.profile import analysis, text
from graphscope.viz import dot
graphscope.cli.build_parser()
heavy = sorted(m for m in ("plotly", "graphviz") if m in sys.modules)
print(",".join(heavy))
"""


def test_core_and_cli_start_without_plotly_or_graphviz():
    res = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", f"imported at start: {res.stdout.strip()}"


def test_viz_modules_import_them_when_used():
    res = subprocess.run([sys.executable, "-c", "import sys; import graphscope.viz.figures, graphscope.viz.html; "
                          "print('plotly' in sys.modules)"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "True", res.stderr
