"""The memory plan: liveness on a schedule, buffer reuse through one arena, in-place ops.

A *storage* is a block of memory one value is written into. Views (VIEW ops: reshape, transpose,
getitem ...) own none: they live in the storage of their input, so they keep it alive until their
last reader has run. An elementwise op whose input dies at it may write its result over that input
(*in place*): the two values then share one storage.

Every storage the backend can write with ``out=`` is placed in one *arena* at an offset chosen
greedily by size (largest first, lowest offset that overlaps no storage whose lifetime overlaps:
the GreedyBySize planner of TFLite and ONNX Runtime). Storages that cannot live in the arena are
*heap* storages that the kernel allocates: values returned to the caller (and the storages their
views reach), and ops the backend has no ``out=`` kernel for.

Numbers a plan reports:

* ``arena_bytes``: the arena's size;
* ``planned_peak_bytes``: arena plus the peak of heap storages live at once (the memory a run holds);
* ``lower_bound_bytes``: the liveness lower bound: the largest total of values live at one step, each
  value in a buffer of its own from the step that makes it to its last reader (the bound offset
  planners such as TFLite's are measured against; in-place reuse can beat it);
* ``in_place_bound_bytes``: the same over this plan's storages (in-place chains share one): no
  placement of these storages can do better;
* ``naive_bytes``: every storage kept for the whole run (nothing freed, nothing reused).

The runtime (``graphscope.runtime.plan``) calls :func:`plan_memory` with the backend's kernels; this
module's pass marks a graph for arena execution and logs an estimate made from the IR alone (every
non-view op writes ``out=``, elementwise ops may run in place).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphscope.ir.graph import Graph, Node
from graphscope.ir.ops import ELEMENTWISE, SOURCE, VIEW, get_op
from graphscope.passes.base import PassLog, PassResult

ALIGNMENT = 64  # bytes: every arena offset is a multiple (a cache line, and enough for any SIMD load)


@dataclass
class Storage:
    root: int  # node id of the value that first writes it
    nbytes: int
    kind: str  # "arena" or "heap"
    members: list[int]  # node ids written into it (the root, then in-place results)
    uses: set[int] = field(default_factory=set)  # schedule positions that write or read it (views' readers too)
    offset: int = -1  # arena offset (-1 for heap storages)
    first: int = -1  # min(uses) and max(uses), kept up to date by add()
    last: int = -1
    mask: int = 0  # the uses as a bitmask (for parallel schedules)

    def add(self, positions: set[int]) -> None:
        if not positions:
            return
        self.uses |= positions
        lo, hi = min(positions), max(positions)
        self.first = lo if self.first < 0 else min(self.first, lo)
        self.last = max(self.last, hi)
        for p in positions:
            self.mask |= 1 << p


@dataclass
class MemoryPlan:
    order: list[int]  # node ids of the schedule (compute nodes only)
    storages: list[Storage]
    storage_of: dict[int, int]  # value id -> index in storages (views and in-place results included)
    in_place: dict[int, int]  # node id -> id of the input whose storage it overwrites
    arena_bytes: int = 0
    heap_peak_bytes: int = 0
    lower_bound_bytes: int = 0
    in_place_bound_bytes: int = 0
    naive_bytes: int = 0

    @property
    def planned_peak_bytes(self) -> int:
        return self.arena_bytes + self.heap_peak_bytes

    def offset(self, node_id: int) -> int | None:
        """The arena offset ``node_id`` is written at, or None when it is not an arena value."""
        k = self.storage_of.get(node_id)
        if k is None:
            return None
        s = self.storages[k]
        return s.offset if s.kind == "arena" and node_id in s.members else None

    def summary(self) -> dict[str, Any]:
        arena = [s for s in self.storages if s.kind == "arena"]
        return {
            "arena_bytes": self.arena_bytes, "planned_peak_bytes": self.planned_peak_bytes,
            "heap_peak_bytes": self.heap_peak_bytes, "lower_bound_bytes": self.lower_bound_bytes,
            "in_place_bound_bytes": self.in_place_bound_bytes,
            "naive_bytes": self.naive_bytes, "arena_values": sum(len(s.members) for s in arena),
            "heap_values": sum(len(s.members) for s in self.storages if s.kind == "heap"),
            "in_place": len(self.in_place),
        }


def _default_writes_out(node: Node) -> bool:
    return not get_op(node.op).has(VIEW)


def _default_in_place(node: Node, index: int) -> bool:
    return get_op(node.op).ufunc is not None and get_op(node.op).has(ELEMENTWISE) and not node.attrs


def plan_memory(
    graph: Graph,
    order: Sequence[Node] | None = None,
    *,
    writes_out: Callable[[Node], bool] = _default_writes_out,
    in_place: Callable[[Node, int], bool] = _default_in_place,
    ancestors: Sequence[int] | None = None,
    alignment: int = ALIGNMENT,
) -> MemoryPlan:
    """Plan the storages of ``graph`` run in ``order`` (its compute nodes; default: topological order).

    ``writes_out(node)``: the backend can write the node's value into a given buffer;
    ``in_place(node, i)``: that buffer may be the storage of input ``i`` (same spec);
    ``ancestors``: for a parallel schedule, a bitmask per position of the positions that surely
    finish before it starts (data dependencies and lane order). Without it the order is sequential:
    position ``p`` runs after every position ``< p``.
    """
    if order is None:
        order = [n for n in graph.nodes if not get_op(n.op).has(SOURCE)]
    pos = {n.id: k for k, n in enumerate(order)}
    end = len(order)  # graph outputs are read "after" the last step
    outputs = {o.id for o in graph.outputs}

    # Reads of each value, through views: a view's readers read its base's storage. Outputs are read at ``end``.
    reads: dict[int, set[int]] = {n.id: set() for n in order}
    for o in outputs:
        if o in reads:
            reads[o].add(end)
    for n in reversed(order):  # readers come later in the order: a view's reads are complete when reached
        p = pos[n.id]
        for i in n.inputs:
            if i.id in reads:
                reads[i.id].add(p)
        if get_op(n.op).has(VIEW) and n.inputs and n.inputs[0].id in reads:
            reads[n.inputs[0].id] |= reads[n.id]

    # Storages reached by an output (through views) cannot be in the arena: the caller keeps them.
    pinned: set[int] = {nid for nid, r in reads.items() if end in r}

    storages: list[Storage] = []
    storage_of: dict[int, int] = {}
    in_place_of: dict[int, int] = {}
    latest: dict[int, int] = {}  # storage -> id of the value it holds now (its last member written)
    for n in order:
        p = pos[n.id]
        if get_op(n.op).has(VIEW) and n.inputs:
            k = storage_of.get(n.inputs[0].id)
            if k is not None:
                storage_of[n.id] = k  # reads through the view are already in the base's reads
            continue
        arena = n.id not in pinned and writes_out(n)
        k = None
        if arena:
            for idx, i in enumerate(n.inputs):
                c = storage_of.get(i.id)
                if c is None or i.spec != n.spec or storages[c].kind != "arena" or latest[c] != i.id:
                    continue  # not an arena value's own storage, or it already holds a later value
                if not in_place(n, idx):
                    continue
                uses = storages[c]
                if ancestors is None:  # every other use is over before n writes (n itself reads it)
                    ok = uses.last <= p
                else:
                    ok = uses.mask & ~(ancestors[p] | 1 << p) == 0
                if ok:
                    k = c
                    in_place_of[n.id] = i.id
                    break
        if k is None:
            k = len(storages)
            storages.append(Storage(n.id, n.spec.nbytes, "arena" if arena else "heap", []))
        s = storages[k]
        s.members.append(n.id)
        s.add({p} | reads[n.id])
        storage_of[n.id] = k
        latest[k] = n.id

    plan = MemoryPlan([n.id for n in order], storages, storage_of, in_place_of)
    arena = sorted((s for s in storages if s.kind == "arena"), key=lambda s: (-s.nbytes, s.first))
    placed: list[Storage] = []
    for s in arena:
        first, last = s.first, s.last
        if ancestors is None:
            conflicts = [q for q in placed if q.first <= last and first <= q.last]
        else:  # disjoint only if one's every use surely ends before the other's first write
            anc = ancestors[first] if first < end else 0
            conflicts = [q for q in placed if q.mask & ~anc and s.mask & ~(ancestors[q.first] if q.first < end else 0)]
        s.offset = _lowest_offset(s, conflicts, alignment)
        placed.append(s)
        plan.arena_bytes = max(plan.arena_bytes, s.offset + s.nbytes)
    plan.heap_peak_bytes = _peak([s for s in storages if s.kind == "heap"], end)
    plan.in_place_bound_bytes = _peak(storages, end)
    values = []
    for n in order:
        if n.id in storage_of and not get_op(n.op).has(VIEW):
            values.append(Storage(n.id, n.spec.nbytes, "value", [n.id]))
            values[-1].add({pos[n.id]} | reads[n.id])
    plan.lower_bound_bytes = _peak(values, end)
    plan.naive_bytes = sum(s.nbytes for s in storages)
    return plan


def _lowest_offset(s: Storage, conflicts: list[Storage], alignment: int) -> int:
    offset = 0
    for q in sorted(conflicts, key=lambda q: q.offset):
        if offset + s.nbytes <= q.offset:
            break
        offset = max(offset, _align(q.offset + q.nbytes, alignment))
    return offset


def _align(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


def _peak(storages: list[Storage], end: int) -> int:
    """The largest total size of the storages live at one position (a storage lives first..last)."""
    delta = [0] * (end + 2)
    for s in storages:
        delta[s.first] += s.nbytes
        delta[min(s.last, end) + 1] -= s.nbytes
    peak = live = 0
    for d in delta:
        live += d
        peak = max(peak, live)
    return peak


def memory_plan(graph: Graph) -> PassResult:
    """Mark ``graph`` for arena execution (the runtime plans with its backend's kernels) and log an estimate."""
    t0 = time.perf_counter()
    log = PassLog("memory_plan", nodes_before=len(graph), nodes_after=len(graph))
    plan = plan_memory(graph)
    summary = plan.summary()
    graph.metadata["memory_plan"] = {"arena": True, "estimate": summary}
    mib = 1 << 20
    log.notes.append(
        f"estimate from the IR: arena {plan.arena_bytes / mib:.2f} MiB, planned peak {plan.planned_peak_bytes / mib:.2f} MiB, "
        f"liveness lower bound {plan.lower_bound_bytes / mib:.2f} MiB ({plan.in_place_bound_bytes / mib:.2f} MiB "
        f"with its in-place reuse), naive (every intermediate kept) "
        f"{plan.naive_bytes / mib:.2f} MiB; {summary['arena_values']} values in the arena "
        f"({summary['in_place']} in place), {summary['heap_values']} on the heap"
    )
    log.seconds = time.perf_counter() - t0
    return PassResult(graph, log)


__all__ = ["ALIGNMENT", "MemoryPlan", "Storage", "memory_plan", "plan_memory"]
