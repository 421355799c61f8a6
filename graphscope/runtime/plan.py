"""A compiled plan: everything the interpreter needs, computed once per graph and backend.

Each step is ``(kernel, input slots, output slot, slots to free after it)``. Values live in a list
indexed by slot; a value's slot is cleared right after its last use, so NumPy frees it then.

With a memory plan (graphs optimized at level 2+, or ``arena=True``), values the backend can write
with ``out=`` live in an *arena*: one buffer per plan and thread, allocated on the thread's first run
and reused by every later one (no allocation, no page faults). Their steps call the out kernel with
one more argument slot holding the value's precomputed view into the arena, so the interpreter's
loop is the same. Values returned to the caller are never in the arena (see ``passes/memory_plan``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphscope.backends.base import Backend, Kernel
from graphscope.ir.graph import Graph, Node
from graphscope.ir.ops import get_op
from graphscope.passes.memory_plan import ALIGNMENT, MemoryPlan, plan_memory
from graphscope.profile.events import NodeInfo


@dataclass(slots=True)
class Step:
    node: Node
    kernel: Kernel
    args: tuple[int, ...]  # input slots (and, for an arena value, its buffer slot last)
    out: int
    frees: tuple[int, ...]
    flops: int
    bytes_moved: int
    arena_offset: int | None = None  # where its value is written in the arena (None: allocated by the kernel)
    threads: int = 1  # cores its kernel keeps busy


class Plan:
    def __init__(self, graph: Graph, backend: Backend, *, arena: bool | None = None) -> None:
        self.graph = graph
        self.backend = backend
        self.version = graph.version
        order = graph.nodes
        n_values = len(order)
        self.slot_of: dict[int, int] = {n.id: i for i, n in enumerate(order)}
        self.node_of_slot: list[Node] = list(order)
        template: list[Any] = [None] * n_values
        self.constant_bytes = 0
        for n in order:
            if n.op == "constant":
                template[self.slot_of[n.id]] = backend.asarray(n.value)
                self.constant_bytes += n.spec.nbytes
        self.input_slots = [self.slot_of[n.id] for n in graph.inputs]
        self.output_slots = [self.slot_of[n.id] for n in graph.outputs]
        compute = [n for n in order if n.op not in ("placeholder", "constant")]

        # The memory plan, when the graph asks for one (the memory_plan pass) or the caller does.
        if arena is None:
            arena = bool((graph.metadata.get("memory_plan") or {}).get("arena"))
        out_kernels: dict[int, Kernel | None] = {}
        self.memory: MemoryPlan | None = None
        if arena:
            for n in compute:
                out_kernels[n.id] = backend.out_kernel(n)
            self.memory = plan_memory(
                graph, compute, writes_out=lambda n: out_kernels.get(n.id) is not None, in_place=backend.in_place_ok)
        self.arena_bytes = self.memory.arena_bytes if self.memory else 0
        # Buffer slots (after the value slots): one view into the arena per arena value.
        self.buffers: list[tuple[int, int, tuple[int, ...], np.dtype]] = []  # (slot, offset, shape, dtype)
        buffer_slot: dict[int, int] = {}
        if self.memory is not None:
            for n in compute:
                off = self.memory.offset(n.id)
                if off is not None:
                    buffer_slot[n.id] = n_values + len(self.buffers)
                    self.buffers.append((buffer_slot[n.id], off, n.spec.shape, n.spec.dtype))
        self.template: list[Any] = template + [None] * len(self.buffers)
        arena_values = set(buffer_slot)

        # Last use of each slot, as the index of the step after which it can be dropped.
        keep = set(self.output_slots) | {self.slot_of[n.id] for n in order if n.op == "constant"}
        keep |= {self.slot_of[i] for i in arena_values}  # arena memory is held anyway: nothing to free
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
            args = tuple(self.slot_of[i.id] for i in n.inputs)
            offset = None
            if n.id in buffer_slot:
                kernel = out_kernels[n.id]
                args += (buffer_slot[n.id],)
                offset = self.memory.offset(n.id) if self.memory else None
            else:
                kernel = backend.kernel(n)
            self.steps.append(Step(
                n, kernel, args, self.slot_of[n.id], tuple(sorted(frees.get(k, ()))), flops, read + written, offset,
                backend.kernel_threads(n, kernel),
            ))
        # The hot loop reads plain tuples (attribute access on Step costs more per node).
        self.fast_steps = [(s.kernel, s.args, s.out, s.frees) for s in self.steps]
        self._node_infos: dict[int, NodeInfo] | None = None
        self._local = threading.local()
        self.parallel: Any = None  # the parallel scheduler's state (graphscope.runtime.scheduler)

    # -- the arena ------------------------------------------------------------------------------
    def local_template(self) -> list[Any]:
        """The slot template of the calling thread: constants, and views into this thread's arena."""
        try:
            return self._local.template
        except AttributeError:
            pass
        tpl = self.template
        if self.buffers:
            tpl = list(tpl)
            arena = new_arena(self.arena_bytes)
            for slot, off, shape, dtype in self.buffers:
                tpl[slot] = arena[off:off + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize].view(dtype).reshape(shape)
            self._local.arena = arena
        self._local.template = tpl
        return tpl

    def local_arena(self) -> np.ndarray | None:
        """The calling thread's arena (None before its first run, or without a memory plan)."""
        return getattr(self._local, "arena", None)

    def node_infos(self) -> dict[int, NodeInfo]:
        """What a profile records about each node (made once per plan, shared by its profiles)."""
        if self._node_infos is None:
            self._node_infos = {n.id: NodeInfo.of(n) for n in self.node_of_slot}
        return self._node_infos


def new_arena(nbytes: int) -> np.ndarray:
    """A byte buffer of ``nbytes`` starting on an ``ALIGNMENT`` boundary (a view of a slightly larger one)."""
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + nbytes]
