"""Run graphs on a Dask cluster: ``DaskExecutor(client)``, profiled from Dask's own task records.

    from dask.distributed import Client
    executor = DaskExecutor(Client("tcp://scheduler:8786"))     # or DaskExecutor("tcp://...", timeout=10)
    run = executor.run(graph, [x], profile=True, repeat=10)     # gs.run(graph, [x], executor=executor)

How a graph runs:

* The graph is partitioned into segments (``partition.py``): chains of nodes, small ones merged, so the
  per-task overhead does not dominate and parallel branches remain separate tasks. One Dask task per
  segment and iteration; a task's result is a dict of the values other segments read.
* The graph ships as its native document (JSON + ``.npy`` blobs, see ``worker.py``), scattered once to
  every worker (``broadcast=True``) and cached by fingerprint: weights cross the network once, not per
  call. Inputs are scattered once per ``run()`` call and reused by its iterations. Dask itself moves
  these bytes with its own serialization (pickle for plain containers), so the cluster must be trusted,
  as any Dask cluster must: graphscope sends no pickled code or graph objects, only bytes and arrays,
  and tasks name ``graphscope.distribute.worker`` functions, so workers need graphscope installed.
* Profiles: each profiled task runs its segment with the interpreter's per-node timing and keeps the
  node events on the worker; Dask's task stream (``get_task_stream``) gives each task's worker, thread,
  compute start/stop and transfers (time, and the bytes of the inputs that came from another worker).
  Node events are placed on the workers' wall clock relative to the iteration's first task, with one
  lane per worker thread (``tcp://host:port#0``); task records go to ``metadata["dask"]["tasks"]``.
  Workers on different machines have different clocks: the timeline is only as aligned as they are.
* Faults: Dask recomputes the tasks of a worker that dies (up to ``distributed.scheduler.allowed-failures``);
  when it gives up, or scattered data is lost with the worker, the run raises WorkerLostError: never a
  partial result. A scheduler that does not answer within ``timeout`` raises ClusterUnavailableError.

Data-parallel replicas on the cluster: ``MirroredStrategy(replicas=2, executor=DaskExecutor(client))``
runs one task per replica and iteration (``run_replicas``), each on its own worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import os
import statistics
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphscope.distribute import worker as _worker
from graphscope.distribute.errors import ClusterUnavailableError, DistributedError, WorkerLostError, require_dask
from graphscope.distribute.partition import Segment, partition
from graphscope.ir.graph import Graph
from graphscope.profile.events import NodeEvent, RunProfile
from graphscope.runtime.run import RunResult, bind_inputs, get_plan

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


async def _probe(address: str, timeout: float) -> None:
    from distributed.comm import connect as comm_connect

    comm = await comm_connect(address, timeout=timeout)
    await comm.close()


def connect(address: str, timeout: float = 10.0) -> Any:
    """A Client for the scheduler at ``address``; ClusterUnavailableError when it does not answer in time."""
    require_dask()
    from distributed import Client

    t0 = time.monotonic()
    try:
        # Probe first with a hard deadline: a peer that accepts the TCP connection but never answers the
        # handshake makes Client() (and comm.connect's own timeout) wait forever (distributed 2026.8).
        asyncio.run(asyncio.wait_for(_probe(address, timeout), timeout))
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ClusterUnavailableError(
            f"cannot reach the Dask scheduler at {address}: no answer within {timeout:g} s "
            f"({type(exc).__name__} after {time.monotonic() - t0:.1f} s). Is `dask scheduler` running there and "
            f"reachable from this machine?"
        ) from None


def start_local_cluster(n_workers: int = 2, threads_per_worker: int = 1) -> Any:
    """A Client of a new LocalCluster of worker processes bound to 127.0.0.1 (closing the client closes it)."""
    require_dask()
    from distributed import Client, LocalCluster

    # LocalCluster leaves its workers' thread limits (OMP_NUM_THREADS=1, ...) in this process's
    # environment; put the caller's back so later subprocesses are not limited by them.
    saved = {k: os.environ.get(k) for k in _THREAD_VARIABLES}
    try:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    client = Client(cluster)
    client._gs_cluster = cluster  # closed with the client by DaskExecutor.close()
    return client


def _fingerprint(graph: Graph) -> tuple[str, dict[str, bytes]]:
    """The graph's native document as bytes (cached per graph version) and its SHA-256."""
    cached = graph.__dict__.get("_gs_payload")
    if cached is not None and cached[0] == graph.version:
        return cached[1], cached[2]
    from graphscope.formats._io import dumps
    from graphscope.formats.native import GRAPH, graph_to_doc

    doc, arrays = graph_to_doc(graph)
    payload = {GRAPH: dumps(doc, what=f"graph '{graph.name}'")}
    for member, arr in arrays.items():
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        payload[member] = buf.getvalue()
    h = hashlib.sha256()
    for member in sorted(payload):
        h.update(member.encode())
        h.update(payload[member])
    fp = h.hexdigest()
    graph.__dict__["_gs_payload"] = (graph.version, fp, payload)
    return fp, payload


