"""Two profiles side by side: what got faster, what got slower, and what exists on one side only.

Nodes are matched by name first (the same graph profiled twice, or a graph and its optimized
version whose untouched nodes keep their names); nodes left over are matched by provenance (an
optimized node lists the ids of the original nodes it came from, so a fused node is compared with
the sum of the nodes it replaced). Deltas are ``after - before``: positive means slower.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from graphscope.profile.analysis import SCHEMA_VERSION, median_ci, node_statistics, to_jsonable
from graphscope.profile.events import RunProfile


@dataclass
class NodeDelta:
    name: str
    op: str
    before_ids: list[int]
    after_ids: list[int]
    before_ns: float
    after_ns: float
    delta_ns: float  # after - before
    change_pct: float | None  # 100 * delta / before (None when before is 0)
    match: str  # "name" or "provenance"


@dataclass
class OpDelta:
    op: str
    before_count: int
    after_count: int
    before_ns: float
    after_ns: float
    delta_ns: float
    change_pct: float | None


@dataclass
class NodeRef:
    id: int
    name: str
    op: str
    median_ns: float


@dataclass
class Comparison:
    before_name: str
    after_name: str
    before_ns: float  # median iteration wall time
    after_ns: float
    before_ci: tuple[float, float]
    after_ci: tuple[float, float]
    speedup: float  # before / after: > 1 means the after run is faster
    significant: bool  # the two confidence intervals do not overlap
    before_node_total_ns: float
    after_node_total_ns: float
    nodes: list[NodeDelta]  # matched nodes, largest |delta| first
    by_op: list[OpDelta]  # largest |delta| first
    only_before: list[NodeRef]
    only_after: list[NodeRef]
    notes: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def slowdowns(self, min_pct: float = 0.0) -> list[NodeDelta]:
        """Matched nodes that got slower by more than ``min_pct`` percent, largest delta first."""
        return sorted((d for d in self.nodes if d.delta_ns > 0 and (d.change_pct is None or d.change_pct > min_pct)),
                      key=lambda d: -d.delta_ns)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"schema_version": self.schema_version, **{k: v for k, v in d.items() if k != "schema_version"}}


def _pct(before: float, after: float) -> float | None:
    return 100.0 * (after - before) / before if before > 0 else None


def compare(before: RunProfile, after: RunProfile) -> Comparison:
    """Per-node and per-op deltas between two profiles (``after - before``) and the overall speedup."""
    sb, sa = node_statistics(before), node_statistics(after)
    tb = {nid: s.median_ns for nid, s in sb.items()}
    ta = {nid: s.median_ns for nid, s in sa.items()}

    def name_of(p: RunProfile, nid: int) -> str:
        return p.nodes[nid].name if nid in p.nodes else f"%{nid}"

    def op_of(p: RunProfile, nid: int) -> str:
        return p.nodes[nid].op if nid in p.nodes else "?"

    before_by_name: dict[str, int] = {}
    for nid in tb:
        before_by_name.setdefault(name_of(before, nid), nid)
    deltas: list[NodeDelta] = []
    matched_b: set[int] = set()
    matched_a: set[int] = set()
    for nid in sorted(ta):
        b = before_by_name.get(name_of(after, nid))
        if b is not None and b not in matched_b:
            matched_b.add(b)
            matched_a.add(nid)
            deltas.append(NodeDelta(name_of(after, nid), op_of(after, nid), [b], [nid], tb[b], ta[nid],
                                    ta[nid] - tb[b], _pct(tb[b], ta[nid]), "name"))
    # Provenance: an after-node made from before-nodes (by id) that are still unmatched.
    for nid in sorted(set(ta) - matched_a):
        info = after.nodes.get(nid)
        prov = set(info.provenance) if info is not None else set()
        origin = sorted(b for b in tb if b not in matched_b and (b in prov or prov & set(
            before.nodes[b].provenance if b in before.nodes else ())))
        if origin:
            matched_b.update(origin)
            matched_a.add(nid)
            b_ns = sum(tb[b] for b in origin)
            deltas.append(NodeDelta(name_of(after, nid), op_of(after, nid), origin, [nid], b_ns, ta[nid],
                                    ta[nid] - b_ns, _pct(b_ns, ta[nid]), "provenance"))
    deltas.sort(key=lambda d: (-abs(d.delta_ns), d.name))

    ops: dict[str, list] = {}
    for p, times, side in ((before, tb, 0), (after, ta, 1)):
        for nid, t in times.items():
            acc = ops.setdefault(op_of(p, nid), [0, 0, 0.0, 0.0])
            acc[side] += 1
            acc[2 + side] += t
    by_op = [OpDelta(op, cb, ca, b, a, a - b, _pct(b, a)) for op, (cb, ca, b, a) in ops.items()]
    by_op.sort(key=lambda d: (-abs(d.delta_ns), d.op))

    only_b = [NodeRef(n, name_of(before, n), op_of(before, n), tb[n]) for n in sorted(set(tb) - matched_b)]
    only_a = [NodeRef(n, name_of(after, n), op_of(after, n), ta[n]) for n in sorted(set(ta) - matched_a)]
    bl, bh, _ = median_ci(before.iteration_ns)
    al, ah, _ = median_ci(after.iteration_ns)
    b_total, a_total = before.total_ns, after.total_ns
    notes = []
    if only_b or only_a:
        notes.append(f"{len(only_b)} node(s) only before, {len(only_a)} only after")
    return Comparison(
        before_name=before.graph_name, after_name=after.graph_name, before_ns=float(b_total), after_ns=float(a_total),
        before_ci=(bl, bh), after_ci=(al, ah), speedup=b_total / a_total if a_total > 0 else math.nan,
        significant=bool(ah < bl or bh < al), before_node_total_ns=float(sum(tb.values())),
        after_node_total_ns=float(sum(ta.values())), nodes=deltas, by_op=by_op, only_before=only_b,
        only_after=only_a, notes=notes,
    )


__all__ = ["Comparison", "NodeDelta", "NodeRef", "OpDelta", "compare"]
