"""Parallel execution: independent nodes side by side on a few threads, never oversubscribed.

NumPy releases the GIL inside its kernels, so two single-threaded kernels (ufuncs, reductions, small
products) on two threads use two cores. Kernels that already use every core (large BLAS products,
parallel fused kernels) gain nothing from company and lose to it (two BLAS calls at once on 2 cores
take about twice as long as one after the other), so they run alone.

How a plan goes parallel, per plan (``gs.run(..., parallel=True)``):

1. **Calibration** (the first ``CALIBRATION_RUNS`` calls): sequential runs timing every node, wall
   and process CPU time; a node whose CPU time is well above its wall time is multi-threaded
   (whatever the backend's static rule said).
2. **Schedule**: list scheduling (highest bottom level first, earliest-start lane, a penalty for
   every hand-off between lanes) over ``lanes`` = cores. A multi-threaded node takes every lane.
   The result is an order per lane plus the cross-lane waits; the plan's memory plan is redone for
   it (buffers are shared only between values ordered by the schedule's happens-before relation).
   If the simulated time does not beat the sequential time by ``MIN_GAIN``, the plan stays sequential.
3. **Trial**: ``TRIAL_RUNS`` parallel runs interleaved with sequential ones; parallel is kept only
   if its median wall time is lower. So ``parallel=True`` is never slower than sequential beyond
   noise: where nothing overlaps it *is* sequential.

The calling thread runs lane 0; persistent daemon threads run the other lanes. A node that raises
stops every lane (waiting lanes are woken) and the error names the node.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import Any

import numpy as np

from graphscope.errors import NodeExecutionError
from graphscope.passes.memory_plan import MemoryPlan, plan_memory
from graphscope.runtime.interpreter import (
    MemoryTrace,
    _node_error,
    _root,
    execute,
    execute_profiled,
    guard_outputs,
)
from graphscope.runtime.plan import Plan, new_arena

CALIBRATION_RUNS = 3  # the first warms caches (and compiles kernels); the others are timed
TRIAL_RUNS = 3
MIN_GAIN = 0.10  # simulated time must be at least this much below sequential
HANDOFF_NS = 40_000  # simulated cost of a cross-lane wait (a thread wake-up), so tiny nodes stay put
MULTI_THREAD_CPU_RATIO = 1.4  # process CPU / wall above this: the node used several cores
MIN_DETECT_NS = 200_000  # too short to judge CPU time on


def lane_count() -> int:
    """Lanes to run on: the cores this process may use (its CPU affinity), at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


# -- the worker threads ---------------------------------------------------------------------------

_jobs: SimpleQueue = SimpleQueue()
_workers: list[threading.Thread] = []
_workers_lock = threading.Lock()


def _worker_loop() -> None:
    while True:
        job = _jobs.get()
        job()


def _ensure_workers(n: int) -> None:
    with _workers_lock:
        while len(_workers) < n:
            t = threading.Thread(target=_worker_loop, name=f"graphscope-lane-{len(_workers) + 1}", daemon=True)
            t.start()
            _workers.append(t)


def _in_worker() -> bool:
    return threading.current_thread() in _workers


# -- the schedule -----------------------------------------------------------------------------------


@dataclass
class LaneSchedule:
    lanes: list[list[int]]  # step indices per lane, in run order
    lane_of: list[int]
    start: list[float]  # simulated start (ns) per step
    waits: list[list[int]]  # per step: steps on other lanes it waits for
    order: list[int]  # a global order consistent with every wait (for the memory plan)
    simulated_ns: float
    sequential_ns: float
    threads: list[int]


def predecessors(plan: Plan) -> list[list[int]]:
    """Per step, the steps whose values it reads (inputs and constants are not steps)."""
    step_of_slot = {s.out: k for k, s in enumerate(plan.steps)}
    n_values = len(plan.node_of_slot)
    preds = []
    for s in plan.steps:
        ps = sorted({step_of_slot[a] for a in s.args if a < n_values and a in step_of_slot})
        preds.append(ps)
    return preds


