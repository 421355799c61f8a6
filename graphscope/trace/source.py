"""The user's source line: the first stack frame outside graphscope's machinery, NumPy and SciPy.

Errors and node sources name the line of the user's model code; a NumPy or SciPy function that
calls back into traced NumPy code (``scipy.special.softmax(t)``) is attributed to the user's call.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np


def _package_dir(name: str) -> tuple[str, ...]:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return ()
    return tuple(os.path.abspath(p) + os.sep for p in spec.submodule_search_locations)


_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep
# graphscope's own machinery is skipped; its bundled sample models (graphscope/samples) are user code.
_INTERNAL = ("trace" + os.sep, "ir" + os.sep, "runtime" + os.sep, "backends" + os.sep, "ops.py")
_SKIP = (
    tuple(os.path.join(_PKG_DIR, part) for part in _INTERNAL)
    + (_NUMPY_DIR, "<__array_function__", "<frozen")
    + _package_dir("scipy")
)


def user_source(depth: int = 1) -> str | None:
    """``"path/to/model.py:42"`` for the innermost caller that is user code (cheap: no inspect)."""
    frame = sys._getframe(depth)
    skip = _SKIP
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(skip):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return None
