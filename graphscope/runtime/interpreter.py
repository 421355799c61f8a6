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
    slots = (plan.local_template() if plan.buffers else plan.template).copy()
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
    if plan.buffers:
        return guard_outputs(plan, [slots[o] for o in plan.output_slots])
    return [slots[o] for o in plan.output_slots]


def execute_observed(plan: Plan, inputs: list[Any], observer: Any) -> list[Any]:
    """Run once like ``execute``, handing every value to ``observer`` as it is made (debugging runs).

    ``observer.begin(slots)`` sees the inputs and constants before the first node;
    ``observer.after(k, value, slots)`` runs right after step ``k`` (``plan.steps[k]``), before any
    slot is freed or an arena buffer reused, so the step's inputs are still in ``slots``. What the
    observer raises propagates as is. A separate loop, so ``execute`` pays nothing for it.
    """
    slots = (plan.local_template() if plan.buffers else plan.template).copy()
    for s, v in zip(plan.input_slots, inputs):
        slots[s] = v
    observer.begin(slots)
    after = observer.after
    steps = plan.fast_steps
    for k in range(len(steps)):
        fn, args, out, frees = steps[k]
        try:
            r = fn(*[slots[a] for a in args])
        except Exception as exc:
            raise _node_error(plan, steps[k], slots, exc) from exc
        slots[out] = r
        after(k, r, slots)
        for f in frees:
            slots[f] = None
    outputs = [slots[o] for o in plan.output_slots]
    return guard_outputs(plan, outputs) if plan.buffers else outputs


def guard_outputs(plan: Plan, outputs: list[Any]) -> list[Any]:
    """Outputs never alias the arena (the next run overwrites it): copy any kernel result that does.

    The memory plan keeps outputs and their views' bases out of the arena, so this only catches a
    kernel returning a view of its input; the check is a bounds comparison, no data is read.
    """
    arena = plan.local_arena()
    if arena is None:
        return outputs
    may_share = np.may_share_memory
    return [o.copy() if isinstance(o, np.ndarray) and may_share(o, arena) else o for o in outputs]


@dataclass
class MemoryTrace:
    """Logical memory of one run: bytes of buffers the run allocated, by slot, over time."""

    peak_bytes: int = 0
    peak_live: list[tuple[int, int]] = field(default_factory=list)  # (node id, bytes)
    arena_bytes: int = 0  # the arena, held for the whole run (included in peak_bytes)
    peak_step: int = -1  # index of the step after which the peak was reached
    memory: Any = None  # the MemoryPlan the run followed (None without one)


def execute_profiled(plan: Plan, inputs: list[Any]) -> tuple[list[Any], list[tuple], MemoryTrace]:
    """Run once, recording ``(step index, start ns, end ns, bytes allocated, live bytes)`` per node.

    Memory accounting follows buffers, not values: a view (reshape, transpose, slice) allocates
    nothing and keeps its base alive; a buffer is released when the last slot referring to it is
    cleared. Inputs and constants are external (not counted as allocated by the run). With a memory
    plan the arena is allocated memory held for the whole run: it counts in full from the start,
    values written into it allocate nothing more, and only what kernels allocate comes on top.
    """
    slots = (plan.local_template() if plan.buffers else plan.template).copy()
    arena = plan.local_arena()
    external: set[int] = set()
    for s, v in zip(plan.input_slots, inputs):
        slots[s] = v
    for v in slots:
        if v is not None:
            external.add(id(_root(v)))
    arena_bytes = 0
    if arena is not None:
        root = _root(arena)
        arena_bytes = root.nbytes
        external.add(id(root))
    refs: dict[int, int] = {}  # root buffer id -> number of live slots that hold it
    root_info: dict[int, tuple[int, int]] = {}  # root buffer id -> (bytes, slot that allocated it)
    slot_root: dict[int, int] = {}
    live = peak = arena_bytes
    peak_step = -1
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
            if live > peak or peak_step < 0:  # the peak is reached right after an allocation, before frees
                peak = live
                peak_step = k
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
    live_at_peak = [(nodes[s].id, b) for b, s in peak_buffers]
    if plan.memory is not None and peak_step >= 0:
        live_at_peak += arena_values_live(plan, peak_step)
    mem = MemoryTrace(peak, sorted(live_at_peak, key=lambda t: -t[1]), arena_bytes, peak_step, plan.memory)
    outputs = [slots[o] for o in plan.output_slots]
    return (guard_outputs(plan, outputs) if plan.buffers else outputs), raw, mem


def arena_values_live(plan: Plan, k: int) -> list[tuple[int, int]]:
    """(node id, bytes) of the arena storages live at step ``k``, each named by the value it holds then."""
    mem = plan.memory
    assert mem is not None
    out = []
    pos = {nid: p for p, nid in enumerate(mem.order)}
    for s in mem.storages:
        if s.kind == "arena" and s.first <= k <= s.last:
            holder = max((m for m in s.members if pos[m] <= k), key=lambda m: pos[m], default=s.root)
            out.append((holder, s.nbytes))
    return out


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
    n_values = len(plan.node_of_slot)  # later slots are arena buffers, not inputs
    shapes = ", ".join(
        f"%{plan.node_of_slot[a].id} {_describe_value(slots[a])}" for a in args if a < n_values
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


__all__ = ["execute", "execute_observed", "execute_profiled", "MemoryTrace", "Step"]
