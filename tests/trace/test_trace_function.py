"""@gs.function: one trace per signature, explained retraces, and every way of passing arguments
and returning results."""

from __future__ import annotations

import re
import warnings
from collections import namedtuple

import numpy as np
import pytest

import graphscope as gs
from graphscope.trace.function import ArgumentChange

F32 = np.float32


def arr(rng, *shape, dtype=F32):
    return rng.standard_normal(shape).astype(dtype)


# -- caching per signature ---------------------------------------------------------------------------


def test_one_trace_per_signature(rng):
    traces = []

    @gs.function
    def f(x, scale):
        traces.append(1)
        return x * scale

    a, b = arr(rng, 4, 3), arr(rng, 4, 3)
    np.testing.assert_allclose(f(a, 2.0), a * 2.0)
    np.testing.assert_allclose(f(b, 2.0), b * 2.0)  # same shapes, dtypes and Python values: cached
    assert len(traces) == 1 and len(f.signatures()) == 1
    f(a.astype(np.float64), 2.0)  # dtype
    f(arr(rng, 5, 3), 2.0)  # shape
    f(a, 3.0)  # Python value
    f(a, np.float32(3.0))  # an array argument now: one more signature, then cached for any value
    np.testing.assert_allclose(f(a, np.float32(4.0)), a * 4.0)
    assert len(traces) == 5
    assert [str(s) for s in f.signatures()] == [
        "(x: f32[4,3], scale=2.0)", "(x: f64[4,3], scale=2.0)", "(x: f32[5,3], scale=2.0)",
        "(x: f32[4,3], scale=3.0)", "(x: f32[4,3], scale: f32[])",
    ]


def test_retraces_record_what_changed(rng):
    @gs.function(retrace_warning_after=100)
    def f(x, n, opts):
        return x * n + opts["bias"]

    a = arr(rng, 2, 3)
    f(a, 1, {"bias": 0.5})
    f(a.astype(np.float64), 1, {"bias": 0.5})
    f(arr(rng, 4, 3), 1, {"bias": 0.5})
    f(a, 2, {"bias": 0.5})
    f(a, 1, {"bias": np.float32(0.5)})
    f(a, 1, {"bias": 0.5, "extra": None})
    changes = [r.changes for r in f.retraces]
    assert changes == [
        (ArgumentChange("x", "dtype", "float32", "float64"),),
        (ArgumentChange("x", "shape", (2, 3), (4, 3)),),
        (ArgumentChange("n", "value", 1, 2),),
        (ArgumentChange("opts['bias']", "kind", "static", "array"),),
        (ArgumentChange("opts['extra']", "structure", "absent", "present"),),
    ]
    assert str(f.retraces[2]) == "n: value 1 -> 2"


def test_signature_of_python_values(rng):
    traces = []

    @gs.function(retrace_warning_after=100)
    def f(x, v):
        traces.append(v)
        return x + 1

    a = arr(rng, 3)
    for v in [1, 1.0, True, float("nan"), float("nan"), 0.0, -0.0, "s", None, (1, 2), (1, 2)]:
        f(a, v)
    # 1, 1.0 and True are different types; NaN matches NaN; 0.0 and -0.0 differ.
    assert len(traces) == 9
    assert len(f.signatures()) == 9


def test_signature_of_nested_arguments_and_placeholder_order(rng, op_names):
    @gs.function
    def f(params, xs):
        h = xs[0] @ params["w"] + params["b"]
        return h * xs[1]

    w, b = arr(rng, 3, 4), arr(rng, 4)
    x0, x1 = arr(rng, 2, 3), arr(rng, 2, 4)
    expected = (x0 @ w + b) * x1
    # Dict insertion order must not matter: inputs bind by path, not by iteration order.
    np.testing.assert_allclose(f({"w": w, "b": b}, [x0, x1]), expected, rtol=1e-6)
    np.testing.assert_allclose(f({"b": b, "w": w}, [x0, x1]), expected, rtol=1e-6)
    assert len(f.signatures()) == 1
    g = f.get_graph({"w": w, "b": b}, [x0, x1])
    assert [n.name for n in g.inputs] == ["params['b']", "params['w']", "xs[0]", "xs[1]"]
    np.testing.assert_allclose(gs.run(g, [b, w, x0, x1]).outputs[0], expected, rtol=1e-6)
    assert op_names(g) == ["matmul", "add", "mul"]
    f({"w": w, "b": b}, (x0, x1))  # a tuple is another structure than a list
    assert len(f.signatures()) == 2