def build_schedule(plan: Plan, durations: Sequence[float], threads: Sequence[int], lanes: int,
                   handoff_ns: float = HANDOFF_NS) -> LaneSchedule:
    """List-schedule the plan's steps on ``lanes`` lanes (see the module doc)."""
    n = len(plan.steps)
    preds = predecessors(plan)
    succs: list[list[int]] = [[] for _ in range(n)]
    for k, ps in enumerate(preds):
        for p in ps:
            succs[p].append(k)
    bottom = [0.0] * n
    for k in reversed(range(n)):
        bottom[k] = durations[k] + max((bottom[s] for s in succs[k]), default=0.0)
    remaining = [len(ps) for ps in preds]
    ready = [k for k in range(n) if remaining[k] == 0]
    lane_free = [0.0] * lanes
    lane_of = [0] * n
    start = [0.0] * n
    finish = [0.0] * n
    lane_lists: list[list[int]] = [[] for _ in range(lanes)]
    order: list[int] = []
    waits: list[list[int]] = [[] for _ in range(n)]
    while ready:
        k = max(ready, key=lambda j: (bottom[j], -j))
        ready.remove(k)
        if threads[k] > 1:  # takes every lane: runs after whatever each lane has, and alone
            data_ready = max((finish[p] for p in preds[k]), default=0.0)
            # run it on the lane that produced most of its inputs (fewer hand-offs)
            lane = max(range(lanes), key=lambda m: (sum(lane_of[p] == m for p in preds[k]), -m))
            s = max(max(lane_free), data_ready + (handoff_ns if any(lane_of[p] != lane for p in preds[k]) else 0))
            for m in range(lanes):
                if m != lane and lane_lists[m]:
                    waits[k].append(lane_lists[m][-1])  # every other lane finished its earlier nodes
            lane_free = [s + durations[k]] * lanes
        else:
            best = None
            for m in range(lanes):
                est = lane_free[m]
                for p in preds[k]:
                    est = max(est, finish[p] + (handoff_ns if lane_of[p] != m else 0.0))
                key = (est, -sum(lane_of[p] == m for p in preds[k]), m)
                if best is None or key < best[0]:
                    best = (key, m, est)
            assert best is not None
            _, lane, s = best
            lane_free[lane] = s + durations[k]
        lane_of[k], start[k], finish[k] = lane, s, s + durations[k]
        lane_lists[lane].append(k)
        order.append(k)
        for sc in succs[k]:
            remaining[sc] -= 1
            if remaining[sc] == 0:
                ready.append(sc)
    # Cross-lane data waits, and: a node after an exclusive one on another lane waits for it.
    for k in range(n):
        for p in preds[k]:
            if lane_of[p] != lane_of[k]:
                waits[k].append(p)
    pick = {k: i for i, k in enumerate(order)}
    for m in range(lanes):
        for e in (k for k in range(n) if threads[k] > 1 and lane_of[k] != m):
            nxt = next((j for j in lane_lists[m] if pick[j] > pick[e]), None)
            if nxt is not None:
                waits[nxt].append(e)
    for k in range(n):
        waits[k] = sorted(set(waits[k]))
    return LaneSchedule(lane_lists, lane_of, start, waits, order, max(finish, default=0.0), float(sum(durations)),
                        list(threads))


# -- the lane plan: per-lane steps, its own arena layout ---------------------------------------------


