"""The interpreter: runs a Plan, plainly or with per-node timing and memory accounting."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphscope.errors import NodeExecutionError
from graphscope.runtime.plan import Plan, Step


def execute(plan: Plan, inputs: list[Any]) -> list[Any]:
    """Run once without profiling. The loop body is kept minimal: it is the per-node overhead."""
    slots = plan.template.copy()
    for s, v in zip(plan.input_slots, inputs):
        slots[s] = v
    step = None
    try:
        for step in plan.fast_steps:
            fn, args, out, frees = step
            slots[out] = fn(*[slots[a] for a in args])
            for f in frees:
                slots[f] = None
    except Exception as exc:
        raise _node_error(plan, step, slots, exc) from exc
    return [slots[o] for o in plan.output_slots]


@dataclass
class MemoryTrace:
    """Logical memory of one run: bytes of buffers the run allocated, by slot, over time."""

    peak_bytes: int = 0
    peak_live: list[tuple[int, int]] = field(default_factory=list)  # (node id, bytes)


def execute_profiled(plan: Plan, inputs: list[Any]) -> tuple[list[Any], list[tuple], MemoryTrace]:
    """Run once, recording ``(step index, start ns, end ns, bytes allocated, live bytes)`` per node.

    Memory accounting follows buffers, not values: a view (reshape, transpose, slice) allocates
    nothing and keeps its base alive; a buffer is released when the last slot referring to it is
    cleared. Inputs and constants are external (not counted as allocated by the run).
    """
    slots = plan.template.copy()
    external: set[int] = set()
    for s, v in zip(plan.input_slots, inputs):
        slots[s] = v
    for v in slots:
        if v is not None:
            external.add(id(_root(v)))
    refs: dict[int, int] = {}  # root buffer id -> number of live slots that hold it
    root_info: dict[int, tuple[int, int]] = {}  # root buffer id -> (bytes, slot that allocated it)
    slot_root: dict[int, int] = {}
    live = peak = 0
    peak_buffers: list[tuple[int, int]] = []
    raw: list[tuple] = []
    perf = time.perf_counter_ns
    steps = plan.fast_steps
    base_t = perf()
    k = 0
    try:
        for k in range(len(steps)):
            fn, args, out, frees = steps[k]
            t0 = perf()
            r = fn(*[slots[a] for a in args])
            t1 = perf()
            slots[out] = r
            root = _root(r)
            rid = id(root)
            alloc = 0
            if rid not in external:
                if rid in refs:
                    refs[rid] += 1
                else:
                    refs[rid] = 1
                    alloc = root.nbytes
                    root_info[rid] = (alloc, out)
                    live += alloc
                slot_root[out] = rid
            if live > peak:  # the peak is reached right after an allocation, before frees
                peak = live
                peak_buffers = list(root_info.values())
            for f in frees:
                slots[f] = None
                fr = slot_root.pop(f, None)
                if fr is not None:
                    refs[fr] -= 1
                    if refs[fr] == 0:
                        del refs[fr]
                        live -= root_info.pop(fr)[0]
            raw.append((k, t0 - base_t, t1 - base_t, alloc, live))
    except Exception as exc:
        raise _node_error(plan, steps[k], slots, exc) from exc
    nodes = plan.node_of_slot
    mem = MemoryTrace(peak, sorted(((nodes[s].id, b) for b, s in peak_buffers), key=lambda t: -t[1]))
    return [slots[o] for o in plan.output_slots], raw, mem


def _root(a: Any) -> Any:
    base = getattr(a, "base", None)
    while base is not None and isinstance(base, np.ndarray):
        a = base
        base = a.base
    return a


def _node_error(plan: Plan, step: tuple | None, slots: list[Any], exc: Exception) -> NodeExecutionError:
    if step is None:
        return NodeExecutionError(f"graph '{plan.graph.name}' failed before its first node: {exc}")
    fn, args, out, _ = step
    node = plan.node_of_slot[out]
    shapes = ", ".join(
        f"%{plan.node_of_slot[a].id} {_describe_value(slots[a])}" for a in args
    )
    scope = f", scope '{node.scope}'" if node.scope else ""
    src = f" at {node.source}" if node.source else ""
    return NodeExecutionError(
        f"node %{node.id} '{node.name}' ({node.op}{scope}){src} raised {type(exc).__name__}: {exc}"
        f" [inputs: {shapes or 'none'}]",
        node_id=node.id,
    )


def _describe_value(v: Any) -> str:
    shape = getattr(v, "shape", None)
    dtype = getattr(v, "dtype", None)
    return f"{dtype}{list(shape)}" if shape is not None else type(v).__name__


def current_lane() -> str:
    return threading.current_thread().name


__all__ = ["execute", "execute_profiled", "MemoryTrace", "Step"]
