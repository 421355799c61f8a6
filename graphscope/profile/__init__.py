"""Recorded runs and their analysis: events, RunProfile, the embedded profiler, reports.

Note: ``graphscope.profile`` as an attribute of the top-level package is the profiler function
(``gs.profile()``); import from the submodules here (``graphscope.profile.analysis``) for the rest.
"""

from graphscope.profile.analysis import Report, analyze
from graphscope.profile.calibration import Peaks
from graphscope.profile.compare import Comparison, compare
from graphscope.profile.events import NodeEvent, NodeInfo, RunProfile
from graphscope.profile.profiler import Profiler
from graphscope.profile.text import format_report

__all__ = ["Comparison", "NodeEvent", "NodeInfo", "Peaks", "Profiler", "Report", "RunProfile", "analyze", "compare",
           "format_report"]
