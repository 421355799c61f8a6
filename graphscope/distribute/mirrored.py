"""Data-parallel replicas: ``MirroredStrategy`` splits a batch across replicas and combines the results.

    strategy = gs.distribute.MirroredStrategy(replicas=2)
    run = strategy.run(graph, [x], profile=True)        # or gs.run(graph, [x], executor=strategy)
    with strategy.scope():
        y = model(x)                                     # @gs.function calls inside distribute

Each replica runs the graph on its share of the batch. Inputs are split along their declared batch
axes (``batch_axis``; inputs without one are broadcast), shares are as even as possible (uneven
batches work: 10 samples on 3 replicas run as 4 + 3 + 3), and outputs are concatenated along their
batch axis, or summed / averaged where declared (``reduce``; see ``split.py``).

Replica graphs. A graph is traced for a static batch, so a share of another size needs its own graph.
The strategy rebuilds the traced graph for each share size (``rebatch.py``: same node ids, every shape
rule run again, nodes that would mix samples refused) and caches the rebuilds on the graph. When the
rebuild refuses and the call came from an ``@gs.function`` under ``scope()``, the function is traced
again on each replica's share instead. Constants (the weights) are shared by the replica graphs: a
rebuild keeps the same read-only arrays, so replicas in threads hold the weights once.

Where replicas run:

* threads (default, CPU): one thread per replica in this process. NumPy releases the GIL inside its
  kernels; BLAS threads are divided (``cores // replicas`` each, through threadpoolctl when installed)
  so replicas do not oversubscribe the cores. The limit is process-wide while a run is in flight.
* ``executor=DaskExecutor(client)``: one Dask task per replica and iteration, placed on distinct
  workers (worker processes, each with its own BLAS threads); see ``dask.py``.
* ``devices=["gpu:0", "gpu:1"]``: one replica per GPU needs the CuPy backend, which does not exist
  yet: the constructor raises BackendUnavailableError.

Profiles: one RunProfile for the whole batch, whose events carry one lane per replica (``replica0``,
``replica1`` ...). Each node has one event per replica and iteration (FLOPs and bytes of that
replica's share); ``peak_bytes`` adds the replicas' peaks (they run at the same time);
``metadata["distribute"]`` records the shares, axes and combine rules.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphscope.backends import available_backends, get_backend
from graphscope.distribute import split as _split
from graphscope.distribute.errors import BatchSplitError, RebatchError
from graphscope.distribute.rebatch import OutputBatch, rebatch
from graphscope.errors import BackendUnavailableError
from graphscope.ir.graph import Graph
from graphscope.profile.events import NodeEvent, RunProfile
from graphscope.runtime.interpreter import execute, execute_profiled
from graphscope.runtime.run import RunResult, bind_inputs, get_plan


@dataclass
class ReplicaRuns:
    """What running the replicas gives back, whoever ran them (threads here, or Dask)."""

    outputs: list[list[Any]]  # per replica, its outputs (last iteration)
    iterations: list[list[NodeEvent]] = field(default_factory=list)  # measured iterations, all replicas
    iteration_ns: list[int] = field(default_factory=list)
    warmup_ns: list[int] = field(default_factory=list)
    peak_bytes: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def blas_limit(threads: int | None) -> Iterator[str]:
    """Limit BLAS/OpenMP threads of this process to ``threads`` (process-wide) while inside."""
    if threads is None:
        yield "unchanged"
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield "unchanged (threadpoolctl is not installed)"
        return
    with threadpool_limits(limits=threads):
        yield str(threads)


def parse_device(device: str) -> tuple[str, int]:
    kind, _, index = str(device).strip().lower().partition(":")
    kind = {"cuda": "gpu"}.get(kind, kind)
    if kind not in ("cpu", "gpu") or (index and not index.isdigit()):
        raise ValueError(f"unknown device {device!r} (use 'cpu', 'cpu:N' or 'gpu:N')")
    return kind, int(index or 0)


class MirroredStrategy:
    """Replicate a graph over ``replicas`` (or ``devices``), split the batch, combine the outputs.

    ``batch_axis``: int for every input (default 0), a list in input order, or a dict by input name;
    None = broadcast. ``reduce``: "concat" (default), "sum" or "mean", for all outputs or per output
    (list, or dict by output index or name). ``executor``: None (threads in this process) or a
    ``DaskExecutor`` (one task per replica on the cluster). ``blas_threads``: BLAS threads per replica
    in thread mode (default: the cores divided among the replicas).
    """

    def __init__(self, replicas: int | None = None, devices: Sequence[str] | None = None, *, batch_axis: Any = 0,
                 reduce: Any = "concat", executor: Any = None, blas_threads: int | None = None) -> None:
        if devices is not None:
            parsed = [parse_device(d) for d in devices]
            if not parsed:
                raise ValueError("MirroredStrategy: devices is empty")
            if replicas is not None and replicas != len(parsed):
                raise ValueError(f"MirroredStrategy: replicas={replicas} but {len(parsed)} devices given")
            gpus = [f"gpu:{i}" for kind, i in parsed if kind == "gpu"]
            if gpus:
                have = "is registered but per-device replicas are not wired yet" if "cupy" in available_backends() \
                    else "does not exist yet"
                raise BackendUnavailableError(
                    f"MirroredStrategy on {', '.join(gpus)} needs the CuPy backend, which {have}; use "
                    f"MirroredStrategy(replicas={len(parsed)}) to run the replicas on the CPU")
            replicas = len(parsed)
            self.devices = [f"cpu:{i}" for _, i in parsed]
        else:
            replicas = cpu_count() if replicas is None else replicas
            self.devices = ["cpu"] * replicas
        if not isinstance(replicas, int) or replicas < 1:
            raise ValueError(f"MirroredStrategy: replicas must be a positive int, got {replicas!r}")
        self.replicas = replicas
        self.batch_axis = batch_axis
        self.reduce = reduce
        self.executor = executor
        self.blas_threads = blas_threads
        self.owns_executor = False  # close() closes the executor too (set by cli_support.make_executor)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        where = "threads" if self.executor is None else type(self.executor).__name__
        return f"<MirroredStrategy {self.replicas} replicas on {where}>"

    # -- public API -----------------------------------------------------------------------------
    def run(self, graph: Graph, inputs: Sequence[Any] | Mapping[str, Any], *, profile: bool = False, repeat: int = 1,
            warmup: int = 0, backend: str = "numpy", progress: Any = None) -> RunResult:
        """Run ``graph`` data-parallel (the executor protocol of ``gs.run(..., executor=)``)."""
        return self._run(graph, inputs, profile=profile, repeat=repeat, warmup=warmup, backend=backend,
                         progress=progress)

    @contextlib.contextmanager
    def scope(self) -> Iterator[MirroredStrategy]:
        """Inside, calls of ``@gs.function`` functions (in this thread) run data-parallel on this strategy."""
        from graphscope.distribute import _hooks

        _hooks.install()
        _hooks.push(self)
        try:
            yield self
        finally:
            _hooks.pop(self)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self.owns_executor and self.executor is not None:
            self.executor.close()

    def __enter__(self) -> MirroredStrategy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- preparation ----------------------------------------------------------------------------
    def _prepare(self, graph: Graph, values: list[Any], retrace: Any = None
                 ) -> tuple[list[int | None], list[int], list[Graph], list[tuple[str, int | None]], str]:
        names = [n.name for n in graph.inputs]
        axes = _split.input_axes(names, [n.spec.shape for n in graph.inputs], self.batch_axis)
        batch = next(n.spec.shape[a] for n, a in zip(graph.inputs, axes) if a is not None)
        sizes = _split.split_sizes(batch, self.replicas)
        out_names = [o.name for o in graph.outputs]
        if len(sizes) == 1:
            rules = _split.output_rules(out_names, [OutputBatch(0)] * len(out_names), self.reduce)
            return axes, sizes, [graph], rules, "single"
        cache: dict = graph.__dict__.setdefault("_gs_rebatched", {})
        by_size: dict[int, Graph] = {}
        info: list[OutputBatch] | None = None
        how = "rebuild"
        try:
            for b in sorted(set(sizes)):
                key = (graph.version, tuple(axes), b)
                if key not in cache:
                    cache[key] = rebatch(graph, axes, b)
                by_size[b], info = cache[key]
        except RebatchError:
            if retrace is None:
                raise
            by_size = {b: retrace(axes, b) for b in sorted(set(sizes))}
            info = _batch_info_from_specs(graph, axes, by_size)
            how = "retrace"
        assert info is not None
        rules = _split.output_rules(out_names, info, self.reduce)
        return axes, sizes, [by_size[b] for b in sizes], rules, how

    # -- running --------------------------------------------------------------------------------
    def _run(self, graph: Graph, inputs: Sequence[Any] | Mapping[str, Any], *, profile: bool, repeat: int, warmup: int,
             backend: str, progress: Any, retrace: Any = None) -> RunResult:
        be = get_backend(backend)
        values = bind_inputs(graph, inputs, be)
        axes, sizes, graphs, rules, how = self._prepare(graph, values, retrace)
        shards = _split.split(values, axes, sizes)
        t0 = time.perf_counter_ns()
        if self.executor is None:
            runs = self._run_threads(graphs, shards, profile=profile, repeat=repeat, warmup=warmup, backend=be,
                                     progress=progress)
        else:
            runs = self.executor.run_replicas(graphs, shards, profile=profile, repeat=repeat, warmup=warmup,
                                              backend=be.name, progress=progress)
        outputs = _split.combine(runs.outputs, rules, sizes)
        if not profile:
            return RunResult(outputs)
        meta = {
            "strategy": "mirrored", "replicas": len(sizes), "shares": sizes, "batch_axes": axes,
            "combine": [list(r) for r in rules], "replica_graphs": how, "devices": self.devices[:len(sizes)],
            "lanes": [f"replica{r}" for r in range(len(sizes))], "wall_ns": time.perf_counter_ns() - t0,
            **runs.metadata,
        }
        prof = RunProfile(
            graph_name=graph.name, backend=be.name, nodes=get_plan(graph, be).node_infos(), iterations=runs.iterations,
            iteration_ns=runs.iteration_ns, warmup_ns=runs.warmup_ns, peak_bytes=runs.peak_bytes,
            input_bytes=sum(n.spec.nbytes for n in graph.inputs), constant_bytes=get_plan(graph, be).constant_bytes,
            inputs=[n.id for n in graph.inputs], outputs=[n.id for n in graph.outputs], machine=be.info(),
            pass_log=graph.metadata.get("pass_log"), metadata={"distribute": meta},
        )
        return RunResult(outputs, prof)

    def _threads(self, n: int) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None or self._pool._max_workers < n:
                if self._pool is not None:
                    self._pool.shutdown(wait=False)
                self._pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="graphscope-replica")
            return self._pool

    def _run_threads(self, graphs: list[Graph], shards: list[list[Any]], *, profile: bool, repeat: int, warmup: int,
                     backend: Any, progress: Any) -> ReplicaRuns:
        n = len(graphs)
        plans = [get_plan(g, backend) for g in graphs]
        bound = [bind_inputs(g, s, backend) for g, s in zip(graphs, shards)]
        pool = self._threads(n)
        per_replica = self.blas_threads if self.blas_threads is not None else max(1, cpu_count() // n)
        runs = ReplicaRuns(outputs=[])
        with blas_limit(per_replica if n > 1 else None) as blas:
            for it in range(warmup + max(repeat, 1)):
                measured = profile and it >= warmup
                t0 = time.perf_counter_ns()
                futures = [pool.submit(_replica_iteration, plans[r], bound[r], measured) for r in range(n)]
                results = []
                for r, fut in enumerate(futures):
                    try:
                        results.append(fut.result())
                    except Exception as exc:
                        for other in futures:
                            other.cancel()
                        exc.add_note(f"(in replica {r} of {n}, batch share {_share(graphs, r)})")
                        raise
                wall = time.perf_counter_ns() - t0
                runs.outputs = [res[0] for res in results]
                if measured:
                    events: list[NodeEvent] = []
                    peak = 0
                    for r, (_, raw, mem, start) in enumerate(results):
                        off = start - t0
                        steps = plans[r].steps
                        lane = f"replica{r}"
                        events += [NodeEvent(steps[k].node.id, s + off, e + off, lane, alloc, live, steps[k].flops,
                                             steps[k].bytes_moved) for k, s, e, alloc, live in raw]
                        peak += mem.peak_bytes
                    runs.iterations.append(events)
                    runs.iteration_ns.append(wall)
                    runs.peak_bytes = max(runs.peak_bytes, peak)
                elif profile:
                    runs.warmup_ns.append(wall)
                if progress:
                    progress()
        runs.outputs = [[backend.to_numpy(o) for o in outs] for outs in runs.outputs]
        runs.metadata = {"executor": "threads", "blas_threads_per_replica": blas}
        return runs

    # -- @gs.function calls under scope() --------------------------------------------------------
    def _call_function(self, function: Any, args: tuple, kwargs: dict, bound_self: bool) -> Any:
        from graphscope.config import config
        from graphscope.runtime import run as run_module
        from graphscope.trace import function as fmod

        cf, leaves = function._concrete(args, kwargs, bound_self)
        values = [v for _, v in leaves]

        def retrace(axes: list[int | None], b: int) -> Graph:
            shard = _split.split(values, axes, [b])[0]
            bound, given = function._bind(args, kwargs)
            call_args, call_kwargs = function._call_arguments(bound, given, dict(zip(cf.input_paths, shard)))
            return function._concrete(tuple(call_args), call_kwargs, bound_self)[0].graph

        backend = function.backend or config.backend
        recorders = list(run_module.recorders)
        result = self._run(cf.graph, values, profile=bool(recorders), repeat=1, warmup=0, backend=backend,
                           progress=None, retrace=retrace)
        for recorder in recorders:
            recorder.record(cf.graph, result.profile)
        outputs = list(result.outputs)
        for k in cf.constant_outputs:
            outputs[k] = np.array(outputs[k], copy=True)
        return fmod._fill_tree(cf.output_tree, outputs)


def _share(graphs: list[Graph], r: int) -> str:
    return ", ".join(n.spec.short() for n in graphs[r].inputs)


def _replica_iteration(plan: Any, inputs: list[Any], profiled: bool) -> tuple:
    start = time.perf_counter_ns()
    if profiled:
        outputs, raw, mem = execute_profiled(plan, inputs)
        return outputs, raw, mem, start
    return execute(plan, inputs), None, None, start


def _batch_info_from_specs(graph: Graph, axes: list[int | None], by_size: dict[int, Graph]) -> list[OutputBatch]:
    """Output batch axes of re-traced replica graphs: the axis whose size follows the share size."""
    split_ids = {n.id for n, a in zip(graph.inputs, axes) if a is not None}
    batch = next(n.spec.shape[a] for n, a in zip(graph.inputs, axes) if a is not None)
    info = []
    for k, out in enumerate(graph.outputs):
        found: set[int | None] = set()
        for b, g in by_size.items():
            if len(g.outputs) != len(graph.outputs):
                raise BatchSplitError(f"the function returned {len(g.outputs)} outputs for a batch of {b} but "
                                      f"{len(graph.outputs)} for {batch}")
            full, part = out.spec.shape, g.outputs[k].spec.shape
            diff = [j for j, (x, y) in enumerate(zip(full, part)) if x != y] if len(full) == len(part) else [-1]
            if diff == [] and b != batch:
                found.add(None)
            elif len(diff) == 1 and diff[0] >= 0 and full[diff[0]] * b == part[diff[0]] * batch:
                found.add(diff[0])
            else:
                raise BatchSplitError(f"output {k} ('{out.name}') is {out.spec.short()} for the whole batch but "
                                      f"{g.outputs[k].spec.short()} for a share of {b}: no batch axis to concatenate")
        if len(found) != 1:
            raise BatchSplitError(f"output {k} ('{out.name}') has no consistent batch axis across shares")
        axis = found.pop()
        info.append(OutputBatch(axis, varies=axis is None and _depends_on(out, split_ids)))
    return info


def _depends_on(node: Any, ids: set[int]) -> bool:
    seen: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n.id in ids:
            return True
        for i in n.inputs:
            if i.id not in seen:
                seen.add(i.id)
                stack.append(i)
    return False
