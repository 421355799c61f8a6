"""Constant folding, algebraic simplification, CSE and DCE: structure changed, outputs unchanged."""

import numpy as np
import pytest

import graphscope as gs
from graphscope.ir.graph import Graph
from graphscope.ir.printer import format_graph
from graphscope.ir.spec import TensorSpec
from graphscope.passes.constant_folding import constant_folding
from graphscope.passes.cse import common_subexpression_elimination
from graphscope.passes.dce import dead_code_elimination
from graphscope.passes.simplify import algebraic_simplification

F32 = "float32"


def _graph():
    g = Graph("g")
    x = g.placeholder("x", TensorSpec((4, 6), F32))
    return g, x


def _run(g, rng, *extra):
    inputs = [rng.standard_normal(n.spec.shape).astype(n.spec.dtype) for n in g.inputs]
    return gs.run(g, inputs).outputs, inputs


def _equal_after(pass_fn, g, rng, **kw):
    before, inputs = _run(g, rng)
    opt = g.copy()
    result = pass_fn(opt, **kw)
    opt.lint()
    after = gs.run(opt, inputs).outputs
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    return opt, result.log


def test_dce_removes_unreachable_nodes_but_keeps_inputs(rng):
    g, x = _graph()
    unused_input = g.placeholder("unused", TensorSpec((3,), F32))
    live = g.add_node("exp", [x])
    dead1 = g.add_node("tanh", [live])
    dead2 = g.add_node("neg", [dead1])
    g.set_outputs([live])
    opt, log = _equal_after(dead_code_elimination, g, rng)
    assert sorted(log.removed) == sorted([dead1.id, dead2.id])
    assert [n.op for n in opt.nodes] == ["placeholder", "placeholder", "exp"]
    assert unused_input.name in [n.name for n in opt.inputs]


def test_cse_merges_duplicates_commutative_and_equal_constants(rng):
    g, x = _graph()
    c1 = g.constant(np.full((6,), 2.0, np.float32))
    c2 = g.constant(np.full((6,), 2.0, np.float32))  # equal value, separate node
    a = g.add_node("mul", [x, c1])
    b = g.add_node("mul", [c2, x])  # commutative spelling of the same product
    s1 = g.add_node("softmax", [a], {"axis": -1})
    s2 = g.add_node("softmax", [b], {"axis": -1})
    s3 = g.add_node("softmax", [b], {"axis": 0})  # different attrs: must stay
    out = g.add_node("add", [g.add_node("add", [s1, s2]), s3])
    g.set_outputs([out])
    opt, log = _equal_after(common_subexpression_elimination, g, rng)
    assert log.merged == [(c2.id, c1.id), (b.id, a.id), (s2.id, s1.id)]
    assert [n.op for n in opt.nodes].count("softmax") == 2
    kept = opt.node(a.id)
    assert set(kept.provenance) == {a.id, b.id}


def test_constant_folding_folds_constant_subgraphs_and_respects_the_cap(rng):
    g, x = _graph()
    c = g.constant(np.linspace(1, 2, 6).astype(np.float32))
    two = g.constant(np.float32(2.0))
    folded = g.add_node("sqrt", [g.add_node("mul", [c, two])])
    big = g.add_node("broadcast_to", [two], {"shape": (1024, 1024)}) if "broadcast_to" in gs.ops.__all__ else None
    out = g.add_node("mul", [x, folded])
    outs = [out]
    if big is not None:
        outs.append(g.add_node("sum", [big]))
    g.set_outputs(outs)
    opt, log = _equal_after(constant_folding, g, rng, max_bytes=1 << 20)
    (ids, into), *rest = log.folded
    assert sorted(ids) == sorted([folded.id, folded.inputs[0].id])
    assert opt.node(into).op == "constant"
    np.testing.assert_allclose(opt.node(into).value, np.sqrt(np.linspace(1, 2, 6) * 2), rtol=1e-6)
    if big is not None:
        assert any(big.id in b[0] and "exceeds the fold cap" in b[1] for b in log.blocked)
    remaining = sorted(n.op for n in opt.nodes if n.op != "constant")
    assert remaining == sorted(["placeholder", "mul"] + (["broadcast_to", "sum"] if big else []))


