"""``gs.explain``: run a function eagerly and as a graph at each optimization level, and say why they differ.

    ex = gs.explain(f, *args)              # a @gs.function and its arguments
    ex = gs.explain(graph, inputs)         # a Graph: the eager baseline is its nodes' NumPy references, one by one
    print(ex)                              # table per level, then where the best level's time comes from

Every number comes from runs made here: plain runs of the eager function and of each level's graph,
interleaved round by round (medians), one profiled run per graph (kernel time per node, allocations,
peak), one run each under ``tracemalloc`` (peak of everything allocated, eager and graph alike), and
``parallel=True`` runs at the best level. The best level's difference to eager is split into:

* **dispatch**: eager Python around the kernels (eager time minus the same kernels' time at level 0:
  the user's code and NumPy's per-call dispatch, per op) against the graph's interpreter, its node
  count x the interpreter's measured per-node cost (``measure_overhead``: a chain of trivial ops);
* **cleanup**: kernel time removed by the level's exact passes before fusion (folding, CSE, DCE);
* **fusion**: the fused groups' time against their members' time unfused (profiled before fusion);
* **memory**: the change in the other kernels' time with the memory plan (arena writes, in-place
  ops, fewer page faults), with peak and allocation counts;
* **unexplained**: that interpreter estimate minus the graph's measured time outside its kernels
  (negative when waits, thread wake-ups or noise between runs of a shared machine cost more).

The components add up to the measured difference by construction; **parallel** is reported beside
them (``parallel=True`` at the best level, and the scheduler's decision).
"""

from __future__ import annotations

import gc
import math
import statistics
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphscope.debug.numerics import FUSED_OPS
from graphscope.ir.graph import Graph
from graphscope.passes.fused_members import fusion_groups


@dataclass
class LevelRun:
    level: int
    nodes: int
    compute_nodes: int
    fused_nodes: int  # fused nodes in the graph
    nodes_fused: int  # original nodes they replaced
    median_ns: float  # plain run
    kernel_ns: float  # sum of per-node median times (profiled run)
    dispatch_ns: float  # median_ns - kernel_ns: the interpreter's own time
    peak_bytes: int  # intermediates, from the profile
    allocations: int  # nodes whose output allocated memory in the profiled run
    allocated_bytes: int
    arena_bytes: int
    traced_peak_bytes: int  # tracemalloc peak of one plain run
    max_abs_error: float  # outputs vs the eager outputs
    speedup: float  # eager median / this median

    @property
    def per_node_dispatch_ns(self) -> float:
        return self.dispatch_ns / self.compute_nodes if self.compute_nodes else 0.0


@dataclass
class Fusion:
    groups: int
    nodes_fused: int
    unfused_ns: float  # members' kernel time before fusion
    fused_ns: float  # the fused nodes' kernel time

    @property
    def saved_ns(self) -> float:
        return self.unfused_ns - self.fused_ns


@dataclass
class Parallel:
    level: int
    median_ns: float  # parallel=True runs
    sequential_ns: float  # plain runs of the same graph, interleaved
    mode: str  # the scheduler's decision: parallel or sequential
    reason: str
    lanes: int  # lanes that ran nodes in the profiled parallel run
    overlap: float  # kernel time / wall time of the profiled parallel run (1.0: nothing overlapped)

    @property
    def speedup(self) -> float:
        return self.sequential_ns / self.median_ns if self.median_ns else math.nan


@dataclass
class Attribution:
    """Where the difference between eager and ``level`` comes from (ns; positive: the graph is faster)."""

    level: int
    total_ns: float  # eager - graph
    dispatch_ns: float
    cleanup_ns: float
    fusion_ns: float
    memory_ns: float
    unexplained_ns: float
    eager_ops: int
    eager_overhead_ns: float  # eager time outside the kernels
    graph_nodes: int
    graph_dispatch_ns: float  # graph_nodes x per_node_ns: the interpreter's estimated cost
    per_node_ns: float  # the interpreter's measured cost per node
    graph_outside_kernels_ns: float  # the graph's run time minus its kernel time (measured)
    fusion: Fusion | None = None
    components: dict[str, float] = field(default_factory=dict)


