"""Anything the tracer cannot follow raises a clear error naming the user's file and line: the
line of the offending expression in this test file, not a line inside graphscope or NumPy."""

from __future__ import annotations

import re

import numpy as np
import pytest

import graphscope as gs
from graphscope.trace.tensor import UnsupportedAttributeError

F32 = np.float32


def here(fn, offset: int = 0) -> str:
    """``this_file.py:<line>`` of ``fn``'s first line plus ``offset``, as a regex."""
    return re.escape(f"{__file__}:{fn.__code__.co_firstlineno + offset}")


def trace(fn, *args):
    return gs.function(fn).get_graph(*args)


@pytest.fixture
def x(rng):
    return rng.standard_normal((4, 6)).astype(F32)


# -- values the tracer does not know ----------------------------------------------------------------


def test_if_on_traced_value(x):
    def f(a):
        if a.sum() > 0:
            return a
        return -a

    with pytest.raises(gs.TracingError, match="Python bool.*np.where.* at " + here(f, 1) + "$"):
        trace(f, x)


@pytest.mark.parametrize("kind", ["while", "and", "not", "assert", "bool"])
def test_other_python_bool_uses(kind, x):
    def f(a):
        if kind == "while":
            while a.max() > 0: a = a - 1  # noqa: E701
        elif kind == "and":
            return (a > 0) and a  # line 4
        elif kind == "not":
            return not a.any()  # line 6
        elif kind == "assert":
            assert a.min() < 10  # line 8
        else:
            return bool(a.sum())  # line 10
        return a

    line = {"while": 2, "and": 4, "not": 6, "assert": 8, "bool": 10}[kind]
    with pytest.raises(gs.TracingError, match="as a Python bool.* at " + here(f, line)):
        trace(f, x)


@pytest.mark.parametrize("conversion,what", [
    (lambda a: float(a.sum()), r"float\(\) of a traced tensor"),
    (lambda a: int(a[0, 0]), r"int\(\) of a traced tensor"),
    (lambda a: a.sum().item(), r"\.item\(\)"),
    (lambda a: a.tolist(), r"\.tolist\(\)"),
    (lambda a: list(range(a.shape[0] + a.sum())), "as a Python int"),
    (lambda a: a.reshape(a.sum()), "as a Python int"),
    (lambda a: np.asarray(a), r"np.asarray\(\)/np.array\(\) of a traced tensor"),
    (lambda a: np.array([a, a]), r"np.asarray\(\)/np.array\(\).*np.stack"),
    (lambda a: np.sum([a, a]), r"np.asarray\(\)/np.array\(\)"),
    (lambda a: 1.0 in a, "'in' on a traced tensor"),
], ids=["float", "int", "item", "tolist", "range", "reshape_by_value", "asarray", "array_of_list", "sum_of_list", "in"])
def test_conversions_of_traced_values(conversion, what, x):
    with pytest.raises(gs.TracingError, match=what + ".* at " + here(conversion) + "$"):
        trace(conversion, x)


# -- functions and methods without an op ------------------------------------------------------------