@pytest.mark.parametrize("exact", [True, False])
def test_simplification_rules(rng, exact):
    g, x = _graph()
    one = g.constant(np.float32(1.0))
    zero = g.constant(np.float32(0.0))
    a = g.add_node("mul", [x, one])  # x*1 -> x
    b = g.add_node("div", [a, one])  # x/1 -> x
    c = g.add_node("sub", [b, zero])  # x-0 -> x (exact for +0)
    d = g.add_node("add", [c, zero])  # x+0 -> x only when not exact
    t = g.add_node("transpose", [g.add_node("transpose", [d])])  # cancels
    r = g.add_node("reshape", [g.add_node("reshape", [t], {"shape": (24,)})], {"shape": (4, 6)})  # cancels
    n = g.add_node("neg", [g.add_node("neg", [r])])
    e = g.add_node("exp", [n])
    g.set_outputs([e])
    opt, log = _equal_after(algebraic_simplification, g, rng, exact=exact)
    rules = [rule for _, _, rule in log.rewritten]
    for rule in ("x*1 -> x", "x/1 -> x", "x-0 -> x", "transpose(transpose(x)) -> x", "reshape(reshape(x)) -> x",
                 "-(-x) -> x"):
        assert rule in rules
    if exact:
        assert "x+0 -> x" not in rules
        assert log.blocked and "-0.0" in log.blocked[0][1]
        assert [n.op for n in opt.nodes if n.op != "constant"] == ["placeholder", "add", "exp"]
    else:
        assert "x+0 -> x" in rules
        assert [n.op for n in opt.nodes] == ["placeholder", "exp"]


def test_x_plus_zero_is_not_exact_for_negative_zero():
    g = Graph("g")
    x = g.placeholder("x", TensorSpec((2,), F32))
    y = g.add_node("add", [x, g.constant(np.float32(0.0))])
    g.set_outputs([g.add_node("div", [g.constant(np.float32(1.0)), y])])
    xs = np.array([-0.0, 1.0], np.float32)
    exact, _ = gs.optimize(g, level=2)
    unsafe, _ = gs.optimize(g, level=3)
    with np.errstate(divide="ignore"):
        ref = gs.run(g, [xs]).outputs[0]
        assert ref[0] == np.inf  # 1 / (-0.0 + 0.0) = 1 / +0.0
        np.testing.assert_array_equal(gs.run(exact, [xs]).outputs[0], ref)
        assert gs.run(unsafe, [xs]).outputs[0][0] == -np.inf  # the documented level-3 difference


def test_transposes_compose_when_they_do_not_cancel(rng):
    g = Graph("g")
    x = g.placeholder("x", TensorSpec((2, 3, 4), F32))
    t = g.add_node("transpose", [g.add_node("transpose", [x], {"perm": (1, 0, 2)})], {"perm": (0, 2, 1)})
    g.set_outputs([t])
    opt, log = _equal_after(algebraic_simplification, g, rng)
    (tr,) = [n for n in opt.nodes if n.op == "transpose"]
    assert tr.attrs["perm"] == (1, 2, 0) and tr.inputs[0].op == "placeholder"
    assert set(tr.provenance) >= {t.id, t.inputs[0].id}


def test_optimize_copies_logs_and_keeps_the_original(rng):
    from graphscope import samples

    g, inputs = samples.build("redundant")
    text = format_graph(g)
    opt, log = gs.optimize(g, level=2)
    assert format_graph(g) == text  # the input graph is untouched
    assert log.total("merged") == 3  # the duplicated matmul, add and tanh
    assert log.total("folded") == 1  # the constant subgraph (4 ops) became one constant
    assert sorted(len(ids) for ids, _ in next(p for p in log.passes if p.name == "constant_folding").folded) == [4]
    dce = next(p for p in log.passes if p.name == "dead_code_elimination")
    assert sorted(g.node(i).name for i in dce.removed if g.node(i).op != "constant") == ["dead/exp", "dead/mul", "dead/sub"]
    assert len(opt) < len(g) // 2
    errors = gs.verify(g, opt, inputs)
    assert 0.0 <= errors[0] < 1e-5  # fusion (level 2) reorders float32 math in the last bits
    exact, _ = gs.optimize(g, level=1)  # the cleanup passes alone are exact
    assert gs.verify(g, exact, inputs)[0] == 0.0
    assert opt.metadata["pass_log"][0]["name"] == "constant_folding"
    assert "folded" in str(log) and "merged" in str(log)
    with pytest.raises(ValueError, match="level"):
        gs.optimize(g, level=7)