class LanePlan:
    """Steps per lane with their waits, frees and arena buffers for one schedule of a Plan."""

    def __init__(self, plan: Plan, sched: LaneSchedule) -> None:
        self.plan = plan
        self.schedule = sched
        n = len(plan.steps)
        pos = {k: i for i, k in enumerate(sched.order)}
        # Happens-before: data edges, lane order, the exclusive nodes' waits (all are in ``waits`` or lane order).
        before: list[set[int]] = [set() for _ in range(n)]
        for lane in sched.lanes:
            for a, b in zip(lane, lane[1:]):
                before[b].add(a)
        for k in range(n):
            before[k].update(sched.waits[k])
        anc = [0] * n  # by position in sched.order
        for k in sched.order:
            mask = 0
            for p in before[k]:
                mask |= anc[pos[p]] | (1 << pos[p])
            anc[pos[k]] = mask
        self.memory: MemoryPlan | None = None
        self.buffers: list[tuple[int, int, tuple[int, ...], np.dtype]] = []
        buffer_of: dict[int, int] = {}
        if plan.memory is not None:
            order_nodes = [plan.steps[k].node for k in sched.order]
            arena_ids = {s.node.id for s in plan.steps if s.arena_offset is not None}
            self.memory = plan_memory(plan.graph, order_nodes, writes_out=lambda nd: nd.id in arena_ids,
                                      in_place=plan.backend.in_place_ok, ancestors=anc)
            base = len(plan.template)  # new buffer slots after the sequential plan's
            for k in sched.order:
                node = plan.steps[k].node
                off = self.memory.offset(node.id)
                assert (off is None) == (node.id not in arena_ids), node
                if off is not None:
                    buffer_of[k] = base + len(self.buffers)
                    self.buffers.append((buffer_of[k], off, node.spec.shape, node.spec.dtype))
        self.arena_bytes = self.memory.arena_bytes if self.memory else 0
        self.n_slots = len(plan.template) + len(self.buffers)

        # Frees: a heap value is dropped after the reader that surely runs after all its other readers.
        readers: dict[int, list[int]] = {}
        keep = set(plan.output_slots)
        for k, s in enumerate(plan.steps):
            for a in set(s.args):
                readers.setdefault(a, []).append(k)
        frees: dict[int, list[int]] = {}
        freeable = {a for s in plan.steps for a in s.frees}  # what the sequential plan frees at all
        for slot in freeable:
            if slot in keep:
                continue
            rs = readers.get(slot, [])
            producer = next((k for k, s in enumerate(plan.steps) if s.out == slot), None)
            cands = rs or ([producer] if producer is not None else [])
            for r in cands:
                if all(o == r or anc[pos[r]] >> pos[o] & 1 for o in cands):
                    frees.setdefault(r, []).append(slot)
                    break
        # Signals: a step that another lane waits for sets its event.
        waited = sorted({w for ws in sched.waits for w in ws})
        self.event_of = {k: i for i, k in enumerate(waited)}
        self.n_events = len(waited)
        self.lanes: list[list[tuple]] = []
        for lane in sched.lanes:
            steps = []
            for k in lane:
                s = plan.steps[k]
                args = s.args[:-1] + (buffer_of[k],) if k in buffer_of else s.args
                steps.append((s.kernel, args, s.out, tuple(frees.get(k, ())),
                              tuple(self.event_of[w] for w in sched.waits[k]), self.event_of.get(k, -1), k))
            self.lanes.append(steps)
        self._local = threading.local()

    def local_template(self) -> list[Any]:
        try:
            return self._local.template
        except AttributeError:
            pass
        tpl = list(self.plan.template) + [None] * len(self.buffers)
        if self.buffers:
            arena = new_arena(self.arena_bytes)
            for slot, off, shape, dtype in self.buffers:
                size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                tpl[slot] = arena[off:off + size].view(dtype).reshape(shape)
            self._local.arena = arena
        self._local.template = tpl
        return tpl

    def local_arena(self) -> np.ndarray | None:
        return getattr(self._local, "arena", None)


# -- running the lanes ----------------------------------------------------------------------------------


class _Run:
    """One parallel run: shared slots, one event per waited-for step, the first error."""

    __slots__ = ("slots", "events", "error", "done", "profile", "records", "lock", "base_t", "account")

    def __init__(self, slots: list[Any], n_events: int, profiled: bool) -> None:
        self.slots = slots
        self.events = [threading.Event() for _ in range(n_events)]
        self.error: list[tuple[int, BaseException]] = []
        self.done: list[threading.Event] = []
        self.profile = profiled
        self.records: list[tuple] = []
        self.lock = threading.Lock()
        self.base_t = time.perf_counter_ns()
        self.account: _Account | None = None

    def fail(self, k: int, exc: BaseException) -> None:
        with self.lock:
            self.error.append((k, exc))
        for e in self.events:  # wake every waiting lane: they see the error and stop
            e.set()