@pytest.mark.parametrize("call,name", [
    (lambda a: np.linalg.svd(a), "np.linalg.svd"),
    (lambda a: np.linalg.inv(a[:, :4]), "np.linalg.inv"),
    (lambda a: np.fft.fft(a), "np.fft.fft"),
    (lambda a: np.cumsum(a, axis=0), "np.cumsum"),
    (lambda a: np.sort(a), "np.sort"),
    (lambda a: np.round(a, 2), "np.round"),
    (lambda a: np.isnan(a), "np.isnan"),
    (lambda a: np.log1p(a), "np.log1p"),
    (lambda a: np.fmax(a, 0), "np.fmax"),
    (lambda a: np.add.accumulate(a), r"np.add.accumulate"),
    (lambda a: np.subtract.reduce(a), r"np.subtract.reduce"),
    (lambda a: np.add.outer(a, a), r"np.add.outer"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_unsupported_numpy_function_is_named(call, name, x):
    with pytest.raises(gs.TracingError, match=f"cannot trace {name}.* at " + here(call) + "$"):
        trace(call, x)


@pytest.mark.parametrize("method", ["sort", "cumsum", "nonzero", "fill", "resize"])
def test_unsupported_ndarray_method_is_named(method, x):
    f = lambda a: getattr(a, method)()  # noqa: E731
    with pytest.raises(gs.TracingError, match=f"ndarray.{method} .* at " + here(f) + "$") as info:
        trace(f, x)
    assert isinstance(info.value, AttributeError)  # hasattr(t, "sort") stays False, as for any missing attribute
    assert isinstance(info.value, UnsupportedAttributeError)


def test_unknown_attribute_is_a_plain_attribute_error(x):
    with pytest.raises(AttributeError, match="no attribute 'not_an_ndarray_attr'"):
        trace(lambda a: a.not_an_ndarray_attr, x)


@pytest.mark.parametrize("call,what", [
    (lambda a: np.where(a > 0), r"np.where\(condition\) with one argument"),
    (lambda a: a[a > 0], "boolean-mask indexing"),
    (lambda a: a[np.array([True, False, True, False])], "boolean-mask indexing"),
    (lambda a: a[[0, 1], [1, 2]], "2 integer arrays in one subscript"),
    (lambda a: a[np.array([0.5])], "indices must be integers"),
    (lambda a: np.dot(a[None], a.T), r"np.dot of 3-d and 2-d operands .*\(1, 4, 6\) and \(6, 4\)"),
    (lambda a: np.sum(a, where=a > 0), r"np.sum\(\.\.\., where=\.\.\.\)"),
    (lambda a: np.max(a, initial=0.0), r"np.max\(\.\.\., initial=\.\.\.\)"),
    (lambda a: np.add(a, 1, where=a > 0), r"np.add\(\.\.\., where=\.\.\.\)"),
    (lambda a: np.einsum(a, [0, 1], [1]), "interleaved"),
    (lambda a: np.take(a, [0], axis=0, mode="wrap"), "mode='wrap'"),
    (lambda a: np.pad(a, 1, constant_values=((1, 2), (3, 4))), "different constant_values"),
    (lambda a: np.average(a, weights=np.ones(6)), "weights"),
    (lambda a: np.reshape(a, (6, 4), order="F"), "only C order"),
    (lambda a: a.astype(np.complex64), "dtype complex64 is not supported"),
    (lambda a: a.astype(np.int32) & 1, "'&' on a int32 operand"),
    (lambda a: ~a, "bitwise not"),
    (lambda a: np.bitwise_and(a > 0, 3), "only bool operands"),
    (lambda a: np.linalg.norm(a, ord=1), "only the 2-norm"),
], ids=lambda v: "" if callable(v) else re.sub(r"\W+", "_", v)[:30])
def test_unsupported_forms(call, what, x):
    with pytest.raises(gs.TracingError, match=what + ".* at " + here(call)):
        trace(call, x)


def test_result_dtype_graphs_cannot_carry(rng):
    a = rng.integers(0, 9, (3, 4)).astype(np.uint8)
    f = lambda v: v.sum()  # noqa: E731 - NumPy sums uint8 into uint64
    with pytest.raises(gs.TracingError, match="dtype uint64 is not supported.* at " + here(f)):
        trace(f, a)


# -- in-place updates -------------------------------------------------------------------------------


def test_out_argument_is_rejected(x):
    def f(a):
        return np.add(a, 1, out=a)

    with pytest.raises(gs.TracingError, match=r"np.add\(\.\.\., out=\.\.\.\).* at " + here(f, 1) + "$"):
        trace(f, x)


def test_out_argument_of_functions_is_rejected(x):
    buf = np.empty(6, F32)
    f = lambda a: np.sum(a, axis=0, out=buf)  # noqa: E731
    with pytest.raises(gs.TracingError, match=r"np.sum\(\.\.\., out=\.\.\.\).* at " + here(f)):
        trace(f, x)


def test_item_assignment_is_rejected(x):
    def f(a):
        a[0] = 1.0
        return a

    with pytest.raises(gs.TracingError, match="item assignment.* at " + here(f, 1) + "$"):
        trace(f, x)


def test_augmented_item_assignment_is_rejected(x):
    def f(a):
        a[1:, 0] += 1.0
        return a

    with pytest.raises(gs.TracingError, match="item assignment.* at " + here(f, 1) + "$"):
        trace(f, x)


def test_inplace_update_of_a_numpy_array_by_a_traced_value_is_rejected(x):
    acc = np.zeros((4, 6), F32)

    def f(a):
        nonlocal acc
        acc += a  # ndarray.__iadd__ -> np.add(acc, a, out=(acc,))
        return acc

    with pytest.raises(gs.TracingError, match=r"out=.* at " + here(f, 2) + "$"):
        trace(f, x)


# -- shapes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("call,what", [
    (lambda a: a + np.ones(4), r"op 'add': cannot broadcast shapes \(4, 6\) and \(4,\)"),
    (lambda a: a @ a, r"op 'matmul': inner dimensions differ: \(4, 6\) @ \(4, 6\)"),
    (lambda a: np.reshape(a, (5, 5)), r"op 'reshape': cannot reshape \(4, 6\)"),
    (lambda a: np.concatenate([a, a.T]), r"op 'concat'.*\(4, 6\).*\(6, 4\)"),
    (lambda a: np.einsum("ij,ij->i", a, a.T), r"op 'einsum'.*\(4, 6\), \(6, 4\)"),
    (lambda a: np.where(a > 0, a, np.ones(3)), r"op 'where': cannot broadcast shapes \(4, 6\) and \(4, 6\) and \(3,\)"),
    (lambda a: np.maximum(a, a[:3]), r"op 'maximum': cannot broadcast shapes \(4, 6\) and \(3, 6\)"),
    (lambda a: a.sum(axis=2), "op 'sum': axis 2 is out of range for a 2-d operand"),
    (lambda a: np.transpose(a, (0, 0)), r"op 'transpose'.*not a permutation"),
    (lambda a: np.tensordot(a, a, axes=([0], [1])), r"np.tensordot: summed axes \[0\] of \(4, 6\) and \[1\] of \(4, 6\)"),
], ids=["add", "matmul", "reshape", "concat", "einsum", "where", "maximum", "axis", "transpose", "tensordot"])
def test_shape_errors_name_op_shapes_and_line(call, what, x):
    with pytest.raises(gs.ShapeError, match=what + ".* at " + here(call)):
        trace(call, x)


def test_shape_error_message_in_full(x):
    f = lambda a: a * np.ones(4, F32)  # noqa: E731
    with pytest.raises(gs.ShapeError) as info:
        trace(f, x)
    assert str(info.value) == (f"op 'mul': cannot broadcast shapes (4, 6) and (4,) at {__file__}:"
                               f"{f.__code__.co_firstlineno} [operands: f32[4,6], f32[4]]")


def test_eager_shape_error_names_the_line():
    def f():
        return gs.ops.add(np.ones((2, 3)), np.ones(4))

    with pytest.raises(gs.ShapeError, match=r"op 'add': cannot broadcast shapes \(2, 3\) and \(4,\) at " + here(f, 1)):
        f()


# -- arguments and leaked tracers --------------------------------------------------------------------


def test_unsupported_argument_dtype_names_the_argument(x):
    f = gs.function(lambda a, b: a + b)
    with pytest.raises(gs.TracingError, match="argument 'b' has dtype complex128"):
        f(x, np.ones(6, np.complex128))
    with pytest.raises(gs.TracingError, match=r"argument 'a\[1\]' of type bytearray is neither an array nor a hashable"):
        gs.function(lambda a: a[0])([x, bytearray(b"ab")])


def test_leaked_tracer_is_reported_where_it_is_used(x):
    leaked = []

    @gs.function
    def f(a):
        leaked.append(a * 2)
        return a

    f(x)

    def later():
        return leaked[0] + 1

    with pytest.raises(gs.TracingError, match="leaked tracer.* at " + here(later, 1)):
        later()

    @gs.function
    def g(a):
        return a + leaked[0]

    with pytest.raises(gs.TracingError, match="leaked tracer"):
        g(x)
    with pytest.raises(gs.TracingError, match="traced tensor of another trace"):
        gs.function(lambda a: a)(leaked[0])


def test_error_inside_a_helper_names_the_helper_line(x):
    # The innermost user frame is reported: the helper's line, called from the traced function.
    def helper(a):
        return a.reshape(7, -1)

    def f(a):
        return helper(a) * 2

    with pytest.raises(gs.ShapeError, match="at " + here(helper, 1)):
        trace(f, x)


def test_trace_failure_leaves_no_cached_signature(x):
    calls = []

    @gs.function
    def f(a, fail):
        calls.append(fail)
        if fail:
            raise RuntimeError("user error")
        return a * 2

    with pytest.raises(RuntimeError, match="user error"):
        f(x, True)
    assert f.signatures() == [] and f.retraces == []
    np.testing.assert_array_equal(f(x, False), x * 2)
    assert len(f.signatures()) == 1 and f.retraces == []


def test_errors_inside_scipy_code_name_the_users_call(x):
    import scipy.special

    f = lambda a: scipy.special.softmax(a, axis=1)  # noqa: E731 - SciPy converts its input with asarray
    with pytest.raises(gs.TracingError, match=r"np.asarray\(\)/np.array\(\).* at " + here(f) + "$"):
        trace(f, x)


def test_printing_and_copying_traced_values(x):
    import copy

    seen = []

    def f(a):
        seen.append(f"{a}")
        b = copy.deepcopy({"t": a})["t"]
        assert b is a and copy.copy(a) is a
        return b * 2

    trace(f, x)
    assert re.fullmatch(r"<traced f32\[4,6\] %0 placeholder 'a'>", seen[0])
    g = lambda a: f"{a.sum():.3f}"  # noqa: E731
    with pytest.raises(gs.TracingError, match="formatting the value of a traced tensor.* at " + here(g) + "$"):
        trace(g, x)
