"""Pattern fusion and the ``fused_matmul`` op: products absorb bias, activation, residual and softmax work.

Structure (which nodes became one ``fused_matmul``, what blocked the rest, by count and by name), the
spelling-independence of the pattern, numerical equality with the unoptimized graph on every fused
engine, in-place execution (no temporaries, measured with tracemalloc), and the decomposition into
catalogue ops that exporters use.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import graphscope as gs
from graphscope.backends import fused_kernels as fk
from graphscope.backends import get_backend
from graphscope.errors import ShapeError
from graphscope.ir.graph import Graph
from graphscope.ir.op_defs.fused_matmul import decompose_all
from graphscope.ir.printer import format_graph
from graphscope.ir.spec import TensorSpec
from graphscope.passes.pattern_fusion import compose
from graphscope.passes.pipeline import optimize
from graphscope.runtime.run import get_plan
from graphscope.samples import models

ENGINES = ["numba", "numpy", "reference"] if fk.numba_available() else ["numpy", "reference"]
F32 = np.float32


def _close(got, want, rtol=1e-4, atol=1e-5):
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def _run(graph: Graph, inputs, engine: str = "auto"):
    g = graph.copy()  # a fresh plan, bound under ``engine``
    with fk.use_engine(engine):
        return gs.run(g, inputs).outputs


def _computed(graph: Graph) -> list:
    return [n for n in graph.nodes if n.op not in ("placeholder", "constant")]


def _plog(log, name="pattern_fusion"):
    return next(p for p in log.passes if p.name == name)


def _rules(plog) -> list[str]:
    return [why.split(":")[0] for _, why in plog.blocked]


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _gelu_tanh_mul(t):
    return 0.5 * t * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (t + 0.044715 * (t * t * t))))


def _dense(rng, m=64, k=48, n=256):
    x = rng.standard_normal((m, k)).astype(F32)
    w = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(F32)
    b = rng.standard_normal(n).astype(F32)
    return x, w, b


ACTIVATIONS = {
    "relu": lambda t: np.maximum(t, F32(0)),
    "relu_op": lambda t: gs.ops.relu(t),
    "gelu_exact": lambda t: gs.ops.gelu(t),
    "gelu_tanh_op": lambda t: gs.ops.gelu(t, approximate="tanh"),
    "gelu_tanh_formula": _gelu_tanh,
    "sigmoid": lambda t: gs.ops.sigmoid(t),
    "sigmoid_formula": lambda t: 1 / (1 + np.exp(-t)),
    "tanh": np.tanh,
}


# -- the pattern: product + bias + activation --------------------------------------------------------


@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_bias_and_activation_become_one_node(act, rng):
    x, w, b = _dense(rng)
    fn = gs.function(lambda x: ACTIVATIONS[act](x @ w + b))
    g = fn.get_graph(x)
    opt, log = optimize(g, level=2)
    opt.lint()
    (node,) = _computed(opt)
    assert node.op == "fused_matmul" and node.name.endswith("matmul_fused")
    assert node.attrs["epilogue"] and not node.attrs["transpose_a"] and not node.attrs["transpose_b"]
    assert [i.op for i in node.inputs] == ["placeholder", "constant", "constant"]  # x, w, bias
    assert {n.id for n in _computed(g)} <= set(node.provenance)
    ((ids, into),) = _plog(log).fused
    assert into == node.id
    ops = {op for op, _, _ in node.attrs["epilogue"]}
    assert "add" in ops and (act.startswith("relu") or bool(ops & {"tanh", "erf", "exp"}))
    want = fn.python_function(x)
    for engine in ENGINES:
        _close(_run(opt, [x], engine)[0], want)


def test_spelling_does_not_change_the_pattern(rng):
    x, w, b = _dense(rng)
    spellings = {
        "formula, + b": lambda x: _gelu_tanh(x @ w + b),
        "formula, b +": lambda x: _gelu_tanh(b + x @ w),
        "formula, x*x*x": lambda x: _gelu_tanh_mul(x @ w + b),
        "op, + b": lambda x: gs.ops.gelu(x @ w + b, approximate="tanh"),
        "op, b +": lambda x: gs.ops.gelu(b + x @ w, approximate="tanh"),
    }
    epilogues = {}
    for label, f in spellings.items():
        opt, _ = optimize(gs.function(f).get_graph(x), level=2)
        (node,) = _computed(opt)
        assert node.op == "fused_matmul", label
        epilogues[label] = node.attrs["epilogue"]
        _close(_run(opt, [x], "numpy")[0], f(x))
    assert epilogues["formula, + b"] == epilogues["formula, b +"] == epilogues["formula, x*x*x"]
    assert epilogues["op, + b"] == epilogues["op, b +"]  # the op's own formula: its own operation order


def test_mlp_sample_layers_each_become_one_node():
    fn, inputs = models.mlp(batch=32)
    g = fn.get_graph(*inputs)
    opt, log = optimize(g, level=2)
    assert [n.op for n in _computed(opt)] == ["fused_matmul"] * 4  # 3 layers (bias + relu) and the head (bias + softmax)
    assert [n.name for n in _computed(opt)] == ["layer1/matmul_fused", "layer2/matmul_fused", "layer3/matmul_fused",
                                                "head/matmul_fused"]
    plog = _plog(log)
    assert len(plog.fused) == 4 and not plog.blocked
    assert "add, maximum (2 steps)" in plog.notes[0]
    _close(gs.run(opt, inputs).outputs[0], fn.python_function(*inputs), rtol=1e-4, atol=1e-6)


def test_transformer_sample_products_absorb_their_epilogues():
    fn, inputs = models.transformer(batch=2, seq=64, d_model=128, heads=4, d_ff=256)  # 64 KiB products
    g = fn.get_graph(*inputs)
    opt, log = optimize(g, level=2)
    by_name = {n.name: n for n in opt.nodes}
    scores = by_name["attn/scores/matmul_1_fused"]  # q @ k.mT * scale, softmax: transpose folded, softmax in place
    assert scores.attrs["transpose_b"] and {"exp", "max", "sum", "div"} <= {op for op, _, _ in scores.attrs["epilogue"]}
    up = by_name["ffn/up/matmul_fused"]  # bias + GELU
    assert "tanh" in {op for op, _, _ in up.attrs["epilogue"]}
    down = by_name["ffn/down/matmul_fused"]  # bias + the residual add
    assert [op for op, _, _ in down.attrs["epilogue"]] == ["add", "add"] and len(down.inputs) == 4
    for q in ("attn/qkv/matmul_fused", "attn/qkv/matmul_1_fused", "attn/qkv/matmul_2_fused"):
        assert [op for op, _, _ in by_name[q].attrs["epilogue"]] == ["add"]
    plog = _plog(log)
    assert len(plog.fused) == 7  # 3 projections, the scores, the output projection, the FFN up and down
    # The attention output projection's result is read by the next layer norm and by the last residual add.
    (blocked,) = plog.blocked
    assert blocked[1].startswith("consumer outside the group") and "read by 2 nodes" in blocked[1]
    assert sum(n.op == "matmul" for n in opt.nodes) == 1  # p @ v: its reader is a transpose
    for engine in ENGINES:
        _close(_run(opt, inputs, engine)[0], gs.run(g, inputs).outputs[0], rtol=1e-4, atol=1e-4)


def test_attention_scores_with_a_mask(rng):
    q, k = (rng.standard_normal((2, 3, 16, 8)).astype(F32) for _ in range(2))
    mask = np.where(rng.random((16, 16)) < 0.2, F32(-1e9), F32(0))
    fn = gs.function(lambda q, k: gs.ops.softmax(q @ np.swapaxes(k, -1, -2) * F32(0.35) + mask, axis=-1))
    g = fn.get_graph(q, k)
    opt, _ = optimize(g, level=2)
    (node,) = _computed(opt)
    assert node.op == "fused_matmul" and node.attrs["transpose_b"] and node.inputs[1].op == "placeholder"
    assert node.inputs[2].shape == (16, 16)  # the mask, broadcast over batch and heads
    for engine in ENGINES:
        _close(_run(opt, [q, k], engine)[0], fn.python_function(q, k))


# -- what blocks the pattern ---------------------------------------------------------------------------


def test_rules_that_block_the_pattern(rng):
    x, w, b = _dense(rng)

    def two_readers(x):  # the product is also read by another node
        h = x @ w
        return np.tanh(h + b) + h.sum(axis=0)

    opt, log = optimize(gs.function(two_readers).get_graph(x), level=2)
    assert "consumer outside the group" in _rules(_plog(log))
    assert not [n for n in opt.nodes if n.op == "fused_matmul"]

    def output(x):  # the product is a graph output and feeds an activation
        h = x @ w
        return h, np.tanh(h)

    opt, log = optimize(gs.function(output).get_graph(x), level=2)
    (why,) = [r for _, r in _plog(log).blocked]
    assert why.startswith("consumer outside the group") and "graph output" in why

    xs, ws, bs = _dense(rng, m=4, k=8, n=16)
    opt, log = optimize(gs.function(lambda x: x @ ws + bs).get_graph(xs), level=2)
    assert _rules(_plog(log)) == ["size below the threshold"]  # one add on a 256-byte product
    assert [n.op for n in _computed(opt)] == ["matmul", "add"]

    wide = rng.standard_normal((3, 1, 256)).astype(F32)  # broadcasting the product to a larger shape
    opt, log = optimize(gs.function(lambda x: np.tanh(x @ w) * wide).get_graph(x), level=2)
    assert _rules(_plog(log)) == ["shape the kernel cannot broadcast"]

    opt, log = optimize(gs.function(lambda x: (x @ w).astype(np.float64) * 2.0).get_graph(x), level=2)
    assert _rules(_plog(log)) == ["shape the kernel cannot broadcast"]  # the epilogue would change the dtype


def test_a_product_feeding_a_reshape_is_no_missed_fusion(rng):
    x, w, _ = _dense(rng)
    opt, log = optimize(gs.function(lambda x: (x @ w).reshape(64, 16, 16)).get_graph(x), level=2)
    assert not _plog(log).blocked and not _plog(log).fused


# -- in place, out kernels, files ---------------------------------------------------------------------


def test_epilogue_runs_in_place_without_temporaries(rng):
    x, w, b = _dense(rng, m=512, k=64, n=512)
    fn = gs.function(lambda x: _gelu_tanh(x @ w + b))
    opt, _ = optimize(fn.get_graph(x), level=2)
    (node,) = _computed(opt)
    be = get_backend("numpy")
    kernel = be.kernel(node)
    kernel(x, w, b)  # compile and warm up outside the measurement
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = kernel(x, w, b)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    nbytes = node.spec.nbytes
    assert nbytes <= peak < 1.25 * nbytes  # the product's buffer, nothing the size of a second one
    _close(out, fn.python_function(x))
    out_kernel = be.out_kernel(node)
    buf = np.empty(node.shape, F32)
    assert out_kernel(x, w, b, buf) is buf
    np.testing.assert_array_equal(buf, out)  # the out= kernel equals the plain one bit for bit
    assert not be.in_place_ok(node, 0) and not be.in_place_ok(node, 2)  # BLAS writes before the epilogue reads


def test_arena_run_and_profile(rng):
    fn, inputs = models.mlp(batch=64)
    g = fn.get_graph(*inputs)
    opt, _ = optimize(g, level=2)
    plan = get_plan(opt, get_backend("numpy"))
    assert plan.memory is not None
    fused = [n for n in opt.nodes if n.op == "fused_matmul"]
    assert all(plan.memory.offset(n.id) is not None for n in fused[:-1])  # hidden layers live in the arena
    want = fn.python_function(*inputs)
    for _ in range(2):  # the arena is reused by the second run
        _close(gs.run(opt, inputs).outputs[0], want, atol=1e-6)
    prof = gs.run(opt, inputs, profile=True, repeat=2).profile
    assert {n.id for n in fused} <= {e.node_id for e in prof.iterations[0]}
    assert prof.peak_bytes <= plan.memory.planned_peak_bytes + sum(n.spec.nbytes for n in opt.outputs)


def test_saves_loads_and_decomposes(tmp_path, rng):
    fn, inputs = models.transformer(batch=2, seq=16, d_model=32, heads=4, d_ff=64)
    opt, _ = optimize(fn.get_graph(*inputs), level=2)
    path = tmp_path / "t.gsg"
    gs.save(opt, str(path))
    back = gs.load(str(path))
    back.lint()
    assert [n.attrs for n in back.nodes if n.op == "fused_matmul"] == [n.attrs for n in opt.nodes if n.op == "fused_matmul"]
    want = gs.run(opt, inputs).outputs[0]
    np.testing.assert_array_equal(gs.run(back, inputs).outputs[0], want)
    flat = opt.copy()
    count = decompose_all(flat)
    flat.lint()
    assert count == opt.op_counts()["fused_matmul"] >= 4 and "fused_matmul" not in flat.op_counts()
    assert {"transpose", "matmul", "fused"} <= set(flat.op_counts())
    _close(gs.run(flat, inputs).outputs[0], want, rtol=1e-5, atol=1e-6)


def test_printed_ir():
    g = Graph("dense")
    x = g.placeholder("x", TensorSpec((64, 8), "float32"))
    w = g.placeholder("w", TensorSpec((256, 8), "float32"))
    b = g.placeholder("b", TensorSpec((256,), "float32"))
    t = g.add_node("transpose", [w], {"perm": (1, 0)})
    h = g.add_node("add", [g.add_node("matmul", [x, t]), b])
    g.set_outputs([g.add_node("relu", [h])])
    opt, _ = optimize(g, passes=["algebraic_simplification", "elementwise_fusion", "pattern_fusion"])
    program = "(('add',(0,1),()),('literal',(),(('value',0.0),('dtype','float32'),('shape',()))),('maximum',(2,3),()))"
    assert format_graph(opt, source=False) == "\n".join([
        "graph dense(%0, %1, %2) {",
        "  %0:f32[64,8] = placeholder()  # x",
        "  %1:f32[256,8] = placeholder()  # w",
        "  %2:f32[256] = placeholder()  # b",
        f"  %9:f32[64,256] = fused_matmul(%0, %1, %2) {{transpose_a=False, transpose_b=True, epilogue={program}}}"
        "  # matmul_1_fused",
        "  return %9",
        "}",
    ])


# -- the op and the composition ---------------------------------------------------------------------


def test_shape_rule_rejects_epilogues_that_cannot_run_in_place():
    g = Graph("g")
    a = g.placeholder("a", TensorSpec((4, 8), "float32"))
    b = g.placeholder("b", TensorSpec((8, 5), "float32"))
    wide = g.placeholder("wide", TensorSpec((3, 4, 5), "float32"))
    row = g.placeholder("row", TensorSpec((5,), "float32"))
    ok = g.add_node("fused_matmul", [a, b, row], {"epilogue": (("add", (0, 1), ()),)})
    assert ok.spec == TensorSpec((4, 5), "float32")
    with pytest.raises(ShapeError, match="beyond the product|must keep its spec"):
        g.add_node("fused_matmul", [a, b, wide], {"epilogue": (("add", (0, 1), ()),)})
    with pytest.raises(ShapeError, match="must keep its spec"):
        g.add_node("fused_matmul", [a, b], {"epilogue": (("sum", (0,), (("axis", -1), ("keepdims", True))),)})
    with pytest.raises(ShapeError, match="no epilogue reads them"):
        g.add_node("fused_matmul", [a, b, row])
    with pytest.raises(ShapeError, match="inner dimensions differ"):
        g.add_node("fused_matmul", [a, b], {"transpose_b": True})
    with pytest.raises(ShapeError, match="at least 2-d"):
        g.add_node("fused_matmul", [a, row], {"transpose_b": True})


def test_compose_renumbers_inputs_and_steps():
    g = Graph("g")
    p, e1, e2 = (g.placeholder(n, TensorSpec((2, 3), "float32")) for n in ("p", "e1", "e2"))
    first = (("add", (0, 1), ()),)  # p + e1
    second = (("mul", (1, 0), ()), ("sub", (0, 2), ()))  # over (e2, p): e2 - p * e2
    program, inputs = compose(first, [p, e1], second, [e2, p], reads=p)
    assert inputs == [p, e1, e2]
    # values: 0 p, 1 e1, 2 e2, 3 = p + e1, 4 = (3) * e2 (args sorted), 5 = e2 - 4
    assert program == (("add", (0, 1), ()), ("mul", (2, 3), ()), ("sub", (2, 4), ()))
    vals = [np.full((2, 3), v, F32) for v in (1.0, 2.0, 5.0)]
    from graphscope.ir.ops import get_op

    np.testing.assert_array_equal(get_op("fused").impl(np, *vals, program=program), vals[2] - (vals[0] + vals[1]) * vals[2])


def test_pattern_fusion_alone_on_unfused_ops(rng):
    """Without elementwise fusion the pass lowers the ops itself, one at a time, and chains them."""
    x, w, b = _dense(rng)
    fn = gs.function(lambda x: gs.ops.sigmoid(x @ w + b) * F32(2))
    g = fn.get_graph(x)
    opt, log = optimize(g, passes=["pattern_fusion"])
    (node,) = _computed(opt)
    assert node.op == "fused_matmul" and len(_plog(log).fused) == 1
    ((ids, _),) = _plog(log).fused
    assert {n.op for n in g.nodes if n.id in ids} == {"matmul", "add", "sigmoid", "mul", "constant"}
    _close(_run(opt, [x], "numpy")[0], fn.python_function(x))


def test_a_small_product_takes_a_single_op_once_it_has_an_epilogue(rng):
    g = Graph("g")
    x = g.placeholder("x", TensorSpec((4, 8), "float32"))
    w = g.placeholder("w", TensorSpec((8, 16), "float32"))
    b = g.placeholder("b", TensorSpec((16,), "float32"))
    mm = g.add_node("matmul", [x, w])  # a 256-byte product: alone, a single op would not join it
    t = g.add_node("fused", [mm], {"program": (("tanh", (0,), ()),)})
    g.set_outputs([g.add_node("add", [t, b])])
    opt, log = optimize(g, passes=["pattern_fusion"])
    (node,) = _computed(opt)
    assert node.op == "fused_matmul" and [op for op, _, _ in node.attrs["epilogue"]] == ["tanh", "add"]
    ((ids, _),) = _plog(log).fused
    assert set(ids) == {mm.id, t.id, g.outputs[0].id}
    xs = [rng.standard_normal(n.shape).astype(F32) for n in g.inputs]
    _close(_run(opt, xs, "numpy")[0], np.tanh(xs[0] @ xs[1]) + xs[2])