def test_verify_names_the_first_differing_node(rng):
    from graphscope import samples

    g, inputs = samples.build("redundant")
    opt, _ = gs.optimize(g, level=1)
    tanh = next(n for n in opt.nodes if n.op == "tanh")
    tanh.op = "sin"  # plant a wrong kernel (same spec, so the graph still lints)
    opt.version += 1
    with pytest.raises(gs.VerificationError, match=rf"first differing node: node %{tanh.id} 'cse/tanh' \(sin"):
        gs.verify(g, opt, inputs)


# -- transposes folded into matrix products ---------------------------------------------------------


def _product_graph(shape_a, shape_b, ta=False, tb=False, extra_reader=False):
    g = Graph("g")
    a = g.placeholder("a", TensorSpec(shape_a, F32))
    b = g.placeholder("b", TensorSpec(shape_b, F32))

    def swap(x):
        nd = x.spec.ndim
        return g.add_node("transpose", [x], {"perm": tuple(range(nd - 2)) + (nd - 1, nd - 2)})

    ta_node = swap(a) if ta else a
    tb_node = swap(b) if tb else b
    out = g.add_node("matmul", [ta_node, tb_node])
    outs = [out] + ([g.add_node("tanh", [tb_node])] if extra_reader else [])
    g.set_outputs(outs)
    return g


@pytest.mark.parametrize("shapes,ta,tb", [
    (((5, 7), (3, 7)), False, True),  # a @ b.T
    (((7, 5), (7, 3)), True, False),  # a.T @ b
    (((7, 5), (3, 7)), True, True),  # a.T @ b.T
    (((2, 4, 5, 6), (2, 4, 3, 6)), False, True),  # batched q @ k.mT
    (((2, 1, 6, 5), (3, 6, 4)), True, False),  # batch broadcasting
])
def test_a_transpose_of_the_last_two_axes_folds_into_the_product(shapes, ta, tb, rng):
    g = _product_graph(*shapes, ta=ta, tb=tb)
    opt, log = _equal_after(algebraic_simplification, g, rng)  # bit-identical: the kernel reads the same view
    (fm,) = [n for n in opt.nodes if n.op not in ("placeholder",)]
    assert fm.op == "fused_matmul" and (fm.attrs["transpose_a"], fm.attrs["transpose_b"]) == (ta, tb)
    assert [i.op for i in fm.inputs] == ["placeholder", "placeholder"]
    transposes = [n.id for n in g.nodes if n.op == "transpose"]
    assert set(transposes) <= set(fm.provenance) and set(transposes) <= set(log.removed)
    ((old, new, rule),) = log.rewritten
    assert new == fm.id and rule.startswith("matmul of a transposed operand")


def test_transposes_that_stay(rng):
    # also read by another node: folding would not remove it
    g = _product_graph((5, 7), (3, 7), tb=True, extra_reader=True)
    opt, log = _equal_after(algebraic_simplification, g, rng)
    assert "fused_matmul" not in opt.op_counts() and not log.rewritten
    # not a swap of the last two axes
    g = Graph("g")
    a = g.placeholder("a", TensorSpec((4, 5, 6), F32))
    b = g.placeholder("b", TensorSpec((5, 6, 3), F32))
    g.set_outputs([g.add_node("matmul", [g.add_node("transpose", [a], {"perm": (1, 0, 2)}), b])])
    opt, log = _equal_after(algebraic_simplification, g, rng)
    assert opt.op_counts() == g.op_counts()


def test_transformer_key_transpose_folds_at_level_1():
    from graphscope.samples import models

    fn, inputs = models.transformer(batch=2, seq=16, d_model=32, heads=4, d_ff=64)
    g = fn.get_graph(*inputs)
    opt, log = gs.optimize(g, level=1)
    (fm,) = [n for n in opt.nodes if n.op == "fused_matmul"]
    assert fm.name == "attn/scores/matmul_1" and fm.attrs["transpose_b"] and fm.inputs[1].op == "transpose"
    assert fm.inputs[1].attrs["perm"] == (0, 2, 1, 3)  # k's head split stays; k.mT went into the product
    np.testing.assert_array_equal(gs.run(opt, inputs).outputs[0], gs.run(g, inputs).outputs[0])