def test_kwargs_defaults_varargs_and_keyword_only(rng):
    @gs.function
    def f(x, *rest, scale=2.0, shift, **named):
        out = x * scale + shift
        for r in rest:
            out = out + r
        for k in sorted(named):
            out = out - named[k]
        return out

    x, r1, r2, n1 = arr(rng, 3), arr(rng, 3), arr(rng, 3), arr(rng, 3)
    np.testing.assert_allclose(f(x, r1, r2, shift=0.5, k=n1), x * 2.0 + 0.5 + r1 + r2 - n1, rtol=1e-6)
    np.testing.assert_allclose(f(x, shift=1.5, scale=3.0), x * 3.0 + 1.5, rtol=1e-6)
    g = f.get_graph(x, r1, r2, shift=0.5, k=n1)
    assert [n.name for n in g.inputs] == ["x", "rest[0]", "rest[1]", "k"]
    # Defaults count as given: f(x, shift=s) and f(x, shift=s, scale=2.0) are one signature.
    f(x, shift=1.5)
    f(x, shift=1.5, scale=2.0)
    assert len(f.signatures()) == 3
    with pytest.raises(TypeError, match=r"f\(\): missing a required argument: 'shift'"):
        f(x)


def test_array_default_is_a_graph_input(rng):
    w0 = arr(rng, 3)

    @gs.function
    def f(x, w=w0, k=3):
        return x * w + k

    x = arr(rng, 3)
    np.testing.assert_allclose(f(x), x * w0 + 3, rtol=1e-6)
    g = f.get_graph(x)
    assert [n.name for n in g.inputs] == ["x", "w"]


def test_ufunc_like_signature_is_called_with_given_arguments_only(rng, same):
    # np.tanh's signature has defaults (dtype=None, signature=None) that it rejects when both are spelled out.
    f = gs.function(np.tanh)
    x = arr(rng, 4)
    same(f(x), np.tanh(x))


def test_methods_bind_self_by_identity(rng):
    class Layer:
        __hash__ = None  # unhashable on purpose: self is keyed by identity, not by value

        def __init__(self, w):
            self.w = w

        @gs.function
        def __call__(self, x):
            return np.maximum(x @ self.w, 0)

    l1, l2 = Layer(arr(rng, 3, 4)), Layer(arr(rng, 3, 4))
    x = arr(rng, 2, 3)
    np.testing.assert_allclose(l1(x), np.maximum(x @ l1.w, 0), rtol=1e-6)
    np.testing.assert_allclose(l2(x), np.maximum(x @ l2.w, 0), rtol=1e-6)
    np.testing.assert_allclose(l1(x), np.maximum(x @ l1.w, 0), rtol=1e-6)
    assert len(Layer.__call__.signatures()) == 2
    assert Layer.__call__.retraces[0].changes[0].path == "self"
    g = l1.__call__.get_graph(x)
    assert [n.name for n in g.inputs] == ["x"]  # self is static; its weight is a constant
    assert [n.op for n in g.nodes] == ["placeholder", "constant", "matmul", "constant", "maximum"]
    np.testing.assert_allclose(l1.__call__.python_function(x), np.maximum(x @ l1.w, 0), rtol=1e-6)


def test_method_retracing_warning_talks_about_objects(rng):
    class M:
        @gs.function(retrace_warning_after=2)
        def run(self, x):
            return x + 1

    x = arr(rng, 3)
    with pytest.warns(gs.RetracingWarning, match="argument 'self' changed object in 2 of them.*reuse one object"):
        for _ in range(3):
            M().run(x)


# -- outputs -------------------------------------------------------------------------------------------


Pair = namedtuple("Pair", "low high")


@pytest.mark.parametrize("make,expected_kind", [
    (lambda x: x * 2, np.ndarray),
    (lambda x: (x, x * 2), tuple),
    (lambda x: [x * 2, [x + 1]], list),
    (lambda x: {"b": x * 2, "a": (x + 1, 3)}, dict),
    (lambda x: Pair(x - 1, x + 1), Pair),
])
def test_output_structures(make, expected_kind, rng, same):
    x = arr(rng, 2, 3)
    out = gs.function(make)(x)
    assert type(out) is expected_kind
    same(out, make(x))