class _Account:
    """Logical memory accounting shared by the lanes (same rules as ``execute_profiled``)."""

    def __init__(self, external: set[int], arena_bytes: int) -> None:
        self.external = external
        self.refs: dict[int, int] = {}
        self.root_info: dict[int, tuple[int, int]] = {}
        self.slot_root: dict[int, int] = {}
        self.live = self.peak = arena_bytes
        self.peak_step = -1
        self.peak_buffers: list[tuple[int, int]] = []

    def produced(self, k: int, out: int, r: Any, frees: tuple[int, ...]) -> tuple[int, int]:
        root = _root(r)
        rid = id(root)
        alloc = 0
        if rid not in self.external:
            if rid in self.refs:
                self.refs[rid] += 1
            else:
                self.refs[rid] = 1
                alloc = root.nbytes
                self.root_info[rid] = (alloc, out)
                self.live += alloc
            self.slot_root[out] = rid
        if self.live > self.peak or self.peak_step < 0:
            self.peak, self.peak_step = self.live, k
            self.peak_buffers = list(self.root_info.values())
        for f in frees:
            fr = self.slot_root.pop(f, None)
            if fr is not None:
                self.refs[fr] -= 1
                if self.refs[fr] == 0:
                    del self.refs[fr]
                    self.live -= self.root_info.pop(fr)[0]
        return alloc, self.live


def _run_lane(run: _Run, steps: list[tuple], lane_name: str) -> None:
    slots, events, error = run.slots, run.events, run.error
    perf = time.perf_counter_ns
    try:
        for fn, args, out, frees, waits, signal, k in steps:
            for w in waits:
                events[w].wait()
            if error:
                return
            if run.profile:
                t0 = perf()
                r = fn(*[slots[a] for a in args])
                t1 = perf()
                slots[out] = r
                with run.lock:
                    assert run.account is not None
                    alloc, live = run.account.produced(k, out, r, frees)
                    run.records.append((k, t0 - run.base_t, t1 - run.base_t, alloc, live, lane_name))
                    for f in frees:
                        slots[f] = None
            else:
                slots[out] = fn(*[slots[a] for a in args])
                for f in frees:
                    slots[f] = None
            if signal >= 0:
                events[signal].set()
    except BaseException as exc:  # noqa: BLE001 - any failure must stop the other lanes
        run.fail(k, exc)


def execute_lanes(lp: LanePlan, inputs: list[Any], profiled: bool = False):
    """Run a lane plan once; with ``profiled`` also return (raw records with lanes, MemoryTrace)."""
    plan = lp.plan
    slots = lp.local_template().copy()
    for s, v in zip(plan.input_slots, inputs):
        slots[s] = v
    run = _Run(slots, lp.n_events, profiled)
    arena = lp.local_arena()
    if profiled:
        external = {id(_root(v)) for v in slots if v is not None}
        arena_bytes = 0
        if arena is not None:
            arena_bytes = _root(arena).nbytes
            external.add(id(_root(arena)))
        run.account = _Account(external, arena_bytes)
    others = lp.lanes[1:]
    _ensure_workers(len(others))
    finished: list[threading.Event] = []
    errstate = np.geterr()  # NumPy's error settings are per thread: the lanes follow the caller's
    for steps in others:
        done = threading.Event()
        finished.append(done)

        def job(steps=steps, done=done) -> None:
            try:
                with np.errstate(**errstate):
                    _run_lane(run, steps, threading.current_thread().name)
            finally:
                done.set()

        _jobs.put(job)
    _run_lane(run, lp.lanes[0], threading.current_thread().name)
    try:
        for done in finished:  # never return (or reuse the arena) while a lane still runs
            done.wait()
    except BaseException as exc:  # interrupted while waiting: stop the lanes, wait for them, then go
        run.fail(-1, exc)
        for done in finished:
            done.wait()
        raise
    if run.error:
        pick = {k: i for i, k in enumerate(lp.schedule.order)}
        k, exc = min(run.error, key=lambda e: pick.get(e[0], -1))  # the earliest in the schedule
        if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: not a node's failure
            raise exc
        raise _node_error(plan, plan.fast_steps[k], slots, exc) from exc
    outputs = [slots[o] for o in plan.output_slots]
    if arena is not None:
        may_share = np.may_share_memory
        outputs = [o.copy() if isinstance(o, np.ndarray) and may_share(o, arena) else o for o in outputs]
    if not profiled:
        return outputs
    acc = run.account
    assert acc is not None
    nodes = plan.node_of_slot
    live_at_peak = [(nodes[s].id, b) for b, s in acc.peak_buffers]
    if lp.memory is not None and acc.peak_step >= 0:
        p = lp.schedule.order.index(acc.peak_step)
        pos = {nid: i for i, nid in enumerate(lp.memory.order)}
        for st in lp.memory.storages:
            if st.kind == "arena" and st.first <= p <= st.last:
                holder = max((m for m in st.members if pos[m] <= p), key=lambda m: pos[m], default=st.root)
                live_at_peak.append((holder, st.nbytes))
    records = sorted(run.records, key=lambda r: r[1])
    arena_bytes = _root(arena).nbytes if arena is not None else 0
    mem = MemoryTrace(acc.peak, sorted(live_at_peak, key=lambda t: -t[1]), arena_bytes, acc.peak_step, lp.memory)
    return outputs, records, mem


