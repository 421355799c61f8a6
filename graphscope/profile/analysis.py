"""Turn a RunProfile into answers: where the time goes, why, and what to do about it.

``analyze(profile, peaks=None, overhead=None) -> Report`` is the single entry point; every output
(text, JSON, HTML, the dashboard) reads a Report or its ``to_dict()``. All functions here are pure
over a RunProfile, except that ``analyze`` measures this machine's peaks and the profiler's own cost
when none are given (once per process; the peaks are cached on disk, see ``calibration``).

Conventions
-----------
* A node's time in an iteration is the sum of its events in that iteration (one event per node for
  graph runs); its statistics (median, p10, p90, mean) are over the measured iterations. Warm-up
  iterations are never in ``iterations``; their wall times are reported apart.
* Every percentage of "the total" is a share of the *node time*: the sum of the nodes' median times.
  Shares by node, op type and scope therefore add up to 100%, in serial and parallel runs alike.
  The wall time of an iteration (median, with a distribution-free confidence interval) is reported
  beside it; the difference is interpreter time between nodes (the lanes' gaps).
* A node is flagged ``unreliable`` when its median is under the timer's resolution or under the
  profiler's own per-node cost: its time is of the order of the cost of measuring it.

Roofline rule
-------------
With ``t`` the node's median time, ``F`` its FLOPs and ``B`` its bytes moved (read + written, from
the op's cost rule) and the machine's peaks ``P`` (FLOP/s) and ``W`` (bytes/s)::

    ideal = max(F / P, B / W)                    # the roofline time
    floor = max(5 us, 5 x fixed per-op cost)     # fixed cost: a trivial node in the plain interpreter
    overhead-bound  if t < floor and ideal < 50% of t,
                    or t < 10 x floor and ideal < 5% of t
    compute-bound   elif F / B >= P / W          # arithmetic intensity at or above the ridge point
    memory-bound    otherwise

That is: tiny nodes (unless the roofline itself explains most of their time: a 4 us copy of 128 KiB
at full bandwidth is memory-bound) and small nodes that reach under 5% of their roof are dominated
by fixed per-op cost (Python dispatch, allocation); every other node is bound by whichever roof its
arithmetic intensity puts it under. ``utilization = ideal / t`` says how close it gets to that roof.
Nodes with no FLOPs and no bytes (views) are overhead-bound.

Report schema (``Report.to_dict()``, ``schema_version`` 1)
--------------------------------------------------------
``{"schema_version": 1, "graph_name", "backend", "machine": {...},
   "peaks": {flops_per_s, bytes_per_s, gflops, gbps, source, machine},
   "overhead": {timer_resolution_ns, timer_call_ns, plain_node_ns, profiled_node_ns, profiler_ns,
                unreliable_below_ns, source},
   "timing": {iterations, median_ns, p10_ns, p90_ns, mean_ns, min_ns, max_ns, ci_low_ns, ci_high_ns,
              ci_level, warmup, warmup_ns, warmup_median_ns, node_total_ns, nodes_timed,
              unreliable_nodes, profiler_overhead_ns, profiler_overhead_share},
   "nodes": [{id, name, op, scope, source, shape, dtype, lane, count, calls, median_ns, p10_ns,
              p90_ns, mean_ns, pct, flops, bytes_moved, gflops, gbps, intensity, ideal_ns,
              utilization, bound, unreliable, device_ns, device_bound}, ...],          # slowest first
   "by_op": [{key, count, total_ns, median_ns, pct, flops, bytes_moved}, ...],
   "by_scope": [{scope, depth, count, total_ns, self_ns, median_ns, pct, self_pct}, ...],  # tree order
   "schedule": {critical_path, critical_path_ns, node_total_ns, wall_ns, parallelism, gap_ns,
                gap_share, lanes: [{lane, nodes, busy_ns, gap_ns, idle_ns, busy_share}, ...]},
   "memory": {peak_bytes, peak_node, peak_index, timeline: [[t_ns, bytes], ...],
              peak_tensors: [{node_id, name, op, scope, source, shape, dtype, bytes, pct_of_peak,
                              produced_index, last_use_index, users, is_output}, ...],
              input_bytes, constant_bytes, planned_peak_bytes, measured_over_planned},
   "recommendations": [{kind, message, node_ids, saving_ns, saving_bytes, details}, ...],
   "notes": [str, ...],
   "device": null | {device, streams, gpu_nodes, dispatch_ns, device_ns, bound, launch_bound_nodes,
              device_bound_nodes, pool_baseline_used_bytes, pool_peak_used_bytes, pool_peak_total_bytes,
              device_peak_bytes, device_peak_tensors: [[node id, bytes], ...], h2d_bytes, d2h_bytes,
              transfer_dispatch_ns, transfer_device_ns,
              transfers: [{node_id, name, direction, bytes, value_id, dispatch_ns, device_ns, gbps}, ...]}}``

Times are in nanoseconds, sizes in bytes; a value that cannot be computed is ``null``.

Host and device time (GPU backends)
-----------------------------------
A GPU backend's events are *host dispatch* times (``start_ns``/``end_ns``: what the Python loop spent
issuing the node's work, including any wait a blocking copy makes) and, for nodes on a device,
``device_ns`` (a pair of CUDA events around the node's work on its stream). Everything above (shares,
critical path, lanes) is computed on the host times; ``device_ns`` is each node's median device
time, and ``device_bound`` says which side is longer for that node: ``launch-bound`` when its
dispatch takes longer than its device work (the GPU waits for Python), else ``device-bound``. The
``device`` section sums both over the device's nodes (the run is launch-bound when the summed
dispatch time exceeds the summed device time), and reports the CuPy pool's peak (sampled after every
node), the logical peak of device tensors, and every host<->device transfer with its bytes and times.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphscope.backends.cpu_info import AVX512_CORETYPE, blas_kernel_mismatch
from graphscope.ir.ops import ELEMENTWISE, ops_in
from graphscope.ir.spec import format_spec
from graphscope.profile.calibration import Overhead, Peaks, machine_peaks, measure_overhead
from graphscope.profile.events import NodeEvent, NodeInfo, RunProfile

SCHEMA_VERSION = 1

# Classification and recommendation thresholds (see the module docstring).
OVERHEAD_FLOOR_NS = 5_000.0
OVERHEAD_FLOOR_OPS = 5.0  # the floor is at least this many fixed per-op costs
TINY_UTILIZATION = 0.5  # a node under the floor is overhead-bound unless its roofline explains half its time
LOW_UTILIZATION = 0.05
OVERHEAD_CEILING = 10.0  # the low-utilization clause applies up to this many floors
MATMUL_OPS = frozenset({"matmul", "fused_matmul", "einsum", "conv1d", "conv2d", "conv3d", "conv", "conv_transpose2d"})
MATMUL_FAR_UNDER = 0.3  # a matmul under this fraction of peak FLOP/s is reported
MATMUL_MIN_SHARE = 0.02
SLOW_KERNEL_UTILIZATION = 0.05  # a non-matmul node under this fraction of its roofline is reported ...
# ... when its roofline time is at least the overhead floor (it has real work to do)
SLOW_KERNEL_MIN_SHARE = 0.02
SLOW_KERNEL_HINTS = {
    "pow": "NumPy's float pow is slow: write small integer powers as products (x**3 -> x*x*x, x**2 -> x*x)",
    "mod": "floating-point mod is slow in NumPy: avoid it on large arrays where possible",
    "floordiv": "floating-point floordiv is slow in NumPy: avoid it on large arrays where possible",
}
MIN_SAVING_SHARE = 0.01  # recommendations saving less than this share of the node time are dropped
OVERHEAD_DOMINATED_SHARE = 0.3
LONG_LIVED_SPAN = 0.5  # of the run's nodes
LONG_LIVED_PEAK_SHARE = 0.1  # of the peak bytes
IDLE_LANE_RATIO = 0.5
PARALLELISM_WORTH = 1.5

COMPUTE, MEMORY, OVERHEAD = "compute-bound", "memory-bound", "overhead-bound"
LAUNCH_BOUND, DEVICE_BOUND = "launch-bound", "device-bound"


# ---------------------------------------------------------------------------------------------
# Statistics


def quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated quantile of sorted values (NumPy's default rule); NaN when empty."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    pos = (n - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def median_ci(values: Iterable[float], level: float = 0.95) -> tuple[float, float, float]:
    """Distribution-free confidence interval of the median from order statistics.

    Returns ``(low, high, coverage)``: the interval ``[x_(j), x_(n-j+1)]`` with the largest ``j``
    whose exact binomial coverage is still >= ``level``. With fewer than 6 samples no interval
    reaches 95%: the full range is returned with its actual (lower) coverage.
    """
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, 0.0
    if n == 1:
        return xs[0], xs[0], 0.0

    def coverage(j: int) -> float:  # P(j <= B <= n - j), B ~ Binomial(n, 1/2), j 1-based
        return sum(math.comb(n, i) for i in range(j, n - j + 1)) / 2**n

    j = 1
    while j + 1 <= n - j and coverage(j + 1) >= level:
        j += 1
    return xs[j - 1], xs[n - j], coverage(j)


@dataclass
class NodeStats:
    node_id: int
    count: int  # iterations the node ran in
    calls: float  # events per iteration (median; 1 for graph nodes)
    median_ns: float
    p10_ns: float
    p90_ns: float
    mean_ns: float
    min_ns: float
    max_ns: float
    flops: int  # per iteration
    bytes_moved: int
    lane: str
    device_ns: float | None = None  # median device time (GPU backends), None for host nodes


def node_statistics(profile: RunProfile) -> dict[int, NodeStats]:
    """Per node: its per-iteration time over the measured iterations (warm-up is never included)."""
    per_iter: dict[int, list[int]] = {}
    calls: dict[int, list[int]] = {}
    first: dict[int, tuple[int, int, str]] = {}  # cost and lane, from the first iteration it ran in
    device: dict[int, list[int]] = {}  # per-iteration device time of nodes that have one
    for events in profile.iterations:
        sums: dict[int, list] = {}  # node id -> [time, events, flops, bytes moved, lane, device time]
        for e in events:
            acc = sums.get(e.node_id)
            if acc is None:
                acc = sums[e.node_id] = [0, 0, 0, 0, e.lane, None]
            acc[0] += e.end_ns - e.start_ns
            acc[1] += 1
            acc[2] += e.flops
            acc[3] += e.bytes_moved
            if e.device_ns is not None:
                acc[5] = (acc[5] or 0) + e.device_ns
        for nid, (t, n, flops, moved, lane, dev) in sums.items():
            per_iter.setdefault(nid, []).append(t)
            calls.setdefault(nid, []).append(n)
            first.setdefault(nid, (flops, moved, lane))
            if dev is not None:
                device.setdefault(nid, []).append(dev)
    out = {}
    for nid, ts in per_iter.items():
        xs = sorted(ts)
        flops, moved, lane = first[nid]
        out[nid] = NodeStats(
            nid, len(xs), statistics.median(calls[nid]), statistics.median(xs), quantile(xs, 0.1), quantile(xs, 0.9),
            statistics.fmean(xs), xs[0], xs[-1], flops, moved, lane,
            float(statistics.median(device[nid])) if nid in device else None,
        )
    return out


def _nbytes(info: NodeInfo) -> int:
    try:
        return int(np.prod(info.shape, dtype=np.int64)) * np.dtype(info.dtype).itemsize
    except TypeError:
        return 0


def _topo_order(nodes: dict[int, NodeInfo]) -> list[int]:
    indeg = {nid: sum(1 for i in n.inputs if i in nodes) for nid, n in nodes.items()}
    users = _users(nodes)
    ready = sorted(nid for nid, d in indeg.items() if d == 0)
    order = []
    heapq.heapify(ready)
    while ready:
        nid = heapq.heappop(ready)
        order.append(nid)
        for u in users.get(nid, ()):
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(ready, u)
    if len(order) < len(nodes):  # a cycle cannot come from a valid graph; keep the rest in id order
        order += sorted(set(nodes) - set(order))
    return order


def _users(nodes: dict[int, NodeInfo]) -> dict[int, list[int]]:
    """Node id -> the nodes that read it, once per use."""
    users: dict[int, list[int]] = {}
    for nid, n in nodes.items():
        for i in n.inputs:
            users.setdefault(i, []).append(nid)
    return users


# ---------------------------------------------------------------------------------------------
# Report pieces


@dataclass
class Timing:
    iterations: int
    median_ns: float  # median wall time of one iteration
    p10_ns: float
    p90_ns: float
    mean_ns: float
    min_ns: float
    max_ns: float
    ci_low_ns: float  # confidence interval of the median iteration time (order statistics)
    ci_high_ns: float
    ci_level: float  # its exact coverage (>= 0.95 from 6 iterations on)
    warmup: int
    warmup_ns: list[int]
    warmup_median_ns: float | None
    node_total_ns: float  # sum of the nodes' median times: the denominator of every %
    nodes_timed: int
    unreliable_nodes: int  # nodes faster than the timer resolution or the profiler's per-node cost
    profiler_overhead_ns: float  # estimated profiler cost per iteration (per-node cost x events)
    profiler_overhead_share: float  # of the median iteration


@dataclass
class NodeRow:
    id: int
    name: str
    op: str
    scope: str
    source: str | None
    shape: list[int]
    dtype: str
    lane: str
    count: int
    calls: float
    median_ns: float
    p10_ns: float
    p90_ns: float
    mean_ns: float
    pct: float  # of the node time
    flops: int
    bytes_moved: int
    gflops: float  # achieved, at the median time
    gbps: float
    intensity: float | None  # FLOPs per byte moved
    ideal_ns: float  # roofline time at the machine's peaks
    utilization: float  # ideal / median: how close to its roof
    bound: str
    unreliable: bool
    device_ns: float | None = None  # median device time (GPU backends; None for host nodes)
    device_bound: str | None = None  # launch-bound | device-bound (nodes with a device time)


@dataclass
class GroupRow:
    key: str
    count: int
    total_ns: float
    median_ns: float  # median node time in the group
    pct: float
    flops: int
    bytes_moved: int


@dataclass
class ScopeRow:
    scope: str  # "" is the root (the whole graph)
    depth: int
    count: int  # nodes in this scope and below
    total_ns: float  # this scope and below
    self_ns: float  # nodes directly in this scope
    median_ns: float
    pct: float
    self_pct: float


@dataclass
class LaneRow:
    lane: str
    nodes: int
    busy_ns: float  # median over iterations of the lane's summed node time
    gap_ns: float  # median summed time between consecutive nodes on the lane
    idle_ns: float  # wall time minus busy time
    busy_share: float  # busy / wall


@dataclass
class Schedule:
    critical_path: list[int]  # node ids, first to last
    critical_path_ns: float
    node_total_ns: float
    wall_ns: float
    parallelism: float  # node time / critical path: the speedup unlimited workers could reach
    gap_ns: float  # time between consecutive nodes in a lane, summed over lanes (median iteration)
    gap_share: float  # of the lanes' wall time: interpreter overhead between nodes
    lanes: list[LaneRow]


@dataclass
class TensorRow:
    node_id: int
    name: str
    op: str
    scope: str
    source: str | None
    shape: list[int]
    dtype: str
    bytes: int
    pct_of_peak: float
    produced_index: int | None  # position in the run of the node that made it
    last_use_index: int | None  # position of its last reader (None: never read)
    users: list[int]
    is_output: bool


@dataclass
class MemoryReport:
    peak_bytes: int
    peak_node: int | None  # the node whose output allocation reached the peak
    peak_index: int | None
    timeline: list[tuple[float, int]]  # (ns into the iteration, live bytes), a step function
    peak_tensors: list[TensorRow]
    input_bytes: int
    constant_bytes: int
    planned_peak_bytes: int | None
    measured_over_planned: float | None


@dataclass
class Recommendation:
    # fuse_elementwise, matmul_under_peak, blas_kernels, slow_kernel, overhead_dominated, parallelism, idle_lane,
    # long_lived_tensor
    kind: str
    message: str
    node_ids: list[int]
    saving_ns: float = 0.0
    saving_bytes: int = 0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class TransferRow:
    node_id: int  # the transfer node (to_device / to_host) inserted by placement
    name: str
    direction: str  # h2d | d2h
    bytes: int
    value_id: int | None  # the node whose value it moves
    dispatch_ns: float  # median host time (a download includes the host's wait for it)
    device_ns: float | None  # median time of the copy on its stream
    gbps: float  # bytes per device ns (per dispatch ns without a device time)


@dataclass
class DeviceReport:
    """The GPU side of a profile (``RunProfile.metadata["gpu"]`` and the events' ``device_ns``)."""

    device: str
    streams: int
    gpu_nodes: int  # nodes with a device time
    dispatch_ns: float  # their summed median host dispatch times
    device_ns: float  # their summed median device times
    bound: str  # launch-bound (dispatch > device) | device-bound
    launch_bound_nodes: int
    device_bound_nodes: int
    pool_baseline_used_bytes: int | None  # the CuPy pool before the run (inputs, constants, other arrays)
    pool_peak_used_bytes: int | None  # the pool's used bytes at their highest (sampled after every node)
    pool_peak_total_bytes: int | None  # what the pool held from the driver at its highest
    device_peak_bytes: int | None  # logical peak of the run's device tensors (array sizes)
    device_peak_tensors: list[tuple[int, int]]  # (node id, bytes) live on the device at that peak
    h2d_bytes: int
    d2h_bytes: int
    transfer_dispatch_ns: float
    transfer_device_ns: float
    transfers: list[TransferRow]


@dataclass
class Report:
    graph_name: str
    backend: str
    machine: dict[str, Any]
    peaks: Peaks
    overhead: Overhead
    timing: Timing
    nodes: list[NodeRow]  # every timed node, slowest first
    by_op: list[GroupRow]
    by_scope: list[ScopeRow]
    schedule: Schedule
    memory: MemoryReport
    recommendations: list[Recommendation]
    notes: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    device: DeviceReport | None = None  # GPU runs only

    def top(self, k: int = 10) -> list[NodeRow]:
        """The ``k`` nodes with the largest median (self) time."""
        return self.nodes[:k]

    def node(self, node_id: int) -> NodeRow:
        for row in self.nodes:
            if row.id == node_id:
                return row
        raise KeyError(f"node %{node_id} was not timed in '{self.graph_name}'")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain dicts and lists, NaN/inf as None (``json.dumps(allow_nan=False)`` works)."""
        d = {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"schema_version": self.schema_version, **{k: v for k, v in d.items() if k != "schema_version"}}


def to_jsonable(obj: Any) -> Any:
    if isinstance(obj, (Peaks, Overhead)):
        return to_jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# ---------------------------------------------------------------------------------------------
# Pieces of the analysis, each usable alone


def timing_summary(profile: RunProfile, stats: dict[int, NodeStats], overhead: Overhead) -> Timing:
    xs = sorted(profile.iteration_ns)
    lo, hi, cov = median_ci(xs)
    node_total = float(sum(s.median_ns for s in stats.values()))
    med = statistics.median(xs) if xs else math.nan
    events = statistics.median(len(ev) for ev in profile.iterations) if profile.iterations else 0
    prof_cost = overhead.profiler_ns * events
    threshold = overhead.unreliable_below_ns
    return Timing(
        iterations=len(xs), median_ns=med, p10_ns=quantile(xs, 0.1), p90_ns=quantile(xs, 0.9),
        mean_ns=statistics.fmean(xs) if xs else math.nan, min_ns=xs[0] if xs else math.nan,
        max_ns=xs[-1] if xs else math.nan, ci_low_ns=lo, ci_high_ns=hi, ci_level=cov,
        warmup=len(profile.warmup_ns), warmup_ns=list(profile.warmup_ns),
        warmup_median_ns=statistics.median(profile.warmup_ns) if profile.warmup_ns else None,
        node_total_ns=node_total, nodes_timed=len(stats),
        unreliable_nodes=sum(1 for s in stats.values() if s.median_ns < threshold),
        profiler_overhead_ns=prof_cost, profiler_overhead_share=prof_cost / med if xs and med > 0 else math.nan,
    )


def overhead_floor_ns(overhead: Overhead) -> float:
    return max(OVERHEAD_FLOOR_NS, OVERHEAD_FLOOR_OPS * overhead.plain_node_ns)


def classify(time_ns: float, flops: float, bytes_moved: float, peaks: Peaks, floor_ns: float) -> tuple[str, float, float]:
    """``(bound, ideal_ns, utilization)`` by the roofline rule of the module docstring."""
    ideal = peaks.ideal_ns(flops, bytes_moved)
    util = ideal / time_ns if time_ns > 0 else math.nan
    if time_ns < OVERHEAD_CEILING * floor_ns and ideal < (TINY_UTILIZATION if time_ns < floor_ns else LOW_UTILIZATION) * time_ns:
        return OVERHEAD, ideal, util
    if flops <= 0 and bytes_moved <= 0:
        return OVERHEAD, ideal, util  # no work to speak of: what is left is fixed cost
    if bytes_moved <= 0 or flops / bytes_moved >= peaks.ridge_intensity:
        return COMPUTE, ideal, util
    return MEMORY, ideal, util


def node_rows(profile: RunProfile, stats: dict[int, NodeStats], peaks: Peaks, overhead: Overhead) -> list[NodeRow]:
    total = sum(s.median_ns for s in stats.values())
    floor = overhead_floor_ns(overhead)
    rows = []
    for nid, s in stats.items():
        info = profile.nodes.get(nid) or NodeInfo(nid, f"%{nid}", "?", "", None, (), "?", ())
        t = s.median_ns
        bound, ideal, util = classify(t, s.flops, s.bytes_moved, peaks, floor)
        rows.append(NodeRow(
            id=nid, name=info.name, op=info.op, scope=info.scope, source=info.source, shape=list(info.shape),
            dtype=info.dtype, lane=s.lane, count=s.count, calls=s.calls, median_ns=t, p10_ns=s.p10_ns,
            p90_ns=s.p90_ns, mean_ns=s.mean_ns, pct=100.0 * t / total if total > 0 else 0.0, flops=s.flops,
            bytes_moved=s.bytes_moved, gflops=s.flops / t if t > 0 else math.nan,
            gbps=s.bytes_moved / t if t > 0 else math.nan,
            intensity=s.flops / s.bytes_moved if s.bytes_moved > 0 else None, ideal_ns=ideal, utilization=util,
            bound=bound, unreliable=t < overhead.unreliable_below_ns, device_ns=s.device_ns,
            device_bound=None if s.device_ns is None else LAUNCH_BOUND if t > s.device_ns else DEVICE_BOUND,
        ))
    rows.sort(key=lambda r: (-r.median_ns, r.id))
    return rows


def by_op(rows: list[NodeRow]) -> list[GroupRow]:
    """Node time by op type, largest first; the totals add up to the node time."""
    return _groups(rows, lambda r: r.op)


def _groups(rows: list[NodeRow], key) -> list[GroupRow]:
    total = sum(r.median_ns for r in rows)
    groups: dict[str, list[NodeRow]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    out = [
        GroupRow(k, len(g), float(sum(r.median_ns for r in g)), statistics.median(r.median_ns for r in g),
                 100.0 * sum(r.median_ns for r in g) / total if total > 0 else 0.0, sum(r.flops for r in g),
                 sum(r.bytes_moved for r in g))
        for k, g in groups.items()
    ]
    out.sort(key=lambda g: (-g.total_ns, g.key))
    return out


def by_scope(rows: list[NodeRow]) -> list[ScopeRow]:
    """Node time by name scope, hierarchically ("attn" holds "attn/qkv"), in tree order.

    The root row (scope "") holds every node; each row's ``total_ns`` includes its sub-scopes and
    ``self_ns`` only the nodes directly in it, so the children's totals plus the parent's self time
    equal the parent's total.
    """
    total = sum(r.median_ns for r in rows)
    members: dict[str, list[float]] = {}
    own: dict[str, float] = {}
    children: dict[str, set[str]] = {}
    for r in rows:
        parts = [p for p in r.scope.split("/") if p]
        own[r.scope if parts else ""] = own.get(r.scope if parts else "", 0.0) + r.median_ns
        path = ""
        members.setdefault("", []).append(r.median_ns)
        for p in parts:
            parent = path
            path = f"{path}/{p}" if path else p
            children.setdefault(parent, set()).add(path)
            members.setdefault(path, []).append(r.median_ns)
    out: list[ScopeRow] = []

    def visit(scope: str, depth: int) -> None:
        ts = members[scope]
        t = float(sum(ts))
        s = own.get(scope, 0.0)
        out.append(ScopeRow(scope, depth, len(ts), t, s, statistics.median(ts), 100.0 * t / total if total else 0.0,
                            100.0 * s / total if total else 0.0))
        for c in sorted(children.get(scope, ()), key=lambda c: (-sum(members[c]), c)):
            visit(c, depth + 1)

    if members:
        visit("", 0)
    return out


def critical_path(profile: RunProfile, stats: dict[int, NodeStats]) -> tuple[list[int], float]:
    """The longest path through the DAG weighted by median node times: ``(node ids, length ns)``."""
    nodes = profile.nodes
    dist: dict[int, float] = {}
    pred: dict[int, int | None] = {}
    for nid in _topo_order(nodes):
        w = stats[nid].median_ns if nid in stats else 0.0
        best, arg = 0.0, None
        for i in nodes[nid].inputs:
            if i in dist and (arg is None or dist[i] > best):
                best, arg = dist[i], i
        dist[nid] = best + w
        pred[nid] = arg
    for nid in stats:  # timed nodes the profile does not describe: paths of their own
        dist.setdefault(nid, stats[nid].median_ns)
        pred.setdefault(nid, None)
    if not dist:
        return [], 0.0
    end = max(dist, key=lambda n: (dist[n], -n))
    path = []
    cur: int | None = end
    while cur is not None:
        path.append(cur)
        cur = pred[cur]
    return [n for n in reversed(path) if n in stats], float(dist[end])


def schedule(profile: RunProfile, stats: dict[int, NodeStats]) -> Schedule:
    path, length = critical_path(profile, stats)
    node_total = float(sum(s.median_ns for s in stats.values()))
    busy: dict[str, list[int]] = {}
    gaps: dict[str, list[int]] = {}
    walls: dict[str, list[int]] = {}
    lane_nodes: dict[str, set[int]] = {}
    total_gap, total_wall = [], []
    for events, wall in zip(profile.iterations, profile.iteration_ns):
        lanes: dict[str, list[NodeEvent]] = {}
        for e in events:
            lanes.setdefault(e.lane, []).append(e)
        g_sum = 0
        for lane, evs in lanes.items():
            evs.sort(key=lambda e: e.start_ns)
            b = sum(e.end_ns - e.start_ns for e in evs)
            g = 0
            last_end = evs[0].end_ns
            for e in evs[1:]:
                g += max(e.start_ns - last_end, 0)
                last_end = max(last_end, e.end_ns)
            busy.setdefault(lane, []).append(b)
            gaps.setdefault(lane, []).append(g)
            walls.setdefault(lane, []).append(wall)
            lane_nodes.setdefault(lane, set()).update(e.node_id for e in evs)
            g_sum += g
        total_gap.append(g_sum)
        total_wall.append(wall * max(len(lanes), 1))
    lane_rows = []
    for lane in busy:
        b, g, w = statistics.median(busy[lane]), statistics.median(gaps[lane]), statistics.median(walls[lane])
        lane_rows.append(LaneRow(lane, len(lane_nodes[lane]), float(b), float(g), float(max(w - b, 0)),
                                 b / w if w > 0 else math.nan))
    lane_rows.sort(key=lambda r: (-r.busy_ns, r.lane))
    wall = statistics.median(profile.iteration_ns) if profile.iteration_ns else math.nan
    shares = [g / w for g, w in zip(total_gap, total_wall) if w > 0]
    return Schedule(
        critical_path=path, critical_path_ns=length, node_total_ns=node_total, wall_ns=float(wall),
        parallelism=node_total / length if length > 0 else math.nan,
        gap_ns=float(statistics.median(total_gap)) if total_gap else 0.0,
        gap_share=statistics.median(shares) if shares else math.nan, lanes=lane_rows,
    )


def _representative_iteration(profile: RunProfile) -> list[NodeEvent]:
    """The measured iteration whose wall time is the median (memory is the same in every one)."""
    if not profile.iterations:
        return []
    order = sorted(range(len(profile.iteration_ns)), key=lambda k: profile.iteration_ns[k])
    k = order[(len(order) - 1) // 2] if order else len(profile.iterations) - 1
    return profile.iterations[min(k, len(profile.iterations) - 1)]


def memory_report(profile: RunProfile) -> MemoryReport:
    """Live bytes over one iteration, the peak, and the tensors live at it with their producers."""
    events = sorted(_representative_iteration(profile), key=lambda e: (e.start_ns, e.end_ns))
    timeline: list[tuple[float, int]] = [(0.0, 0)]
    position: dict[int, int] = {}
    live = 0
    best, peak_node, peak_index = -1, None, None
    for k, e in enumerate(events):
        position.setdefault(e.node_id, k)
        before_frees = live + e.bytes_allocated  # the peak is right after an allocation
        if before_frees > best:
            best, peak_node, peak_index = before_frees, e.node_id, k
        timeline.append((float(e.start_ns), live))
        timeline.append((float(e.end_ns), before_frees))
        timeline.append((float(e.end_ns), e.live_bytes))
        live = e.live_bytes
    compact: list[tuple[float, int]] = []
    for pt in timeline:
        if compact and compact[-1][1] == pt[1]:
            continue
        compact.append(pt)
    peak = profile.peak_bytes or max(best, 0)

    users = _users(profile.nodes)
    last_use: dict[int, int] = {}
    for nid, k in position.items():
        for i in (profile.nodes[nid].inputs if nid in profile.nodes else ()):
            last_use[i] = max(last_use.get(i, -1), k)
    outputs = set(profile.outputs)
    tensors = []
    for nid, nbytes in profile.peak_live:
        info = profile.nodes.get(nid) or NodeInfo(nid, f"%{nid}", "?", "", None, (), "?", ())
        tensors.append(TensorRow(
            node_id=nid, name=info.name, op=info.op, scope=info.scope, source=info.source, shape=list(info.shape),
            dtype=info.dtype, bytes=int(nbytes), pct_of_peak=100.0 * nbytes / peak if peak else 0.0,
            produced_index=position.get(nid), last_use_index=last_use.get(nid), users=sorted(set(users.get(nid, []))),
            is_output=nid in outputs,
        ))
    tensors.sort(key=lambda t: (-t.bytes, t.node_id))
    planned = profile.metadata.get("planned_peak_bytes")
    planned = int(planned) if isinstance(planned, (int, float)) and planned > 0 else None
    return MemoryReport(
        peak_bytes=int(peak), peak_node=peak_node, peak_index=peak_index, timeline=compact, peak_tensors=tensors,
        input_bytes=profile.input_bytes, constant_bytes=profile.constant_bytes, planned_peak_bytes=planned,
        measured_over_planned=peak / planned if planned else None,
    )


def _int_or_none(v: Any) -> int | None:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def device_report(profile: RunProfile, rows: list[NodeRow]) -> DeviceReport | None:
    """Host dispatch vs device time, GPU memory and transfers; None for a profile without device times."""
    gpu = profile.metadata.get("gpu")
    timed = [r for r in rows if r.device_ns is not None]
    if not isinstance(gpu, dict) and not timed:
        return None
    gpu = gpu if isinstance(gpu, dict) else {}
    dispatch = float(sum(r.median_ns for r in timed))
    device = float(sum(r.device_ns for r in timed))
    by_id = {r.id: r for r in rows}
    transfers = []
    raw = gpu.get("transfers") if isinstance(gpu.get("transfers"), dict) else {}
    for key, t in raw.items():
        try:
            nid = int(key)
        except ValueError:
            continue
        r = by_id.get(nid)
        nbytes = int(t.get("bytes", 0)) if isinstance(t, dict) else 0
        dev = r.device_ns if r is not None else None
        host = r.median_ns if r is not None else math.nan
        per = dev if dev else host
        transfers.append(TransferRow(
            node_id=nid, name=r.name if r is not None else f"%{nid}", direction=str(t.get("direction", "?")),
            bytes=nbytes, value_id=_int_or_none(t.get("value")), dispatch_ns=host, device_ns=dev,
            gbps=nbytes / per if per and per > 0 else math.nan,
        ))
    transfers.sort(key=lambda t: (-(t.device_ns if t.device_ns is not None else t.dispatch_ns), t.node_id))
    peak_live = [(int(a), int(b)) for a, b in gpu.get("device_peak_live", []) if isinstance(a, (int, str))]
    return DeviceReport(
        device=str(gpu.get("device", profile.machine.get("device", "?"))), streams=int(gpu.get("streams", 0) or 0),
        gpu_nodes=len(timed), dispatch_ns=dispatch, device_ns=device,
        bound=LAUNCH_BOUND if dispatch > device else DEVICE_BOUND,
        launch_bound_nodes=sum(r.device_bound == LAUNCH_BOUND for r in timed),
        device_bound_nodes=sum(r.device_bound == DEVICE_BOUND for r in timed),
        pool_baseline_used_bytes=_int_or_none(gpu.get("pool_baseline_used_bytes")),
        pool_peak_used_bytes=_int_or_none(gpu.get("pool_peak_used_bytes")),
        pool_peak_total_bytes=_int_or_none(gpu.get("pool_peak_total_bytes")),
        device_peak_bytes=_int_or_none(gpu.get("device_peak_bytes")), device_peak_tensors=peak_live,
        h2d_bytes=sum(t.bytes for t in transfers if t.direction == "h2d"),
        d2h_bytes=sum(t.bytes for t in transfers if t.direction == "d2h"),
        transfer_dispatch_ns=float(sum(t.dispatch_ns for t in transfers if math.isfinite(t.dispatch_ns))),
        transfer_device_ns=float(sum(t.device_ns or 0 for t in transfers)), transfers=transfers,
    )


# ---------------------------------------------------------------------------------------------
# Recommendations


def elementwise_regions(profile: RunProfile, timed: Iterable[int] | None = None) -> list[list[int]]:
    """Maximal fusible regions of ELEMENTWISE nodes, each in topological order (2+ nodes).

    An edge producer -> consumer is fusible when both are elementwise, the producer is not a graph
    output and every reader of the producer is elementwise (then its intermediate need not exist).
    Regions are the connected groups under fusible edges: chains, and the trees and diamonds that
    spelled-out formulas make (``0.5 * x * (1 + tanh(...))``).
    """
    nodes = profile.nodes
    keep = set(timed) if timed is not None else set(nodes)
    ew = ops_in(ELEMENTWISE)
    users = _users(nodes)
    outputs = set(profile.outputs)
    parent: dict[int, int] = {}

    def find(a: int) -> int:
        while parent.setdefault(a, a) != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for nid, n in nodes.items():
        if n.op not in ew or nid not in keep or nid in outputs:
            continue
        readers = users.get(nid, [])
        if readers and all(nodes[u].op in ew and u in keep for u in readers):
            for u in readers:
                parent[find(u)] = find(nid)
    groups: dict[int, list[int]] = {}
    for nid in parent:
        groups.setdefault(find(nid), []).append(nid)
    order = {nid: k for k, nid in enumerate(_topo_order(nodes))}
    regions = [sorted(g, key=lambda n: order.get(n, n)) for g in groups.values() if len(g) >= 2]
    regions.sort(key=lambda r: order.get(r[0], r[0]))
    return regions


def format_ns(ns: float | None) -> str:
    if ns is None or not math.isfinite(ns):
        return "-"
    a = abs(ns)
    if a >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if a >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if a >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def format_bytes(n: float | None) -> str:
    if n is None or not math.isfinite(n):
        return "-"
    a = abs(n)
    for unit, div in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if a >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n:.0f} B"


def _label(info: NodeInfo | NodeRow) -> str:
    return f"%{info.id} '{info.name}'"


def _recommend_fusion(profile, rows_by_id, peaks, overhead, node_total) -> list[Recommendation]:
    recs = []
    users = _users(profile.nodes)
    for region in elementwise_regions(profile, rows_by_id):
        members = set(region)
        saved_bytes = 0
        intermediates = []
        for nid in region:
            readers = users.get(nid, [])
            if readers and all(u in members for u in readers) and nid not in profile.outputs:
                intermediates.append(nid)
                saved_bytes += _nbytes(profile.nodes[nid]) * (1 + len(readers))  # written once, read per use
        measured = sum(rows_by_id[n].median_ns for n in region)
        bw_ns = saved_bytes / peaks.bytes_per_s * 1e9
        dispatch_ns = (len(region) - 1) * overhead.plain_node_ns
        saving = min(measured, bw_ns + dispatch_ns)
        scopes = sorted({profile.nodes[n].scope for n in region if profile.nodes[n].scope})
        where = f" in scope '{scopes[0]}'" if len(scopes) == 1 else (f" in scopes {', '.join(scopes[:3])}" if scopes else "")
        msg = (f"fuse {len(region)} elementwise ops %{region[0]}..%{region[-1]}{where}: they take {format_ns(measured)} "
               f"({100 * measured / node_total:.1f}% of node time); fusion avoids {len(intermediates)} intermediates, "
               f"{format_bytes(saved_bytes)} written+read (~{format_ns(bw_ns)} at {peaks.bytes_per_s / 1e9:.1f} GB/s) and "
               f"{len(region) - 1} dispatches (~{format_ns(dispatch_ns)}): saves ~{format_ns(saving)}")
        recs.append(Recommendation("fuse_elementwise", msg, list(region), saving, saved_bytes, {
            "ops": [profile.nodes[n].op for n in region], "intermediates": intermediates, "measured_ns": measured,
            "bandwidth_saving_ns": bw_ns, "dispatch_saving_ns": dispatch_ns,
        }))
    return recs


def _recommend_matmuls(profile, rows, peaks, node_total) -> list[Recommendation]:
    recs = []
    for r in rows:
        if r.op not in MATMUL_OPS or r.flops <= 0 or r.median_ns <= 0:
            continue
        frac = (r.flops / r.median_ns * 1e9) / peaks.flops_per_s
        if frac >= MATMUL_FAR_UNDER or r.median_ns < MATMUL_MIN_SHARE * node_total:
            continue
        at_peak = r.flops / peaks.flops_per_s * 1e9
        saving = max(r.median_ns - max(at_peak, r.ideal_ns), 0.0)
        info = profile.nodes.get(r.id)
        hints = []
        if r.dtype == "float64":
            hints.append("it is float64: float32 doubles the peak")
        if info is not None:
            in_ops = [profile.nodes[i].op for i in info.inputs if i in profile.nodes]
            if "transpose" in in_ops:
                hints.append("an operand is a transposed view (BLAS may copy it): pre-transpose constant weights")
            in_shapes = [profile.nodes[i].shape for i in info.inputs if i in profile.nodes]
            if r.op.startswith("conv"):
                if len(r.shape) >= 2 and r.shape[1] < 64:
                    hints.append(f"{r.shape[1]} output channels make a thin matrix product: merge convolutions that "
                                 "read the same input by concatenating their weights")
            elif any(s and min(s[-2:] if len(s) >= 2 else s) < 64 for s in in_shapes):
                hints.append("small matrices: batch several products into one larger matmul")
        if r.bound == OVERHEAD:
            hints.append("its time is mostly fixed per-call cost")
        hint = "; ".join(hints) or "check operand layout (contiguous, same dtype) and batch size"
        msg = (f"{r.op} {_label(r)} {format_spec(r.dtype, r.shape)} reaches {r.gflops:.1f} GFLOP/s, {100 * frac:.0f}% of the "
               f"{peaks.flops_per_s / 1e9:.0f} GFLOP/s peak, taking {format_ns(r.median_ns)} ({r.pct:.1f}%): {hint}")
        recs.append(Recommendation("matmul_under_peak", msg, [r.id], saving, 0, {
            "achieved_gflops": r.gflops, "peak_fraction": frac, "time_at_peak_ns": at_peak}))
    return recs


def _recommend_blas_kernels(profile, rows, node_total) -> list[Recommendation]:
    """OpenBLAS running AVX2 kernels on an AVX-512 CPU (recorded in the profile's machine info)."""
    arch = blas_kernel_mismatch(profile.machine)
    products = [r for r in rows if r.op in MATMUL_OPS and r.flops > 0 and r.dtype in ("float32", "float64")]
    spent = sum(r.median_ns for r in products)
    if arch is None or spent < MATMUL_MIN_SHARE * node_total:
        return []
    # AVX-512 kernels do twice the FLOPs per instruction: at most half the products' time is saved
    # (measured on this project's machines: sgemm 1.9x faster, see benchmarks/RESULTS.md).
    saving = spent / 2
    cpu = (profile.machine.get("cpu") or {}).get("model") or "this CPU"
    msg = (f"matrix products take {format_ns(spent)} ({100 * spent / node_total:.0f}% of node time) in OpenBLAS's "
           f"{arch} (AVX2) kernels, but {cpu} has AVX-512: start Python with OPENBLAS_CORETYPE={AVX512_CORETYPE} "
           f"(it must be set before NumPy loads) to use its AVX-512 kernels, up to 2x faster products")
    return [Recommendation("blas_kernels", msg, [r.id for r in products], saving, 0, {
        "architecture": arch, "suggested_coretype": AVX512_CORETYPE, "products_ns": spent})]


def _recommend_slow_kernels(rows, node_total, floor_ns) -> list[Recommendation]:
    recs = []
    for r in rows:
        # ideal >= floor: a node with next to no work that takes long was held up (GC, scheduler), not slow
        if (r.op in MATMUL_OPS or r.bound == OVERHEAD or not math.isfinite(r.utilization) or r.ideal_ns < floor_ns
                or r.utilization >= SLOW_KERNEL_UTILIZATION or r.median_ns < SLOW_KERNEL_MIN_SHARE * node_total):
            continue
        roof = "bandwidth" if r.bound == MEMORY else "compute"
        hint = SLOW_KERNEL_HINTS.get(r.op, "the kernel itself, not the memory system, limits it: look for a cheaper "
                                           "formulation of this op")
        msg = (f"{r.op} {_label(r)} {format_spec(r.dtype, r.shape)} takes {format_ns(r.median_ns)} ({r.pct:.1f}%) but its {roof} "
               f"roofline allows {format_ns(r.ideal_ns)} ({100 * r.utilization:.1f}% utilization, {r.gbps:.2f} GB/s, "
               f"{r.gflops:.2f} GFLOP/s): {hint}")
        recs.append(Recommendation("slow_kernel", msg, [r.id], r.median_ns - r.ideal_ns, 0,
                                   {"utilization": r.utilization, "ideal_ns": r.ideal_ns}))
    return recs


def _recommend_overhead(rows, sched, overhead, timing) -> list[Recommendation]:
    tiny = [r for r in rows if r.bound == OVERHEAD]
    wall = timing.median_ns
    if len(tiny) < 3 or not wall or not math.isfinite(wall):
        return []
    tiny_excess = sum(max(r.median_ns - r.ideal_ns, 0.0) for r in tiny)
    lanes = max(len(sched.lanes), 1)
    share = (tiny_excess + sched.gap_ns / lanes) / wall
    if share < OVERHEAD_DOMINATED_SHARE:
        return []
    med = statistics.median(r.median_ns for r in tiny)
    msg = (f"{len(tiny)} of {len(rows)} nodes are overhead-bound (median {format_ns(med)} each; fixed per-op cost "
           f"{format_ns(overhead.plain_node_ns)}) and gaps between nodes take {100 * sched.gap_share:.0f}% of the run: "
           f"~{100 * share:.0f}% of the {format_ns(wall)} iteration is per-op overhead; batch work into larger arrays "
           f"(e.g. a bigger batch per call) or fuse the small ops")
    return [Recommendation("overhead_dominated", msg, [r.id for r in tiny], tiny_excess + sched.gap_ns / lanes, 0, {
        "overhead_nodes": len(tiny), "share_of_run": share, "gap_ns": sched.gap_ns})]


def _recommend_memory(profile, mem: MemoryReport) -> list[Recommendation]:
    recs = []
    n = len(_representative_iteration(profile))
    if not mem.peak_bytes or mem.peak_index is None or n < 3:
        return recs
    for t in mem.peak_tensors:
        if t.is_output or t.produced_index is None or t.last_use_index is None:
            continue
        span = (t.last_use_index - t.produced_index) / (n - 1)
        if (span < LONG_LIVED_SPAN or t.bytes < LONG_LIVED_PEAK_SHARE * mem.peak_bytes
                or not t.produced_index < mem.peak_index < t.last_use_index):
            continue
        peak_name = profile.nodes[mem.peak_node].name if mem.peak_node in profile.nodes else "?"
        last = [u for u in t.users if u in profile.nodes]
        msg = (f"%{t.node_id} '{t.name}' ({format_bytes(t.bytes)}, {t.pct_of_peak:.0f}% of the "
               f"{format_bytes(mem.peak_bytes)} peak) is made by node {t.produced_index + 1} of {n} and last read by "
               f"node {t.last_use_index + 1}, so it is live across the peak at %{mem.peak_node} '{peak_name}': "
               f"compute it closer to its use{' (%' + str(last[-1]) + ')' if last else ''} or recompute it there")
        recs.append(Recommendation("long_lived_tensor", msg, [t.node_id, *t.users], 0.0, t.bytes, {
            "span": span, "produced_index": t.produced_index, "last_use_index": t.last_use_index,
            "peak_node": mem.peak_node}))
    return recs


def _recommend_lanes(sched: Schedule, profile: RunProfile) -> list[Recommendation]:
    recs = []
    if len(sched.lanes) >= 2:
        top = max(r.busy_ns for r in sched.lanes)
        balanced = sched.node_total_ns / len(sched.lanes)
        for r in sched.lanes:
            if r.busy_ns < IDLE_LANE_RATIO * top:
                ids = sorted({e.node_id for ev in profile.iterations[:1] for e in ev if e.lane == r.lane})
                msg = (f"lane '{r.lane}' is busy {100 * r.busy_share:.0f}% of the {format_ns(sched.wall_ns)} run "
                       f"({format_ns(r.busy_ns)}) while the busiest is busy {format_ns(top)}: rebalance work across "
                       f"lanes (a balanced schedule needs ~{format_ns(balanced)} per lane)")
                recs.append(Recommendation("idle_lane", msg, ids, max(sched.wall_ns - max(balanced, sched.critical_path_ns), 0.0),
                                           0, {"lane": r.lane, "busy_ns": r.busy_ns, "busiest_ns": top}))
    elif (len(sched.lanes) == 1 and math.isfinite(sched.parallelism) and sched.parallelism >= PARALLELISM_WORTH):
        saving = sched.node_total_ns - sched.critical_path_ns
        msg = (f"the graph allows {sched.parallelism:.1f}x parallelism: its critical path is "
               f"{format_ns(sched.critical_path_ns)} of {format_ns(sched.node_total_ns)} node time, all run on one lane; "
               f"running independent branches on several workers could save up to {format_ns(saving)}")
        recs.append(Recommendation("parallelism", msg, list(sched.critical_path), saving, 0,
                                   {"parallelism": sched.parallelism}))
    return recs


def recommendations(profile: RunProfile, rows: list[NodeRow], sched: Schedule, mem: MemoryReport, timing: Timing,
                    peaks: Peaks, overhead: Overhead) -> list[Recommendation]:
    """Every recommendation, largest estimated time saving first (memory ones by bytes after)."""
    node_total = timing.node_total_ns or 1.0
    by_id = {r.id: r for r in rows}
    recs = (_recommend_fusion(profile, by_id, peaks, overhead, node_total)
            + _recommend_matmuls(profile, rows, peaks, node_total)
            + _recommend_blas_kernels(profile, rows, node_total)
            + _recommend_slow_kernels(rows, node_total, overhead_floor_ns(overhead))
            + _recommend_overhead(rows, sched, overhead, timing)
            + _recommend_lanes(sched, profile))
    recs = [r for r in recs if r.saving_ns >= MIN_SAVING_SHARE * node_total]
    recs.sort(key=lambda r: -r.saving_ns)
    return recs + sorted(_recommend_memory(profile, mem), key=lambda r: -r.saving_bytes)


# ---------------------------------------------------------------------------------------------
# The entry point


def _peaks_for(profile: RunProfile, peaks: Peaks | None) -> Peaks:
    if peaks is not None:
        return peaks
    meta = profile.metadata.get("peaks")
    if isinstance(meta, dict):
        try:
            return Peaks(float(meta["flops_per_s"]), float(meta["bytes_per_s"]), "profile", str(meta.get("machine", "")))
        except (KeyError, TypeError, ValueError):
            pass
    return machine_peaks()


def _overhead_for(profile: RunProfile, overhead: Overhead | None) -> Overhead:
    if overhead is not None:
        return overhead
    meta = profile.metadata.get("overhead")
    if isinstance(meta, dict):
        try:
            return Overhead(float(meta["timer_resolution_ns"]), float(meta["timer_call_ns"]),
                            float(meta["plain_node_ns"]), float(meta["profiled_node_ns"]), "profile")
        except (KeyError, TypeError, ValueError):
            pass
    return measure_overhead()


def analyze(profile: RunProfile, peaks: Peaks | None = None, overhead: Overhead | None = None) -> Report:
    """Everything the reports show about one profile.

    ``peaks`` and ``overhead`` default to those stored in ``profile.metadata`` (a saved profile made
    elsewhere keeps the peaks of the machine it ran on), else to this machine's (measured once).
    """
    peaks = _peaks_for(profile, peaks)
    overhead = _overhead_for(profile, overhead)
    stats = node_statistics(profile)
    timing = timing_summary(profile, stats, overhead)
    rows = node_rows(profile, stats, peaks, overhead)
    sched = schedule(profile, stats)
    mem = memory_report(profile)
    recs = recommendations(profile, rows, sched, mem, timing, peaks, overhead)
    notes = []
    if timing.iterations < 6:
        notes.append(f"only {timing.iterations} measured iteration(s): the interval on the median covers "
                     f"{100 * timing.ci_level:.0f}%, not 95% (use repeat >= 6)")
    if timing.unreliable_nodes:
        notes.append(f"{timing.unreliable_nodes} node(s) ran faster than {format_ns(overhead.unreliable_below_ns)} (the "
                     "timer resolution or the profiler's own per-node cost): their times are marked '~' and approximate")
    device = device_report(profile, rows)
    if device is not None:
        notes.append("GPU run: node times, shares, bounds and recommendations above use host dispatch times and this "
                     "machine's CPU peaks; the GPU section gives each node's device time")
    prof_meta = profile.metadata.get("profiler")
    if isinstance(prof_meta, dict) and prof_meta.get("dropped"):
        notes.append(f"{prof_meta['dropped']} run(s) beyond repeat={prof_meta.get('repeat')} were not recorded")
    return Report(
        graph_name=profile.graph_name, backend=profile.backend, machine=dict(profile.machine), peaks=peaks,
        overhead=overhead, timing=timing, nodes=rows, by_op=by_op(rows), by_scope=by_scope(rows), schedule=sched,
        memory=mem, recommendations=recs, notes=notes, device=device,
    )


__all__ = [
    "COMPUTE", "DEVICE_BOUND", "LAUNCH_BOUND", "MEMORY", "OVERHEAD", "SCHEMA_VERSION", "DeviceReport", "GroupRow",
    "LaneRow", "MemoryReport", "NodeRow", "NodeStats", "Recommendation", "Report", "Schedule", "ScopeRow", "TensorRow",
    "Timing", "TransferRow", "analyze", "by_op", "by_scope", "classify", "critical_path", "device_report",
    "elementwise_regions", "median_ci", "memory_report", "node_rows", "node_statistics", "quantile", "recommendations",
    "schedule", "timing_summary", "to_jsonable",
]