def test_returning_an_input_unchanged_and_constants(rng):
    @gs.function
    def f(x, y):
        return x, 7, "label", None, np.arange(3, dtype=np.int32), np.float32(2.5), y.shape

    x, y = arr(rng, 2), arr(rng, 4, 5)
    out = f(x, y)
    np.testing.assert_array_equal(out[0], x)
    assert out[1:4] == (7, "label", None) and out[6] == (4, 5)
    np.testing.assert_array_equal(out[4], np.arange(3, dtype=np.int32))
    assert out[5].dtype == F32 and out[5] == F32(2.5)
    g = f.get_graph(x, y)
    assert g.outputs[0] is g.inputs[0]
    assert [n.op for n in g.outputs] == ["placeholder", "constant", "constant"]


def test_same_tensor_returned_twice(rng):
    @gs.function
    def f(x):
        y = np.tanh(x)
        return y, y, {"again": y}

    x = arr(rng, 3)
    a, b, c = f(x)
    np.testing.assert_allclose(a, np.tanh(x), rtol=1e-6)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c["again"], a)


def test_python_constant_result_and_numpy_scalar_input(rng):
    f = gs.function(lambda x, k: x.shape[0] * k)
    assert f(arr(rng, 5, 2), 3) == 15
    g = gs.function(lambda s, x: s * x)
    x = arr(rng, 3)
    out = g(np.float64(2.0), x)
    assert out.dtype == np.float64  # a NumPy scalar is a strong f64 input
    np.testing.assert_allclose(out, 2.0 * x, rtol=1e-6)


def test_get_graph_traces_without_running_and_reuses_cache(rng):
    calls = []

    @gs.function
    def f(x):
        calls.append(1)
        return x + 1

    x = arr(rng, 3)
    g1 = f.get_graph(x)
    g2 = f.get_graph(x)
    assert g1 is g2 and len(calls) == 1
    np.testing.assert_allclose(f(x), x + 1)
    assert len(calls) == 1
    cf = f.get_concrete_function(x)
    assert cf.graph is g1 and cf.input_paths == ["x"]
    assert "1 traced signature" in repr(f)


def test_decorator_forms_and_name(rng):
    @gs.function(name="my_model", backend="numpy")
    def f(x):
        return x * 2

    assert f.get_graph(arr(rng, 2)).name == "my_model"
    assert f.__name__ == "f" and f.python_function(3) == 6
    assert gs.function(f).python_function is f.python_function  # wrapping twice does not nest


# -- the retracing warning ---------------------------------------------------------------------------


def test_retracing_warning_names_argument_and_fix(rng):
    @gs.function(retrace_warning_after=3)
    def step(x, lr):
        return x * lr

    x = arr(rng, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for lr in (0.1, 0.2, 0.3):  # 2 retraces: below the limit
            step(x, lr)
    with pytest.warns(gs.RetracingWarning) as record:
        step(x, 0.4)  # the 3rd retrace
    assert len(record) == 1
    message = str(record[0].message)
    assert "step was traced 4 times (3 retraces); argument 'lr' changed value in 3 of them" in message
    assert "lr: value 0.3 -> 0.4" in message
    assert "np.float32(lr)" in message
    assert record[0].filename == __file__  # points at the caller's line, not graphscope's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step(x, 0.5)  # warned once per function


def test_retracing_warning_for_shapes_uses_global_config(rng, monkeypatch):
    monkeypatch.setattr(gs.config, "retrace_warning_after", 2)

    @gs.function
    def f(x):
        return x.sum()

    with pytest.warns(gs.RetracingWarning, match=re.escape("argument 'x' changed shape in 2 of them") + ".*bucket"):
        for n in (1, 2, 3):
            f(arr(rng, n, 4))
    assert [str(r) for r in f.retraces] == ["x: shape (1, 4) -> (2, 4)", "x: shape (2, 4) -> (3, 4)"]


def test_retracing_warning_stacklevel_through_get_graph(rng):
    f = gs.function(lambda x: x + 1, retrace_warning_after=1)
    f.get_graph(arr(rng, 2))
    with pytest.warns(gs.RetracingWarning, match="dtype") as record:
        f.get_graph(arr(rng, 2).astype(np.float64))
    assert record[0].filename == __file__


def test_constant_results_are_fresh_writable_arrays(rng):
    @gs.function
    def f(x):
        return x + 1, np.zeros_like(x)[1:], np.arange(3.0)

    x = arr(rng, 4)
    _, zeros, ar = f(x)
    zeros[0] = 5.0  # writable, like NumPy's own result
    ar += 1
    _, zeros2, ar2 = f(x)
    np.testing.assert_array_equal(zeros2, np.zeros(3, F32))  # the graph's constants are untouched
    np.testing.assert_array_equal(ar2, np.arange(3.0))
    assert f.get_concrete_function(x).constant_outputs == (1, 2)
