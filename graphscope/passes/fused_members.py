"""The original nodes behind each fused node, recorded so a later tool can replay a group unfused.

Fusion keeps a fused node's provenance (the ids it came from) but not the nodes themselves: their
ops, attributes and source lines are gone from the optimized graph. ``gs.optimize`` keeps a copy of
the graph as it was before its first fusing pass (a structural copy: constant values are shared) and
writes, for every fused node it can replay from that node's own inputs, the members in order with
their op, attributes, inputs, name, scope and source line into ``graph.metadata["fused_members"]``
(JSON, saved with the graph). ``check_numerics`` uses it to name the original node at fault.
"""

from __future__ import annotations

from typing import Any

from graphscope.ir.graph import Graph, Node

MEMBERS_KEY = "fused_members"
FUSED_OPS = ("fused", "fused_matmul")
FUSING_PASSES = frozenset({"elementwise_fusion", "pattern_fusion"})


def fusion_groups(graph: Graph) -> tuple[int | None, dict[int, list[int]]]:
    """(index in the pass log of the first pass that fused, fused node id -> ids it absorbed before any fusion).

    Fused entries of later passes may absorb nodes that earlier passes made (a fused node extended into
    a fused_matmul): those are expanded to the ids they absorbed, so every group is in pre-fusion ids.
    """
    first = None
    expanded: dict[int, list[int]] = {}
    for k, p in enumerate(graph.metadata.get("pass_log") or []):
        for e in p.get("fused", []) or []:
            first = k if first is None else first
            flat: list[int] = []
            for i in e.get("from", []):
                flat += expanded.pop(i, [i])
            expanded[e["into"]] = flat
    present = {n.id for n in graph.nodes}
    return first, {into: ids for into, ids in expanded.items() if into in present}


def group_record(pre: Graph, node: Node, ids: list[int], groups: dict[int, list[int]],
                 index: dict[int, int] | None = None) -> dict[str, Any] | None:
    """The record of fused ``node`` that absorbed ``ids`` (nodes of ``pre``, the graph before fusion): its members
    in order with what re-running them needs, and which pre-fusion value each of its inputs holds. None when the
    group cannot be replayed from ``node``'s inputs alone."""
    if index is None:
        index = {n.id: k for k, n in enumerate(pre.nodes)}
    by_id = pre._nodes  # id -> Node (read only)
    if any(i not in by_id for i in ids):
        return None  # the pre-fusion graph was not rebuilt identically
    members = sorted((by_id[i] for i in ids if by_id[i].op != "constant"), key=lambda m: index[m.id])
    literals = {i: by_id[i] for i in ids if by_id[i].op == "constant"}

    def rep(n: Node) -> int | None:  # the pre-fusion node whose value input ``n`` holds
        if n.id in by_id:
            return n.id
        grp = groups.get(n.id)
        if grp:
            cands = [by_id[i] for i in grp if i in by_id and by_id[i].op != "constant"]
            return max(cands, key=lambda m: index[m.id]).id if cands else None  # the group's root: its latest member
        return None

    reps = [rep(i) for i in node.inputs]
    if any(r is None for r in reps):
        return None
    known = set(reps) | {m.id for m in members}
    for m in members:
        for i in m.inputs:
            if i.id in known:
                continue
            if i.op == "constant" and i.spec.size == 1:
                literals[i.id] = i
                known.add(i.id)
            else:
                return None  # reads a value the fused node does not receive
    return {
        "members": [{"id": m.id, "name": m.name, "op": m.op, "scope": m.scope, "source": m.source,
                     "attrs": dict(m.attrs), "inputs": [i.id for i in m.inputs]} for m in members],
        "inputs": reps,
        "literals": {str(i): [c.value.reshape(-1)[0].item(), c.dtype.name, list(c.shape)] for i, c in literals.items()},
    }


def record_members(pre: Graph, optimized: Graph, first_fusing_pass: int) -> int:
    """Write ``optimized.metadata["fused_members"]`` from ``pre`` (the graph before the pass log's entry
    ``first_fusing_pass``); returns the number of fused nodes recorded."""
    first, groups = fusion_groups(optimized)
    if first is None or first < first_fusing_pass or not groups:
        return 0
    records = dict(optimized.metadata.get(MEMBERS_KEY) or {})
    index = {n.id: k for k, n in enumerate(pre.nodes)}  # once per graph, not per group
    done = 0
    for nid, ids in groups.items():
        node = optimized.node(nid)
        if node.op not in FUSED_OPS:
            continue
        rec = group_record(pre, node, ids, groups, index)
        if rec is not None:
            records[str(nid)] = rec
            done += 1
    if done:
        optimized.metadata[MEMBERS_KEY] = records
    return done
