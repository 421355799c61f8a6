"""The interpreter: results, release of intermediates, profiling events, errors naming the node."""

import re
import tracemalloc

import numpy as np
import pytest

import graphscope as gs
from graphscope.backends import get_backend
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec
from graphscope.runtime.run import get_plan


def _mlp_graph(rng):
    g = Graph("mlp")
    x = g.placeholder("x", TensorSpec((16, 32), "float32"))
    w1 = g.constant(rng.standard_normal((32, 64)).astype(np.float32), name="w1")
    w2 = g.constant(rng.standard_normal((64, 8)).astype(np.float32), name="w2")
    h = g.add_node("relu", [g.add_node("matmul", [x, w1], scope="l1")], scope="l1")
    y = g.add_node("softmax", [g.add_node("matmul", [h, w2], scope="head")], {"axis": -1}, scope="head")
    g.set_outputs([y])
    return g, (w1.value, w2.value)


def test_outputs_match_numpy(rng):
    g, (w1, w2) = _mlp_graph(rng)
    x = rng.standard_normal((16, 32)).astype(np.float32)
    (y,) = gs.run(g, [x]).outputs
    z = np.maximum(x.astype(np.float64) @ w1, 0) @ w2
    ref = np.exp(z - z.max(-1, keepdims=True))
    ref /= ref.sum(-1, keepdims=True)
    assert y.dtype == np.float32 and y.shape == (16, 8)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-6)


def test_inputs_by_name_and_bad_inputs(rng):
    g, _ = _mlp_graph(rng)
    x = rng.standard_normal((16, 32)).astype(np.float32)
    np.testing.assert_array_equal(gs.run(g, {"x": x}).outputs[0], gs.run(g, [x]).outputs[0])
    with pytest.raises(gs.ShapeError, match=r"input 'x' of graph 'mlp' expects f32\[16,32\], got float64\[16, 32\].*astype"):
        gs.run(g, [x.astype(np.float64)])
    with pytest.raises(gs.ShapeError, match="takes 1 inputs"):
        gs.run(g, [x, x])
    with pytest.raises(gs.ShapeError, match=r"no input\(s\) \['y'\]"):
        gs.run(g, {"y": x})


def test_plan_frees_each_value_after_its_last_use():
    g = Graph("chain")
    x = g.placeholder("x", TensorSpec((4,), "float64"))
    a = g.add_node("exp", [x])
    b = g.add_node("tanh", [a])
    c = g.add_node("add", [a, b])  # last use of a and b
    dead = g.add_node("neg", [c])  # never used: dies at once
    d = g.add_node("sqrt", [g.add_node("abs", [c])])
    g.set_outputs([d])
    plan = get_plan(g, get_backend("numpy"))
    frees = {plan.node_of_slot[s.out].name: sorted(plan.node_of_slot[f].name for f in s.frees) for s in plan.steps}
    assert frees == {"exp": ["x"], "tanh": [], "add": ["exp", "tanh"], "neg": ["neg"], "abs": ["add"], "sqrt": ["abs"]}
    assert dead.name == "neg"


def test_plan_is_cached_until_the_graph_changes(rng):
    g, _ = _mlp_graph(rng)
    be = get_backend("numpy")
    p1 = get_plan(g, be)
    assert get_plan(g, be) is p1
    g.set_outputs(g.outputs + [g.inputs[0]])
    assert get_plan(g, be) is not p1


def test_profile_events(rng):
    g, _ = _mlp_graph(rng)
    x = rng.standard_normal((16, 32)).astype(np.float32)
    run = gs.run(g, [x], profile=True, repeat=4, warmup=2)
    prof = run.profile
    assert len(prof.iterations) == 4 and len(prof.warmup_ns) == 2 and len(prof.iteration_ns) == 4
    compute = [n for n in g.nodes if n.op not in ("placeholder", "constant")]
    for events in prof.iterations:
        assert [e.node_id for e in events] == [n.id for n in compute]
        starts = [e.start_ns for e in events]
        assert starts == sorted(starts)
        assert all(e.end_ns >= e.start_ns for e in events)
        assert sum(e.duration_ns for e in events) <= prof.iteration_ns[prof.iterations.index(events)]
    mm = next(e for e in prof.iterations[0] if prof.nodes[e.node_id].name == "l1/matmul")
    assert mm.flops == 2 * 16 * 32 * 64
    assert mm.bytes_moved == (16 * 32 + 32 * 64 + 16 * 64) * 4
    assert mm.bytes_allocated == 16 * 64 * 4
    assert prof.nodes[mm.node_id].scope == "l1"
    assert prof.constant_bytes == (32 * 64 + 64 * 8) * 4
    assert prof.input_bytes == 16 * 32 * 4
    top = prof.top_nodes(2)
    assert len(top) == 2 and top[0][1] >= top[1][1]