class DaskExecutor:
    """Runs graphs on a Dask cluster. ``client``: a ``distributed.Client``, or a scheduler address.

    ``min_task_ms``: segments estimated below this are merged with a neighbour. ``timeout``: seconds
    to wait for the scheduler when connecting by address. ``close()`` closes a client made here.
    """

    def __init__(self, client: Any = None, *, address: str | None = None, timeout: float = 10.0,
                 min_task_ms: float = 1.0) -> None:
        require_dask()
        if isinstance(client, str):
            client, address = None, client
        self._own = client is None
        if client is None:
            if address is None:
                raise ValueError("DaskExecutor needs a distributed.Client or a scheduler address")
            client = connect(address, timeout)
        self.client = client
        self.min_task_s = min_task_ms / 1e3
        self._payloads: dict[str, Any] = {}  # fingerprint -> future of the scattered payload
        self._segments: dict[tuple[str, float], list[Segment]] = {}
        self._calls = itertools.count()

    def __repr__(self) -> str:
        return f"<DaskExecutor scheduler={self.scheduler_address}>"

    @property
    def scheduler_address(self) -> str:
        return self.client.scheduler.address

    def close(self) -> None:
        self._payloads.clear()
        if self._own:
            cluster = getattr(self.client, "_gs_cluster", None)
            self.client.close()
            if cluster is not None:
                cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- graph shipping ----------------------------------------------------------------------------
    def _ship(self, graph: Graph) -> tuple[str, Any]:
        fp, payload = _fingerprint(graph)
        fut = self._payloads.get(fp)
        if fut is None or fut.status != "finished":
            with self._guard(graph.name, "sending the graph to the workers"):
                fut = self.client.scatter([payload], broadcast=True, hash=False)[0]
            self._payloads[fp] = fut
        return fp, fut

    def segments(self, graph: Graph) -> list[Segment]:
        fp, _ = _fingerprint(graph)
        key = (fp, self.min_task_s)
        if key not in self._segments:
            self._segments[key] = partition(graph, self.min_task_s)
        return self._segments[key]

    # -- the executor protocol ------------------------------------------------------------------
    def run(self, graph: Graph, inputs: Sequence[Any] | Mapping[str, Any], *, profile: bool = False, repeat: int = 1,
            warmup: int = 0, backend: str = "numpy", progress: Any = None) -> RunResult:
        from graphscope.backends import get_backend

        be = get_backend(backend)
        values = bind_inputs(graph, inputs, be)
        fp, payload = self._ship(graph)
        segs = self.segments(graph)
        seg_of = {nid: s.index for s in segs for nid in s.nodes}
        input_pos = {n.id: k for k, n in enumerate(graph.inputs)}
        call = f"{next(self._calls)}-{uuid.uuid4().hex[:8]}"
        name = _key_name(graph.name)
        with self._guard(graph.name, "sending the inputs"):
            input_futs = self.client.scatter(list(values), hash=False) if values else []
        if profile:  # where each input was placed (before tasks copy it elsewhere): for transfer bytes
            where = {f.key: ws for f, ws in zip(input_futs, self._who_has(input_futs))}
            sizes = {f.key: v.nbytes for f, v in zip(input_futs, values)}

        def submit(it: int, tag: str | None) -> tuple[list[Any], dict[str, tuple[int, list[str]]]]:
            futs: list[Any] = []
            tasks: dict[str, tuple[int, list[str]]] = {}
            for s in segs:
                deps: list[Any] = []
                bindings = []
                for nid in s.inputs:
                    dep, ref = (futs[seg_of[nid]], nid) if nid in seg_of else (input_futs[input_pos[nid]], None)
                    pos = next((k for k, d in enumerate(deps) if d.key == dep.key), None)
                    if pos is None:
                        pos = len(deps)
                        deps.append(dep)
                    bindings.append((pos, ref))
                key = f"gs-{name}-{s.name}-{call}-{it}"
                tasks[key] = (s.index, [d.key for d in deps])
                spec = (s.index, tuple(s.nodes), tuple(s.inputs), tuple(s.outputs))
                futs.append(self.client.submit(_worker.run_segment, payload, fp, spec, be.name,
                                               (tag, key) if tag else None, tuple(bindings), *deps, key=key, pure=False))
            return futs, tasks

        def collect(futs: list[Any]) -> list[Any]:
            return self._gather_outputs(graph, futs, seg_of, values, input_pos)

        try:
            outputs, loop = self._loop(graph.name, call, submit, collect, profile, repeat, warmup, progress)
        finally:
            input_futs.clear()  # release the scattered inputs
        if not profile:
            return RunResult(outputs)
        lanes: dict[tuple[str, int], str] = {}

        def lane(idx: int, worker: str, thread: int) -> str:
            if (worker, thread) not in lanes:
                k = sum(1 for w, _ in lanes if w == worker)
                lanes[(worker, thread)] = f"{worker}#{k}"
            return lanes[(worker, thread)]

        iterations, tasks, peak = _events_from_records(loop, lane, where, sizes)
        plan = get_plan(graph, be)
        prof = RunProfile(
            graph_name=graph.name, backend=be.name, nodes=plan.node_infos(), iterations=iterations,
            iteration_ns=loop.iteration_ns, warmup_ns=loop.warmup_ns, peak_bytes=peak,
            input_bytes=sum(n.spec.nbytes for n in graph.inputs), constant_bytes=plan.constant_bytes,
            inputs=[n.id for n in graph.inputs], outputs=[n.id for n in graph.outputs],
            machine={**be.info(), "executor": "dask", "scheduler": self.scheduler_address,
                     "workers": len(self.client.scheduler_info()["workers"])},
            pass_log=graph.metadata.get("pass_log"),
            metadata={"dask": {
                "scheduler": self.scheduler_address, "lanes": sorted(set(lanes.values())), "tasks": tasks,
                "segments": [{"index": s.index, "nodes": s.nodes, "inputs": s.inputs, "outputs": s.outputs,
                              "deps": s.deps, "estimated_ms": s.cost_s * 1e3} for s in segs],
                "median_gap_between_tasks_ms": _median_gap(tasks)}},
        )
        return RunResult(outputs, prof)

    def _gather_outputs(self, graph: Graph, futs: list[Any], seg_of: dict[int, int], values: list[Any],
                        input_pos: dict[int, int]) -> list[Any]:
        wanted = sorted({seg_of[o.id] for o in graph.outputs if o.id in seg_of})
        got = dict(zip(wanted, self.client.gather([futs[k] for k in wanted])))
        out = []
        for o in graph.outputs:
            if o.id in seg_of:
                out.append(got[seg_of[o.id]][o.id])
            elif o.id in input_pos:
                out.append(values[input_pos[o.id]])
            else:  # a constant output
                out.append(np.array(o.value, copy=True))
        return out

    def _loop(self, graph_name: str, call: str, submit: Any, collect: Any, profile: bool, repeat: int, warmup: int,
              progress: Any) -> tuple[Any, _Loop]:
        """Warm-up and measured iterations (each: submit its tasks, wait for its results), under the task stream."""
        loop = _Loop()
        tag = f"gs-{call}"
        stream = _task_stream(self.client) if profile else _null()
        try:
            with stream:
                for it in range(warmup + max(repeat, 1)):
                    measured = profile and it >= warmup
                    t0 = time.perf_counter_ns()
                    with self._guard(graph_name, "running"):
                        futs, tasks = submit(it, tag if measured else None)
                        outputs = collect(futs)
                    wall = time.perf_counter_ns() - t0
                    del futs
                    if measured:
                        loop.iteration_ns.append(wall)
                        loop.tasks.append(tasks)
                    elif profile:
                        loop.warmup_ns.append(wall)
                    if progress:
                        progress()
            if profile:
                loop.stream = list(stream.data)
                with self._guard(graph_name, "collecting the profile"):
                    loop.records = self.client.run(_worker.pop_events, tag)
        finally:
            if profile and not loop.records:
                try:  # do not leave this call's events on the workers
                    self.client.run(_worker.pop_events, tag)
                except Exception:  # noqa: S110 - best effort after a failure already being raised
                    pass
        return outputs, loop

    def _who_has(self, futs: list[Any]) -> list[list[str]]:
        try:
            who = self.client.who_has(futs)
        except Exception:
            return [[] for _ in futs]
        return [list(who.get(f.key, ())) for f in futs]

    # -- replicas --------------------------------------------------------------------------------
    def run_replicas(self, graphs: list[Graph], shards: list[list[Any]], *, profile: bool, repeat: int, warmup: int,
                     backend: str = "numpy", progress: Any = None) -> Any:
        """One task per replica and iteration, replica r on worker r (mod the workers). For MirroredStrategy."""
        from graphscope.backends import get_backend
        from graphscope.distribute.mirrored import ReplicaRuns

        be = get_backend(backend)
        workers = sorted(self.client.scheduler_info()["workers"])
        if not workers:
            raise DistributedError(f"the Dask cluster at {self.scheduler_address} has no workers")
        shipped = [self._ship(g) for g in graphs]
        specs = [(0, tuple(n.id for n in g.nodes if n.op not in ("placeholder", "constant")),
                  tuple(n.id for n in g.inputs), tuple(o.id for o in g.outputs)) for g in graphs]
        call = f"{next(self._calls)}-{uuid.uuid4().hex[:8]}"
        name = _key_name(graphs[0].name)
        placed = [workers[r % len(workers)] for r in range(len(graphs))]
        with self._guard(graphs[0].name, "sending the inputs"):
            shard_futs = [self.client.scatter(list(s), workers=[w], hash=False) for s, w in zip(shards, placed)]
        flat = [f for sf in shard_futs for f in sf]
        where = {f.key: [w] for sf, w in zip(shard_futs, placed) for f in sf}
        sizes = {f.key: np.asarray(v).nbytes for f, v in zip(flat, [v for s in shards for v in s])}

        def submit(it: int, tag: str | None) -> tuple[list[Any], dict[str, tuple[int, list[str]]]]:
            futs, tasks = [], {}
            for r, ((fp, payload), spec, sf) in enumerate(zip(shipped, specs, shard_futs)):
                key = f"gs-{name}-replica{r}-{call}-{it}"
                tasks[key] = (r, [f.key for f in sf])
                futs.append(self.client.submit(
                    _worker.run_segment, payload, fp, spec, be.name, (tag, key) if tag else None,
                    tuple((k, None) for k in range(len(sf))), *sf, key=key, pure=False, workers=[placed[r]],
                    allow_other_workers=True))
            return futs, tasks

        def collect(futs: list[Any]) -> list[list[Any]]:
            results = self.client.gather(futs)
            return [[res[o.id] for o in g.outputs] for res, g in zip(results, graphs)]

        try:
            outputs, loop = self._loop(graphs[0].name, call, submit, collect, profile, repeat, warmup, progress)
        finally:
            flat.clear()
            shard_futs.clear()
        runs = ReplicaRuns(outputs=outputs, iteration_ns=loop.iteration_ns, warmup_ns=loop.warmup_ns)
        runs.metadata = {"executor": "dask", "scheduler": self.scheduler_address, "placement": placed}
        if profile:
            iterations, tasks, peak = _events_from_records(loop, lambda idx, worker, thread: f"replica{idx}", where, sizes)
            runs.iterations, runs.peak_bytes = iterations, peak
            runs.metadata["dask"] = {"tasks": tasks, "median_gap_between_tasks_ms": _median_gap(tasks)}
        return runs

    # -- helpers ---------------------------------------------------------------------------------
    def _guard(self, graph_name: str, doing: str) -> Any:
        return _Guard(self, graph_name, doing)


