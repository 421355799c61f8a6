"""``gs.run``: run a graph on a backend, optionally profiled over repeats."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphscope.backends import get_backend
from graphscope.backends.base import Backend
from graphscope.errors import ShapeError
from graphscope.ir.graph import Graph
from graphscope.profile.events import NodeEvent, RunProfile, ValueSummary
from graphscope.runtime.interpreter import current_lane, execute, execute_profiled
from graphscope.runtime.plan import Plan
from graphscope.runtime.scheduler import run_parallel

# Active recorders (the embedded profiler): each gets ``record(graph, profile)`` for every run made
# while it is active, so ``@gs.function`` calls inside ``with gs.profile():`` are profiled too.
recorders: list[Any] = []


@dataclass
class RunResult:
    outputs: list[Any]
    profile: RunProfile | None = None
    # Filled by the debugging options (see ``run``): node name -> a copy of its value, node id -> summary.
    captured: dict[str, Any] = field(default_factory=dict)
    value_summaries: dict[int, ValueSummary] = field(default_factory=dict)

    def __iter__(self):  # ``outputs, profile = gs.run(...)``
        return iter((self.outputs, self.profile))


def get_plan(graph: Graph, backend: Backend, *, arena: bool | None = None) -> Plan:
    """The compiled plan for this graph and backend, cached on the graph until it changes.

    ``arena``: None follows the graph (a memory plan when the memory_plan pass ran on it); False
    gives a plan whose every value is a fresh array (what ``evaluate_all`` needs).
    """
    plans: dict[tuple[str, bool | None], Plan] = graph.__dict__.setdefault("_plans", {})
    key = (backend.name, arena)
    plan = plans.get(key)
    if plan is None or plan.version != graph.version:
        plan = plans[key] = Plan(graph, backend, arena=arena)
    return plan


def bind_inputs(graph: Graph, inputs: Sequence[Any] | Mapping[str, Any], backend: Backend) -> list[Any]:
    """Inputs in placeholder order, checked against the declared shapes and dtypes."""
    values = graph.input_values(inputs)
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
    parallel: bool = False,
    executor: Any = None,
    check_numerics: bool = False,
    capture: str | Sequence[str] | None = None,
    value_summaries: bool = False,
) -> RunResult:
    """Run ``graph`` on ``inputs`` (a list in input order, or a dict by input name).

    With ``profile=True`` every node yields a NodeEvent in each of ``repeat`` measured iterations,
    after ``warmup`` unmeasured ones. ``progress`` is called with no argument after each iteration.

    ``parallel=True`` runs independent nodes side by side on a thread pool where that pays (see
    ``graphscope.runtime.scheduler``): multi-threaded kernels (BLAS) run alone, never oversubscribed,
    and a graph with nothing to overlap runs sequentially. Events name the lane that ran each node.

    ``executor``: an object with ``run(graph, inputs, profile=, repeat=, warmup=) -> RunResult`` (e.g.
    a Dask cluster executor) that runs the graph instead of this process.

    Debugging (``graphscope.debug``): with any of these options one run is *observed*, node by node
    (sequentially, also with ``parallel=True``); with ``profile=True`` it is an extra run before the
    warm-up and measured ones (so timings never include it), otherwise the first of the iterations:

    * ``check_numerics``: raise ``NumericsError`` at the first node whose float output holds NaN or
      Inf (inside a fused node: the step and original node that made it), naming op, scope, source
      line and summaries of its inputs;
    * ``capture``: a pattern or list of patterns (node name, glob such as ``"attn/*"``, ``"%ID"``,
      ``"op:softmax"``; see ``graphscope.debug.capture``): ``result.captured`` maps each selected
      node's name to a copy of its value;
    * ``value_summaries``: ``result.value_summaries`` (node id -> ValueSummary: shape, min/max/mean/std,
      NaN/Inf counts, histogram) for every node (inputs and constants included), also stored in
      ``result.profile.value_summaries`` (and its ``.gsprof`` file) when profiling.
    """
    debug = bool(check_numerics or capture or value_summaries)
    if executor is not None:
        if debug:
            raise ValueError("check_numerics, capture and value_summaries observe a run in this process; "
                             "they cannot be used with an executor")
        return executor.run(graph, inputs, profile=profile, repeat=repeat, warmup=warmup)
    be = get_backend(backend)
    if getattr(be, "executes_graphs", False):  # a backend with its own executor (CuPy: streams, transfers)
        if debug:
            raise ValueError(f"check_numerics, capture and value_summaries are not supported on backend '{be.name}'")
        return be.run(graph, inputs, profile=profile, repeat=repeat, warmup=warmup, progress=progress)  # records too
    plan = get_plan(graph, be)
    bound = bind_inputs(graph, inputs, be)
    if recorders and not profile:
        result = run(graph, bound, profile=True, repeat=repeat, warmup=warmup, backend=be, progress=progress,
                     parallel=parallel, check_numerics=check_numerics, capture=capture, value_summaries=value_summaries)
        for recorder in list(recorders):
            recorder.record(graph, result.profile)
        return result
    observed = _observe(graph, plan, bound, check_numerics, capture, value_summaries) if debug else None
    if not profile:
        outputs: list[Any] = []
        todo = warmup + max(repeat, 1)
        if observed is not None:
            outputs, todo = observed.outputs, todo - 1
            if progress:
                progress()
        for _ in range(todo):
            outputs = run_parallel(plan, bound) if parallel else execute(plan, bound)
            if progress:
                progress()
        result = RunResult([be.to_numpy(o) for o in outputs])
        if observed is not None:
            result.captured, result.value_summaries = observed.captured, observed.value_summaries
        return result

    warm_ns: list[int] = []
    for _ in range(warmup):
        t0 = time.perf_counter_ns()
        if parallel:
            run_parallel(plan, bound)
        else:
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
        if parallel:
            outputs, raw, mem = run_parallel(plan, bound, profiled=True)
        else:
            outputs, raw, mem = execute_profiled(plan, bound)
        be.synchronize()
        iter_ns.append(time.perf_counter_ns() - t0)
        steps = plan.steps
        iterations.append([
            NodeEvent(steps[r[0]].node.id, r[1], r[2], r[5] if len(r) > 5 else lane, r[3], r[4], steps[r[0]].flops,
                      steps[r[0]].bytes_moved)
            for r in raw
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
        metadata=memory_metadata(mem),
    )
    result = RunResult([be.to_numpy(o) for o in outputs], prof)
    if observed is not None:
        result.captured, result.value_summaries = observed.captured, observed.value_summaries
        prof.value_summaries = dict(observed.value_summaries)
        prof.metadata["debug"] = observed.stats
    return result


def _observe(graph: Graph, plan: Plan, bound: list[Any], check_numerics: bool, capture: Any, value_summaries: bool) -> Any:
    from graphscope.debug.capture import select_nodes
    from graphscope.debug.observe import observe_run

    ids = {n.id for n in select_nodes(graph, capture)} if capture else set()
    return observe_run(plan, bound, check_numerics=check_numerics, capture_ids=ids, value_summaries=value_summaries)


def memory_metadata(mem: Any) -> dict[str, Any]:
    """What a profile records about the memory plan its run followed (nothing without one)."""
    m = getattr(mem, "memory", None)
    if m is None:
        return {}
    return {
        "planned_peak_bytes": m.planned_peak_bytes, "arena_bytes": m.arena_bytes,
        "lower_bound_bytes": m.lower_bound_bytes, "naive_bytes": m.naive_bytes,
        "arena_allocated_bytes": mem.arena_bytes,
    }


def evaluate_all(graph: Graph, inputs: Sequence[Any] | Mapping[str, Any], backend: str | Backend = "numpy") -> dict[int, Any]:
    """Every node's value (nothing released): for verification and debugging, not for speed."""
    be = get_backend(backend)
    plan = get_plan(graph, be, arena=False)
    slots = plan.template.copy()
    for s, v in zip(plan.input_slots, bind_inputs(graph, inputs, be)):
        slots[s] = v
    for kernel, args, out, _ in plan.fast_steps:
        slots[out] = kernel(*[slots[a] for a in args])
    return {n.id: be.to_numpy(slots[i]) for i, n in enumerate(plan.node_of_slot)}
