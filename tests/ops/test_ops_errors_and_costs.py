"""Shape errors name the op and the offending shapes (graph, eager and traced); cost rules."""

from __future__ import annotations

import numpy as np
import pytest

import graphscope as gs
from graphscope import ops
from graphscope.ir.graph import Graph
from graphscope.ir.ops import VIEW, all_ops, get_op
from graphscope.ir.spec import TensorSpec
from graphscope.trace.context import tracing
from graphscope.trace.tensor import Tensor

RNG = np.random.default_rng(11)


def spec(*shape: int, dtype: str = "float32") -> TensorSpec:
    return TensorSpec(shape, dtype)


# (op, input specs, attrs, substrings the message must contain: the op and the shapes at fault)
BAD = [
    ("add", [spec(3, 4), spec(5)], {}, ["'add'", "(3, 4)", "(5,)"]),
    ("where", [spec(3, dtype="bool"), spec(3), spec(4)], {}, ["'where'", "(3,)", "(4,)"]),
    ("matmul", [spec(3, 4), spec(5, 6)], {}, ["'matmul'", "(3, 4)", "(5, 6)"]),
    ("matmul", [spec(2, 3, 4), spec(3, 4, 5)], {}, ["'matmul'", "(2, 3, 4)", "(3, 4, 5)"]),
    ("einsum", [spec(3, 4), spec(5, 6)], {"equation": "ij,jk->ik"}, ["'einsum'", "(3, 4)", "(5, 6)"]),
    ("reshape", [spec(3, 4)], {"shape": (5, 2)}, ["'reshape'", "(3, 4)", "(5, 2)"]),
    ("transpose", [spec(3, 4)], {"perm": (0, 0)}, ["'transpose'", "(3, 4)"]),
    ("sum", [spec(3, 4)], {"axis": 2}, ["'sum'", "axis 2", "2-d"]),
    ("max", [spec(0, 4)], {"axis": 0}, ["'max'", "(0, 4)"]),
    ("argmin", [spec(3, 0)], {"axis": -1}, ["'argmin'", "(3, 0)"]),
    ("concat", [spec(2, 3), spec(2, 4)], {"axis": 0}, ["'concat'", "(2, 3)", "(2, 4)"]),
    ("concat", [spec(2, 3), spec(2, 3, 1)], {"axis": 1}, ["'concat'", "(2, 3)", "(2, 3, 1)"]),
    ("stack", [spec(2, 3), spec(3, 2)], {}, ["'stack'", "(2, 3)", "(3, 2)"]),
    ("broadcast_to", [spec(3)], {"shape": (4,)}, ["'broadcast_to'", "(3,)", "(4,)"]),
    ("squeeze", [spec(1, 3)], {"axis": 1}, ["'squeeze'", "(1, 3)"]),
    ("expand_dims", [spec(3)], {"axis": 5}, ["'expand_dims'", "axis 5"]),
    ("getitem", [spec(3, 4)], {"index": (0, 0, 0)}, ["'getitem'", "(3, 4)"]),
    ("getitem", [spec(3, 4)], {"index": (("slice", 0, 2, 1), 7)}, ["'getitem'", "(3, 4)", "index 7"]),
    ("gather", [spec(3, 4), spec(2, dtype="float32")], {}, ["'gather'", "float32", "(2,)"]),
    ("pad", [spec(3, 4)], {"pad_width": ((1, 1), (1, 1), (1, 1))}, ["'pad'", "(3, 4)"]),
    ("pad", [spec(0, 4)], {"pad_width": ((1, 1), (0, 0)), "mode": "edge"}, ["'pad'", "(0, 4)"]),
    ("layer_norm", [spec(2, 3, 4), spec(3)], {}, ["'layer_norm'", "(3,)", "(2, 3, 4)"]),
    ("batch_norm", [spec(2, 3, 4), spec(4), spec(3), spec(3), spec(3)], {}, ["'batch_norm'", "(4,)", "(2, 3, 4)"]),
    ("conv2d", [spec(1, 3, 8, 8), spec(4, 2, 3, 3)], {}, ["'conv2d'", "(1, 3, 8, 8)", "(4, 2, 3, 3)"]),
    ("conv2d", [spec(1, 4, 8, 8), spec(6, 2, 3, 3)], {"groups": 4}, ["'conv2d'", "(1, 4, 8, 8)", "(6, 2, 3, 3)"]),
    ("conv2d", [spec(1, 3, 2, 2), spec(4, 3, 3, 3)], {}, ["'conv2d'", "(1, 3, 2, 2)"]),
    ("conv2d", [spec(1, 3, 8, 8), spec(4, 3, 3, 3), spec(3)], {}, ["'conv2d'", "(4, 3, 3, 3)", "(3,)"]),
    ("conv2d", [spec(3, 8, 8), spec(4, 3, 3, 3)], {}, ["'conv2d'", "(3, 8, 8)", "(4, 3, 3, 3)"]),
    ("max_pool2d", [spec(1, 3, 2, 2)], {"kernel_size": (3, 3)}, ["'max_pool2d'", "(1, 3, 2, 2)"]),
    ("avg_pool2d", [spec(1, 3, 8, 8)], {"kernel_size": (2, 2), "padding": (2, 0, 0, 0)}, ["'avg_pool2d'", "padding"]),
    ("global_avg_pool", [spec(2, 3)], {}, ["'global_avg_pool'", "(2, 3)"]),
    ("softmax", [spec(2, 3)], {"axis": 2}, ["'softmax'", "axis 2"]),
]