class _Loop:
    def __init__(self) -> None:
        self.iteration_ns: list[int] = []
        self.warmup_ns: list[int] = []
        self.tasks: list[dict[str, tuple[int, list[str]]]] = []  # per measured iteration: key -> (index, dep keys)
        self.stream: list[dict] = []
        self.records: dict[str, list[tuple]] = {}


class _Guard:
    """Turns Dask's failures (a lost worker, lost data, a closed connection) into clear errors."""

    def __init__(self, executor: DaskExecutor, graph_name: str, doing: str) -> None:
        self.executor, self.graph_name, self.doing = executor, graph_name, doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, (DistributedError, KeyboardInterrupt)):
            return False
        from distributed import KilledWorker
        from distributed.client import FutureCancelledError

        where = f"graph '{self.graph_name}' on the Dask cluster at {self.executor.scheduler_address}"
        if isinstance(exc, KilledWorker):
            raise WorkerLostError(f"{where}: a worker died while {self.doing} and Dask gave up retrying ({exc}); "
                                  f"no result was returned") from exc
        if isinstance(exc, (FutureCancelledError, OSError, TimeoutError)) or type(exc).__name__ in (
                "CancelledError", "CommClosedError", "FutureCancelledError"):
            raise WorkerLostError(f"{where}: the run was lost while {self.doing} ({type(exc).__name__}: {exc}); a worker "
                                  f"holding its data probably died. No result was returned") from exc
        return False  # errors raised by the graph's own nodes pass through unchanged


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return False


