"""The JSON report (``.json``): ``analyze(profile)`` as a versioned document for scripts and CI.

    graphscope profile model.gsg --json report.json
    graphscope report run.gsprof --json report.json

Schema (``format_version`` 1; the analysis fields are ``Report.to_dict()``, ``schema_version`` 1)
-------------------------------------------------------------------------------------------------
Times are nanoseconds, sizes bytes, percentages 0-100; a value that cannot be computed is ``null``
(the file never holds NaN or Infinity)::

    {
      "format": "graphscope-report",          # always this string
      "format_version": 1,                     # this file layout; bumped on incompatible changes
      "created_by": "graphscope 0.1.0",
      "schema_version": 1,                     # Report.to_dict()'s own version (analysis.SCHEMA_VERSION)
      "graph_name": str, "backend": str, "machine": {str: any},
      "peaks":    {"flops_per_s", "bytes_per_s", "gflops", "gbps", "source", "machine"},
      "overhead": {"timer_resolution_ns", "timer_call_ns", "plain_node_ns", "profiled_node_ns",
                   "profiler_ns", "unreliable_below_ns", "source"},
      "timing":   {"iterations", "median_ns", "p10_ns", "p90_ns", "mean_ns", "min_ns", "max_ns",
                   "ci_low_ns", "ci_high_ns", "ci_level", "warmup", "warmup_ns": [int],
                   "warmup_median_ns", "node_total_ns", "nodes_timed", "unreliable_nodes",
                   "profiler_overhead_ns", "profiler_overhead_share"},
      "nodes": [                               # every timed node, slowest first
        {"id", "name", "op", "scope", "source", "shape": [int], "dtype", "lane", "count", "calls",
         "median_ns", "p10_ns", "p90_ns", "mean_ns", "pct", "flops", "bytes_moved", "gflops",
         "gbps", "intensity", "ideal_ns", "utilization",
         "bound": "compute-bound" | "memory-bound" | "overhead-bound", "unreliable": bool}],
      "by_op":    [{"key", "count", "total_ns", "median_ns", "pct", "flops", "bytes_moved"}],
      "by_scope": [{"scope", "depth", "count", "total_ns", "self_ns", "median_ns", "pct",
                    "self_pct"}],              # tree order; scope "" is the whole graph
      "schedule": {"critical_path": [node id], "critical_path_ns", "node_total_ns", "wall_ns",
                   "parallelism", "gap_ns", "gap_share",
                   "lanes": [{"lane", "nodes", "busy_ns", "gap_ns", "idle_ns", "busy_share"}]},
      "memory":   {"peak_bytes", "peak_node", "peak_index", "timeline": [[t_ns, bytes]],
                   "peak_tensors": [{"node_id", "name", "op", "scope", "source", "shape", "dtype",
                                     "bytes", "pct_of_peak", "produced_index", "last_use_index",
                                     "users": [node id], "is_output"}],
                   "input_bytes", "constant_bytes", "planned_peak_bytes", "measured_over_planned"},
      "recommendations": [{"kind", "message", "node_ids": [int], "saving_ns", "saving_bytes",
                           "details": {}}],     # kind: fuse_elementwise, matmul_under_peak,
                                                # slow_kernel, overhead_dominated, parallelism,
                                                # idle_lane, long_lived_tensor
      "notes": [str]
    }

The meaning of each figure (how shares, bounds and savings are computed) is documented in
``graphscope/profile/analysis.py``. Readers should check ``format`` and ``format_version``
(``load_report_doc`` does) and ignore keys they do not know: new keys may be added within a
version, removing or changing one bumps it.

The comparison file (``graphscope compare a.gsprof b.gsprof --json diff.json``) has the same header
with ``"format": "graphscope-comparison"`` and the fields of ``Comparison.to_dict()``
(``graphscope/profile/compare.py``): before/after names, times, confidence intervals, speedup,
significant, per-node and per-op deltas, nodes only on one side.
"""

from __future__ import annotations

import json
import os
from typing import Any

from graphscope.errors import GraphFormatError

FORMAT = "graphscope-report"
FORMAT_VERSION = 1
SUFFIX = ".json"
COMPARISON_FORMAT = "graphscope-comparison"
TOP_KEYS = ("schema_version", "graph_name", "backend", "machine", "peaks", "overhead", "timing", "nodes", "by_op",
            "by_scope", "schedule", "memory", "recommendations", "notes")


def _header(fmt: str) -> dict[str, Any]:
    from graphscope import __version__

    return {"format": fmt, "format_version": FORMAT_VERSION, "created_by": f"graphscope {__version__}"}


def report_doc(obj: Any, report: Any = None) -> dict[str, Any]:
    """The document of a Report (or of a RunProfile, analysed here unless ``report`` is given)."""
    from graphscope.profile.analysis import Report, analyze
    from graphscope.profile.events import RunProfile

    if isinstance(obj, Report):
        report = obj
    elif isinstance(obj, RunProfile):
        report = report if report is not None else analyze(obj)
    else:
        raise TypeError(f"a JSON report is made from a RunProfile or a Report, not a {type(obj).__name__}")
    return {**_header(FORMAT), **report.to_dict()}


def comparison_doc(comparison: Any) -> dict[str, Any]:
    return {**_header(COMPARISON_FORMAT), **comparison.to_dict()}


def _write(doc: dict[str, Any], path: str | os.PathLike) -> None:
    from graphscope.formats._io import atomic_write

    data = json.dumps(doc, indent=1, allow_nan=False, ensure_ascii=False).encode("utf-8")
    atomic_write(path, lambda f: f.write(data + b"\n"))


def save_report_json(obj: Any, path: str | os.PathLike, *, report: Any = None, **_: Any) -> None:
    """Write the JSON report of a RunProfile or Report to ``path`` (atomically)."""
    _write(report_doc(obj, report), path)


def save_comparison_json(comparison: Any, path: str | os.PathLike) -> None:
    _write(comparison_doc(comparison), path)


def load_report_doc(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON report (or comparison) file as a dict, checking its format and version."""
    where = f"cannot load '{os.fspath(path)}'"
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except FileNotFoundError:
        raise GraphFormatError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GraphFormatError(f"{where}: not a JSON report ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") not in (FORMAT, COMPARISON_FORMAT):
        raise GraphFormatError(f"{where}: not a graphscope report (no \"format\": \"{FORMAT}\")")
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise GraphFormatError(f"{where}: format_version {version!r} is not supported (this graphscope reads "
                               f"version {FORMAT_VERSION}; upgrade graphscope to read newer files)")
    if doc["format"] == FORMAT:
        missing = [k for k in TOP_KEYS if k not in doc]
        if missing:
            raise GraphFormatError(f"{where}: missing field(s) {', '.join(missing)}")
    return doc


__all__ = ["COMPARISON_FORMAT", "FORMAT", "FORMAT_VERSION", "SUFFIX", "comparison_doc", "load_report_doc",
           "report_doc", "save_comparison_json", "save_report_json"]