def test_views_allocate_nothing_and_keep_their_base_alive():
    g = Graph("views")
    x = g.placeholder("x", TensorSpec((256, 512), "float64"))
    a = g.add_node("exp", [x])  # 1 MiB
    t = g.add_node("transpose", [a])  # a view of a
    r = g.add_node("reshape", [t], {"shape": (512 * 256,)})  # a copy (t is not contiguous)
    s = g.add_node("sum", [r])
    g.set_outputs([s])
    prof = gs.run(g, [np.random.default_rng(0).standard_normal((256, 512))], profile=True).profile
    by_name = {prof.nodes[e.node_id].name: e for e in prof.iterations[0]}
    mib = 256 * 512 * 8
    assert by_name["exp"].bytes_allocated == mib
    assert by_name["transpose"].bytes_allocated == 0
    assert by_name["reshape"].bytes_allocated == mib
    # exp's buffer lives through the view until reshape has read it: peak holds both buffers
    assert prof.peak_bytes == 2 * mib
    assert sorted(prof.nodes[nid].name for nid, _ in prof.peak_live) == ["exp", "reshape"]
    assert by_name["reshape"].live_bytes == mib  # exp and the view released after reshape
    assert by_name["sum"].live_bytes == 8


def test_memory_accounting_agrees_with_tracemalloc():
    # A chain of elementwise ops on 8 MiB arrays: NumPy allocates exactly one array per node, so the
    # logical peak and tracemalloc's peak must agree closely.
    g = Graph("mem")
    x = g.placeholder("x", TensorSpec((1024, 1024), "float64"))
    a = g.add_node("exp", [x])
    b = g.add_node("tanh", [a])
    c = g.add_node("mul", [a, b])
    d = g.add_node("sqrt", [g.add_node("abs", [c])])
    e = g.add_node("add", [d, b])
    g.set_outputs([e, g.add_node("neg", [a])])
    xv = np.random.default_rng(0).standard_normal((1024, 1024))
    gs.run(g, [xv], profile=True)  # warm caches (plan, imports)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        run = gs.run(g, [xv], profile=True)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    logical = run.profile.peak_bytes
    mib8 = 1024 * 1024 * 8
    assert logical == 4 * mib8  # a, b, c and |c| live together
    assert abs(peak - logical) / logical < 0.03, (peak, logical)


def test_failing_node_names_node_op_scope_source_and_inputs():
    @gs.function
    def f(x, y):
        with gs.name_scope("block"):
            return x / y  # the failing line

    x = np.ones(3)
    y = np.array([1.0, 0.0, 2.0])
    g = f.get_graph(x, y)
    with np.errstate(divide="raise"):
        with pytest.raises(gs.NodeExecutionError) as info:
            gs.run(g, [x, y])
    msg = str(info.value)
    line = f.python_function.__code__.co_firstlineno + 3
    assert re.search(rf"node %\d+ 'block/div' \(div, scope 'block'\) at .*test_run.py:{line} raised FloatingPointError", msg)
    assert "inputs: %0 float64[3], %1 float64[3]" in msg
    assert info.value.node_id == g.node("block/div").id
    with np.errstate(divide="raise"), pytest.raises(gs.NodeExecutionError, match="block/div"):
        gs.run(g, [x, y], profile=True)


def test_outputs_may_repeat_and_include_inputs(rng):
    g = Graph("g")
    x = g.placeholder("x", TensorSpec((3,), "float32"))
    y = g.add_node("exp", [x])
    g.set_outputs([y, x, y])
    xv = rng.standard_normal(3).astype(np.float32)
    a, b, c = gs.run(g, [xv]).outputs
    np.testing.assert_array_equal(a, np.exp(xv))
    np.testing.assert_array_equal(b, xv)
    np.testing.assert_array_equal(c, a)
