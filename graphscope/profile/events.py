"""Plain records of a profiled run. A RunProfile is self-contained: it describes every node it
timed (NodeInfo), so reports and the dashboard read a saved profile without the graph's weights."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class NodeEvent:
    node_id: int
    start_ns: int  # host clock (perf_counter_ns), relative to the start of the iteration
    end_ns: int
    lane: str  # thread, stream or worker that ran it
    bytes_allocated: int  # new memory this node's output took (0 for views)
    live_bytes: int  # bytes of intermediates live right after this node (its frees applied)
    flops: int
    bytes_moved: int  # bytes read + written by the op's cost rule
    device_ns: int | None = None  # device-side time where the backend has one

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(slots=True)
class NodeInfo:
    """What a viewer needs to know about a node, copied from the graph at profile time."""

    id: int
    name: str
    op: str
    scope: str
    source: str | None
    shape: tuple[int, ...]
    dtype: str
    inputs: tuple[int, ...]
    provenance: tuple[int, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, n: Any) -> NodeInfo:
        """The record of graph node ``n`` (a graphscope.ir Node)."""
        return cls(n.id, n.name, n.op, n.scope, n.source, n.spec.shape, n.spec.dtype.name, tuple(i.id for i in n.inputs),
                   n.provenance, dict(n.attrs))


@dataclass(slots=True)
class ValueSummary:
    """Statistics of one node's output value (recorded when a run asks for value summaries).

    min/max/mean/std are over the finite elements (None when there are none, or for non-numeric
    dtypes); ``hist_counts`` has one count per bin between consecutive ``hist_edges``.
    """

    shape: tuple[int, ...]
    dtype: str
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    nan_count: int = 0
    inf_count: int = 0
    hist_counts: list[int] = field(default_factory=list)
    hist_edges: list[float] = field(default_factory=list)


@dataclass
class RunProfile:
    graph_name: str
    backend: str
    nodes: dict[int, NodeInfo]
    iterations: list[list[NodeEvent]]  # measured iterations (warm-up excluded)
    iteration_ns: list[int]  # wall time of each measured iteration
    warmup_ns: list[int] = field(default_factory=list)  # wall time of each warm-up iteration
    peak_bytes: int = 0  # peak of intermediates and outputs allocated by the run
    peak_live: list[tuple[int, int]] = field(default_factory=list)  # (node id, bytes) live at the peak
    input_bytes: int = 0
    constant_bytes: int = 0
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)
    pass_log: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    value_summaries: dict[int, ValueSummary] = field(default_factory=dict)  # node id -> its output's statistics

    # -- summaries ------------------------------------------------------------------------------
    @property
    def total_ns(self) -> float:
        """Median wall time of one iteration."""
        return statistics.median(self.iteration_ns) if self.iteration_ns else 0.0

    def node_times_ns(self) -> dict[int, list[int]]:
        """Each node's duration in every measured iteration."""
        out: dict[int, list[int]] = {}
        for events in self.iterations:
            for e in events:
                out.setdefault(e.node_id, []).append(e.end_ns - e.start_ns)
        return out

    def node_median_ns(self) -> dict[int, float]:
        return {nid: statistics.median(ts) for nid, ts in self.node_times_ns().items()}

    def top_nodes(self, k: int = 10) -> list[tuple[NodeInfo, float]]:
        """The k nodes with the largest median time, slowest first."""
        med = self.node_median_ns()
        ranked = sorted(med.items(), key=lambda kv: -kv[1])[:k]
        return [(self.nodes[nid], t) for nid, t in ranked]

    def summary(self) -> dict[str, Any]:
        med = self.node_median_ns()
        last = self.iterations[-1] if self.iterations else []
        return {
            "graph": self.graph_name,
            "backend": self.backend,
            "iterations": len(self.iterations),
            "warmup": len(self.warmup_ns),
            "median_total_ms": self.total_ns / 1e6,
            "node_time_ms": sum(med.values()) / 1e6,
            "nodes_timed": len(med),
            "peak_bytes": self.peak_bytes,
            "input_bytes": self.input_bytes,
            "constant_bytes": self.constant_bytes,
            "flops": sum(e.flops for e in last),
            "bytes_moved": sum(e.bytes_moved for e in last),
        }
