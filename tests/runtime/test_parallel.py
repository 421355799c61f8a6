"""parallel=True: the same results, lanes in the events, no oversubscription, errors that name the node."""

import threading
import time

import numpy as np
import pytest

import graphscope as gs
from graphscope import samples
from graphscope.backends import get_backend
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec
from graphscope.passes.pipeline import LEVELS
from graphscope.runtime import scheduler
from graphscope.runtime.run import get_plan

BE = get_backend("numpy")


def _branches(n=4, shape=(256, 256), gather=False):
    """n independent elementwise chains on one input, summed at the end."""
    g = Graph("branches")
    x = g.placeholder("x", TensorSpec(shape, "float64"))
    idx = g.placeholder("idx", TensorSpec((4,), "int64")) if gather else None
    outs = []
    for b in range(n):
        h = x
        for op in ("exp", "tanh", "sin", "cos")[b % 2:]:
            h = g.add_node(op, [h], scope=f"b{b}")
        if gather:
            h = g.add_node("gather", [h, idx], {"axis": 0}, scope=f"b{b}")
        outs.append(h)
    acc = outs[0]
    for h in outs[1:]:
        acc = g.add_node("add", [acc, h])
    g.set_outputs([acc])
    return g


def _planned(g):
    return gs.optimize(g, passes=LEVELS[1] + ["memory_plan"])[0]


@pytest.mark.parametrize("planned", [False, True])
def test_forced_parallel_equals_sequential_bit_for_bit(rng, planned):
    g = _branches()
    opt = _planned(g) if planned else g
    x = rng.standard_normal((256, 256))
    ref = gs.run(g, [x]).outputs[0]
    lp = scheduler.force_parallel(get_plan(opt, BE))
    assert all(lp.schedule.lanes)  # both lanes have work
    for _ in range(5):
        np.testing.assert_array_equal(gs.run(opt, [x], parallel=True).outputs[0], ref)
    prof = gs.run(opt, [x], parallel=True, profile=True, repeat=2).profile
    for events in prof.iterations:
        lanes = {e.lane for e in events}
        assert len(lanes) == 2 and threading.current_thread().name in lanes
        assert sorted(e.node_id for e in events) == sorted(s.node.id for s in get_plan(opt, BE).steps)
    if planned:
        assert prof.metadata["planned_peak_bytes"] >= prof.metadata["lower_bound_bytes"]
        assert prof.peak_bytes >= prof.metadata["lower_bound_bytes"]


@pytest.mark.parametrize("name", samples.names())
def test_samples_in_parallel(name):
    fn, inputs = samples.model(name)
    g = fn.get_graph(*inputs)
    opt = _planned(g)
    ref = gs.run(g, inputs).outputs
    scheduler.force_parallel(get_plan(opt, BE))
    for _ in range(2):
        for a, b in zip(ref, gs.run(opt, inputs, parallel=True).outputs):
            np.testing.assert_array_equal(a, b)


def test_memory_shared_only_between_ordered_values():
    opt = _planned(_branches())
    lp = scheduler.force_parallel(get_plan(opt, BE))
    mem = lp.memory
    sched = lp.schedule
    pos = {k: i for i, k in enumerate(sched.order)}
    n = len(sched.order)
    before = [set() for _ in range(n)]  # happens-before by transitive closure of lane order and waits
    for lane in sched.lanes:
        for a, b in zip(lane, lane[1:]):
            before[pos[b]].add(pos[a])
    for k, ws in enumerate(sched.waits):
        before[pos[k]].update(pos[w] for w in ws)
    for i in range(n):
        for j in list(before[i]):
            before[i] |= before[j]
    arena = [s for s in mem.storages if s.kind == "arena"]
    for a in arena:
        for b in arena:
            if a is b or a.offset + a.nbytes <= b.offset or b.offset + b.nbytes <= a.offset:
                continue
            ordered = all(u in before[b.first] for u in a.uses) or all(u in before[a.first] for u in b.uses)
            assert ordered or set(a.members) & set(b.members), (a, b)


