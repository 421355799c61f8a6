"""``gs.run``: run a graph on a backend, optionally profiled over repeats."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphscope.backends import get_backend
from graphscope.backends.base import Backend
from graphscope.errors import ShapeError
from graphscope.ir.graph import Graph
from graphscope.profile.events import NodeEvent, RunProfile
from graphscope.runtime.interpreter import current_lane, execute, execute_profiled
from graphscope.runtime.plan import Plan

# Active recorders (the embedded profiler): each gets ``record(graph, profile)`` for every run made
# while it is active, so ``@gs.function`` calls inside ``with gs.profile():`` are profiled too.
recorders: list[Any] = []


@dataclass
class RunResult:
    outputs: list[Any]
    profile: RunProfile | None = None

    def __iter__(self):  # ``outputs, profile = gs.run(...)``
        return iter((self.outputs, self.profile))


def get_plan(graph: Graph, backend: Backend) -> Plan:
    """The compiled plan for this graph and backend, cached on the graph until it changes."""
    plans: dict[str, Plan] = graph.__dict__.setdefault("_plans", {})
    plan = plans.get(backend.name)
    if plan is None or plan.version != graph.version:
        plan = plans[backend.name] = Plan(graph, backend)
    return plan


def bind_inputs(graph: Graph, inputs: Sequence[Any] | Mapping[str, Any], backend: Backend) -> list[Any]:
    """Inputs in placeholder order, checked against the declared shapes and dtypes."""
    if isinstance(inputs, Mapping):
        names = [n.name for n in graph.inputs]
        unknown = set(inputs) - set(names)
        if unknown:
            raise ShapeError(f"graph '{graph.name}' has no input(s) {sorted(unknown)}; its inputs: {names}")
        missing = [n for n in names if n not in inputs]
        if missing:
            raise ShapeError(f"graph '{graph.name}': missing input(s) {missing}")
        values = [inputs[n] for n in names]
    else:
        values = list(inputs)
        if len(values) != len(graph.inputs):
            raise ShapeError(f"graph '{graph.name}' takes {len(graph.inputs)} inputs "
                             f"({[n.name for n in graph.inputs]}), got {len(values)}")
    bound = []
    for node, v in zip(graph.inputs, values):
        arr = backend.asarray(v)
        if tuple(arr.shape) != node.spec.shape or arr.dtype != node.spec.dtype:
            raise ShapeError(
                f"input '{node.name}' of graph '{graph.name}' expects {node.spec.short()}, got "
                f"{np.dtype(arr.dtype).name}{list(arr.shape)}"
                + (f" (cast with .astype(np.{node.spec.dtype.name}))" if tuple(arr.shape) == node.spec.shape else "")
            )
        bound.append(arr)
    return bound


def run(
    graph: Graph,
    inputs: Sequence[Any] | Mapping[str, Any],
    *,
    profile: bool = False,
    repeat: int = 1,
    warmup: int = 0,
    backend: str | Backend = "numpy",
    progress: Any = None,
) -> RunResult:
    """Run ``graph`` on ``inputs`` (a list in input order, or a dict by input name).

    With ``profile=True`` every node yields a NodeEvent in each of ``repeat`` measured iterations,
    after ``warmup`` unmeasured ones. ``progress`` is called with no argument after each iteration.
    """
    be = get_backend(backend)
    plan = get_plan(graph, be)
    bound = bind_inputs(graph, inputs, be)
    if recorders and not profile:
        result = run(graph, bound, profile=True, repeat=repeat, warmup=warmup, backend=be, progress=progress)
        for recorder in list(recorders):
            recorder.record(graph, result.profile)
        return result
    if not profile:
        outputs: list[Any] = []
        for _ in range(warmup + max(repeat, 1)):
            outputs = execute(plan, bound)
            if progress:
                progress()
        return RunResult([be.to_numpy(o) for o in outputs])

    warm_ns: list[int] = []
    for _ in range(warmup):
        t0 = time.perf_counter_ns()
        execute(plan, bound)
        be.synchronize()
        warm_ns.append(time.perf_counter_ns() - t0)
        if progress:
            progress()
    iterations, iter_ns = [], []
    lane = current_lane()
    mem = None
    outputs = []
    for _ in range(max(repeat, 1)):
        t0 = time.perf_counter_ns()
        outputs, raw, mem = execute_profiled(plan, bound)
        be.synchronize()
        iter_ns.append(time.perf_counter_ns() - t0)
        steps = plan.steps
        iterations.append([
            NodeEvent(steps[k].node.id, s, e, lane, alloc, live, steps[k].flops, steps[k].bytes_moved)
            for k, s, e, alloc, live in raw
        ])
        if progress:
            progress()
    prof = RunProfile(
        graph_name=graph.name,
        backend=be.name,
        nodes=plan.node_infos(),
        iterations=iterations,
        iteration_ns=iter_ns,
        warmup_ns=warm_ns,
        peak_bytes=mem.peak_bytes if mem else 0,
        peak_live=mem.peak_live if mem else [],
        input_bytes=sum(n.spec.nbytes for n in graph.inputs),
        constant_bytes=plan.constant_bytes,
        inputs=[n.id for n in graph.inputs],
        outputs=[n.id for n in graph.outputs],
        machine=be.info(),
        pass_log=graph.metadata.get("pass_log"),
    )
    return RunResult([be.to_numpy(o) for o in outputs], prof)


def evaluate_all(graph: Graph, inputs: Sequence[Any] | Mapping[str, Any], backend: str | Backend = "numpy") -> dict[int, Any]:
    """Every node's value (nothing released): for verification and debugging, not for speed."""
    be = get_backend(backend)
    plan = get_plan(graph, be)
    slots = plan.template.copy()
    for s, v in zip(plan.input_slots, bind_inputs(graph, inputs, be)):
        slots[s] = v
    for kernel, args, out, _ in plan.fast_steps:
        slots[out] = kernel(*[slots[a] for a in args])
    return {n.id: be.to_numpy(slots[i]) for i, n in enumerate(plan.node_of_slot)}