@pytest.mark.parametrize(("op", "specs", "attrs", "needles"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_shape_errors_name_the_op_and_the_shapes(op, specs, attrs, needles):
    # In a graph (the shape rule).
    g = Graph("bad")
    inputs = [g.placeholder(f"in{i}", s) for i, s in enumerate(specs)]
    with pytest.raises(gs.ShapeError) as info:
        g.add_node(op, inputs, attrs)
    for needle in needles:
        assert needle in str(info.value), f"{needle!r} missing from: {info.value}"

    # Eagerly, on arrays of those shapes (NumPy's own error is replaced by the op's).
    arrays = [RNG.standard_normal(s.shape).astype(s.dtype) for s in specs]
    with pytest.raises((gs.ShapeError, ValueError)) as info:
        gs.ops.op(op, *arrays, **attrs)
    assert f"'{op}'" in str(info.value)


def test_traced_shape_error_names_the_op_and_both_shapes():
    g = Graph("t")
    with tracing(g):
        a = Tensor(g.placeholder("a", spec(3, 4)), g)
        b = Tensor(g.placeholder("b", spec(5, 6)), g)
        with pytest.raises(gs.ShapeError, match=r"op 'matmul'.*\(3, 4\).*\(5, 6\)"):
            a @ b
        with pytest.raises(gs.ShapeError, match=r"op 'concat'.*\(3, 4\).*\(5, 6\)"):
            ops.concat([a, b])
        w = Tensor(g.placeholder("w", spec(8, 2, 3, 3)), g)
        x = Tensor(g.placeholder("x", spec(1, 3, 9, 9)), g)
        with pytest.raises(gs.ShapeError, match=r"op 'conv2d'.*\(1, 3, 9, 9\).*\(8, 2, 3, 3\)"):
            ops.conv2d(x, w)


def test_eager_wrapper_errors():
    x = RNG.standard_normal((2, 3, 5, 5)).astype(np.float32)
    with pytest.raises(gs.ShapeError, match=r"op 'conv2d'.*\(2, 3, 5, 5\).*\(4, 2, 3, 3\)"):
        ops.conv2d(x, np.ones((4, 2, 3, 3), np.float32))
    with pytest.raises(gs.ShapeError, match="padding"):
        ops.conv2d(x, np.ones((4, 3, 3, 3), np.float32), padding=(1, 2, 3))
    with pytest.raises(TypeError, match="stride"):
        ops.conv2d(x, np.ones((4, 3, 3, 3), np.float32), stride=1.5)
    with pytest.raises(gs.ShapeError, match="stride"):
        ops.conv2d(x, np.ones((4, 3, 3, 3), np.float32), stride=0)
    with pytest.raises(gs.ShapeError, match="max_pool2d"):
        ops.max_pool2d(x, 7)
    with pytest.raises(gs.ShapeError, match=r"op 'layer_norm'.*\(4,\).*\(2, 3, 5, 5\)"):
        ops.layer_norm(x, np.ones(4, np.float32))
    with pytest.raises(gs.ShapeError, match=r"op 'stack'.*\(2, 3, 5, 5\).*\(2, 3, 5, 4\)"):
        ops.stack([x, x[..., :4]])
    with pytest.raises(gs.ShapeError, match=r"op 'gather'.*axis 4 is out of range"):
        ops.gather(x, [0], axis=4)


# -- costs ----------------------------------------------------------------------------------------


def cost(op: str, specs: list[TensorSpec], **attrs):
    opdef = get_op(op)
    attrs = opdef.normalize_attrs(attrs)
    return opdef.estimate_cost(specs, opdef.infer(specs, attrs), attrs)


@pytest.mark.parametrize(("a", "b", "flops"), [
    ((64, 32), (32, 16), 2 * 64 * 16 * 32),
    ((5, 64, 32), (32, 16), 2 * 5 * 64 * 16 * 32),
    ((3, 1, 8, 4), (2, 4, 6), 2 * 3 * 2 * 8 * 6 * 4),
    ((7,), (7, 3), 2 * 3 * 7),
    ((7,), (7,), 2 * 7),
])
def test_matmul_flops_are_2mnk(a, b, flops):
    f, read, written = cost("matmul", [spec(*a), spec(*b)])
    assert f == flops
    assert read == 4 * (np.prod(a) + np.prod(b))
    assert written == get_op("matmul").infer([spec(*a), spec(*b)], {}).nbytes


@pytest.mark.parametrize(("x", "w", "attrs", "out_hw"), [
    ((8, 64, 56, 56), (64, 64, 3, 3), {"padding": (1, 1, 1, 1)}, (56, 56)),
    ((2, 3, 224, 224), (64, 3, 7, 7), {"stride": (2, 2), "padding": (3, 3, 3, 3)}, (112, 112)),
    ((1, 32, 10, 10), (32, 1, 3, 3), {"groups": 32}, (8, 8)),
    ((1, 8, 10, 12), (6, 4, 3, 2), {"groups": 2, "dilation": (2, 1), "stride": (1, 3)}, (6, 4)),
])
@pytest.mark.parametrize("bias", [False, True])
def test_conv2d_flops(x, w, attrs, out_hw, bias):
    specs = [spec(*x), spec(*w)] + ([spec(w[0])] if bias else [])
    f, read, written = cost("conv2d", specs, **attrs)
    n, o = x[0], w[0]
    ho, wo = out_hw
    expected = 2 * n * o * ho * wo * (x[1] // attrs.get("groups", 1)) * w[2] * w[3]
    assert f == expected + (n * o * ho * wo if bias else 0)
    assert read == sum(s.nbytes for s in specs)
    assert written == n * o * ho * wo * 4


def test_pool_and_norm_costs():
    x = spec(2, 3, 8, 8)
    f, read, written = cost("max_pool2d", [x], kernel_size=(2, 2), stride=(2, 2))
    assert (f, read, written) == (2 * 3 * 4 * 4 * 3, x.nbytes, 2 * 3 * 4 * 4 * 4)
    f, _, _ = cost("avg_pool2d", [x], kernel_size=(3, 3), stride=(1, 1), padding=(1, 1, 1, 1))
    assert f == 2 * 3 * 8 * 8 * 9
    assert cost("global_avg_pool", [x])[0] == x.size
    assert cost("layer_norm", [x])[0] == 8 * x.size
    c = spec(3)
    assert cost("batch_norm", [x, c, c, c, c])[0] == 2 * x.size + 4 * 3


def test_data_movement_and_view_costs():
    a, b = spec(4, 5), spec(6, 5)
    assert cost("concat", [a, b]) == (0, a.nbytes + b.nbytes, a.nbytes + b.nbytes)
    assert cost("stack", [a, a]) == (0, 2 * a.nbytes, 2 * a.nbytes)
    assert cost("pad", [a], pad_width=((1, 1), (0, 2))) == (0, a.nbytes, 6 * 7 * 4)
    idx = spec(3, dtype="int64")
    assert cost("gather", [a, idx]) == (0, idx.nbytes + 3 * 5 * 4, 3 * 5 * 4)
    for op, attrs in [("expand_dims", {"axis": 0}), ("squeeze", {}), ("getitem", {"index": (1,)}),
                      ("broadcast_to", {"shape": (3, 4, 5)}), ("reshape", {"shape": (20,)}), ("transpose", {})]:
        assert get_op(op).has(VIEW)
        assert cost(op, [a], **attrs) == (0, 0, 0)
    assert cost("add", [a, spec(5)]) == (20, a.nbytes + 20, a.nbytes)
    assert cost("exp", [a])[0] == 8 * 20


def test_view_group_is_exactly_the_numpy_view_ops():
    views = {name for name, op in all_ops().items() if op.has(VIEW)}
    assert views == {"expand_dims", "squeeze", "getitem", "broadcast_to", "reshape", "transpose", "identity"}


def test_graph_total_cost_adds_node_costs():
    g = Graph("net")
    x = g.placeholder("x", spec(2, 3, 16, 16))
    w = g.constant(RNG.standard_normal((8, 3, 3, 3)).astype(np.float32))
    y = g.add_node("conv2d", [x, w], {"padding": (1, 1, 1, 1)})
    z = g.add_node("max_pool2d", [y], {"kernel_size": (2, 2), "stride": (2, 2)})
    g.set_outputs([z])
    flops, _ = g.total_cost()
    assert flops == 2 * 2 * 8 * 16 * 16 * 3 * 9 + 2 * 8 * 8 * 8 * 3