def test_a_failing_node_names_itself_stops_every_lane_and_does_not_hang(rng):
    g = _branches(gather=True)
    opt = _planned(g)
    plan = get_plan(opt, BE)
    lp = scheduler.force_parallel(plan)
    gathers = [k for k, s in enumerate(plan.steps) if s.node.op == "gather"]
    assert {lp.schedule.lane_of[k] for k in gathers} == {0, 1}  # a failure on each lane is possible
    x = rng.standard_normal((256, 256))
    ok = np.array([0, 1, 2, 3])
    ref = gs.run(g, [x, ok]).outputs[0]
    for _ in range(3):
        t0 = time.perf_counter()
        with pytest.raises(gs.NodeExecutionError, match=r"\(gather, scope 'b\d'\) raised IndexError") as info:
            gs.run(opt, [x, np.array([0, 1, 2, 999])], parallel=True)
        assert time.perf_counter() - t0 < 10
        assert plan.node_of_slot[plan.slot_of[info.value.node_id]].op == "gather"
        # the plan is still usable: the next run is correct
        np.testing.assert_array_equal(gs.run(opt, [x, ok], parallel=True).outputs[0], ref)
    with pytest.raises(gs.NodeExecutionError, match="gather"):
        gs.run(opt, [x, np.array([0, 1, 2, 999])], parallel=True, profile=True)


def test_concurrent_parallel_calls_on_one_plan(rng):
    g = _branches(shape=(64, 64))
    opt = _planned(g)
    scheduler.force_parallel(get_plan(opt, BE))
    xs = [rng.standard_normal((64, 64)) for _ in range(3)]
    refs = [gs.run(g, [x]).outputs[0] for x in xs]
    errors = []

    def worker(i):
        try:
            for _ in range(30):
                np.testing.assert_array_equal(gs.run(opt, [xs[i]], parallel=True).outputs[0], refs[i])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)


def test_multi_threaded_nodes_never_overlap_anything():
    g = _branches(n=4)
    plan = get_plan(g, BE)
    n = len(plan.steps)
    threads = [2 if s.node.op == "tanh" else 1 for s in plan.steps]  # pretend tanh is a BLAS call
    durations = [1000.0] * n
    sched = scheduler.build_schedule(plan, durations, threads, lanes=2, handoff_ns=0.0)
    finish = [sched.start[k] + durations[k] for k in range(n)]
    for e in (k for k in range(n) if threads[k] > 1):
        for k in range(n):
            if k != e:
                assert finish[k] <= sched.start[e] or sched.start[k] >= finish[e], (e, k)
    # and at run time the lanes wait for it: results are right under any timing
    lp = scheduler.LanePlan(plan, sched)
    x = np.random.default_rng(0).standard_normal((256, 256))
    ref = gs.run(g, [x]).outputs[0]
    np.testing.assert_array_equal(scheduler.execute_lanes(lp, [x])[0], ref)


def test_backend_marks_large_products_multi_threaded():
    g = Graph("mm")
    a = g.placeholder("a", TensorSpec((512, 512), "float32"))
    small = g.placeholder("s", TensorSpec((16, 16), "float32"))
    big = g.add_node("matmul", [a, a])
    tiny = g.add_node("matmul", [small, small])
    g.set_outputs([big, tiny])
    assert BE.kernel_threads(big) >= 1 and BE.kernel_threads(tiny) == 1
    import os

    if (os.cpu_count() or 1) > 1:
        assert BE.kernel_threads(big) > 1


def test_auto_mode_stays_sequential_without_independent_work(rng):
    g = Graph("chain")
    x = g.placeholder("x", TensorSpec((64, 64), "float64"))
    h = x
    for _ in range(20):
        h = g.add_node("tanh", [h])
    g.set_outputs([h])
    plan = get_plan(g, BE)
    xv = rng.standard_normal((64, 64))
    ref = gs.run(g, [xv]).outputs[0]
    for _ in range(scheduler.CALIBRATION_RUNS + 2 * scheduler.TRIAL_RUNS + 2):
        np.testing.assert_array_equal(gs.run(g, [xv], parallel=True).outputs[0], ref)
    st = scheduler.parallel_state(plan)
    assert st.mode == "sequential" and st.lane_plan is None and st.reason


def test_auto_mode_decides_and_keeps_results_exact(rng):
    g = _planned(_branches(shape=(512, 512)))
    plan = get_plan(g, BE)
    xv = rng.standard_normal((512, 512))
    ref = gs.run(g, [xv]).outputs[0]
    for _ in range(scheduler.CALIBRATION_RUNS + 2 * scheduler.TRIAL_RUNS + 2):
        np.testing.assert_array_equal(gs.run(g, [xv], parallel=True).outputs[0], ref)
    st = scheduler.parallel_state(plan)
    assert st.mode in ("parallel", "sequential") and st.reason
