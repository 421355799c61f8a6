"""The user's source line: the first stack frame outside graphscope and NumPy."""

from __future__ import annotations

import os
import sys

import numpy as np

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep
# graphscope's own machinery is skipped; its bundled sample models (graphscope/samples) are user code.
_INTERNAL = ("trace" + os.sep, "ir" + os.sep, "runtime" + os.sep, "backends" + os.sep, "ops.py")
_SKIP = tuple(os.path.join(_PKG_DIR, part) for part in _INTERNAL) + (_NUMPY_DIR, "<__array_function__")


def user_source(depth: int = 1) -> str | None:
    """``"path/to/model.py:42"`` for the innermost caller that is user code (cheap: no inspect)."""
    frame = sys._getframe(depth)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_SKIP) and not filename.startswith("<frozen"):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return None
