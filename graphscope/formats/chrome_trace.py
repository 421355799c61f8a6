"""Chrome trace export (``.chrome-trace.json``): a RunProfile as Trace Event Format JSON, for Perfetto
(ui.perfetto.dev) and chrome://tracing.

Layout (``otherData.format_version`` 1)::

    {"traceEvents": [...], "displayTimeUnit": "ns",
     "otherData": {"format": "graphscope-chrome-trace", "format_version": 1, "created_by", "graph",
                   "backend", "iterations", "iterations_in_full", "aggregated", "events", "max_events",
                   "note"}}

* One process (pid 1, named after the graph and backend) with one thread per lane (tid 1, 2, ... in
  the order lanes first ran) and a thread "iterations" (tid 0) with one span per iteration; "M"
  metadata events name them (``process_name``, ``thread_name``, ``*_sort_index``).
* Every node event is an "X" (complete) event: ``name`` the node's name, ``cat`` its op, ``ts`` and
  ``dur`` in microseconds (floats, nanosecond precision), ``args`` = node id, op, scope, shape, dtype,
  output bytes, bytes allocated, live bytes after, FLOPs, bytes moved, source line, iteration.
* A counter track "live memory" ("C" events, bytes) follows the intermediates alive after each node.
* Measured iterations are laid end to end in the order they ran (warm-up is not included; its
  wall times are in ``otherData``).

Size budget: a trace with more than ``max_events`` events (default 200,000, which Perfetto opens in
a few seconds) keeps the first iterations in full, then one *aggregated* iteration: each node at
its median duration over all measured iterations (args ``p10_us``/``p90_us``, ``aggregated``), laid
out in the order of the median iteration. ``otherData.note`` and the process label say so. A single
iteration over the budget keeps only its slowest nodes.
"""

from __future__ import annotations

import json
import os
import statistics
from typing import Any

import numpy as np

from graphscope.ir.spec import format_spec
from graphscope.profile.events import NodeEvent, RunProfile

FORMAT = "graphscope-chrome-trace"
FORMAT_VERSION = 1
SUFFIX = ".chrome-trace.json"
DEFAULT_MAX_EVENTS = 200_000
PID = 1
ITERATION_TID = 0


def _us(ns: float) -> float:
    return round(ns / 1000.0, 3)


def _nbytes(shape: tuple[int, ...], dtype: str) -> int:
    try:
        return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    except TypeError:
        return 0


