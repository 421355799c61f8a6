"""Name scopes and source locations on traced nodes; eager mode for gs.ops on NumPy arrays."""

from __future__ import annotations

import numpy as np
import pytest

import graphscope as gs
from graphscope.trace import tensor as trace_tensor

F32 = np.float32


def line_of(fn, offset: int) -> str:
    return f"{__file__}:{fn.__code__.co_firstlineno + offset}"


def test_nested_name_scopes_on_nodes(rng):
    w1, w2 = rng.standard_normal((3, 4)).astype(F32), rng.standard_normal((4, 2)).astype(F32)

    def model(x):
        with gs.name_scope("encoder") as scope:
            assert scope == "encoder"
            with gs.name_scope("layer0") as inner:
                assert inner == "encoder/layer0"
                h = np.maximum(x @ w1, 0)
            with gs.name_scope("layer1"):
                h = h @ w2
        return np.tanh(h)

    g = gs.function(model).get_graph(rng.standard_normal((5, 3)).astype(F32))
    scopes = {n.name: n.scope for n in g.nodes}
    assert scopes == {
        "x": "",
        "encoder/layer0/const": "encoder/layer0",
        "encoder/layer0/matmul": "encoder/layer0",
        "encoder/layer0/const_1": "encoder/layer0",
        "encoder/layer0/maximum": "encoder/layer0",
        "encoder/layer1/const": "encoder/layer1",
        "encoder/layer1/matmul": "encoder/layer1",
        "tanh": "",
    }


def test_repeated_scopes_get_unique_node_names(rng):
    def f(x):
        for _ in range(3):
            with gs.name_scope("block"):
                x = x * 2.0
        return x

    g = gs.function(f).get_graph(rng.standard_normal(3).astype(F32))
    assert [n.name for n in g.nodes if n.op == "mul"] == ["block/mul", "block/mul_1", "block/mul_2"]
    assert {n.scope for n in g.nodes if n.op != "placeholder"} == {"block"}


def test_scopes_outside_a_trace_do_not_leak_into_it(rng):
    f = gs.function(lambda x: x + 1)
    with gs.name_scope("caller"):
        g = f.get_graph(rng.standard_normal(2).astype(F32))
        with gs.name_scope("inner"):
            pass
    assert [n.scope for n in g.nodes] == ["", "", ""]


def test_scope_as_decorator_and_restored_after_errors(rng):
    @gs.name_scope("helper")
    def helper(x):
        return x - 1

    def f(x):
        try:
            with gs.name_scope("failing"):
                raise KeyError("boom")
        except KeyError:
            pass
        return helper(helper(x)) * 3

    g = gs.function(f).get_graph(rng.standard_normal(2).astype(F32))
    assert [(n.op, n.scope) for n in g.nodes if n.op not in ("placeholder", "constant")] == [
        ("sub", "helper"), ("sub", "helper"), ("mul", "")]


@pytest.mark.parametrize("bad", ["", "a/b", None])
def test_scope_names_are_checked(bad):
    with pytest.raises(ValueError, match="non-empty string without '/'"):
        with gs.name_scope(bad):
            pass


def test_node_sources_are_user_lines(rng):
    def f(x, y):
        a = x @ y
        b = np.maximum(a, 0.0)
        c = b.sum(axis=1)
        d = np.concatenate([c, c])[::2]
        return gs.ops.softmax(d)

    g = gs.function(f).get_graph(rng.standard_normal((4, 3)).astype(F32), rng.standard_normal((3, 5)).astype(F32))
    src = {n.op: n.source for n in g.nodes}
    assert src["matmul"] == line_of(f, 1)
    assert src["maximum"] == line_of(f, 2)
    assert src["constant"] == line_of(f, 2)  # the 0.0 scalar is made where it is used
    assert src["sum"] == line_of(f, 3)
    assert src["concat"] == line_of(f, 4)
    assert src["getitem"] == line_of(f, 4)
    assert src["softmax"] == line_of(f, 5)
    assert src["placeholder"] is None
    assert all(n.source is None or n.source.startswith(__file__) for n in g.nodes)


def test_sources_of_methods_indexing_and_helpers(rng):
    def norm(v):
        return v / np.sqrt((v * v).mean(axis=-1, keepdims=True) + 1e-6)

    def f(x):
        rows = [r for r in x]
        return norm(rows[0].T.reshape(1, -1))

    g = gs.function(f).get_graph(rng.standard_normal((2, 3)).astype(F32))
    src = {n.op: n.source for n in g.nodes}
    assert src["getitem"] == line_of(f, 1)  # iteration unrolls into getitem nodes on the loop's line
    assert src["transpose"] == line_of(f, 2)
    assert src["reshape"] == line_of(f, 2)
    assert src["mean"] == line_of(norm, 1)
    assert src["div"] == line_of(norm, 1)


def test_printed_graph_shows_scopes_and_sources(rng):
    def f(x):
        with gs.name_scope("head"):
            return np.tanh(x)

    text = str(gs.function(f).get_graph(rng.standard_normal(2).astype(F32)))
    line = f.__code__.co_firstlineno + 2
    assert f"%1:f32[2] = tanh(%0)  # head/tanh @ test_trace_scopes.py:{line}" in text


# -- eager mode -------------------------------------------------------------------------------------


def test_gs_ops_on_numpy_arrays_compute_at_once(rng, same):
    x = rng.standard_normal((4, 6)).astype(F32)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    same(gs.ops.softmax(x, axis=-1), e / e.sum(axis=-1, keepdims=True))
    same(gs.ops.relu(x), np.maximum(x, F32(0)))
    same(gs.ops.add(x, 1.5), x + 1.5)
    same(gs.ops.concat([x, x], axis=1), np.concatenate([x, x], axis=1))
    same(gs.ops.getitem(x, (slice(None), 1)), x[:, 1])
    same(gs.ops.gather(x, np.array([2, 0]), axis=1), np.take(x, [2, 0], axis=1))
    same(gs.ops.clip(x, -0.5, 0.5), np.clip(x, -0.5, 0.5))
    same(gs.ops.einsum("ij,kj->ik", x, x), np.einsum("ij,kj->ik", x, x), rtol=1e-5)
    assert isinstance(gs.ops.mul(x, x), np.ndarray)


def test_eager_ops_report_to_observers_with_scope(rng):
    seen = []

    def observer(op, scope, out, t0, t1, inputs, attrs):
        seen.append((op, scope, out.shape, t1 >= t0))

    trace_tensor.eager_observers.append(observer)
    try:
        x = rng.standard_normal((2, 3)).astype(F32)
        with gs.name_scope("eager"):
            gs.ops.tanh(x)
            with gs.name_scope("inner"):
                gs.ops.sum(x, axis=0)
        gs.ops.neg(x)
        gs.function(lambda v: gs.ops.exp(v))(x)  # traced: no eager event
    finally:
        trace_tensor.eager_observers.remove(observer)
    assert seen == [("tanh", "eager", (2, 3), True), ("sum", "eager/inner", (3,), True), ("neg", "", (2, 3), True)]


def test_gs_constant_lifts_arrays_into_the_graph(rng, op_names):
    w = rng.standard_normal((3, 3)).astype(F32)

    def f(x):
        return x @ (gs.constant(w) * 2.0)  # the scaling of w becomes a node instead of running at trace time

    g = gs.function(f).get_graph(rng.standard_normal((2, 3)).astype(F32))
    assert op_names(g) == ["mul", "matmul"]
    np.testing.assert_array_equal(gs.constant(w), w)  # outside a trace: the array itself
