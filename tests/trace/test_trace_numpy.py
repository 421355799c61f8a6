"""Unmodified NumPy code traces: every supported NumPy function, ufunc and ndarray method gives the
same dtype, shape and values as eager NumPy, and the graph holds the expected ops."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special

import graphscope as gs

F32 = np.float32


def mat(rng, *shape, dtype=F32):
    return rng.standard_normal(shape).astype(dtype)


# (id, function, argument shapes, ops the graph must hold in this order, without placeholders/constants)
CASES = [
    ("maximum_minimum", lambda a: np.minimum(np.maximum(a, 0.1), 0.7), [(4, 6)], ["maximum", "minimum"]),
    ("maximum_arrays", lambda a, b: np.maximum(a, b), [(4, 6), (6,)], ["maximum"]),
    ("tanh", np.tanh, [(4, 6)], ["tanh"]),
    ("exp", np.exp, [(4, 6)], ["exp"]),
    ("log", lambda a: np.log(np.abs(a) + 0.5), [(4, 6)], ["abs", "add", "log"]),
    ("sqrt", lambda a: np.sqrt(np.abs(a)), [(4, 6)], ["abs", "sqrt"]),
    ("abs_builtin", lambda a: abs(a), [(4, 6)], ["abs"]),
    ("square_power", lambda a: np.square(a) + np.power(a, 3) + a**2, [(4, 6)],
     ["square", "pow", "add", "pow", "add"]),
    ("negative_reciprocal", lambda a: np.negative(a) * np.reciprocal(a + 4.0), [(4, 6)],
     ["neg", "add", "reciprocal", "mul"]),
    ("sin_cos_floor_ceil_sign", lambda a: np.sin(a) + np.cos(a) + np.floor(a) + np.ceil(a) + np.sign(a), [(4, 6)],
     ["sin", "cos", "add", "floor", "add", "ceil", "add", "sign", "add"]),
    ("erf", scipy.special.erf, [(4, 6)], ["erf"]),
    ("expit", scipy.special.expit, [(4, 6)], ["sigmoid"]),
    ("sum_all", np.sum, [(4, 6)], ["sum"]),
    ("sum_axis_keepdims", lambda a: np.sum(a, axis=1, keepdims=True), [(4, 6)], ["sum"]),
    ("sum_axes_list", lambda a: np.sum(a, axis=(0, 2)), [(2, 3, 4)], ["sum"]),
    ("sum_dtype", lambda a: np.sum(a, dtype=np.float64), [(4, 6)], ["cast", "sum"]),
    ("mean", lambda a: np.mean(a, axis=0), [(4, 6)], ["mean"]),
    ("max_min", lambda a: (np.max(a), np.min(a, axis=-1), np.amax(a, axis=0, keepdims=True)), [(4, 6)],
     ["max", "min", "max"]),
    ("var_std", lambda a: (np.var(a), np.std(a, axis=1, ddof=1), np.var(a, axis=0, correction=1)), [(4, 6)],
     ["var", "std", "var"]),
    ("argmax_argmin", lambda a: (np.argmax(a), np.argmin(a, axis=1), np.argmax(a, axis=0, keepdims=True)), [(4, 6)],
     ["argmax", "argmin", "argmax"]),
    ("prod", lambda a: np.prod(a, axis=1), [(4, 3)], ["prod"]),
    ("all_any", lambda a: (np.all(a > -3), np.any(a > 1, axis=0)), [(4, 6)],
     ["greater", "min", "greater", "max"]),
    ("average", lambda a: np.average(a, axis=1), [(4, 6)], ["mean"]),
    ("add_reduce", lambda a: (np.add.reduce(a, axis=1), np.maximum.reduce(a)), [(4, 6)], ["sum", "max"]),
    ("concatenate", lambda a, b: np.concatenate([a, b], axis=1), [(4, 6), (4, 2)], ["concat"]),
    ("concatenate_none", lambda a, b: np.concatenate((a, b), axis=None), [(4, 6), (3,)],
     ["reshape", "reshape", "concat"]),
    ("concatenate_promotes", lambda a: np.concatenate([a, np.ones((1, 6))]), [(4, 6)], ["cast", "concat"]),
    ("stack", lambda a, b: np.stack([a, b], axis=-1), [(4, 6), (4, 6)], ["stack"]),
    ("hstack_vstack", lambda a, b: (np.hstack([a, b]), np.vstack([a, b])), [(4, 6), (4, 6)], ["concat", "concat"]),
    ("split", lambda a: np.split(a, 3, axis=1), [(4, 6)], ["getitem"] * 3),
    ("split_indices", lambda a: np.split(a, [1, 3]), [(4, 6)], ["getitem"] * 3),
    ("array_split", lambda a: np.array_split(a, 4, axis=1), [(4, 6)], ["getitem"] * 4),
    ("transpose", lambda a: (np.transpose(a), np.transpose(a, (1, 2, 0))), [(2, 3, 4)], ["transpose", "transpose"]),
    ("swapaxes", lambda a: np.swapaxes(a, 0, -1), [(2, 3, 4)], ["transpose"]),
    ("moveaxis", lambda a: (np.moveaxis(a, 0, -1), np.moveaxis(a, [0, 1], [-1, 0])), [(2, 3, 4)],
     ["transpose", "transpose"]),
    ("reshape", lambda a: (np.reshape(a, (3, -1)), np.reshape(a, 24), a.reshape(2, 12), a.reshape((6, 4))), [(4, 6)],
     ["reshape"] * 4),
    ("ravel_flatten", lambda a: (np.ravel(a), a.ravel(), a.flatten()), [(4, 6)], ["reshape"] * 3),
    ("expand_squeeze", lambda a: (np.expand_dims(a, 1), np.squeeze(a[:, None], axis=1), np.expand_dims(a, (0, 3))),
     [(4, 6)], ["expand_dims", "getitem", "squeeze", "expand_dims"]),
    ("atleast", lambda a: (np.atleast_1d(a[0, 0]), np.atleast_2d(a[0])), [(4, 6)],
     ["getitem", "reshape", "getitem", "reshape"]),
    ("einsum", lambda a, b: np.einsum("ij,jk->ik", a, b), [(4, 6), (6, 3)], ["einsum"]),
    ("einsum_spaces", lambda a: np.einsum("ij, ij -> i", a, a), [(4, 6)], ["einsum"]),
    ("matmul", lambda a, b: (np.matmul(a, b), a @ b), [(4, 6), (6, 3)], ["matmul", "matmul"]),
    ("matmul_batched", lambda a, b: np.matmul(a, b), [(2, 4, 6), (6, 3)], ["matmul"]),
    ("dot_2d_1d", lambda a, b: (np.dot(a, b), np.dot(b, b), a.dot(b)), [(4, 6), (6,)], ["matmul"] * 3),
    ("dot_scalar", lambda a: (np.dot(a, 2.0), np.dot(3, a)), [(4, 6)], ["mul", "mul"]),
    ("tensordot_int", lambda a, b: np.tensordot(a, b, axes=1), [(2, 3, 4), (4, 5)], ["reshape", "reshape", "matmul",
                                                                                       "reshape"]),
    ("tensordot_pairs", lambda a, b: np.tensordot(a, b, axes=([0, 2], [2, 0])), [(2, 3, 4), (4, 5, 2)],
     ["transpose", "transpose", "reshape", "reshape", "matmul", "reshape"]),
    ("outer", lambda a, b: np.outer(a, b), [(4,), (5,)], ["reshape", "reshape", "mul"]),
    ("where", lambda a, b: np.where(a > b, a, b * 2), [(4, 6), (4, 6)], ["greater", "mul", "where"]),
    ("where_scalars", lambda a: np.where(a > 0, a, 0.0), [(4, 6)], ["greater", "where"]),
    ("clip", lambda a: (np.clip(a, -0.5, 0.5), a.clip(0.0), np.clip(a, a_min=None, a_max=1)), [(4, 6)],
     ["clip", "clip", "clip"]),
    ("clip_array_bounds", lambda a, lo: np.clip(a, lo, 1.0), [(4, 6), (6,)], ["maximum", "minimum"]),
    ("take", lambda a: (np.take(a, [0, 2, 2], axis=1), np.take(a, 5), a.take([[1, 0]], axis=0)), [(4, 6)],
     ["gather", "reshape", "gather", "gather"]),
    ("pad", lambda a: (np.pad(a, 1), np.pad(a, ((0, 1), (2, 0)), constant_values=3.0), np.pad(a, 2, mode="edge")),
     [(4, 6)], ["pad", "pad", "pad"]),
    ("pad_reflect", lambda a: np.pad(a, ((1, 2), (3, 1)), mode="reflect"), [(4, 6)], ["pad"]),
    ("broadcast_to", lambda a: np.broadcast_to(a, (3, 4, 6)), [(4, 6)], ["broadcast_to"]),
    ("zeros_ones_full_like", lambda a: (np.zeros_like(a) + a, np.ones_like(a, dtype=np.int32), np.full_like(a, 2.5),
                                        np.empty_like(a, shape=(2, 2)) * 0),
     [(4, 6)], ["add", "mul"]),
    ("full_like_traced_fill", lambda a: np.full_like(a, a[0, 0]), [(4, 6)], ["getitem", "broadcast_to"]),
    ("astype", lambda a: (np.astype(a, np.float64), a.astype(np.int32), a.astype(F32)), [(4, 6)], ["cast", "cast"]),
    ("copy", lambda a: np.copy(a) + a.copy(), [(4, 6)], ["add"]),
    ("flip", lambda a: (np.flip(a), np.flip(a, 1)), [(4, 6)], ["getitem", "getitem"]),
    ("norm", lambda a: (np.linalg.norm(a), np.linalg.norm(a, axis=1)), [(4, 6)], ["mul", "sum", "sqrt", "mul", "sum",
                                                                                   "sqrt"]),
    ("shape_queries", lambda a: a.reshape(np.shape(a)[0] * np.ndim(a), np.size(a) // 8), [(4, 6)], ["reshape"]),
]


@pytest.mark.parametrize("fn,shapes,ops", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_numpy_function_traces_like_numpy(fn, shapes, ops, rng, check, op_names):
    args = [mat(rng, *s) for s in shapes]
    graph = check(fn, *args, rtol=2e-6, atol=2e-6)
    assert op_names(graph) == ops


# ndarray methods and protocol hooks on traced tensors ---------------------------------------------


METHOD_CASES = [
    ("T", lambda a: a.T, ["transpose"]),
    ("mT", lambda a: a.mT, ["transpose"]),
    ("transpose_args", lambda a: (a.transpose(2, 0, 1), a.transpose((1, 0, 2)), a.transpose()),
     ["transpose"] * 3),
    ("swapaxes", lambda a: a.swapaxes(0, 1), ["transpose"]),
    ("reductions", lambda a: (a.sum(), a.sum(axis=(0, 1)), a.mean(axis=-1, keepdims=True), a.max(axis=0),
                              a.min(), a.prod(axis=2), a.var(axis=1), a.std(ddof=1), a.argmax(axis=1),
                              a.argmin()),
     ["sum", "sum", "mean", "max", "min", "prod", "var", "std", "argmax", "argmin"]),
    ("all_any", lambda a: ((a > 0).all(axis=0), (a > 0).any()), ["greater", "min", "greater", "max"]),
    ("clip_squeeze", lambda a: (a.clip(-1, 1), a[:1].squeeze(0), a[:, :1, :1].squeeze()),
     ["clip", "getitem", "squeeze", "getitem", "squeeze"]),
    ("basic_indexing", lambda a: (a[0], a[-1, 1:, ::2], a[..., 1], a[None, :, 0], a[1, 2, 3], a[::-1], a[:, -2:]),
     ["getitem"] * 7),
    ("array_indexing", lambda a: (a[[0, 1, 0]], a[:, [2, 0]], a[..., np.array([3, 1])], a[1, [0, 0]],
                                  a[:, 1, [[0], [3]]]),
     ["gather", "gather", "gather", "getitem", "gather", "getitem", "gather"]),
    # An int and an index array apart from each other: NumPy puts the index dimensions first.
    ("array_indexing_split", lambda a: (a[1, :, [0, 0]], a[None, 1, :, [2]], a[np.int64(1), ..., [3, 0, 1]]),
     ["getitem", "gather", "transpose", "getitem", "gather", "transpose", "getitem", "gather", "transpose"]),
    ("iteration", lambda a: [row.sum() for row in a], ["getitem", "sum", "getitem", "sum"]),
    ("len_and_shape", lambda a: a.reshape(len(a) * a.shape[1], a.shape[2] * a.ndim // 3 * a.size // a.size),
     ["reshape"]),
    ("operators", lambda a: (-a, +a, a + 1, 1 - a, a * a, 2.0 / (a + 5), a // 0.3, a % 0.7, a**2, 2**a,
                             (a > 0) & (a < 1), (a > 0) | (a < -1), (a > 0) ^ (a < 1), ~(a > 0)),
     ["neg", "add", "sub", "mul", "add", "div", "floordiv", "mod", "pow", "pow",
      "greater", "less", "logical_and", "greater", "less", "logical_or", "greater", "less", "not_equal",
      "greater", "logical_not"]),
    ("comparisons", lambda a: (a < 0, a <= 0, a > 0, a >= 0, a == a, a != 0),
     ["less", "less_equal", "greater", "greater_equal", "equal", "not_equal"]),
    ("ndarray_on_left", lambda a: (np.ones(4, F32) + a, np.full((3, 4), 2.0, F32) @ a[0].T, np.float32(2) * a,
                                    np.arange(4.0) - a),
     ["add", "getitem", "transpose", "matmul", "mul", "sub"]),
]


@pytest.mark.parametrize("fn,ops", [c[1:] for c in METHOD_CASES], ids=[c[0] for c in METHOD_CASES])
def test_tensor_methods_trace_like_ndarray(fn, ops, rng, check, op_names):
    graph = check(fn, mat(rng, 2, 3, 4))
    assert op_names(graph) == ops


def test_inplace_operator_traces_as_functional_update(rng, check, op_names):
    def f(x):
        y = x * 2.0
        y += 1.0  # Tensor has no __iadd__: Python rebinds y to the new value y + 1.0
        y *= x
        return x, y

    graph = check(f, mat(rng, 4, 6))
    assert op_names(graph) == ["mul", "add", "mul"]
    assert graph.outputs[0] is graph.inputs[0]  # x itself is unchanged


def test_inplace_update_of_an_alias_is_not_followed(rng):
    # The one place traced code differs from eager NumPy: an in-place update seen through another name.
    def f(x):
        y = x
        y += 1.0
        return x

    x = mat(rng, 3)
    np.testing.assert_array_equal(gs.function(f)(x), x)  # eagerly, f would have changed x (and returned it)


def test_constants_are_shared_within_a_trace(rng, op_names):
    w = mat(rng, 6, 6)

    @gs.function
    def f(x):
        for _ in range(3):
            x = x @ w * 0.5 + 0.5  # the same weight array and the same scalars each time
        return x

    graph = f.get_graph(mat(rng, 2, 6))
    consts = [n for n in graph.nodes if n.op == "constant"]
    assert len(consts) == 2  # w and the f32 scalar 0.5 (its value is shared by '* 0.5' and '+ 0.5')
    assert sorted(c.spec.shape for c in consts) == [(), (6, 6)]
    assert op_names(graph) == ["matmul", "mul", "add"] * 3
    # The constant copies the array: editing it afterwards does not change the graph.
    before = gs.run(graph, [np.ones((2, 6), F32)]).outputs[0]
    w[:] = 0
    np.testing.assert_array_equal(gs.run(graph, [np.ones((2, 6), F32)]).outputs[0], before)


def test_ufunc_dtype_and_casting_kwargs(rng, check, op_names):
    x = mat(rng, 4, 6)
    graph = check(lambda a: np.add(a, 1, dtype=np.float64), x)
    assert op_names(graph) == ["cast", "add"]
    graph = check(lambda a: np.multiply(a, a, dtype=np.float16), x, rtol=1e-3)
    assert op_names(graph) == ["cast", "mul"]
    ints = rng.integers(1, 9, (4, 6)).astype(np.int32)
    check(lambda a: np.divide(a, 3, dtype=np.float32), ints)
    check(lambda a: np.sqrt(a, casting="unsafe"), ints)
    check(lambda a: np.float_power(a, 2), x)  # always float64 in NumPy
    check(lambda a: scipy.special.erf(a), ints)  # float64 for ints, as SciPy gives
    check(lambda a: np.fabs(a), ints)
    check(lambda a: np.positive(a), x)
    check(lambda a: np.logical_xor(a > 0, a < 0.5), x)
    check(lambda a: np.invert(a > 0), x)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.bool_])
def test_unary_and_binary_ufuncs_over_dtypes(dtype, rng, check):
    a = (rng.standard_normal((3, 5)) * 4).astype(dtype)
    b = (rng.standard_normal((5,)) * 4).astype(dtype)
    if np.dtype(dtype).kind in "iu":
        a, b = a % 5 + 1, b % 5 + 1  # positive: no division by zero or negative powers
    tol = 2e-3 if dtype == np.float16 else 1e-6
    if dtype != np.bool_:
        check(lambda x, y: (x + y, x - y, x * y, np.maximum(x, y), x / y, -x, abs(x), x**2), a, b, rtol=tol, atol=tol)
        check(lambda x: (np.exp(x.astype(np.float32) / 8), np.tanh(x), np.sqrt(abs(x))), a, rtol=tol, atol=tol)
    check(lambda x, y: (x == y, x < y, np.logical_and(x, y), np.logical_not(x), x.mean(), x.max(), x.argmin()), a, b,
          rtol=tol, atol=tol)
    if dtype != np.uint8:  # sum of uint8 is uint64 in NumPy, which graphs do not carry (tested in the error tests)
        check(lambda x: (x.sum(), x.sum(axis=0)), a, rtol=tol, atol=tol)


def test_nested_gs_function_calls_inline(rng, op_names):
    @gs.function
    def inner(x, scale):
        return np.tanh(x) * scale

    @gs.function
    def outer(x):
        return inner(x, 2.0) + inner(x * 3, 0.5)

    x = mat(rng, 4, 6)
    np.testing.assert_allclose(outer(x), np.tanh(x) * 2 + np.tanh(x * 3) * 0.5, rtol=1e-6)
    assert op_names(outer.get_graph(x)) == ["tanh", "mul", "mul", "tanh", "mul", "add"]
    assert inner.signatures() == []  # inlined, never traced on its own


def test_gs_ops_inside_traced_numpy_code(rng, check, op_names):
    def f(x):
        return gs.ops.softmax(np.maximum(x, 0), axis=-1), gs.ops.gelu(x, approximate="tanh")

    graph = gs.function(f).get_graph(mat(rng, 4, 6))
    assert op_names(graph) == ["maximum", "softmax", "gelu"]