# -- the per-plan state machine ------------------------------------------------------------------------


@dataclass
class ParallelState:
    mode: str = "calibrating"  # calibrating -> trial -> parallel | sequential
    durations: list[list[int]] = field(default_factory=list)  # per calibration run, per step (ns)
    cpu: list[list[int]] = field(default_factory=list)
    seq_wall: list[int] = field(default_factory=list)
    par_wall: list[int] = field(default_factory=list)
    lane_plan: LanePlan | None = None
    reason: str = ""
    runs: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def parallel_state(plan: Plan) -> ParallelState:
    st = plan.parallel
    if st is None:
        st = plan.parallel = ParallelState()
        if lane_count() < 2:
            st.mode, st.reason = "sequential", "one core"
        elif len(plan.steps) < 2:
            st.mode, st.reason = "sequential", "fewer than two nodes"
    return st


def _timed_sequential(plan: Plan, inputs: list[Any]) -> tuple[list[Any], list[int], list[int], int]:
    """A sequential run timing each node's wall and process CPU time (for calibration)."""
    slots = (plan.local_template() if plan.buffers else plan.template).copy()
    for s, v in zip(plan.input_slots, inputs):
        slots[s] = v
    perf, cpu = time.perf_counter_ns, time.process_time_ns
    walls, cpus = [], []
    t_start = perf()
    step = None
    try:
        for step in plan.fast_steps:
            fn, args, out, frees = step
            c0 = cpu()
            t0 = perf()
            slots[out] = fn(*[slots[a] for a in args])
            t1 = perf()
            c1 = cpu()
            walls.append(t1 - t0)
            cpus.append(c1 - c0)
            for f in frees:
                slots[f] = None
    except Exception as exc:
        raise _node_error(plan, step, slots, exc) from exc
    wall = perf() - t_start
    outputs = [slots[o] for o in plan.output_slots]
    return (guard_outputs(plan, outputs) if plan.buffers else outputs), walls, cpus, wall


def decide_schedule(plan: Plan, st: ParallelState, lanes: int | None = None) -> None:
    """From the calibration runs: the schedule, or the reason to stay sequential."""
    lanes = lanes or lane_count()
    runs = list(zip(st.durations, st.cpu))[1:] or list(zip(st.durations, st.cpu))
    n = len(plan.steps)
    dur = [statistics.median(r[0][k] for r in runs) for k in range(n)]
    cpu = [statistics.median(r[1][k] for r in runs) for k in range(n)]
    threads = []
    for k, s in enumerate(plan.steps):
        t = s.threads
        if dur[k] >= MIN_DETECT_NS and cpu[k] > MULTI_THREAD_CPU_RATIO * dur[k]:
            t = max(t, lanes)
        threads.append(min(t, lanes) if t > 1 else 1)
    sched = build_schedule(plan, dur, threads, lanes)
    if sched.simulated_ns > (1 - MIN_GAIN) * sched.sequential_ns or max(len(x) for x in sched.lanes) == n:
        st.mode = "sequential"
        st.reason = (f"simulated {sched.simulated_ns / 1e6:.2f} ms in parallel vs {sched.sequential_ns / 1e6:.2f} ms "
                     f"sequential: not enough independent single-threaded work")
        return
    st.lane_plan = LanePlan(plan, sched)
    st.mode = "trial"


