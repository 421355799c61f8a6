"""Runs with a memory plan: the arena is reused across calls and threads without corrupting anything."""

import threading
import tracemalloc

import numpy as np
import pytest

import graphscope as gs
from graphscope import samples
from graphscope.backends import get_backend
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec
from graphscope.passes.pipeline import LEVELS
from graphscope.runtime.interpreter import guard_outputs
from graphscope.runtime.plan import Plan
from graphscope.runtime.run import RunResult, evaluate_all, get_plan

PLANNED = LEVELS[1] + ["memory_plan"]  # the exact cleanups plus the memory plan: no math changes


def _planned(g):
    opt, _ = gs.optimize(g, passes=PLANNED)
    return opt


def _chain(shape=(256, 512)):
    g = Graph("chain")
    x = g.placeholder("x", TensorSpec(shape, "float64"))
    a = g.add_node("exp", [x])
    b = g.add_node("tanh", [a])
    c = g.add_node("mul", [a, b])
    d = g.add_node("sqrt", [g.add_node("abs", [c])])
    g.set_outputs([g.add_node("add", [d, b]), g.add_node("neg", [a])])
    return g


@pytest.mark.parametrize("name", samples.names())
def test_samples_equal_bit_for_bit_and_inputs_untouched(name):
    fn, inputs = samples.model(name)
    g = fn.get_graph(*inputs)
    ref = gs.run(gs.optimize(g, level=1)[0], inputs).outputs
    opt = _planned(g)
    plan = get_plan(opt, get_backend("numpy"))
    assert plan.memory is not None and plan.arena_bytes > 0
    before = [x.copy() for x in inputs]
    for _ in range(3):  # the second and third runs reuse the arena
        for a, b in zip(ref, gs.run(opt, inputs).outputs):
            np.testing.assert_array_equal(a, b)
    for x, y in zip(inputs, before):
        np.testing.assert_array_equal(x, y)


def test_outputs_of_earlier_calls_are_never_overwritten(rng):
    opt = _planned(_chain())
    xs = [rng.standard_normal((256, 512)) for _ in range(3)]
    results = [gs.run(opt, [x]).outputs for x in xs]
    for x, outs in zip(xs, results):
        expected = gs.run(_chain(), [x]).outputs
        for a, b in zip(outs, expected):
            np.testing.assert_array_equal(a, b)
    # an output that is a view of an intermediate: its base is kept out of the arena
    g = Graph("view_out")
    x = g.placeholder("x", TensorSpec((64, 32), "float64"))
    e = g.add_node("exp", [g.add_node("tanh", [x])])
    g.set_outputs([g.add_node("transpose", [e]), g.add_node("reshape", [e], {"shape": (2048,)})])
    opt = _planned(g)
    first = gs.run(opt, [np.ones((64, 32))]).outputs
    gs.run(opt, [np.zeros((64, 32))])
    np.testing.assert_array_equal(first[0], np.exp(np.tanh(np.ones((32, 64)))))
    np.testing.assert_array_equal(first[1], np.exp(np.tanh(np.ones(2048))))


def test_inputs_are_never_written_even_by_in_place_chains(rng):
    g = Graph("inplace")
    x = g.placeholder("x", TensorSpec((128, 128), "float32"))
    h = x
    for op in ("exp", "tanh", "neg", "abs", "sqrt"):
        h = g.add_node(op, [h])
    g.set_outputs([g.add_node("add", [h, x])])
    opt = _planned(g)
    plan = get_plan(opt, get_backend("numpy"))
    assert len(plan.memory.in_place) >= 3
    xv = rng.standard_normal((128, 128)).astype(np.float32)
    keep = xv.copy()
    (y,) = gs.run(opt, [xv]).outputs
    np.testing.assert_array_equal(xv, keep)
    np.testing.assert_array_equal(y, gs.run(g, [keep]).outputs[0])


def test_concurrent_calls_from_two_threads_share_the_plan_not_the_arena(rng):
    opt = _planned(_chain((128, 256)))
    ref_graph = _chain((128, 256))
    xs = [rng.standard_normal((128, 256)) for _ in range(2)]
    refs = [gs.run(ref_graph, [x]).outputs for x in xs]
    errors = []

    def worker(i):
        try:
            for _ in range(40):
                for a, b in zip(gs.run(opt, [xs[i]]).outputs, refs[i]):
                    np.testing.assert_array_equal(a, b)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_arena_memory_accounting_agrees_with_tracemalloc():
    # A fresh plan allocates its arena on its first run: tracemalloc sees the arena plus the outputs.
    opt = _planned(_chain((1024, 1024)))
    xv = np.random.default_rng(0).standard_normal((1024, 1024))
    gs.run(_chain((16, 16)), [np.ones((16, 16))], profile=True)  # warm imports
    plan = Plan(opt, get_backend("numpy"))
    assert plan.memory is not None
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        outputs, raw, mem = _profiled(plan, xv)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    mib8 = 1024 * 1024 * 8
    assert mem.arena_bytes >= plan.arena_bytes == 3 * mib8  # exp, tanh, mul (abs and sqrt in place)
    assert mem.peak_bytes == mem.arena_bytes + 2 * mib8  # plus the two outputs, allocated by their kernels
    assert abs(peak - mem.peak_bytes) / mem.peak_bytes < 0.03, (peak, mem.peak_bytes)
    assert sum(e[3] for e in raw) == 2 * mib8  # only the outputs were allocated by nodes
    assert mem.peak_bytes >= plan.memory.lower_bound_bytes
    assert mem.peak_bytes == plan.memory.planned_peak_bytes + (mem.arena_bytes - plan.arena_bytes)
    # A second run allocates only the outputs; the profile still counts the arena it holds.
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _, _, mem2 = _profiled(plan, xv)
        peak2 = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert mem2.peak_bytes == mem.peak_bytes
    assert abs(peak2 - 2 * mib8) / (2 * mib8) < 0.03


