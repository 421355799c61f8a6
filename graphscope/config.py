"""Process-wide settings (``gs.config``). Environment variables give the defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class Config:
    # Retraces of one @gs.function before a RetracingWarning explains them.
    retrace_warning_after: int = int(os.environ.get("GRAPHSCOPE_RETRACE_WARNING_AFTER", "5"))
    # Backend used by @gs.function calls that do not name one.
    backend: str = os.environ.get("GRAPHSCOPE_BACKEND", "numpy")


config = Config()
