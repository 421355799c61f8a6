"""Type promotion follows NumPy's own rules (NEP 50): every case asserts that the traced result has
the dtype eager NumPy gives, and the same values."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special

import graphscope as gs


def make(rng: np.random.Generator, dtype: str, shape=(3, 4)) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        return rng.integers(1, 6, shape).astype(dt)  # small positive: no overflow, no division by zero
    return rng.standard_normal(shape).astype(dt)


# (id, function, input dtypes, NumPy's result dtype - asserted too, so the matrix documents the rules)
CASES = [
    # Python scalars are weak: they take the array's dtype when their kind fits.
    ("f32+pyfloat", lambda a: a + 1.5, ["float32"], "float32"),
    ("f16*pyfloat", lambda a: a * 2.5, ["float16"], "float16"),
    ("i32+pyint", lambda a: a + 2, ["int32"], "int32"),
    ("u8+pyint", lambda a: a + 200, ["uint8"], "uint8"),
    ("i8-pyint", lambda a: 3 - a, ["int8"], "int8"),
    ("i32+pyfloat", lambda a: a + 1.5, ["int32"], "float64"),
    ("i16*pyfloat", lambda a: a * 0.25, ["int16"], "float64"),
    ("bool+pyint", lambda a: a + 1, ["bool"], "int64"),
    ("bool*pyfloat", lambda a: a * 1.5, ["bool"], "float64"),
    ("f32+pybool", lambda a: a + True, ["float32"], "float32"),
    ("pyint**i8", lambda a: 2**a, ["int8"], "int8"),
    ("pyint/i8", lambda a: 1 / a, ["int8"], "float64"),
    # NumPy scalars and 0-d arrays are strong.
    ("f16*np.float32", lambda a: a * np.float32(2), ["float16"], "float32"),
    ("np.float64*f32", lambda a: np.float64(0.5) * a, ["float32"], "float64"),
    ("np.int64*i8", lambda a: np.int64(2) * a, ["int8"], "int64"),
    ("f32+0d_f64", lambda a: a + np.array(0.5), ["float32"], "float64"),
    ("f16+np.float16", lambda a: a + np.float16(1), ["float16"], "float16"),
    # Array with array.
    ("i32/i32", lambda a, b: a / b, ["int32", "int32"], "float64"),
    ("i8/i8", lambda a, b: a / b, ["int8", "int8"], "float64"),
    ("u8+i8", lambda a, b: a + b, ["uint8", "int8"], "int16"),
    ("i64+f32", lambda a, b: a + b, ["int64", "float32"], "float64"),
    ("i16+f32", lambda a, b: a + b, ["int16", "float32"], "float32"),
    ("i8+f16", lambda a, b: a + b, ["int8", "float16"], "float16"),
    ("f16*f32", lambda a, b: a * b, ["float16", "float32"], "float32"),
    ("bool+bool", lambda a, b: a + b, ["bool", "bool"], "bool"),
    ("bool+i8", lambda a, b: a + b, ["bool", "int8"], "int8"),
    ("f32@f64", lambda a, b: a @ b.T, ["float32", "float64"], "float64"),
    ("i32@f32", lambda a, b: a @ b.T, ["int32", "float32"], "float64"),
    ("i32//i32", lambda a, b: a // b, ["int32", "int32"], "int32"),
    ("i32%pyint", lambda a: a % 3, ["int32"], "int32"),
    ("f32//pyint", lambda a: a // 2, ["float32"], "float32"),
    ("i32**pyint", lambda a: a**2, ["int32"], "int32"),
    ("i32**pyfloat", lambda a: a**2.0, ["int32"], "float64"),
    ("maximum(i32,pyfloat)", lambda a: np.maximum(a, 2.5), ["int32"], "float64"),
    ("maximum(u8,i8)", lambda a, b: np.maximum(a, b), ["uint8", "int8"], "int16"),
    # Comparisons are bool, whatever the operands (even a Python int outside the array's range).
    ("f32<pyint", lambda a: a < 1, ["float32"], "bool"),
    ("i32==pyfloat", lambda a: a == 2.5, ["int32"], "bool"),
    ("i8<1000", lambda a: a < 1000, ["int8"], "bool"),
    ("u8>=-1", lambda a: a >= -1, ["uint8"], "bool"),
    ("f16!=f64", lambda a, b: a != b, ["float16", "float64"], "bool"),
    # Unary math on ints chooses the smallest float that holds them.
    ("sqrt(i32)", np.sqrt, ["int32"], "float64"),
    ("exp(i8)", np.exp, ["int8"], "float16"),
    ("sqrt(u8)", np.sqrt, ["uint8"], "float16"),
    ("tanh(i16)", np.tanh, ["int16"], "float32"),
    ("log(bool)", lambda a: np.log(a + 1.0), ["bool"], "float64"),
    ("erf(i32)", scipy.special.erf, ["int32"], "float64"),
    ("erf(f16)", scipy.special.erf, ["float16"], "float64"),
    ("abs(i8)", abs, ["int8"], "int8"),
    ("neg(u8)", lambda a: -a, ["uint8"], "uint8"),
    # Reductions.
    ("mean(i32)", np.mean, ["int32"], "float64"),
    ("mean(bool)", lambda a: a.mean(axis=0), ["bool"], "float64"),
    ("mean(f16)", lambda a: np.mean(a, axis=1), ["float16"], "float16"),
    ("sum(i32)", np.sum, ["int32"], "int64"),
    ("sum(i8)", lambda a: a.sum(axis=0), ["int8"], "int64"),
    ("sum(bool)", np.sum, ["bool"], "int64"),
    ("sum(f16)", np.sum, ["float16"], "float16"),
    ("max(i8)", np.max, ["int8"], "int8"),
    ("var(i32)", np.var, ["int32"], "float64"),
    ("std(f32)", lambda a: np.std(a, axis=0), ["float32"], "float32"),
    ("argmax(f16)", np.argmax, ["float16"], "int64"),
    ("mean(i32,dtype=f32)", lambda a: np.mean(a, dtype=np.float32), ["int32"], "float32"),
    ("sum(i8,dtype=i16)", lambda a: a.sum(dtype=np.int16), ["int8"], "int16"),
    # Selection, joining, clipping.
    ("where(c,i32,pyfloat)", lambda c, a: np.where(c, a, 0.5), ["bool", "int32"], "float64"),
    ("where(c,f32,pyint)", lambda c, a: np.where(c, a, 0), ["bool", "float32"], "float32"),
    ("where(c,i8,i16)", lambda c, a, b: np.where(c, a, b), ["bool", "int8", "int16"], "int16"),
    ("where(int_cond,f16,pyfloat)", lambda c, a: np.where(c - 3, a, 0.5), ["int64", "float16"], "float16"),
    ("clip(i32,pyfloat)", lambda a: np.clip(a, 0.5, 2.5), ["int32"], "float64"),
    ("clip(i32,pyint)", lambda a: np.clip(a, 2, 4), ["int32"], "int32"),
    ("clip(f32,np.float64)", lambda a: np.clip(a, np.float64(-0.5), 0.5), ["float32"], "float64"),
    ("concatenate(f32,i32)", lambda a, b: np.concatenate([a, b]), ["float32", "int32"], "float64"),
    ("stack(i8,u8)", lambda a, b: np.stack([a, b]), ["int8", "uint8"], "int16"),
    ("einsum(f32,f64)", lambda a, b: np.einsum("ij,kj->ik", a, b), ["float32", "float64"], "float64"),
    ("dot(f32,pyfloat)", lambda a: np.dot(a, 2.0), ["float32"], "float64"),
    # Logic.
    ("bool&bool", lambda a, b: a & b, ["bool", "bool"], "bool"),
    ("logical_and(i32,f32)", np.logical_and, ["int32", "float32"], "bool"),
    ("bool|pybool", lambda a: a | True, ["bool"], "bool"),
    # Casts.
    ("astype(f32->i8)", lambda a: (a * 3).astype(np.int8), ["float32"], "int8"),
    ("astype(i32->bool)", lambda a: a.astype(bool), ["int32"], "bool"),
]


@pytest.mark.parametrize("fn,dtypes,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_traced_dtype_is_numpy_dtype(fn, dtypes, expected, rng, same):
    args = [make(rng, dt) for dt in dtypes]
    eager = fn(*args)
    assert np.asarray(eager).dtype == np.dtype(expected)  # the rule itself, as NumPy applies it
    f = gs.function(fn)
    traced = f(*args)
    tol = 2e-3 if "float16" in (np.asarray(eager).dtype.name, *dtypes) else 1e-6
    same(traced, eager, rtol=tol, atol=tol)
    graph = f.get_graph(*args)
    assert graph.outputs[0].spec.dtype == np.dtype(expected)  # known statically, before running


def test_python_int_out_of_range_raises_like_numpy(rng):
    a = make(rng, "int8")
    with pytest.raises(OverflowError, match="out of bounds for int8"):
        a + 1000  # noqa: B018 - NumPy itself
    with pytest.raises(OverflowError, match=r"out of bounds for int8 \(op 'add' at .*test_trace_promotion.py:\d+\)"):
        gs.function(lambda x: x + 1000)(a)


def test_float16_scalar_weak_and_strong_values(rng, same):
    # The weak scalar is rounded to float16 exactly as NumPy rounds it.
    a = make(rng, "float16")
    same(gs.function(lambda x: x + 0.1)(a), a + 0.1, rtol=0, atol=0)
    same(gs.function(lambda x: x * 1e-4)(a), a * 1e-4, rtol=0, atol=0)