def _median_iteration(profile: RunProfile) -> int:
    order = sorted(range(len(profile.iteration_ns)), key=lambda k: profile.iteration_ns[k])
    return min(order[(len(order) - 1) // 2], len(profile.iterations) - 1) if order else len(profile.iterations) - 1


class _Builder:
    def __init__(self, profile: RunProfile, memory: bool) -> None:
        self.p = profile
        self.memory = memory
        self.lanes: dict[str, int] = {}
        for events in profile.iterations:
            for e in sorted(events, key=lambda e: e.start_ns):
                self.lanes.setdefault(e.lane, len(self.lanes) + 1)
        self.events: list[dict[str, Any]] = []
        self.node_args: dict[int, dict[str, Any]] = {}
        for nid, n in profile.nodes.items():
            self.node_args[nid] = {
                "node": nid, "op": n.op, "scope": n.scope, "shape": format_spec(n.dtype, n.shape), "dtype": n.dtype,
                "bytes": _nbytes(tuple(n.shape), n.dtype), "source": n.source or "",
            }

    def per_iteration(self, n_events: int) -> int:
        return n_events * (2 if self.memory else 1) + 1

    def iteration(self, k: int, label: str, events: list[NodeEvent], offset_ns: float, wall_ns: float,
                  extra: dict[int, dict[str, Any]] | None = None) -> None:
        self.events.append({"name": label, "cat": "iteration", "ph": "X", "pid": PID, "tid": ITERATION_TID,
                            "ts": _us(offset_ns), "dur": _us(wall_ns), "args": {"iteration": k, "wall_us": _us(wall_ns)}})
        for e in sorted(events, key=lambda e: (e.start_ns, -e.end_ns)):
            info = self.p.nodes.get(e.node_id)
            args = dict(self.node_args.get(e.node_id, {"node": e.node_id}))
            args.update({"bytes_allocated": e.bytes_allocated, "live_bytes": e.live_bytes, "flops": e.flops,
                         "bytes_moved": e.bytes_moved, "iteration": k})
            if e.device_ns is not None:
                args["device_us"] = _us(e.device_ns)
            if extra and e.node_id in extra:
                args.update(extra[e.node_id])
            self.events.append({"name": info.name if info else f"%{e.node_id}", "cat": info.op if info else "node",
                                "ph": "X", "pid": PID, "tid": self.lanes.setdefault(e.lane, len(self.lanes) + 1),
                                "ts": _us(offset_ns + e.start_ns), "dur": _us(e.end_ns - e.start_ns), "args": args})
            if self.memory:
                self.events.append({"name": "live memory", "ph": "C", "pid": PID, "ts": _us(offset_ns + e.end_ns),
                                    "args": {"bytes": e.live_bytes}})

    def metadata(self, label: str | None) -> list[dict[str, Any]]:
        p = self.p
        meta = [
            {"name": "process_name", "ph": "M", "pid": PID, "tid": 0,
             "args": {"name": f"graphscope: {p.graph_name} ({p.backend})"}},
            {"name": "process_sort_index", "ph": "M", "pid": PID, "tid": 0, "args": {"sort_index": 0}},
            {"name": "thread_name", "ph": "M", "pid": PID, "tid": ITERATION_TID, "args": {"name": "iterations"}},
            {"name": "thread_sort_index", "ph": "M", "pid": PID, "tid": ITERATION_TID, "args": {"sort_index": 0}},
        ]
        for lane, tid in self.lanes.items():
            meta.append({"name": "thread_name", "ph": "M", "pid": PID, "tid": tid, "args": {"name": f"lane {lane}"}})
            meta.append({"name": "thread_sort_index", "ph": "M", "pid": PID, "tid": tid, "args": {"sort_index": tid}})
        if label:
            meta.append({"name": "process_labels", "ph": "M", "pid": PID, "tid": 0, "args": {"labels": label}})
        return meta


def aggregated_iteration(profile: RunProfile) -> tuple[list[NodeEvent], dict[int, dict[str, Any]], float]:
    """One iteration with each node at its median duration over the measured iterations.

    Nodes keep the lane and order of the median iteration; on each lane a node starts at its start
    in that iteration or when the node before it ends, whichever is later. Returns the events, extra
    args per node (p10/p90) and the iteration's length (ns).
    """
    if not profile.iterations:
        return [], {}, 0.0
    durs: dict[int, list[int]] = {}
    for events in profile.iterations:
        for e in events:
            durs.setdefault(e.node_id, []).append(e.end_ns - e.start_ns)
    rep = profile.iterations[_median_iteration(profile)]
    lane_end: dict[str, float] = {}
    out, extra = [], {}
    n = len(profile.iterations)
    for e in sorted(rep, key=lambda e: (e.start_ns, e.end_ns)):
        ds = sorted(durs[e.node_id])
        med = statistics.median(ds)
        start = max(float(e.start_ns), lane_end.get(e.lane, 0.0))
        end = start + med
        lane_end[e.lane] = end
        out.append(NodeEvent(e.node_id, round(start), round(end), e.lane, e.bytes_allocated, e.live_bytes, e.flops,
                             e.bytes_moved, e.device_ns))
        extra[e.node_id] = {"aggregated": f"median of {n} iterations", "p10_us": _us(float(np.percentile(ds, 10))),
                            "p90_us": _us(float(np.percentile(ds, 90)))}
    return out, extra, max(lane_end.values(), default=0.0)


def trace_events(profile: RunProfile, *, max_events: int = DEFAULT_MAX_EVENTS, memory: bool = True) -> dict[str, Any]:
    """The trace as a JSON-ready dict (see the module docstring)."""
    from graphscope import __version__

    if max_events < 1:
        raise ValueError(f"max_events must be at least 1, got {max_events}")
    b = _Builder(profile, memory)
    n_meta = 4 + 2 * len(b.lanes) + 1
    iters = profile.iterations
    sizes = [b.per_iteration(len(ev)) for ev in iters]
    note = ""
    in_full = len(iters)
    aggregated = False
    if n_meta + sum(sizes) > max_events and iters:
        agg_events, extra, agg_len = aggregated_iteration(profile)
        agg_size = b.per_iteration(len(agg_events))
        budget = max_events - n_meta - agg_size
        in_full = 0
        used = 0
        while in_full < len(iters) and used + sizes[in_full] <= budget:
            used += sizes[in_full]
            in_full += 1
        aggregated = True
        note = (f"{len(iters)} iterations exceed the budget of {max_events} events: the first {in_full} are shown in "
                f"full, then one aggregated iteration (each node at its median over all {len(iters)} iterations)")
        if agg_size + n_meta > max_events:  # one iteration alone is too big: keep its slowest nodes
            keep_n = max((max_events - n_meta - 1) // (2 if memory else 1), 0)
            keep = sorted(agg_events, key=lambda e: -(e.end_ns - e.start_ns))[:keep_n]
            note += f"; only the {len(keep)} slowest of its {len(agg_events)} nodes fit"
            agg_events = keep
    offset = 0.0
    for k in range(in_full):
        wall = float(profile.iteration_ns[k]) if k < len(profile.iteration_ns) else 0.0
        wall = max(wall, max((e.end_ns for e in iters[k]), default=0))
        b.iteration(k, f"iteration {k + 1}", iters[k], offset, wall)
        offset += wall
    if aggregated:
        b.iteration(-1, f"median iteration (of {len(iters)})", agg_events, offset, agg_len, extra)
    events = b.metadata(note or None) + _ordered(b.events)
    other = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "created_by": f"graphscope {__version__}",
        "graph": profile.graph_name, "backend": profile.backend, "iterations": len(iters),
        "iterations_in_full": in_full, "aggregated": aggregated, "events": len(events), "max_events": max_events,
        "warmup_ns": list(profile.warmup_ns), "note": note or "every measured iteration in full",
    }
    return {"traceEvents": events, "displayTimeUnit": "ns", "otherData": other}


def _ordered(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Time order; at equal start the longer (enclosing) event first, so nesting reads correctly."""
    return sorted(events, key=lambda e: (e["ts"], -e.get("dur", 0.0)))


def save_chrome_trace(profile: RunProfile, path: str | os.PathLike, *, max_events: int = DEFAULT_MAX_EVENTS,
                      memory: bool = True, **_: Any) -> None:
    """Write the Chrome trace of ``profile`` to ``path`` (atomically)."""
    from graphscope.formats._io import atomic_write

    if not isinstance(profile, RunProfile):
        raise TypeError(f"a Chrome trace is made from a RunProfile, not a {type(profile).__name__}")
    doc = trace_events(profile, max_events=max_events, memory=memory)
    data = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("utf-8")
    atomic_write(path, lambda f: f.write(data))


__all__ = ["DEFAULT_MAX_EVENTS", "FORMAT", "FORMAT_VERSION", "SUFFIX", "aggregated_iteration", "save_chrome_trace",
           "trace_events"]
