"""A compiled plan: everything the interpreter needs, computed once per graph and backend.

Each step is ``(kernel, input slots, output slot, slots to free after it)``. Values live in a list
indexed by slot; a value's slot is cleared right after its last use, so NumPy frees it then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphscope.backends.base import Backend, Kernel
from graphscope.ir.graph import Graph, Node
from graphscope.ir.ops import get_op
from graphscope.profile.events import NodeInfo


@dataclass(slots=True)
class Step:
    node: Node
    kernel: Kernel
    args: tuple[int, ...]
    out: int
    frees: tuple[int, ...]
    flops: int
    bytes_moved: int


class Plan:
    def __init__(self, graph: Graph, backend: Backend) -> None:
        self.graph = graph
        self.backend = backend
        self.version = graph.version
        order = graph.nodes
        self.slot_of: dict[int, int] = {n.id: i for i, n in enumerate(order)}
        self.node_of_slot: list[Node] = list(order)
        self.template: list[Any] = [None] * len(order)
        self.constant_bytes = 0
        for n in order:
            if n.op == "constant":
                self.template[self.slot_of[n.id]] = backend.asarray(n.value)
                self.constant_bytes += n.spec.nbytes
        self.input_slots = [self.slot_of[n.id] for n in graph.inputs]
        self.output_slots = [self.slot_of[n.id] for n in graph.outputs]

        # Last use of each slot, as the index of the step after which it can be dropped.
        keep = set(self.output_slots) | {self.slot_of[n.id] for n in order if n.op == "constant"}
        compute = [n for n in order if n.op not in ("placeholder", "constant")]
        last_use: dict[int, int] = {}
        for k, n in enumerate(compute):
            last_use[self.slot_of[n.id]] = k  # a value nobody reads dies right after it is made
            for i in n.inputs:
                last_use[self.slot_of[i.id]] = k
        for s in self.input_slots:
            last_use.setdefault(s, -1)
        frees: dict[int, list[int]] = {}
        for s, k in last_use.items():
            if s not in keep and k >= 0:
                frees.setdefault(k, []).append(s)

        self.steps: list[Step] = []
        for k, n in enumerate(compute):
            flops, read, written = get_op(n.op).estimate_cost([i.spec for i in n.inputs], n.spec, n.attrs)
            self.steps.append(Step(
                n, backend.kernel(n), tuple(self.slot_of[i.id] for i in n.inputs), self.slot_of[n.id],
                tuple(sorted(frees.get(k, ()))), flops, read + written,
            ))
        # The hot loop reads plain tuples (attribute access on Step costs more per node).
        self.fast_steps = [(s.kernel, s.args, s.out, s.frees) for s in self.steps]
        self._node_infos: dict[int, NodeInfo] | None = None

    def node_infos(self) -> dict[int, NodeInfo]:
        """What a profile records about each node (made once per plan, shared by its profiles)."""
        if self._node_infos is None:
            self._node_infos = {
                n.id: NodeInfo(n.id, n.name, n.op, n.scope, n.source, n.spec.shape, n.spec.dtype.name,
                               tuple(i.id for i in n.inputs), n.provenance, dict(n.attrs))
                for n in self.node_of_slot
            }
        return self._node_infos
