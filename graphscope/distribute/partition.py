"""Partition a graph into segments: the tasks of a Dask task graph.

One task per node would drown small nodes in per-task overhead (a Dask task costs hundreds of
microseconds to schedule), and one task for the whole graph would give up the parallel branches. So:

1. **Chains.** Walking the compute nodes in topological order, a node joins the segment of its inputs
   when all of its compute inputs are in one segment and it is the first reader of one of them; the
   other readers of a fan-out start their own segments (parallel branches stay apart), and so does a
   node that joins several segments. Placeholders and constants are not tasks: inputs are scattered
   once per call, constants ship with the graph (once per worker).
2. **Small segments are merged** while their estimated cost (the ops' FLOPs and bytes at nominal
   rates, plus a fixed per-node cost) is below ``min_task_s``: into their only producer segment, or
   else into their only consumer segment. Both merges keep the segment graph acyclic.

A fused node (the fusion pass's one node for a group) is one node, so it always stays in one task.
Segments are returned in a topological order of the segment graph; each lists its nodes in the
graph's topological order, the values it reads from outside (graph inputs or other segments' values)
and the values others read from it (or that are graph outputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphscope.ir.graph import Graph, Node
from graphscope.ir.ops import get_op

FLOPS_PER_S = 20e9  # nominal rates for the cost estimate; only the relative sizes matter much
BYTES_PER_S = 5e9
NODE_S = 2e-6
SOURCES = ("placeholder", "constant")


@dataclass
class Segment:
    index: int
    nodes: list[int]  # compute node ids in topological order
    inputs: list[int]  # ids of values read from outside: placeholders or other segments' nodes
    outputs: list[int]  # ids of values read by other segments or graph outputs
    deps: list[int] = field(default_factory=list)  # indices of the segments it reads from
    cost_s: float = 0.0

    @property
    def name(self) -> str:
        return f"seg{self.index}"


def node_cost_s(node: Node) -> float:
    flops, read, written = get_op(node.op).estimate_cost([i.spec for i in node.inputs], node.spec, node.attrs)
    return max(flops / FLOPS_PER_S, (read + written) / BYTES_PER_S) + NODE_S


def partition(graph: Graph, min_task_s: float = 1e-3) -> list[Segment]:
    order = [n for n in graph.nodes if n.op not in SOURCES]
    pos = {n.id: k for k, n in enumerate(order)}
    parent = {n.id: n.id for n in order}  # union-find over segment roots

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_user: dict[int, int] = {}
    for n in order:
        for i in n.inputs:
            if i.id in pos:
                first_user.setdefault(i.id, n.id)
    for n in order:
        producers = [i for i in n.inputs if i.id in pos]
        roots = {find(i.id) for i in producers}
        if len(roots) == 1 and any(first_user[i.id] == n.id for i in producers):
            parent[n.id] = roots.pop()

    cost = {n.id: node_cost_s(n) for n in order}

    def groups() -> dict[int, list[Node]]:
        out: dict[int, list[Node]] = {}
        for n in order:
            out.setdefault(find(n.id), []).append(n)
        return out

    changed = True
    while changed:
        changed = False
        members = groups()
        seg_cost = {r: sum(cost[n.id] for n in ns) for r, ns in members.items()}
        for root in sorted(members, key=lambda r: seg_cost[r]):
            if seg_cost[root] >= min_task_s or find(root) != root:
                continue
            ns = members[root]
            preds = {find(i.id) for n in ns for i in n.inputs if i.id in pos} - {root}
            succs = {find(u.id) for n in ns for u in n.users if u.id in pos} - {root}
            target = next(iter(preds)) if len(preds) == 1 else next(iter(succs)) if len(succs) == 1 else None
            if target is None:
                continue
            parent[root] = target
            changed = True
            break  # costs and neighbours changed: recompute

    members = groups()
    roots = sorted(members, key=lambda r: pos[members[r][0].id])
    graph_outputs = {o.id for o in graph.outputs}
    segments: dict[int, Segment] = {}
    for r in roots:
        ns = members[r]
        ids = {n.id for n in ns}
        inputs: list[int] = []
        for n in ns:
            for i in n.inputs:
                if i.id not in ids and i.op != "constant" and i.id not in inputs:
                    inputs.append(i.id)
        outputs = [n.id for n in ns if n.id in graph_outputs or any(u.id not in ids for u in n.users)]
        segments[r] = Segment(-1, [n.id for n in ns], inputs, outputs, cost_s=sum(cost[i] for i in ids))
    # Topological order of the segment graph (Kahn, ties by first node position).
    seg_of = {nid: r for r, s in segments.items() for nid in s.nodes}
    deps = {r: sorted({seg_of[i] for i in s.inputs if i in seg_of}, key=lambda d: pos[members[d][0].id])
            for r, s in segments.items()}
    indeg = {r: len(d) for r, d in deps.items()}
    users: dict[int, list[int]] = {r: [] for r in segments}
    for r, ds in deps.items():
        for d in ds:
            users[d].append(r)
    import heapq

    heap = [(pos[members[r][0].id], r) for r in segments if indeg[r] == 0]
    heapq.heapify(heap)
    ordered: list[int] = []
    while heap:
        _, r = heapq.heappop(heap)
        ordered.append(r)
        for u in users[r]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(heap, (pos[members[u][0].id], u))
    if len(ordered) != len(segments):  # cannot happen: every merge above keeps the segment graph acyclic
        raise AssertionError(f"partition of graph '{graph.name}' made a cycle of segments")
    index = {r: k for k, r in enumerate(ordered)}
    out = []
    for r in ordered:
        s = segments[r]
        s.index = index[r]
        s.deps = [index[d] for d in deps[r]]
        out.append(s)
    return out