def _profiled(plan, xv):
    from graphscope.runtime.interpreter import execute_profiled

    return execute_profiled(plan, [xv])


def test_profile_reports_the_plan_and_the_measured_peak(rng):
    opt = _planned(_chain())
    prof = gs.run(opt, [rng.standard_normal((256, 512))], profile=True, repeat=2).profile
    meta = prof.metadata
    assert meta["planned_peak_bytes"] >= meta["lower_bound_bytes"] > 0
    assert meta["naive_bytes"] > meta["lower_bound_bytes"]
    assert prof.peak_bytes == meta["planned_peak_bytes"] + (meta["arena_allocated_bytes"] - meta["arena_bytes"])
    names = {prof.nodes[nid].name for nid, _ in prof.peak_live}
    assert names  # the values live at the peak, arena ones included
    arena_events = [e for e in prof.iterations[0] if e.bytes_allocated == 0]
    assert len(arena_events) >= 3  # values written into the arena allocate nothing


def test_evaluate_all_keeps_every_value_of_a_planned_graph(rng):
    g = _chain()
    opt = _planned(g)
    xv = rng.standard_normal((256, 512))
    got = evaluate_all(opt, [xv])
    ref = evaluate_all(g, [xv])
    for n in g.nodes:
        np.testing.assert_array_equal(got[n.id], ref[n.id])


def test_guard_copies_outputs_that_alias_the_arena():
    opt = _planned(_chain((8, 8)))
    plan = get_plan(opt, get_backend("numpy"))
    gs.run(opt, [np.ones((8, 8))])
    arena = plan.local_arena()
    view = arena[:64].view(np.float64)
    fresh = np.ones(3)
    out = guard_outputs(plan, [view, fresh])
    assert out[1] is fresh and out[0] is not view and not np.may_share_memory(out[0], arena)


def test_run_delegates_to_an_executor():
    calls = []

    class Executor:
        def run(self, graph, inputs, *, profile, repeat, warmup):
            calls.append((graph.name, profile, repeat, warmup))
            return RunResult(["done"])

    g = _chain((2, 2))
    result = gs.run(g, [np.ones((2, 2))], profile=True, repeat=3, warmup=1, executor=Executor())
    assert result.outputs == ["done"] and calls == [("chain", True, 3, 1)]


def test_a_failing_node_in_a_planned_graph_names_the_node_and_its_inputs(rng):
    g = Graph("gather")
    x = g.placeholder("x", TensorSpec((8, 4), "float64"))
    idx = g.placeholder("idx", TensorSpec((3,), "int64"))
    e = g.add_node("exp", [x])
    gathered = g.add_node("gather", [e, idx], {"axis": 0}, name="pick")
    g.set_outputs([g.add_node("tanh", [gathered])])
    opt = _planned(g)
    assert get_plan(opt, get_backend("numpy")).steps[1].arena_offset is not None  # gather writes into the arena
    xv = rng.standard_normal((8, 4))
    with pytest.raises(gs.NodeExecutionError, match=r"'pick' \(gather\) .*IndexError.*inputs: %\d+ float64\[8, 4\], "
                                                    r"%\d+ int64\[3\]\]"):
        gs.run(opt, [xv, np.array([0, 1, 99])])
    np.testing.assert_array_equal(gs.run(opt, [xv, np.array([0, 1, 2])]).outputs[0], np.tanh(np.exp(xv[:3])))


def test_fused_nodes_overwrite_only_inputs_read_at_their_own_positions(rng):
    """sum(x * v, axis=-1) has v's spec, but every row reads all of v: writing row r's result over v[r]
    would corrupt the rows after it (the arena once allowed it: results off by 1e11)."""
    n = 64

    def f(x):
        v = x.sum(axis=0)  # not fusible into the row kernel (another axis): an arena value dying at the fused node
        return (x * v).sum(axis=-1) @ x

    x = rng.standard_normal((n, n)).astype(np.float32)
    g = gs.function(f).get_graph(x)
    opt, _ = gs.optimize(g, level=2)
    (fused,) = [m for m in opt.nodes if m.op == "fused"]
    plan = get_plan(opt, get_backend("numpy"))
    assert plan.memory is not None and fused.id not in plan.memory.in_place
    np.testing.assert_allclose(gs.run(opt, [x]).outputs[0], f(x), rtol=1e-4, atol=1e-3)
