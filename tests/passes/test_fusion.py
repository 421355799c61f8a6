"""Elementwise fusion: which nodes fuse, which rule blocks the rest, and equal outputs on every engine.

Compile budget: the numba engine compiles each distinct program once (and caches it on disk), so
these tests reuse a handful of programs (the samples' layer norm, softmax, GELU, residual adds, and
two mixed programs); random programs run on the NumPy and reference engines only.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphscope as gs
from graphscope.backends import fused_kernels as fk
from graphscope.errors import ShapeError
from graphscope.ir.graph import Graph
from graphscope.ir.op_defs.fused import format_program, row_mapping
from graphscope.ir.spec import TensorSpec
from graphscope.passes import fusion
from graphscope.passes.fusion import elementwise_fusion
from graphscope.passes.pipeline import LEVELS, optimize
from graphscope.samples import models

TOL = {"float32": (1e-4, 1e-5), "float64": (1e-9, 1e-12)}
ENGINES = ["numba", "numpy", "reference"] if fk.numba_available() else ["numpy", "reference"]


def _close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype
    rtol, atol = TOL[got.dtype.name]
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


def _run(graph: Graph, inputs: list[np.ndarray], engine: str = "auto") -> list[np.ndarray]:
    g = graph.copy()  # a fresh plan, bound under ``engine``
    with fk.use_engine(engine):
        return gs.run(g, inputs).outputs


def _fusion_log(log):
    return next(p for p in log.passes if p.name == "elementwise_fusion")


def _fused(graph: Graph) -> list:
    return [n for n in graph.nodes if n.op == "fused"]


def _rules(plog) -> list[str]:
    return [why.split(":")[0] for _, why in plog.blocked]


def _small_transformer():
    return models.transformer(batch=2, seq=16, d_model=32, heads=4, d_ff=64)


# -- structure ------------------------------------------------------------------------------------


def test_elementwise_sample_becomes_one_fused_node():
    fn, inputs = models.elementwise(rows=64, cols=128)
    g = fn.get_graph(*inputs)
    opt, log = optimize(g, level=2)
    opt.lint()
    (f,) = _fused(opt)
    assert {n.op for n in opt.nodes} == {"placeholder", "constant", "fused"}  # only the 4 weight vectors stay
    assert f.name == "layer_norm/add_1_fused" and f.scope == "layer_norm" and f.source == g.outputs[0].source
    computed = {n.id for n in g.nodes if n.op not in ("placeholder", "constant")}
    assert computed <= set(f.provenance)
    plog = _fusion_log(log)
    ((ids, into),) = plog.fused
    assert into == f.id and computed <= set(ids) and not plog.blocked
    ops = [op for op, _, _ in f.attrs["program"]]
    assert ops.count("tanh") == 1 and ops.count("mean") == 2 and "pow" not in ops  # x**3 became x*x*x
    _close(gs.run(opt, inputs).outputs[0], fn.python_function(*inputs))


def test_transformer_groups_and_blocked_reasons():
    fn, inputs = _small_transformer()
    g = fn.get_graph(*inputs)
    opt, log = optimize(g, passes=LEVELS[1] + ["elementwise_fusion"])  # before pattern fusion takes the products' epilogues
    roots = sorted(n.name for n in _fused(opt))
    assert roots == ["attn/context/add_1_fused", "attn/ln1/add_1_fused", "attn/scores/softmax_fused",
                     "ffn/down/add_1_fused", "ffn/ln2/add_1_fused", "ffn/up/mul_3_fused"]
    softmax = next(n for n in _fused(opt) if n.name == "attn/scores/softmax_fused")
    assert [i.op for i in softmax.inputs] == ["fused_matmul"]  # q @ k.mT; the scale multiply joined the softmax
    assert [op for op, _, _ in softmax.attrs["program"] if op != "literal"] == ["mul", "max", "sub", "exp", "sum", "div"]
    plog = _fusion_log(log)
    assert sorted(_rules(plog)) == [fusion.CONSUMER_OUTSIDE] + [fusion.SINGLE_OP] * 3
    ids, why = next(b for b in plog.blocked if b[1].startswith(fusion.CONSUMER_OUTSIDE))
    residual = g.node("attn/context/add_1")
    assert ids[0] == residual.id and "mean" in why and "add" in why  # read by layer norm 2 and the last residual
    for ids, why in plog.blocked:
        if why.startswith(fusion.SINGLE_OP):
            assert g.node(ids[0]).name.startswith("attn/qkv/add") and "matmul" in why and "reshape" in why
    text = str(log)
    assert "elementwise_fusion" in text and "fused" in text and fusion.CONSUMER_OUTSIDE in text
    _close(gs.run(opt, inputs).outputs[0], fn.python_function(*inputs))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("sample", ["elementwise", "transformer", "redundant"])
def test_samples_equal_before_and_after(sample, engine, rng):
    fn, inputs = {"elementwise": lambda: models.elementwise(rows=48, cols=96), "transformer": _small_transformer,
                  "redundant": models.redundant}[sample]()
    g = fn.get_graph(*inputs)
    opt, _ = optimize(g, level=2)
    opt.lint()
    assert _fused(opt) or "fused_matmul" in opt.op_counts()  # pattern fusion may take a fused node into a product
    for seed in range(2):
        xs = [np.random.default_rng(seed).standard_normal(x.shape).astype(x.dtype) for x in inputs]
        _close(_run(opt, xs, engine)[0], gs.run(g, xs).outputs[0])


def test_spelling_does_not_change_the_program():
    eps = 1e-5
    x = np.random.default_rng(0).standard_normal((8, 32)).astype(np.float32)
    g_, b_ = np.float32(1.5) * np.ones(32, np.float32), np.linspace(-1, 1, 32).astype(np.float32)

    def ln_mean(x):
        mu = x.mean(axis=-1, keepdims=True)
        d = x - mu
        return d / np.sqrt((d * d).mean(axis=-1, keepdims=True) + eps) * g_ + b_

    def ln_var(x):
        mu = x.mean(axis=-1, keepdims=True)
        return (x - mu) / np.sqrt(x.var(axis=-1, keepdims=True) + eps) * g_ + b_

    def ln_square(x):
        d = x - x.mean(axis=-1, keepdims=True)
        return d / np.sqrt(np.square(d).mean(axis=-1, keepdims=True) + eps) * g_ + b_

    def ln_op(x):
        return gs.ops.layer_norm(x, g_, b_, epsilon=eps)

    def gelu_pow(x):
        return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))

    def gelu_mul(x):
        return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * (x * x * x))))

    def gelu_power(x):
        return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * np.power(x, 3))))

    def gelu_op(x):
        return gs.ops.gelu(x, approximate="tanh")

    def softmax_spelled(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def softmax_op(x):
        return gs.ops.softmax(x, axis=-1)

    programs = {}
    for f in (ln_mean, ln_var, ln_square, ln_op, gelu_pow, gelu_mul, gelu_power, gelu_op, softmax_spelled, softmax_op):
        g = gs.function(f).get_graph(x)
        opt, _ = optimize(g, level=2)
        (node,) = _fused(opt)  # every spelling fuses completely
        assert not [n for n in opt.nodes if n.op not in ("placeholder", "constant", "fused")]
        programs[f.__name__] = node.attrs["program"]
        _close(_run(opt, [x], "numpy")[0], gs.run(g, [x]).outputs[0])
    assert programs["ln_mean"] == programs["ln_var"] == programs["ln_square"]
    assert programs["gelu_pow"] == programs["gelu_mul"] == programs["gelu_power"]
    assert programs["softmax_spelled"] == programs["softmax_op"]
    for name in ("ln_op", "gelu_op"):  # the ops' own formulas: same primitives, their own order
        ops = {op for op, _, _ in programs[name]}
        assert ops <= {"literal", "mean", "sub", "mul", "add", "sqrt", "reciprocal", "tanh"}


# -- the rules that block fusion ----------------------------------------------------------------------


def _graph(shape=(6, 10), dtype="float32") -> tuple[Graph, object]:
    g = Graph("g")
    return g, g.placeholder("x", TensorSpec(shape, dtype))


def _const(g: Graph, v, dtype="float32"):
    return g.constant(np.asarray(v, dtype))


def test_consumer_outside_the_group_splits_the_chain(rng):
    g, x = _graph((16, 64))
    h = g.add_node("tanh", [g.add_node("mul", [x, _const(g, 2)])])
    w = _const(g, rng.standard_normal((64, 8)))
    y = g.add_node("matmul", [h, w])
    z = g.add_node("add", [g.add_node("exp", [h]), _const(g, 1)])
    g.set_outputs([y, z])
    r = elementwise_fusion(g.copy())
    r.graph.lint()
    assert len(_fused(r.graph)) == 2  # [mul, tanh] ends at tanh; [exp, add] starts after it
    (ids, why), = [b for b in r.log.blocked if b[1].startswith(fusion.CONSUMER_OUTSIDE)]
    assert ids[0] == h.id and "matmul" in why
    xs = [rng.standard_normal((16, 64)).astype(np.float32)]
    for got, want in zip(_run(r.graph, xs, "numpy"), gs.run(g, xs).outputs):
        _close(got, want)


def test_graph_output_inside_a_chain_ends_the_group(rng):
    g, x = _graph((32, 64))
    h = g.add_node("mul", [g.add_node("add", [x, _const(g, 1)]), _const(g, 3)])
    z = g.add_node("sqrt", [g.add_node("abs", [g.add_node("tanh", [h])])])
    g.set_outputs([h, z])
    r = elementwise_fusion(g.copy())
    assert len(_fused(r.graph)) == 2
    assert any(why.startswith(fusion.CONSUMER_OUTSIDE) and "graph output" in why for _, why in r.log.blocked)


def test_shape_the_kernel_cannot_broadcast(rng):
    g, x = _graph((2, 3, 4, 8))
    y = g.placeholder("y", TensorSpec((3, 1, 8), "float32"))  # broadcasts along axes 0 and 2 at once
    a = g.add_node("add", [g.add_node("tanh", [x]), y])
    g.set_outputs([g.add_node("exp", [a])])
    r = elementwise_fusion(g.copy())
    (ids, why), = [b for b in r.log.blocked if b[1].startswith(fusion.SHAPE)]
    assert a.id in ids and y.id in ids
    assert row_mapping((3, 1, 8), (2, 3, 4, 8)) is None
    assert row_mapping((3, 4, 8), (2, 3, 4, 8)) == ("mod", 12, "id")  # a repeated block fuses
    assert row_mapping((2, 1, 1, 8), (2, 3, 4, 8)) == ("div", 12, "id")
    assert row_mapping((2, 3, 4, 1), (2, 3, 4, 8)) == ("id", 1, "zero")
    assert row_mapping((8,), (2, 3, 4, 8)) == ("zero", 1, "id")


def test_size_below_the_threshold_and_single_ops(rng):
    g, x = _graph((4,))
    small = g.add_node("add", [g.add_node("mul", [x, g.placeholder("s", TensorSpec((4,), "float32"))]), _const(g, 1)])
    w = _const(g, rng.standard_normal((4, 4)))
    single = g.add_node("tanh", [g.add_node("matmul", [g.add_node("reshape", [small], {"shape": (1, 4)}), w])])
    g.set_outputs([g.add_node("matmul", [single, w])])
    r = elementwise_fusion(g.copy())
    assert not _fused(r.graph)
    rules = _rules(r.log)
    assert fusion.BELOW_THRESHOLD in rules and fusion.SINGLE_OP in rules
    why = next(w for _, w in r.log.blocked if w.startswith(fusion.BELOW_THRESHOLD))
    assert "f32[4]" in why and "us" in why
    r2 = elementwise_fusion(g.copy(), threshold=False)  # the threshold can be switched off
    assert len(_fused(r2.graph)) == 1


def test_reduction_over_another_axis_is_logged(rng):
    g, x = _graph((64, 32))
    h = g.add_node("tanh", [g.add_node("mul", [x, _const(g, 2)])])
    s = g.add_node("sum", [h], {"axis": 0, "keepdims": True})
    g.set_outputs([g.add_node("sub", [h, s])])
    r = elementwise_fusion(g.copy())
    assert any(ids == [s.id] and why.startswith(fusion.NOT_FUSIBLE) and "axis 0" in why for ids, why in r.log.blocked)
    assert s.id in {n.id for n in r.graph.nodes}


def test_program_length_cap_splits_long_chains(rng):
    g, x = _graph((8, 16))
    h = x
    for k in range(40):
        h = g.add_node(["add", "mul", "tanh", "sub"][k % 4], [h, _const(g, 0.5)] if k % 4 != 2 else [h])
    g.set_outputs([h])
    r = elementwise_fusion(g.copy(), max_steps=16)
    fused = _fused(r.graph)
    assert len(fused) == 3 and all(sum(op != "literal" for op, _, _ in f.attrs["program"]) <= 16 for f in fused)
    assert _rules(r.log).count(fusion.LENGTH_CAP) == 2
    xs = [rng.standard_normal((8, 16)).astype(np.float32)]
    for engine in ENGINES:
        _close(_run(r.graph, xs, engine)[0], gs.run(g, xs).outputs[0])


# -- numerics on random programs -------------------------------------------------------------------------

_UNARY = ["tanh", "neg", "abs", "square", "sigmoid", "relu", "exp_small", "sqrt_abs", "log_pos", "erf"]
_BINARY = ["add", "sub", "mul", "div_safe", "maximum", "minimum", "where", "pow2"]


def _random_program(seed: int, dtype: str) -> tuple[Graph, list[np.ndarray]]:
    """A random chain over a (2, 3, 10) domain reading broadcast inputs of every supported kind."""
    rng = np.random.default_rng(seed)
    g = Graph(f"random{seed}")
    shapes = [(2, 3, 10), (10,), (2, 3, 1), (), (3, 10), (2, 1, 10), (1, 1, 10)]
    inputs = [g.placeholder(f"in{k}", TensorSpec(s, dtype)) for k, s in enumerate(shapes)]
    values = [inputs[0]]
    for _ in range(int(rng.integers(6, 14))):
        a = values[int(rng.integers(len(values)))]
        b = inputs[int(rng.integers(len(inputs)))] if rng.random() < 0.6 else values[int(rng.integers(len(values)))]
        if rng.random() < 0.45:
            op = _UNARY[int(rng.integers(len(_UNARY)))]
            if op == "exp_small":
                v = g.add_node("exp", [g.add_node("tanh", [a])])
            elif op == "sqrt_abs":
                v = g.add_node("sqrt", [g.add_node("abs", [a])])
            elif op == "log_pos":
                v = g.add_node("log", [g.add_node("add", [g.add_node("abs", [a]), _const(g, 1, dtype)])])
            else:
                v = g.add_node(op, [a])
        else:
            op = _BINARY[int(rng.integers(len(_BINARY)))]
            if op == "div_safe":
                v = g.add_node("div", [a, g.add_node("add", [g.add_node("abs", [b]), _const(g, 1, dtype)])])
            elif op == "where":
                v = g.add_node("where", [g.add_node("greater", [a, b]), a, b])
            elif op == "pow2":
                v = g.add_node("pow", [g.add_node("tanh", [a]), _const(g, 2, dtype)])
            else:
                v = g.add_node(op, [a, b])
        if rng.random() < 0.25 and v.shape == (2, 3, 10):  # a last-axis reduction broadcast back
            red = ["mean", "max", "sum", "min"][int(rng.integers(4))]
            v = g.add_node("sub", [v, g.add_node(red, [v], {"axis": -1, "keepdims": True})])
        values.append(v)
    out = values[-1]
    if out.shape != (2, 3, 10):
        out = g.add_node("add", [out, inputs[0]])
    g.set_outputs([g.add_node("tanh", [out])])
    xs = [rng.standard_normal(s).astype(dtype) for s in shapes]
    return g, xs


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", range(12))
def test_random_chains_with_broadcasting(seed, dtype):
    g, xs = _random_program(seed, dtype)
    opt, log = optimize(g, level=2)
    opt.lint()
    assert len(_fused(opt)) >= 1
    want = gs.run(g, xs).outputs[0]
    for engine in ("numpy", "reference"):
        _close(_run(opt, xs, engine)[0], want)


@pytest.mark.skipif(not fk.numba_available(), reason="numba is not installed")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numba_engine_on_a_random_program(dtype):
    g, xs = _random_program(3, dtype)
    opt, _ = optimize(g, level=2)
    (node,) = _fused(opt)
    assert fk.choose_engine(node)[0] == "numba"
    _close(_run(opt, xs, "numba")[0], gs.run(g, xs).outputs[0])


def _kitchen_sink(dtype: str) -> tuple[Graph, list[np.ndarray]]:
    """Transcendentals, comparisons, where, clip, cast, NaN and infinities, max and keepdims=False sums."""
    g = Graph(f"sink_{dtype}")
    x = g.placeholder("x", TensorSpec((5, 40), dtype))
    s = g.placeholder("s", TensorSpec((1,), dtype))
    t = g.add_node("tanh", [g.add_node("mul", [x, s])])
    e = g.add_node("exp", [g.add_node("sub", [x, g.add_node("max", [x], {"axis": -1, "keepdims": True})])])
    lg = g.add_node("log", [g.add_node("add", [e, _const(g, 0.5, dtype)])])
    er = g.add_node("erf", [x])
    sg = g.add_node("sigmoid", [x])
    w = g.add_node("where", [g.add_node("greater_equal", [x, _const(g, 0, dtype)]), er, sg])
    c = g.add_node("clip", [g.add_node("add", [t, w])], {"min": -0.75, "max": 1.5})
    m = g.add_node("cast", [g.add_node("less", [x, s])], {"dtype": dtype})
    y = g.add_node("maximum", [g.add_node("add", [c, lg]), m])
    g.set_outputs([g.add_node("sum", [g.add_node("mul", [y, y])], {"axis": -1, "keepdims": False})])
    rng = np.random.default_rng(7)
    xv = (rng.standard_normal((5, 40)) * 3).astype(dtype)
    xv[1, 3], xv[2, :] = np.nan, np.inf  # one NaN row, one row of +inf
    xv[3, 0] = -np.inf
    return g, [xv, np.array([0.7], dtype)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_engines_agree_on_special_values(dtype):
    g, xs = _kitchen_sink(dtype)
    opt, _ = optimize(g, level=2, passes=["elementwise_fusion"])
    (node,) = _fused(opt)
    assert node.shape == (5,)  # a row-wise (keepdims=False) result
    with np.errstate(all="ignore"):
        want = gs.run(g, xs).outputs[0]
        for engine in ENGINES:
            got = _run(opt, xs, engine)[0]
            _close(got, want)
    assert np.isnan(want[1]) and np.isnan(want[2])


# -- the fused op, files, runs, kernels --------------------------------------------------------------


def test_fused_graph_saves_loads_and_profiles(tmp_path):
    fn, inputs = _small_transformer()
    opt, _ = optimize(fn.get_graph(*inputs), level=2)
    path = tmp_path / "t.gsg"
    gs.save(opt, str(path))
    back = gs.load(str(path))
    back.lint()
    assert [n.attrs for n in _fused(back)] == [n.attrs for n in _fused(opt)]
    assert [n.provenance for n in _fused(back)] == [n.provenance for n in _fused(opt)]
    _close(gs.run(back, inputs).outputs[0], gs.run(opt, inputs).outputs[0])
    res = gs.run(back, inputs, profile=True)
    events = {e.node_id for e in res.profile.iterations[0]}
    assert {n.id for n in _fused(back)} <= events


def test_fused_op_rule_rejects_bad_programs_and_runs_generically():
    x = TensorSpec((3, 4), "float32")
    g = Graph("g")
    xin = g.placeholder("x", x)
    ok = (("tanh", (0,), ()), ("literal", (), (("value", 2.0), ("dtype", "float32"), ("shape", ()))), ("mul", (1, 2), ()),
          ("sum", (3,), (("axis", -1), ("keepdims", True))))
    node = g.add_node("fused", [xin], {"program": ok})
    assert node.spec == TensorSpec((3, 1), "float32")
    assert "v2 = mul(v0, v1)" in format_program(ok, 1)
    for bad, match in [((), "empty"), ((("tanh", (1,), ()),), "refers to"), ((("matmul", (0, 0), ()),), "neither elementwise"),
                       ((("add", (0,), ()),), "takes 2 inputs")]:
        with pytest.raises(ShapeError, match=match):
            g.add_node("fused", [xin], {"program": bad})
    xv = np.arange(12, dtype=np.float32).reshape(3, 4)
    from graphscope.ir.ops import get_op

    want = (np.tanh(xv) * 2).sum(-1, keepdims=True)
    np.testing.assert_allclose(get_op("fused").impl(np, xv, program=ok), want, rtol=1e-6)


def test_same_program_shares_one_kernel_source():
    fn, inputs = _small_transformer()
    opt, _ = optimize(fn.get_graph(*inputs), level=2)
    ln1, ln2 = (next(n for n in _fused(opt) if n.name == name) for name in ("attn/ln1/add_1_fused", "ffn/ln2/add_1_fused"))
    assert ln1.attrs == ln2.attrs
    p1, p2 = (fk.analyze(n.attrs["program"], [i.spec for i in n.inputs]) for n in (ln1, ln2))
    assert fk.numba_source(p1) == fk.numba_source(p2)


def test_out_kernel_writes_in_place(rng):
    fn, inputs = models.elementwise(rows=48, cols=96)
    opt, _ = optimize(fn.get_graph(*inputs), level=2)
    (node,) = _fused(opt)
    args = [inputs[0]] + [i.value for i in node.inputs[1:]]
    want = fk.fused_kernel(node)(*args)
    buf = inputs[0].copy()
    got = fk.fused_out_kernel(node)(buf, *args[1:], buf)  # the input's own buffer as out
    assert got is buf
    np.testing.assert_array_equal(got, want)


def test_unsupported_dtypes_fall_back_to_numpy(rng):
    g, x = _graph((64, 64), "float16")
    g.set_outputs([g.add_node("tanh", [g.add_node("mul", [x, _const(g, 3, "float16")])])])
    opt, _ = optimize(g, level=2, passes=["elementwise_fusion"])
    (node,) = _fused(opt)
    engine, plan, why = fk.choose_engine(node)
    assert engine == "numpy" and "float16" in why
    xs = [rng.standard_normal((64, 64)).astype(np.float16)]
    np.testing.assert_array_equal(_run(opt, xs)[0], gs.run(g, xs).outputs[0])  # same ufuncs: same bits


def test_in_place_only_for_inputs_read_at_the_output_position():
    g = Graph("g")
    x = g.placeholder("x", TensorSpec((8, 8), "float32"))
    v = g.placeholder("v", TensorSpec((8,), "float32"))
    full = g.add_node("fused", [x, v], {"program": (("add", (0, 1), ()), ("tanh", (2,), ()))})
    assert fk.fused_in_place_ok(full, 0) and not fk.fused_in_place_ok(full, 1)
    # sum(x * v, -1) has v's spec (8,), but v is read along the columns of every row: never in place
    rows = g.add_node("fused", [x, v], {"program": (("mul", (0, 1), ()), ("sum", (2,), (("axis", -1), ("keepdims", False))))})
    assert rows.shape == (8,) and not fk.fused_in_place_ok(rows, 1)
    with pytest.raises(ValueError, match="unknown fused-kernel engine"):
        with fk.use_engine("gpu"):
            pass


@pytest.mark.skipif(not fk.numba_available(), reason="numba is not installed")
def test_in_place_calls_use_the_kernel_variant_that_writes_over_its_input(rng):
    """A compiled kernel handed the same buffer as input and output must not fall back to scalar code:
    the out kernel switches to a variant whose output *is* the input (same results, bit for bit)."""
    fn, inputs = models.elementwise(rows=48, cols=96)
    opt, _ = optimize(fn.get_graph(*inputs), level=2)
    (node,) = _fused(opt)
    plan = fk.analyze(node.attrs["program"], [i.spec for i in node.inputs])
    src = fk.numba_source(plan, alias=0)
    assert "def kernel(lo, hi, N, p0, p1, p2, p3, p4, a0, a1, a2, a3, a4):" in src and "    out = a0" in src
    assert ", out)" in fk.numba_source(plan)  # the ordinary kernel takes an output array
    args = [inputs[0]] + [i.value for i in node.inputs[1:]]
    want = fk.fused_kernel(node)(*args)
    kernel = fk.fused_out_kernel(node)
    for _ in range(2):
        buf = inputs[0].copy()
        assert kernel(buf, *args[1:], buf) is buf
        np.testing.assert_array_equal(buf, want)
    view = np.empty((48, 96 + 4), np.float32)[:, :96]  # not contiguous: no aliasing, the ordinary path
    np.testing.assert_array_equal(kernel(*args, view), want)