@dataclass
class Explanation:
    name: str
    eager_ns: float
    eager_baseline: str  # "python function" or "node references"
    eager_traced_peak_bytes: int
    levels: list[LevelRun]
    best_level: int
    attribution: Attribution
    parallel: Parallel | None
    repeat: int

    @property
    def speedup(self) -> float:
        """Eager time / the best level's time."""
        return self.level(self.best_level).speedup

    def level(self, level: int) -> LevelRun:
        return next(r for r in self.levels if r.level == level)

    def __str__(self) -> str:
        return format_explanation(self)


# -- running ---------------------------------------------------------------------------------------


def _time_ns(fn: Callable[[], object]) -> int:
    t0 = time.perf_counter_ns()
    fn()
    return time.perf_counter_ns() - t0


def _interleaved(cases: dict[Any, Callable[[], object]], rounds: int) -> dict[Any, float]:
    """Median ns of each case, measured round-robin so drift on a shared machine hits all alike."""
    times: dict[Any, list[int]] = {k: [] for k in cases}
    was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for k, fn in cases.items():
                times[k].append(_time_ns(fn))
    finally:
        if was:
            gc.enable()
    return {k: float(statistics.median(v)) for k, v in times.items()}


def _traced_peak(fn: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
        del result
    finally:
        tracemalloc.stop()
    return max(int(peak), 0)


def reference_eager(graph: Graph) -> Callable[[Sequence[Any]], list[Any]]:
    """An eager NumPy evaluation of ``graph``: each node's reference implementation called in turn, as eager
    code would (no plan, values dropped when their last reader ran)."""
    from graphscope.ir.ops import get_op

    order = graph.nodes
    last: dict[int, int] = {}
    for k, n in enumerate(order):
        for i in n.inputs:
            last[i.id] = k
    keep = {o.id for o in graph.outputs}
    impls = [(n, get_op(n.op).impl) for n in order]

    def run(inputs: Sequence[Any]) -> list[Any]:
        values: dict[int, Any] = {n.id: np.asarray(v) for n, v in zip(graph.inputs, inputs)}
        for k, (n, impl) in enumerate(impls):
            if n.op == "placeholder":
                continue
            values[n.id] = n.value if n.op == "constant" else impl(np, *[values[i.id] for i in n.inputs], **n.attrs)
            for i in n.inputs:
                if last.get(i.id) == k and i.id not in keep:
                    values.pop(i.id, None)
        return [values[o.id] for o in graph.outputs]

    return run


def _as_list(out: Any) -> list[np.ndarray]:
    if isinstance(out, (list, tuple)):
        return [np.asarray(o) for o in out]
    if isinstance(out, Mapping):
        return [np.asarray(out[k]) for k in sorted(out)]
    return [np.asarray(out)]


def _max_err(ref: list[np.ndarray], got: list[np.ndarray]) -> float:
    err = 0.0
    for a, b in zip(ref, got):
        if a.shape != b.shape:
            return math.inf
        if a.size:
            with np.errstate(invalid="ignore"):
                d = np.abs(a.astype(np.float64) - b.astype(np.float64))
            err = max(err, float(np.nanmax(d)) if not np.isnan(d).all() else 0.0)
    return err


def _fused_entries(graph: Graph) -> list[tuple[list[int], int]]:
    """(pre-fusion ids, fused node id) of every fused node of ``graph`` (groups extended by later passes expanded)."""
    return [(ids, into) for into, ids in fusion_groups(graph)[1].items()]


def explain(f: Any, *args: Any, levels: Sequence[int] = (0, 1, 2, 3), repeat: int = 5, backend: str = "numpy",
            parallel: bool = True, **kwargs: Any) -> Explanation:
    """Run ``f`` eagerly and as a graph at each of ``levels``; return the numbers and their attribution.

    ``f``: a ``@gs.function`` (then ``args``/``kwargs`` are its arguments) or a ``Graph`` (then the one
    argument is its inputs, a list or a dict by name). ``repeat``: interleaved timing rounds (medians).
    ``parallel``: also time ``parallel=True`` at the best level. Level 0 must be among ``levels``.
    """
    from graphscope.passes.pipeline import LEVELS, optimize
    from graphscope.runtime.run import run as gs_run
    from graphscope.trace.function import Function

    levels = sorted(set(levels))
    if 0 not in levels:
        raise ValueError("explain needs level 0 among the levels: it is the baseline of the attribution")
    if unknown := [lv for lv in levels if lv not in LEVELS]:
        raise ValueError(f"unknown optimization level(s) {unknown}; levels: {sorted(LEVELS)}")
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    if isinstance(f, Graph):
        if len(args) != 1 or kwargs:
            raise TypeError("explain(graph, inputs): give the graph's inputs as one list (or dict by input name)")
        graph = f
        inputs = graph.input_values(args[0])
        ref = reference_eager(graph)
        eager: Callable[[], object] = lambda: ref(inputs)  # noqa: E731
        baseline, name = "node references", graph.name
    elif isinstance(f, Function):
        cf, leaves = f._concrete(args, kwargs)  # the graph and its inputs, as a call binds them
        graph, inputs = cf.graph, [v for _, v in leaves]
        py = f.python_function
        eager = lambda: py(*args, **kwargs)  # noqa: E731
        baseline, name = "python function", f.name
    else:
        raise TypeError(f"explain() takes a @gs.function or a Graph, not {type(f).__name__}")

    graphs: dict[Any, Graph] = {}
    for lv in levels:
        graphs[lv] = graph if lv == 0 else optimize(graph, level=lv)[0]
    # The graph each fusing level had just before its first fusing pass: its members' unfused kernel times.
    pre_of: dict[int, Any] = {}
    for lv in levels:
        first, _ = fusion_groups(graphs[lv])
        if first is not None:
            before = tuple(LEVELS[lv][:first])
            same = next((other for other in levels if tuple(LEVELS[other]) == before), None)
            key = same if same is not None else ("pre", lv)
            if key not in graphs:
                graphs[key] = optimize(graph, passes=list(before))[0]
            pre_of[lv] = key

    eager_out = _as_list(eager())  # also warms caches; each graph's first run compiles its kernels
    outputs = {k: gs_run(g, inputs, backend=backend).outputs for k, g in graphs.items()}
    cases: dict[Any, Callable[[], object]] = {"eager": eager}
    for lv in levels:
        cases[lv] = lambda g=graphs[lv]: gs_run(g, inputs, backend=backend)
    # Plain and profiled runs of every graph, round by round, so a shared machine's drift hits all alike.
    times: dict[Any, list[int]] = {k: [] for k in cases}
    node_times: dict[Any, dict[int, list[int]]] = {k: {} for k in graphs}
    last_profile: dict[Any, Any] = {}
    was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            for k, fn in cases.items():
                times[k].append(_time_ns(fn))
            for k, g in graphs.items():
                prof = last_profile[k] = gs_run(g, inputs, backend=backend, profile=True).profile
                for nid, ts in prof.node_times_ns().items():
                    node_times[k].setdefault(nid, []).extend(ts)
    finally:
        if was:
            gc.enable()
    med = {k: float(statistics.median(v)) for k, v in times.items()}
    node_med = {k: {nid: float(statistics.median(ts)) for nid, ts in nt.items()} for k, nt in node_times.items()}
    eager_peak = _traced_peak(eager)
    runs = []
    for lv in levels:
        g, prof = graphs[lv], last_profile[lv]
        kernel = sum(node_med[lv].values())
        events = prof.iterations[-1] if prof.iterations else []
        fused = _fused_entries(g)
        runs.append(LevelRun(
            level=lv, nodes=len(g), compute_nodes=sum(n.op not in ("placeholder", "constant") for n in g.nodes),
            fused_nodes=sum(n.op in FUSED_OPS for n in g.nodes), nodes_fused=sum(len(ids) for ids, _ in fused),
            median_ns=med[lv], kernel_ns=kernel, dispatch_ns=med[lv] - kernel, peak_bytes=prof.peak_bytes,
            allocations=sum(1 for e in events if e.bytes_allocated > 0),
            allocated_bytes=sum(e.bytes_allocated for e in events),
            arena_bytes=int(prof.metadata.get("arena_bytes", 0) or 0),
            traced_peak_bytes=_traced_peak(lambda g=g: gs_run(g, inputs, backend=backend)),
            max_abs_error=_max_err(eager_out, [np.asarray(o) for o in outputs[lv]]),
            speedup=med["eager"] / med[lv] if med[lv] else math.nan,
        ))
    best = min(runs, key=lambda r: r.median_ns)
    attribution = _attribute(best, runs, graphs, node_med, pre_of, med["eager"])
    par = _parallel(graphs[best.level], inputs, best.level, repeat, backend) if parallel else None
    return Explanation(name, med["eager"], baseline, eager_peak, runs, best.level, attribution, par, repeat)


def _attribute(best: LevelRun, runs: list[LevelRun], graphs: dict, node_med: dict, pre_of: dict, eager_ns: float
               ) -> Attribution:
    from graphscope.profile.calibration import measure_overhead

    lv = best.level
    level0 = next(r for r in runs if r.level == 0)
    k0 = level0.kernel_ns
    eager_overhead = eager_ns - k0
    per_node = measure_overhead().plain_node_ns
    graph_dispatch = best.compute_nodes * per_node
    dispatch = eager_overhead - graph_dispatch
    fusion = None
    if lv in pre_of:
        pre_med = node_med[pre_of[lv]]
        k_pre = sum(pre_med.values())
        med = node_med[lv]
        entries = _fused_entries(graphs[lv])
        unfused = sum(pre_med.get(i, 0.0) for ids, _ in entries for i in ids)
        fused_t = sum(med.get(into, 0.0) for _, into in entries)
        fusion = Fusion(len(entries), sum(len(ids) for ids, _ in entries), unfused, fused_t)
        cleanup = k0 - k_pre
        memory = k_pre - best.kernel_ns - fusion.saved_ns
    else:
        cleanup = k0 - best.kernel_ns
        memory = 0.0
    fusion_ns = fusion.saved_ns if fusion else 0.0
    total = eager_ns - best.median_ns
    unexplained = total - dispatch - cleanup - fusion_ns - memory
    return Attribution(
        level=lv, total_ns=total, dispatch_ns=dispatch, cleanup_ns=cleanup, fusion_ns=fusion_ns, memory_ns=memory,
        unexplained_ns=unexplained, eager_ops=level0.compute_nodes, eager_overhead_ns=eager_overhead,
        graph_nodes=best.compute_nodes, graph_dispatch_ns=graph_dispatch, per_node_ns=per_node,
        graph_outside_kernels_ns=best.dispatch_ns, fusion=fusion,
        components={"dispatch": dispatch, "cleanup": cleanup, "fusion": fusion_ns, "memory": memory,
                    "unexplained": unexplained},
    )


def _parallel(graph: Graph, inputs: list[Any], level: int, repeat: int, backend: str) -> Parallel:
    from graphscope.runtime.run import get_plan
    from graphscope.runtime.run import run as gs_run
    from graphscope.runtime.scheduler import CALIBRATION_RUNS, TRIAL_RUNS, parallel_state

    for _ in range(CALIBRATION_RUNS + 2 * TRIAL_RUNS + 1):  # the scheduler calibrates, then trials, then decides
        gs_run(graph, inputs, backend=backend, parallel=True)
    med = _interleaved({"par": lambda: gs_run(graph, inputs, backend=backend, parallel=True),
                        "seq": lambda: gs_run(graph, inputs, backend=backend)}, repeat)
    from graphscope.backends import get_backend

    st = parallel_state(get_plan(graph, get_backend(backend)))
    prof = gs_run(graph, inputs, backend=backend, parallel=True, profile=True, repeat=1).profile
    events = prof.iterations[-1] if prof.iterations else []
    busy = sum(e.duration_ns for e in events)
    wall = prof.iteration_ns[-1] if prof.iteration_ns else 0
    return Parallel(level, med["par"], med["seq"], st.mode, st.reason, len({e.lane for e in events}),
                    busy / wall if wall else math.nan)


# -- formatting ------------------------------------------------------------------------------------


def _t(ns: float) -> str:
    from graphscope.profile.analysis import format_ns

    return format_ns(ns) if ns >= 0 else "-" + format_ns(-ns)


def _b(n: float) -> str:
    from graphscope.profile.analysis import format_bytes

    return format_bytes(n)


def _signed(ns: float) -> str:
    return ("+" if ns >= 0 else "-") + _t(abs(ns))


def format_explanation(ex: Explanation) -> str:
    best = ex.level(ex.best_level)
    a = ex.attribution
    verdict = f"{best.speedup:.2f}x faster" if best.speedup >= 1 else f"{1 / best.speedup:.2f}x slower"
    lines = [f"gs.explain '{ex.name}': eager {_t(ex.eager_ns)} ({ex.eager_baseline}); as a graph {_t(best.median_ns)} "
             f"at level {ex.best_level} ({verdict}); medians of {ex.repeat} interleaved rounds", ""]
    head = (f"  {'':<6}{'nodes':>6}{'compute':>8}{'fused':>6}{'time':>11}{'vs eager':>9}{'kernels':>11}{'dispatch':>11}"
            f"{'peak':>11}{'traced':>11}{'allocs':>8}{'alloc bytes':>12}{'max err':>10}")
    lines.append(head)
    lines.append(f"  {'eager':<6}{'-':>6}{ex.level(0).compute_nodes:>8}{'-':>6}{_t(ex.eager_ns):>11}{'1.00x':>9}"
                 f"{_t(ex.level(0).kernel_ns):>11}{_t(a.eager_overhead_ns):>11}{'-':>11}{_b(ex.eager_traced_peak_bytes):>11}"
                 f"{'-':>8}{'-':>12}{'0':>10}")
    for r in ex.levels:
        lines.append(f"  {'L' + str(r.level):<6}{r.nodes:>6}{r.compute_nodes:>8}{r.fused_nodes:>6}{_t(r.median_ns):>11}"
                     f"{r.speedup:>8.2f}x{_t(r.kernel_ns):>11}{_t(r.dispatch_ns):>11}{_b(r.peak_bytes):>11}"
                     f"{_b(r.traced_peak_bytes):>11}{r.allocations:>8}{_b(r.allocated_bytes):>12}{r.max_abs_error:>10.2g}")
    lines += ["", "  kernels: sum of per-node median times (profiled); dispatch: time minus kernels (eager: its Python "
              "around the same kernels); peak: intermediates by the profile; traced: tracemalloc peak of one run", ""]
    lines.append(f"Where level {a.level}'s {_signed(a.total_ns)} against eager come from:")
    per_op = a.eager_overhead_ns / a.eager_ops if a.eager_ops else 0.0
    lines.append(f"  dispatch     {_signed(a.dispatch_ns):>11}  eager: {a.eager_ops} NumPy calls with {_t(a.eager_overhead_ns)} "
                 f"of Python around them ({_t(per_op)}/op); graph: {a.graph_nodes} nodes x {_t(a.per_node_ns)} "
                 f"(measured per-node cost) = {_t(a.graph_dispatch_ns)} of interpreter")
    l0 = ex.level(0)
    lines.append(f"  cleanup      {_signed(a.cleanup_ns):>11}  exact passes before fusion: kernel time of {l0.compute_nodes} "
                 f"nodes at level 0 vs the pre-fusion graph")
    if a.fusion is not None:
        fu = a.fusion
        lines.append(f"  fusion       {_signed(a.fusion_ns):>11}  {fu.nodes_fused} nodes in {fu.groups} fused groups: "
                     f"{_t(fu.unfused_ns)} unfused -> {_t(fu.fused_ns)} fused")
        lines.append(f"  memory       {_signed(a.memory_ns):>11}  the other kernels with the memory plan (arena "
                     f"{_b(best.arena_bytes)}); peak {_b(l0.peak_bytes)} -> {_b(best.peak_bytes)}, allocations "
                     f"{l0.allocations} ({_b(l0.allocated_bytes)}) -> {best.allocations} ({_b(best.allocated_bytes)})")
    else:
        lines.append(f"  fusion       {_signed(0):>11}  level {a.level} does not fuse")
    lines.append(f"  unexplained  {_signed(a.unexplained_ns):>11}  the graph's {_t(a.graph_outside_kernels_ns)} outside its "
                 f"kernels against the interpreter estimate (waits, noise between runs)")
    p = ex.parallel
    if p is not None:
        lines.append(f"  parallel     level {p.level} with parallel=True: {_t(p.median_ns)} vs {_t(p.sequential_ns)} "
                     f"sequential ({p.speedup:.2f}x); the scheduler chose {p.mode}"
                     + (f" ({p.reason})" if p.reason else "") + f"; {p.lanes} lane(s), kernel time / wall {p.overlap:.2f}")
    return "\n".join(lines)


__all__ = ["Attribution", "Explanation", "Fusion", "LevelRun", "Parallel", "explain", "format_explanation",
           "reference_eager"]