def force_parallel(plan: Plan, durations: Sequence[float] | None = None, threads: Sequence[int] | None = None,
                   lanes: int = 2) -> LanePlan:
    """Put a plan in parallel mode with a given (or cost-model) schedule: for tests and benchmarks."""
    st = parallel_state(plan)
    n = len(plan.steps)
    if durations is None:
        durations = [float(max(s.bytes_moved, 1) + s.flops) for s in plan.steps]
    if threads is None:
        threads = [min(s.threads, lanes) if s.threads > 1 else 1 for s in plan.steps]
    st.lane_plan = LanePlan(plan, build_schedule(plan, durations, threads, lanes, handoff_ns=0.0))
    st.mode, st.reason = "parallel", "forced"
    assert len(st.lane_plan.schedule.lane_of) == n
    return st.lane_plan


def force_sequential(plan: Plan, reason: str = "forced") -> None:
    st = parallel_state(plan)
    st.mode, st.reason, st.lane_plan = "sequential", reason, None


def run_parallel(plan: Plan, inputs: list[Any], profiled: bool = False):
    """One run with ``parallel=True`` (see the module doc); the same results as ``execute``."""
    st = parallel_state(plan)
    if st.mode == "sequential" or _in_worker():
        return execute_profiled(plan, inputs) if profiled else execute(plan, inputs)
    if st.mode == "calibrating":
        if profiled:
            return execute_profiled(plan, inputs)
        outputs, walls, cpus, wall = _timed_sequential(plan, inputs)
        with st.lock:
            if st.mode == "calibrating":
                st.durations.append(walls)
                st.cpu.append(cpus)
                st.seq_wall.append(wall)
                if len(st.durations) >= CALIBRATION_RUNS:
                    st.seq_wall.clear()
                    decide_schedule(plan, st)
        return outputs
    lp = st.lane_plan
    assert lp is not None
    if st.mode == "trial" and not profiled:
        # Alternate: a sequential run, then a parallel one, until both have TRIAL_RUNS timings.
        st.runs += 1
        t0 = time.perf_counter_ns()
        if st.runs % 2:
            out = execute(plan, inputs)
            st.seq_wall.append(time.perf_counter_ns() - t0)
        else:
            out = execute_lanes(lp, inputs)
            st.par_wall.append(time.perf_counter_ns() - t0)
        with st.lock:
            if st.mode == "trial" and len(st.par_wall) >= TRIAL_RUNS and len(st.seq_wall) >= TRIAL_RUNS:
                seq, par = statistics.median(st.seq_wall), statistics.median(st.par_wall)
                if par < seq:
                    st.mode, st.reason = "parallel", f"measured {par / 1e6:.2f} ms parallel vs {seq / 1e6:.2f} ms sequential"
                    for attr in ("template", "arena"):  # this thread's sequential arena is not needed any more
                        plan._local.__dict__.pop(attr, None)
                else:
                    st.mode, st.reason = "sequential", (f"measured {par / 1e6:.2f} ms parallel vs {seq / 1e6:.2f} ms "
                                                        f"sequential: no gain")
                    st.lane_plan = None
        return out
    return execute_lanes(lp, inputs, profiled=profiled)


__all__ = ["LanePlan", "LaneSchedule", "ParallelState", "build_schedule", "execute_lanes", "force_parallel",
           "force_sequential", "parallel_state", "run_parallel", "NodeExecutionError"]
