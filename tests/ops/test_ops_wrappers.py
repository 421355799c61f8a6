"""The hand-written public wrappers in graphscope.ops: NumPy-style arguments, canonical node attributes,
the same results eagerly (NumPy arrays in) and traced (a graph run by gs.run)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import graphscope as gs
from graphscope import ops
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec
from graphscope.trace.context import tracing
from graphscope.trace.tensor import Tensor

RNG = np.random.default_rng(7)


def randn(*shape: int, dtype: str = "float32") -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def traced(fn, *arrays: np.ndarray) -> tuple[Graph, Any]:
    """Trace ``fn`` over placeholders for ``arrays``; return the graph and its outputs run on ``arrays``."""
    g = Graph("wrapped")
    with tracing(g):
        args = [Tensor(g.placeholder(f"x{i}", TensorSpec.of(a)), g) for i, a in enumerate(arrays)]
        out = fn(*args)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    g.set_outputs([o.node for o in outs])
    g.lint()
    results = gs.run(g, list(arrays)).outputs
    return g, results if isinstance(out, (list, tuple)) else results[0]


def check(fn, *arrays: np.ndarray, want: Any, rtol: float = 1e-5, atol: float = 1e-6) -> Graph:
    """``fn`` eagerly and traced both give ``want`` (an array or a list of arrays); returns the graph."""
    eager = fn(*arrays)
    g, got = traced(fn, *arrays)
    wants = want if isinstance(want, list) else [want]
    for result in (eager, got):
        results = result if isinstance(result, list) else [result]
        assert len(results) == len(wants)
        for r, w in zip(results, wants):
            r, w = np.asarray(r), np.asarray(w)
            assert r.shape == w.shape and r.dtype == w.dtype, f"{r.dtype}{r.shape} != {w.dtype}{w.shape}"
            np.testing.assert_allclose(r, w, rtol=rtol, atol=atol)
    return g


def only(g: Graph, op: str):
    nodes = [n for n in g.nodes if n.op == op]
    assert len(nodes) == 1, g
    return nodes[0]


# -- conv2d and pools -----------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "canonical"), [
    ({}, {"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}),
    ({"stride": 2, "padding": 1}, {"stride": (2, 2), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1}),
    ({"stride": (1, 2), "padding": (2, 1), "dilation": 2},
     {"stride": (1, 2), "padding": (2, 1, 2, 1), "dilation": (2, 2), "groups": 1}),
    ({"padding": (0, 1, 2, 3), "dilation": (1, 2), "groups": 2},
     {"stride": (1, 1), "padding": (0, 1, 2, 3), "dilation": (1, 2), "groups": 2}),
])
def test_conv2d_argument_forms(kwargs, canonical):
    x, w, b = randn(2, 4, 9, 10), randn(6, 4 // canonical["groups"], 3, 3), randn(6)
    want = gs.ops.op("conv2d", x, w, b, **canonical)  # the op applied to the canonical attributes directly
    g = check(lambda x, w, b: ops.conv2d(x, w, b, **kwargs), x, w, b, want=want, rtol=1e-4, atol=1e-4)
    assert only(g, "conv2d").attrs == canonical
    np.testing.assert_allclose(ops.conv2d(x, w, **kwargs), want - b[None, :, None, None], rtol=1e-4, atol=1e-4)


def test_pool_wrappers_default_stride_is_the_kernel():
    x = randn(2, 3, 8, 8)
    g = check(lambda x: ops.max_pool2d(x, 2), x, want=x.reshape(2, 3, 4, 2, 4, 2).max(axis=(3, 5)))
    assert only(g, "max_pool2d").attrs == {"kernel_size": (2, 2), "stride": (2, 2), "padding": (0, 0, 0, 0)}
    g = check(lambda x: ops.avg_pool2d(x, (2, 4)), x, want=x.reshape(2, 3, 4, 2, 2, 4).mean(axis=(3, 5)))
    assert only(g, "avg_pool2d").attrs["stride"] == (2, 4)


def test_pool_wrappers_padding_forms():
    x = randn(1, 2, 5, 5)
    a = ops.avg_pool2d(x, 3, 1, 1)
    assert a.shape == (1, 2, 5, 5)
    # Corner window covers 2x2 real cells: padded cells are not counted.
    np.testing.assert_allclose(a[:, :, 0, 0], x[:, :, :2, :2].mean(axis=(2, 3)), rtol=1e-6)
    m = ops.max_pool2d(-np.abs(x) - 1, 3, stride=2, padding=(1, 1))
    assert m.shape == (1, 2, 3, 3) and (m < -1 + 1e-6).all()  # never the padding (-inf) nor 0
    g, _ = traced(lambda x: ops.max_pool2d(x, (3, 3), stride=(2, 1), padding=(1, 0, 1, 0)), x)
    assert only(g, "max_pool2d").attrs == {"kernel_size": (3, 3), "stride": (2, 1), "padding": (1, 0, 1, 0)}


# -- normalizations -------------------------------------------------------------------------------


def _ln(x, gamma=None, beta=None, axes=(-1,), eps=1e-5):
    x64 = x.astype(np.float64)
    mu = x64.mean(axis=axes, keepdims=True)
    out = (x64 - mu) / np.sqrt(((x64 - mu) ** 2).mean(axis=axes, keepdims=True) + eps)
    out = out * (1 if gamma is None else gamma) + (0 if beta is None else beta)
    return out.astype(x.dtype)


def test_layer_norm_wrapper():
    x, gm, bt = randn(3, 4, 5), randn(5), randn(5)
    check(lambda x: ops.layer_norm(x), x, want=_ln(x), rtol=1e-5, atol=1e-5)
    check(lambda x, gm: ops.layer_norm(x, gm), x, gm, want=_ln(x, gm), rtol=1e-5, atol=1e-5)
    g = check(lambda x, gm, bt: ops.layer_norm(x, gm, bt, epsilon=1e-2), x, gm, bt, want=_ln(x, gm, bt, eps=1e-2),
              rtol=1e-5, atol=1e-5)
    assert only(g, "layer_norm").attrs == {"axis": 2, "epsilon": 0.01}
    check(lambda x, bt: ops.layer_norm(x, beta=bt), x, bt, want=_ln(x, None, bt), rtol=1e-5, atol=1e-5)
    g2 = randn(4, 5)
    g = check(lambda x, g2: ops.layer_norm(x, g2, axis=-2), x, g2, want=_ln(x, g2, axes=(1, 2)), rtol=1e-5, atol=1e-5)
    assert only(g, "layer_norm").attrs["axis"] == 1


def test_batch_norm_wrapper():
    x = randn(2, 3, 4, 4)
    scale, bias, mean, var = randn(3), randn(3), randn(3), np.abs(randn(3)) + 0.5
    c = (slice(None), None, None)
    want = ((x - mean[c]) / np.sqrt(var[c] + 1e-3) * scale[c] + bias[c]).astype(np.float32)
    g = check(lambda *a: ops.batch_norm(*a, epsilon=1e-3), x, scale, bias, mean, var, want=want, rtol=1e-5, atol=1e-5)
    assert only(g, "batch_norm").attrs == {"epsilon": 1e-3}


# -- joining and splitting ------------------------------------------------------------------------


def test_concat_and_stack_normalize_the_axis():
    a, b = randn(2, 3), randn(2, 5)
    g = check(lambda a, b: ops.concat([a, b], axis=-1), a, b, want=np.concatenate([a, b], axis=-1))
    assert only(g, "concat").attrs == {"axis": 1}
    c = randn(2, 3)
    g = check(lambda a, c: ops.stack((a, c), axis=-1), a, c, want=np.stack([a, c], axis=-1))
    assert only(g, "stack").attrs == {"axis": 2}
    with pytest.raises(TypeError, match="sequence"):
        ops.concat(a)
    with pytest.raises(gs.ShapeError, match="at least one"):
        ops.stack([])


@pytest.mark.parametrize(("spec", "axis"), [(3, 0), (2, 1), ([1, 3], 0), ([2, 2, 5], -1), ([0], 1), (np.array([1, 2]), 0)])
def test_split_matches_numpy(spec, axis):
    x = randn(6, 4, 5)
    want = np.split(x, spec, axis=axis)
    g = check(lambda x: ops.split(x, spec, axis=axis), x, want=want)
    assert {n.op for n in g.nodes} <= {"placeholder", "getitem"}
    assert len(g.outputs) == len(want)


def test_split_uneven_is_an_error():
    x = randn(7, 4)
    with pytest.raises(gs.ShapeError, match=r"op 'split'.*\(7, 4\).*length 7.*3 equal sections"):
        ops.split(x, 3)
    with pytest.raises(gs.ShapeError, match="split"):
        traced(lambda x: ops.split(x, 2), x)
    with pytest.raises(gs.ShapeError, match="positive"):
        ops.split(x, 0)


# -- getitem --------------------------------------------------------------------------------------

BASIC_INDEXES = [
    np.s_[2], np.s_[-1], np.s_[1:3], np.s_[::-1], np.s_[::2], np.s_[-1:0:-2], np.s_[5:1:-1], np.s_[10:], np.s_[-100:2],
    np.s_[:, 1], np.s_[:, -2:], np.s_[1, 2, 3], np.s_[-1, -1, -1], np.s_[..., 0], np.s_[0, ...], np.s_[1, ..., ::-1],
    np.s_[...], np.s_[()], np.s_[None], np.s_[:, None, 1], np.s_[None, ..., None], np.s_[..., None, 2],
    np.s_[np.int64(1), np.int8(-2)], np.s_[np.array(2)], np.s_[1:1], np.s_[3:0], np.s_[0:5:3, :, 4::-3],
]


@pytest.mark.parametrize("index", BASIC_INDEXES, ids=repr)
def test_getitem_every_basic_form(index):
    x = randn(5, 4, 6)
    want = x[index]
    check(lambda x: ops.getitem(x, index), x, want=want)
    check(lambda x: x[index] if isinstance(x, Tensor) else ops.getitem(x, index), x, want=want)  # Tensor.__getitem__


def test_getitem_is_a_view_eagerly():
    x = randn(4, 5)
    out = ops.getitem(x, np.s_[1:, ::2])
    assert np.shares_memory(out, x)
    assert isinstance(ops.getitem(x, (1, 2)), np.ndarray)  # 0-d array, not a scalar


def test_getitem_index_is_canonical():
    x = randn(3, 4)
    spellings = [np.s_[0], np.s_[0, :], np.s_[0, ...], np.s_[-3], np.s_[0, 0:4], np.s_[0, -10:10:1], np.s_[..., 0, :]]
    indexes = set()
    for s in spellings:
        g, _ = traced(lambda x, s=s: x[s], x)
        indexes.add(only(g, "getitem").attrs["index"])
    assert indexes == {(0,)}
    g, _ = traced(lambda x: x[..., ::-1], x)
    assert only(g, "getitem").attrs["index"] == (("slice", 0, 3, 1), ("slice", 3, None, -1))


@pytest.mark.parametrize("index", [
    [0, 1], np.array([0, 2]), (0, [1, 2]), np.array([True, False, True]), True, (slice(None), np.array([1])), 1.5, "a",
], ids=repr)
def test_getitem_rejects_advanced_indexing(index):
    x = randn(3, 4)
    with pytest.raises(TypeError, match="basic indexing"):
        ops.getitem(x, index)
    with pytest.raises(TypeError, match="basic indexing"):
        traced(lambda x: ops.getitem(x, index), x)


def test_getitem_rejects_a_traced_index():
    x, i = randn(3, 4), np.array(1)
    with pytest.raises(TypeError, match="traced tensor"):
        traced(lambda x, i: ops.getitem(x, i), x, i)
    with pytest.raises(TypeError, match="traced tensor"):
        traced(lambda x, i: ops.getitem(x, (0, i)), x, i)


@pytest.mark.parametrize(("index", "message"), [
    (np.s_[3], r"index 3 is out of bounds for axis 0 of size 3 \(shape \(3, 4\)\)"),
    (np.s_[:, -5], "out of bounds for axis 1 of size 4"),
    (np.s_[0, 0, 0], r"too many indices \(3\) for shape \(3, 4\)"),
    (np.s_[..., 0, ...], "single ellipsis"),
    (np.s_[::0], "step cannot be zero"),
])
def test_getitem_bad_basic_index(index, message):
    x = randn(3, 4)
    with pytest.raises(gs.ShapeError, match=message):
        ops.getitem(x, index)
    with pytest.raises(gs.ShapeError, match=message):
        traced(lambda x: x[index], x)


# -- the other wrappers ---------------------------------------------------------------------------


def test_gather_wrapper():
    x = randn(4, 5, 6)
    g = check(lambda x: ops.gather(x, [3, -1, 0], axis=-2), x, want=np.take(x, [3, -1, 0], axis=1))
    assert only(g, "gather").attrs == {"axis": 1}
    idx = np.array([[0, 3], [2, 2]], dtype=np.int16)
    check(lambda x, i: ops.gather(x, i), x, idx, want=np.take(x, idx, axis=0))


@pytest.mark.parametrize(("pad_width", "canonical"), [
    (1, ((1, 1), (1, 1))),
    ((2,), ((2, 2), (2, 2))),
    ((1, 2), ((1, 2), (1, 2))),
    (((0, 3),), ((0, 3), (0, 3))),
    (((1, 0), (2, 3)), ((1, 0), (2, 3))),
    ([[1, 0], [0, 0]], ((1, 0), (0, 0))),
])
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_pad_width_forms(pad_width, canonical, mode):
    x = randn(3, 4)
    g = check(lambda x: ops.pad(x, pad_width, mode=mode), x, want=np.pad(x, pad_width, mode=mode))
    assert only(g, "pad").attrs == {"pad_width": canonical, "mode": mode, "constant_value": 0.0}


def test_pad_constant_value_and_errors():
    x = randn(2, 3)
    check(lambda x: ops.pad(x, 1, constant_value=7), x, want=np.pad(x, 1, constant_values=7))
    with pytest.raises(gs.ShapeError, match="negative"):
        ops.pad(x, -1)
    with pytest.raises(TypeError, match="ints"):
        ops.pad(x, 1.5)
    with pytest.raises(gs.ShapeError, match=r"does not fit an operand of shape \(2, 3\)"):
        ops.pad(x, ((1, 1), (1, 1), (1, 1)))
    with pytest.raises(gs.ShapeError, match="constant_value"):
        ops.pad(x, 1, mode="edge", constant_value=3)
    with pytest.raises(gs.ShapeError, match="mode"):
        ops.pad(x, 1, mode="wrap")


def test_broadcast_to_expand_dims_squeeze():
    x = randn(3, 1)
    g = check(lambda x: ops.broadcast_to(x, [2, 3, 4]), x, want=np.broadcast_to(x, (2, 3, 4)))
    assert only(g, "broadcast_to").attrs == {"shape": (2, 3, 4)}
    check(lambda x: ops.broadcast_to(x[:, 0], 3), x, want=x[:, 0])
    g = check(lambda x: ops.expand_dims(x, -1), x, want=np.expand_dims(x, -1))
    assert only(g, "expand_dims").attrs == {"axis": 2}
    g = check(lambda x: ops.expand_dims(x, [0, -1]), x, want=np.expand_dims(x, (0, -1)))
    assert only(g, "expand_dims").attrs == {"axis": (0, 3)}
    y = randn(1, 3, 1, 1)
    for axis in (None, 0, -1, (0, 2), [-1, -2]):
        want = np.squeeze(y, axis=tuple(axis) if isinstance(axis, list) else axis)
        check(lambda y, axis=axis: ops.squeeze(y, axis), y, want=want)
    g, _ = traced(lambda y: ops.squeeze(y, (-1, 0)), y)
    assert only(g, "squeeze").attrs == {"axis": (0, 3)}
    g, _ = traced(lambda y: y.squeeze(-1), y)  # the Tensor method goes through the wrapper
    assert only(g, "squeeze").attrs == {"axis": 3}
    with pytest.raises(gs.ShapeError, match=r"op 'squeeze': cannot squeeze axis 1 of shape \(1, 3, 1, 1\)"):
        ops.squeeze(y, 1)


def test_clip_wrapper():
    x = randn(4, 5)
    check(lambda x: ops.clip(x, -0.5, 0.5), x, want=np.clip(x, -0.5, 0.5))
    check(lambda x: ops.clip(x, max=0.0), x, want=np.minimum(x, np.float32(0)))
    check(lambda x: ops.clip(x, np.float32(-1), None), x, want=np.maximum(x, np.float32(-1)))
    lo, hi = randn(5) - 1, randn(4, 1) + 1
    g = check(lambda x, lo, hi: ops.clip(x, lo, hi), x, lo, hi, want=np.clip(x, lo, hi))
    assert {n.op for n in g.nodes} == {"placeholder", "maximum", "minimum"}
    i = RNG.integers(-10, 10, (3, 4))
    check(lambda i: ops.clip(i, 0.5, 2.5), i, want=np.clip(i, 0.5, 2.5))  # int clipped by floats is float64, as in NumPy


def test_einsum_wrapper():
    a, b = randn(2, 3, 4), randn(2, 4, 5)
    g = check(lambda a, b: ops.einsum("bij, bjk -> bik", a, b), a, b, want=np.einsum("bij,bjk->bik", a, b), rtol=1e-5)
    assert only(g, "einsum").attrs == {"equation": "bij,bjk->bik"}
    with pytest.raises(TypeError, match="equation"):
        ops.einsum(a, [0, 1, 2])


def test_generated_wrappers_still_work():
    x = randn(2, 3, 4)
    check(lambda x: ops.reshape(x, (4, 6)), x, want=x.reshape(4, 6))
    check(lambda x: ops.transpose(x, (2, 0, 1)), x, want=x.transpose(2, 0, 1))
    check(lambda x: ops.transpose(x), x, want=x.T)
    check(lambda x: ops.softmax(x, 1), x, want=np.exp(x) / np.exp(x).sum(axis=1, keepdims=True))
    check(lambda x: ops.global_avg_pool(x[None]), x, want=x[None].mean(axis=(2, 3), keepdims=True))
    check(lambda x: ops.log_softmax(x, axis=0), x, want=np.log(np.exp(x) / np.exp(x).sum(axis=0, keepdims=True)), atol=1e-5)


def test_every_public_op_function_is_exported():
    from graphscope.ir.ops import all_ops

    names = set(ops.__all__)
    assert {n for n, op in all_ops().items() if op.arity != 0} <= names
    assert {"split", "op"} <= names
    assert not names & {"np", "builtins", "operator", "Tensor", "ShapeError"}