def _task_stream(client: Any) -> Any:
    from distributed import get_task_stream

    return get_task_stream(client=client)


def _key_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_." else "_" for c in name)[:40] or "graph"


def _events_from_records(loop: _Loop, lane_of: Any, input_where: dict[str, list[str]], input_bytes: dict[str, int]
                         ) -> tuple[list[list[NodeEvent]], list[list[dict]], int]:
    """Node events per measured iteration, placed on the workers' wall clocks, and Dask's record of each task.

    A task's worker, thread, compute start/stop and transfer time come from the task stream; its transfer
    bytes add the sizes of its inputs that were produced (or scattered) on another worker."""
    by_key = {rec["key"]: rec for rec in loop.stream if isinstance(rec.get("key"), str)}
    ours: dict[str, tuple] = {}
    for worker, recs in loop.records.items():
        for key, thread, wall0, events, peak, _wall in recs:
            rec = by_key.get(key)
            if key not in ours or (rec is not None and rec.get("worker") == worker):
                ours[key] = (worker, thread, wall0, events, peak)
    iterations: list[list[NodeEvent]] = []
    all_tasks: list[list[dict]] = []
    peak = 0
    for tasks in loop.tasks:
        rows = []
        for key, (idx, dep_keys) in tasks.items():
            rec = by_key.get(key, {})
            compute = [s for s in rec.get("startstops", ()) if s.get("action") == "compute"]
            transfer = [s for s in rec.get("startstops", ()) if s.get("action") == "transfer"]
            worker = rec.get("worker")
            moved = 0
            for d in dep_keys:
                src = by_key[d].get("worker") if d in by_key else None
                size = by_key[d].get("nbytes", 0) if d in by_key else input_bytes.get(d, 0)
                here = [src] if src else input_where.get(d, [])
                if worker is not None and worker not in here:
                    moved += int(size)
            rows.append({
                "key": key, "index": idx, "worker": worker, "thread": rec.get("thread"),
                "start_ns": int(compute[0]["start"] * 1e9) if compute else None,
                "stop_ns": int(compute[-1]["stop"] * 1e9) if compute else None,
                "transfer_ns": int(sum((s["stop"] - s["start"]) * 1e9 for s in transfer)),
                "transfer_bytes": moved if transfer else 0,
                "transfer_from": sorted({str(s.get("source")) for s in transfer if s.get("source")}),
                "nbytes": int(rec.get("nbytes", 0) or 0), "lane": None,
            })
        starts = [r["start_ns"] for r in rows if r["start_ns"] is not None]
        starts += [ours[r["key"]][2] for r in rows if r["key"] in ours]
        base = min(starts, default=0)
        events: list[NodeEvent] = []
        iter_peak = 0
        for r in rows:
            mine = ours.get(r["key"])
            if mine is not None:
                worker, thread, wall0, evs, seg_peak = mine
                lane = r["lane"] = lane_of(r["index"], worker, thread)
                off = wall0 - base
                events += [NodeEvent(nid, s + off, e + off, lane, alloc, live, flops, moved)
                           for nid, s, e, alloc, live, flops, moved in evs]
                iter_peak += seg_peak
            if r["start_ns"] is not None:
                r["start_ns"] -= base
                r["stop_ns"] -= base
        events.sort(key=lambda e: e.start_ns)
        iterations.append(events)
        all_tasks.append(sorted(rows, key=lambda r: (r["start_ns"] is None, r["start_ns"] or 0)))
        peak = max(peak, iter_peak)
    return iterations, all_tasks, peak


def _median_gap(tasks: list[list[dict]]) -> float | None:
    """Median idle time between consecutive tasks of one worker thread (scheduling overhead), in ms."""
    gaps = []
    for it in tasks:
        by_lane: dict[Any, list[dict]] = {}
        for t in it:
            if t["start_ns"] is not None:
                by_lane.setdefault((t["worker"], t["thread"]), []).append(t)
        for ts in by_lane.values():
            ts.sort(key=lambda t: t["start_ns"])
            gaps += [max(0, b["start_ns"] - a["stop_ns"]) / 1e6 for a, b in zip(ts, ts[1:])]
    return statistics.median(gaps) if gaps else None
