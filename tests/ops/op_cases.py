"""The op test cases: every op of the catalogue with random inputs and an independent NumPy reference.

``CASES`` is the table built from a fixed seed (what ``test_ops_catalogue.py`` runs, on every
backend); ``build_cases(seed)`` builds the same table on fresh random data (``benchmarks/gpu_check.py``
checks the GPU against it). ``assert_close`` compares with the per-dtype tolerances ``TOL``.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_SEED = 20240611
# build_cases() runs this module again with SEED preset in its namespace (fresh random data).
RNG = np.random.default_rng(globals().get("SEED", DEFAULT_SEED))
FLOATS = ("float16", "float32", "float64")
# (rtol, atol) per output dtype; integer and bool outputs must match exactly.
TOL = {"float16": (4e-3, 4e-3), "float32": (3e-5, 3e-6), "float64": (1e-11, 1e-12)}
NOT_TESTED_HERE = {"placeholder", "constant"}  # sources: filled by the runtime, not computed


@dataclass
class Case:
    op: str
    inputs: list[np.ndarray]
    ref: Callable[..., Any]  # ref(*inputs) -> the expected array
    attrs: dict[str, Any] = field(default_factory=dict)
    dtype: str | None = None  # expected output dtype (default: the reference's dtype)
    tol: float = 1.0  # multiplies the dtype tolerance (sums over many terms need more in float16)
    label: str = ""

    @property
    def id(self) -> str:
        shapes = ",".join("x".join(map(str, a.shape)) or "scalar" for a in self.inputs)
        dts = ",".join(sorted({a.dtype.name for a in self.inputs}))
        return f"{self.op}[{self.label or shapes}:{dts}]"


CASES: list[Case] = []


def case(op: str, *inputs: np.ndarray, ref: Callable[..., Any], dtype: str | None = None, tol: float = 1.0,
         label: str = "", attrs: dict[str, Any] | None = None, **kw_attrs: Any) -> None:
    """One case; the op's attributes come as keywords (or in ``attrs`` when a name clashes, e.g. cast's dtype)."""
    CASES.append(Case(op, [np.asarray(a) for a in inputs], ref, {**(attrs or {}), **kw_attrs}, dtype, tol, label))


# -- random data (never zeros) --------------------------------------------------------------------


def randn(*shape: int, dtype: str = "float32") -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def pos(*shape: int, dtype: str = "float32") -> np.ndarray:
    return RNG.uniform(0.5, 3.0, shape).astype(dtype)


def ints(*shape: int, dtype: str = "int32", lo: int = -9, hi: int = 10) -> np.ndarray:
    return RNG.integers(lo, hi, shape).astype(dtype)


def nonzero_ints(*shape: int, dtype: str = "int32") -> np.ndarray:
    v = RNG.integers(1, 8, shape) * RNG.choice([-1, 1], shape)
    return v.astype(dtype)


def bools(*shape: int) -> np.ndarray:
    return RNG.random(shape) < 0.5


def f64(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Reference computed in float64, returned in the dtype NumPy itself gives for the real inputs."""

    def ref(*arrays: np.ndarray) -> np.ndarray:
        want = np.asarray(fn(*arrays)).dtype
        return np.asarray(fn(*(a.astype(np.float64) for a in arrays))).astype(want)

    return ref


# -- elementwise ----------------------------------------------------------------------------------

BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide, "maximum": np.maximum,
    "minimum": np.minimum,
}
for op, fn in BINARY.items():
    for dt in FLOATS:
        case(op, randn(3, 4, dtype=dt), randn(3, 4, dtype=dt), ref=f64(fn))
    case(op, randn(2, 3, 4), randn(4, dtype="float64"), ref=f64(fn), label="broadcast")
    case(op, randn(3, 1, 5, dtype="float16"), randn(4, 1, dtype="float32"), ref=f64(fn), label="broadcast2")
    case(op, nonzero_ints(3, 4), nonzero_ints(1, 4, dtype="int8"), ref=fn if op != "div" else f64(fn), label="ints")
    case(op, randn(3, 4), np.array(1.5, dtype="float32"), ref=f64(fn), label="0d")

for op, fn in {"floordiv": np.floor_divide, "mod": np.remainder}.items():
    case(op, ints(3, 5, lo=-50, hi=50), nonzero_ints(3, 5), ref=fn)
    case(op, ints(2, 3, 5, dtype="int64"), nonzero_ints(5, dtype="int16"), ref=fn, label="broadcast")
    for dt in FLOATS:
        case(op, randn(4, 5, dtype=dt) * 10, pos(4, 5, dtype=dt), ref=fn, tol=4)

for dt in FLOATS:
    case("pow", pos(3, 4, dtype=dt), randn(3, 4, dtype=dt), ref=f64(np.power))
case("pow", ints(3, 4, lo=1, hi=5), ints(4, lo=0, hi=4), ref=np.power, label="ints")

COMPARE = {
    "equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal,
}
for op, fn in COMPARE.items():
    case(op, ints(4, 5, lo=0, hi=3), ints(4, 5, lo=0, hi=3), ref=fn, label="ints")
    case(op, randn(3, 4), randn(4, dtype="float64"), ref=fn, label="broadcast")
    case(op, ints(2, 3, lo=0, hi=3, dtype="int8").astype("float16"), ints(3, lo=0, hi=3, dtype="int64"), ref=fn, label="mixed")

for op, fn in {"logical_and": np.logical_and, "logical_or": np.logical_or}.items():
    case(op, bools(3, 4), bools(3, 4), ref=fn)
    case(op, bools(2, 3, 4), bools(4), ref=fn, label="broadcast")
    case(op, randn(3, 4), bools(3, 4), ref=fn, label="float")
case("logical_not", bools(3, 4), ref=np.logical_not)
case("logical_not", randn(3, 4), ref=np.logical_not, label="float")

UNARY = {
    "neg": (np.negative, randn), "abs": (np.absolute, randn), "sign": (np.sign, randn), "exp": (np.exp, randn),
    "log": (np.log, pos), "sqrt": (np.sqrt, pos), "square": (np.square, randn), "reciprocal": (np.reciprocal, pos),
    "tanh": (np.tanh, randn), "sin": (np.sin, randn), "cos": (np.cos, randn), "floor": (np.floor, randn),
    "ceil": (np.ceil, randn),
}
for op, (fn, gen) in UNARY.items():
    for dt in FLOATS:
        case(op, gen(3, 5, dtype=dt) * (3 if op in ("floor", "ceil", "sign") else 1), ref=f64(fn))
    case(op, gen(2, 3, 4, dtype="int32") + 2 if gen is pos else ints(2, 3, 4), ref=f64(fn), label="ints")

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu_ref(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    x = x.astype(np.float64)
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


for dt in FLOATS:
    case("rsqrt", pos(3, 4, dtype=dt), ref=lambda x: 1 / np.sqrt(x.astype(np.float64)), dtype=dt)
    case("sigmoid", randn(3, 4, dtype=dt) * 4, ref=lambda x: 1 / (1 + np.exp(-x.astype(np.float64))), dtype=dt)
    case("relu", randn(3, 4, dtype=dt), ref=lambda x: np.where(x > 0, x, 0).astype(x.dtype))
    case("erf", randn(3, 4, dtype=dt), ref=lambda x: _erf(x.astype(np.float64)), dtype=dt)
    case("gelu", randn(3, 4, dtype=dt) * 2, ref=_gelu_ref, dtype=dt)
    case("gelu", randn(3, 4, dtype=dt) * 2, ref=lambda x: _gelu_ref(x, "tanh"), dtype=dt, approximate="tanh", label="tanh")
case("rsqrt", ints(3, 4, lo=1, hi=50), ref=lambda x: 1 / np.sqrt(x.astype(np.float64)), dtype="float64", label="ints")
case("sigmoid", ints(3, 4), ref=lambda x: 1 / (1 + np.exp(-x.astype(np.float64))), dtype="float64", label="ints")
case("sigmoid", ints(3, 4, dtype="int8"), ref=lambda x: 1 / (1 + np.exp(-x.astype(np.float64))), dtype="float16", label="int8")
case("relu", ints(3, 4), ref=lambda x: np.where(x > 0, x, 0).astype(x.dtype), label="ints")
case("erf", ints(3, 4, lo=-3, hi=3, dtype="int64"), ref=lambda x: _erf(x.astype(np.float64)), dtype="float64", label="ints")
case("gelu", ints(3, 4, lo=-3, hi=3, dtype="int64"), ref=_gelu_ref, dtype="float64", label="ints")
# 0-d values (a ufunc returns a NumPy scalar for them, so in-place steps need an array of their own).
case("sigmoid", randn(dtype="float32") * 4, ref=lambda x: 1 / (1 + np.exp(-x.astype(np.float64))), dtype="float32",
     label="0-d")
case("gelu", randn(dtype="float32") * 2, ref=lambda x: _gelu_ref(x, "tanh"), dtype="float32", approximate="tanh",
     label="0-d-tanh")

for dt in FLOATS:
    case("where", bools(3, 4), randn(3, 4, dtype=dt), randn(3, 4, dtype=dt), ref=np.where)
case("where", bools(3, 1), randn(1, 4), randn(2, 1, 1, dtype="float64"), ref=np.where, label="broadcast")
case("where", bools(4), ints(3, 4), randn(4, dtype="float16"), ref=np.where, label="mixed")

for dt in FLOATS:
    case("clip", randn(4, 5, dtype=dt), ref=lambda x: np.minimum(np.maximum(x, -0.5), 0.75).astype(x.dtype), min=-0.5, max=0.75)
case("clip", randn(4, 5), ref=lambda x: np.maximum(x, 0.1).astype(x.dtype), min=0.1, label="min-only")
case("clip", ints(4, 5), ref=lambda x: np.minimum(x, 3), max=3, label="ints")
case("clip", ints(4, 5), ref=lambda x: np.minimum(np.maximum(x, 0.5), 2.5), min=0.5, max=2.5, dtype="float64",
     label="int-to-float")
case("clip", randn(3, 2), ref=lambda x: x.copy(), label="no-bounds")

for src, dst in [("float32", "float16"), ("float64", "int32"), ("int32", "float64"), ("float32", "bool"), ("bool", "float32")]:
    x = bools(3, 4) if src == "bool" else (randn(3, 4, dtype=src) * 10).astype(src)
    case("cast", x, ref=lambda x, dst=dst: x.astype(dst), dtype=dst, attrs={"dtype": dst})

# -- reductions -----------------------------------------------------------------------------------

REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod, "var": np.var, "std": np.std}
AXES = [(None, False), (1, False), (-1, True), ((0, 2), False), ((-3, -1), True), (0, True)]
for op, fn in REDUCE.items():
    gen = pos if op == "prod" else randn
    for axis, keep in AXES:
        case(op, gen(3, 4, 5), ref=f64(lambda x, fn=fn, axis=axis, keep=keep: fn(x, axis=axis, keepdims=keep)),
             axis=axis, keepdims=keep, label=f"axis={axis},keepdims={keep}")
    for dt in ("float16", "float64"):
        case(op, gen(6, 7, dtype=dt), ref=f64(lambda x, fn=fn: fn(x, axis=0)), axis=0, tol=2, label=f"axis=0:{dt}")
    case(op, ints(3, 4, lo=1, hi=4, dtype="int16"), ref=lambda x, fn=fn: fn(x, axis=1), axis=1, label="ints")
    case(op, gen(0, 4), ref=lambda x, fn=fn: fn(x, axis=1), axis=1, label="empty-batch")
for op in ("var", "std"):
    case(op, randn(5, 6), ref=f64(lambda x, fn=REDUCE[op]: fn(x, axis=-1, ddof=1)), axis=-1, ddof=1, label="ddof=1")
case("sum", bools(3, 4), ref=lambda x: np.sum(x, axis=0), axis=0, label="bool")

for op, fn in {"argmax": np.argmax, "argmin": np.argmin}.items():
    for axis, keep in [(None, False), (1, False), (-1, True), (None, True)]:
        case(op, randn(3, 4, 5), ref=lambda x, fn=fn, axis=axis, keep=keep: fn(x, axis=axis, keepdims=keep),
             axis=axis, keepdims=keep, label=f"axis={axis},keepdims={keep}")
    case(op, ints(4, 6, dtype="int8"), ref=lambda x, fn=fn: fn(x, axis=0), axis=0, label="ints")
    case(op, randn(0, 4), ref=lambda x, fn=fn: fn(x, axis=1), axis=1, label="empty-batch")

# -- linear algebra -------------------------------------------------------------------------------


def _matmul_ref(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    want = np.result_type(a, b)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    a2 = a64[None] if a.ndim == 1 else a64
    b2 = b64[:, None] if b.ndim == 1 else b64
    out = np.einsum("...mk,...kn->...mn", a2, b2)
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out.astype(want)


for dt in FLOATS:
    case("matmul", randn(5, 7, dtype=dt), randn(7, 3, dtype=dt), ref=_matmul_ref, tol=3)
case("matmul", randn(2, 1, 4, 6), randn(3, 6, 5), ref=_matmul_ref, label="batch-broadcast")
case("matmul", randn(6), randn(2, 6, 3, dtype="float64"), ref=_matmul_ref, label="1d-left")
case("matmul", randn(4, 6), randn(6), ref=_matmul_ref, label="1d-right")
case("matmul", randn(6), randn(6), ref=_matmul_ref, label="dot")
case("matmul", ints(3, 4), ints(4, 2), ref=_matmul_ref, label="ints")

case("einsum", randn(3, 4), randn(4, 5), ref=lambda a, b: (a.astype(np.float64) @ b).astype(np.float32), equation="ij,jk->ik")
case("einsum", randn(2, 3, 4, dtype="float64"), randn(2, 4, 5, dtype="float64"),
     ref=lambda a, b: np.stack([a[i] @ b[i] for i in range(2)]), equation="bij,bjk->bik", label="batched")
case("einsum", randn(4, 4), ref=lambda a: np.float32(sum(a[i, i] for i in range(4))), equation="ii->", label="trace")
case("einsum", randn(2, 3, 4), ref=lambda a: a.transpose(0, 2, 1), equation="...ij->...ji", label="ellipsis")
case("einsum", randn(3, 4), randn(5, 4), ref=lambda a, b: (a @ b.T).astype(np.float32), equation="ij,kj", label="implicit")

# -- shape and data movement ----------------------------------------------------------------------

for dt in ("float16", "int64", "bool"):
    x = bools(2, 3, 4) if dt == "bool" else randn(2, 3, 4).astype(dt)
    case("reshape", x, ref=lambda x: x.reshape(6, 4), shape=(6, 4), label=f"6x4:{dt}")
case("reshape", randn(2, 3, 4), ref=lambda x: x.reshape(4, -1), shape=(4, -1), label="infer-dim")
case("reshape", randn(1), ref=lambda x: x.reshape(()), shape=(), label="to-0d")
case("transpose", randn(2, 3, 4), ref=lambda x: x.transpose(1, 2, 0), perm=(1, 2, 0))
case("transpose", randn(2, 3, 4), ref=lambda x: x.T, label="reverse")
case("transpose", randn(2, 3, 4), ref=lambda x: x.transpose(2, 0, 1), perm=(-1, 0, 1), label="negative")

case("expand_dims", randn(3, 4), ref=lambda x: x[None], axis=0)
case("expand_dims", randn(3, 4), ref=lambda x: x[..., None], axis=-1, label="negative")
case("expand_dims", randn(3, 4), ref=lambda x: x[None, :, None, :, None], axis=(0, 2, 4), label="tuple")
case("expand_dims", ints(3), ref=lambda x: x[:, None, None], axis=(-1, -2), label="tuple-negative")

case("squeeze", randn(1, 3, 1, 4), ref=lambda x: x.reshape(3, 4), label="all")
case("squeeze", randn(1, 3, 1, 4), ref=lambda x: x[:, :, 0], axis=2, label="one")
case("squeeze", randn(1, 3, 1, 1), ref=lambda x: x[0, :, :, 0], axis=(0, -1), label="tuple-negative")
case("squeeze", randn(1, 1), ref=lambda x: x.reshape(()), label="to-0d")

case("broadcast_to", randn(3, 1), ref=lambda x: np.tile(x, (2, 1, 4)), shape=(2, 3, 4))
case("broadcast_to", ints(4), ref=lambda x: np.tile(x, (3, 1)), shape=(3, 4), label="prepend")
case("broadcast_to", np.array(2.5, dtype="float16"), ref=lambda x: np.full((2, 2), x), shape=(2, 2), label="scalar")

# getitem: the stored (canonical) index next to the Python index it stands for.
GETITEM = [
    ((1,), np.s_[1]),
    ((-1,), np.s_[-1]),
    ((("slice", 1, None, None),), np.s_[1:]),
    ((("slice", None, None, -1),), np.s_[::-1]),
    ((("slice", 0, 4, 1), ("slice", 4, 0, -2)), np.s_[:, 4:0:-2]),
    ((("slice", -2, None, None), 2), np.s_[-2:, 2]),
    ((None, 0, None), np.s_[None, 0, None]),
    ((0, 1, 2), np.s_[0, 1, 2]),
    ((("slice", 5, 10, 1),), np.s_[5:10]),
    ((("slice", 3, None, -2), ("slice", None, None, None), -3), np.s_[3::-2, :, -3]),
    ((), np.s_[()]),
]
for index, py in GETITEM:
    case("getitem", randn(4, 5, 6), ref=lambda x, py=py: x[py], index=index, label=repr(index))
case("getitem", ints(4, 5, 6, dtype="int8"), ref=lambda x: x[1:3, None, ::2],
     index=(("slice", 1, 3, 1), None, ("slice", 0, 5, 2)), label="int8")

for dt in ("float16", "float32", "int32"):
    case("concat", randn(2, 3).astype(dt), randn(4, 3).astype(dt), ref=lambda *a: np.concatenate(a, axis=0), label=dt)
case("concat", randn(2, 3, 4), randn(2, 1, 4), randn(2, 2, 4), ref=lambda *a: np.concatenate(a, axis=1), axis=1, label="three")
case("concat", randn(2, 3), randn(2, 2, dtype="float64"), ref=lambda *a: np.concatenate(a, axis=-1), axis=-1, label="promote")
case("concat", ints(5), ref=lambda a: a.copy(), label="single")
for dt in ("float16", "float64", "bool"):
    xs = [bools(3, 4) if dt == "bool" else randn(3, 4).astype(dt) for _ in range(3)]
    case("stack", *xs, ref=lambda *a: np.stack(a), label=dt)
case("stack", randn(3, 4), randn(3, 4), ref=lambda *a: np.stack(a, axis=-1), axis=-1, label="last")
case("stack", randn(3, 4), ints(3, 4), ref=lambda *a: np.stack(a, axis=1), axis=1, label="mixed")
case("stack", np.array(1.0), np.array(2.0), ref=lambda *a: np.array([1.0, 2.0]), label="scalars")

case("gather", randn(5, 3), np.array([4, 0, 0, 2]), ref=lambda x, i: x[i])
case("gather", randn(2, 5, 3, dtype="float16"), np.array([[1, -1], [0, 3]], dtype="int32"),
     ref=lambda x, i: x[:, i % 5], axis=1, label="2d-indices-negative")
case("gather", ints(3, 4, dtype="int64"), np.array(2, dtype="uint8"), ref=lambda x, i: x[..., 2], axis=-1, label="0d-index")

case("pad", randn(3, 4), ref=lambda x: np.pad(x, ((1, 2), (0, 3))), pad_width=((1, 2), (0, 3)))
case("pad", randn(2, 3, dtype="float64"), ref=lambda x: np.pad(x, ((2, 1), (1, 1)), constant_values=-1.5),
     pad_width=((2, 1), (1, 1)), constant_value=-1.5, label="value")
case("pad", ints(3, 4), ref=lambda x: np.pad(x, ((1, 1), (2, 0)), mode="edge"), pad_width=((1, 1), (2, 0)), mode="edge",
     label="edge")
case("pad", randn(3, 4, dtype="float16"), ref=lambda x: np.pad(x, ((2, 1), (3, 3)), mode="reflect"),
     pad_width=((2, 1), (3, 3)), mode="reflect", label="reflect")

# -- neural-network ops ---------------------------------------------------------------------------


def _softmax_ref(x: np.ndarray, axis: int = -1, log: bool = False) -> np.ndarray:
    x = x.astype(np.float64)
    s = x - x.max(axis=axis, keepdims=True)
    lse = np.log(np.exp(s).sum(axis=axis, keepdims=True))
    return s - lse if log else np.exp(s - lse)


for op, log in (("softmax", False), ("log_softmax", True)):
    for dt in FLOATS:
        case(op, randn(3, 7, dtype=dt) * 3, ref=lambda x, log=log: _softmax_ref(x, log=log), dtype=dt)
    case(op, randn(3, 4, 5), ref=lambda x, log=log: _softmax_ref(x, 1, log), dtype="float32", axis=1, label="axis=1")
    case(op, randn(3, 4, 5), ref=lambda x, log=log: _softmax_ref(x, 0, log), dtype="float32", axis=-3, label="axis=-3")
    case(op, ints(3, 5), ref=lambda x, log=log: _softmax_ref(x, log=log), dtype="float64", label="int32")
    case(op, ints(3, 5, lo=0, hi=9, dtype="uint8"), ref=lambda x, log=log: _softmax_ref(x, log=log), dtype="float16",
         label="uint8")


def _layer_norm_ref(x: np.ndarray, gamma=None, beta=None, axis: int = -1, eps: float = 1e-5) -> np.ndarray:
    """A loop over the rows of the (outer, inner) view, statistics by explicit sums."""
    ax = axis % x.ndim
    inner = int(np.prod(x.shape[ax:]))
    rows = x.astype(np.float64).reshape(-1, inner)
    out = np.empty_like(rows)
    for r in range(rows.shape[0]):
        row = rows[r]
        mu = row.sum() / inner
        var = ((row - mu) ** 2).sum() / inner
        out[r] = (row - mu) / math.sqrt(var + eps)
    out = out.reshape(x.shape)
    if gamma is not None:
        out = out * gamma.astype(np.float64)
    if beta is not None:
        out = out + beta.astype(np.float64)
    return out


for dt in FLOATS:
    case("layer_norm", randn(4, 6, dtype=dt) * 2 + 1, randn(6, dtype=dt), randn(6, dtype=dt),
         ref=_layer_norm_ref, dtype=dt, label=f"gamma-beta:{dt}")
case("layer_norm", randn(2, 3, 4, 5), ref=lambda x: _layer_norm_ref(x, axis=1), dtype="float32", axis=1, label="axis=1")
case("layer_norm", randn(2, 3, 4, 5), randn(4, 1), ref=lambda x, g: _layer_norm_ref(x, g, axis=-2), dtype="float32",
     axis=-2, label="gamma-broadcast")
case("layer_norm", randn(3, 8, dtype="float64"), randn(8), ref=lambda x, g: _layer_norm_ref(x, g, eps=1e-3), dtype="float64",
     epsilon=1e-3,
     label="eps-mixed")
case("layer_norm", ints(3, 8), ref=_layer_norm_ref, dtype="float64", label="ints")


def _batch_norm_ref(x, scale, bias, mean, var, eps: float = 1e-5) -> np.ndarray:
    out = np.empty(x.shape, dtype=np.float64)
    for c in range(x.shape[1]):
        normalized = (x[:, c].astype(np.float64) - float(mean[c])) / math.sqrt(float(var[c]) + eps)
        out[:, c] = normalized * float(scale[c]) + float(bias[c])
    return out


def _bn_inputs(shape: tuple[int, ...], dt: str, pdt: str | None = None) -> list[np.ndarray]:
    c = shape[1]
    pdt = pdt or dt
    return [randn(*shape, dtype=dt), randn(c, dtype=pdt), randn(c, dtype=pdt), randn(c, dtype=pdt), pos(c, dtype=pdt)]


for dt in FLOATS:
    case("batch_norm", *_bn_inputs((2, 3, 4, 5), dt), ref=_batch_norm_ref, dtype=dt)
case("batch_norm", *_bn_inputs((4, 6), "float32"), ref=_batch_norm_ref, dtype="float32", label="2d")
case("batch_norm", *_bn_inputs((2, 3, 4), "float16", "float32"), ref=lambda *a: _batch_norm_ref(*a, eps=0.1),
     dtype="float32", epsilon=0.1, label="3d-mixed-eps")


def conv2d_ref(x, w, b=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1) -> np.ndarray:
    """Direct definition: one loop over output positions and groups, float64."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    t, left, bottom, r = padding
    xp = np.zeros((n, c, h + t + bottom, wd + left + r))
    xp[:, :, t:t + h, left:left + wd] = x
    ho = (h + t + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + left + r - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    og = o // groups
    out = np.zeros((n, o, ho, wo))
    w64 = w.astype(np.float64)
    for g in range(groups):
        wg = w64[g * og:(g + 1) * og]  # (og, cg, kh, kw)
        for i in range(ho):
            for j in range(wo):
                hs, ws = i * stride[0], j * stride[1]
                patch = xp[:, g * cg:(g + 1) * cg, hs:hs + dilation[0] * (kh - 1) + 1:dilation[0],
                           ws:ws + dilation[1] * (kw - 1) + 1:dilation[1]]
                out[:, g * og:(g + 1) * og, i, j] = np.einsum("nckl,ockl->no", patch, wg)
    if b is not None:
        out += b.astype(np.float64)[None, :, None, None]
    return out


for dt in FLOATS:
    case("conv2d", randn(2, 3, 7, 7, dtype=dt), randn(4, 3, 3, 3, dtype=dt), randn(4, dtype=dt), ref=conv2d_ref, dtype=dt,
         tol=3, label=f"bias:{dt}")
CONV_VARIANTS = [
    dict(stride=(2, 2), padding=(1, 1, 1, 1)),
    dict(stride=(1, 2), padding=(0, 2, 1, 0), dilation=(2, 1)),
    dict(groups=2, padding=(1, 1, 1, 1)),
    dict(groups=4, stride=(2, 1)),  # depthwise (C/groups == 1)
]
for attrs in CONV_VARIANTS:
    g = attrs.get("groups", 1)
    case("conv2d", randn(2, 4, 8, 9), randn(8, 4 // g, 3, 3),
         ref=lambda x, w, attrs=attrs: conv2d_ref(x, w, **attrs), dtype="float32", label=repr(attrs), **attrs)
case("conv2d", randn(1, 32, 5, 5), randn(16, 32, 1, 1), ref=conv2d_ref, dtype="float32", label="1x1-many-channels")
case("conv2d", randn(1, 32, 6, 6, dtype="float64"), randn(8, 32, 3, 3, dtype="float64"), randn(8, dtype="float64"),
     ref=lambda x, w, b: conv2d_ref(x, w, b, stride=(2, 2), padding=(1, 0, 1, 2)), stride=(2, 2), padding=(1, 0, 1, 2),
     dtype="float64", label="kernel-loop-path")
case("conv2d", ints(1, 2, 5, 5, lo=-3, hi=4), ints(3, 2, 2, 2, lo=-3, hi=4), ref=lambda x, w: conv2d_ref(x, w).astype(np.int32),
     dtype="int32", label="ints")


def pool_ref(x: np.ndarray, kernel, stride, padding, kind: str) -> np.ndarray:
    """Direct definition over output positions; padded cells are skipped (so count_include_pad=False)."""
    n, c, h, w = x.shape
    t, left, b, r = padding
    ho = (h + t + b - kernel[0]) // stride[0] + 1
    wo = (w + left + r - kernel[1]) // stride[1] + 1
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            h0, w0 = i * stride[0] - t, j * stride[1] - left
            win = x[:, :, max(h0, 0):min(h0 + kernel[0], h), max(w0, 0):min(w0 + kernel[1], w)].astype(np.float64)
            out[:, :, i, j] = win.max(axis=(2, 3)) if kind == "max" else win.mean(axis=(2, 3))
    return out


POOLS = [
    ((2, 2), (2, 2), (0, 0, 0, 0)),
    ((3, 3), (2, 2), (1, 1, 1, 1)),
    ((3, 2), (1, 2), (2, 0, 1, 1)),
    ((2, 3), (3, 1), (0, 1, 1, 2)),
]
for op, kind in (("max_pool2d", "max"), ("avg_pool2d", "avg")):
    for k, s, p in POOLS:
        case(op, randn(2, 3, 7, 8), ref=lambda x, k=k, s=s, p=p, kind=kind: pool_ref(x, k, s, p, kind), dtype="float32",
             kernel_size=k, stride=s, padding=p, label=f"k={k},s={s},p={p}")
    for dt in ("float16", "float64"):
        case(op, randn(1, 2, 6, 6, dtype=dt), ref=lambda x, kind=kind: pool_ref(x, (3, 3), (2, 2), (1, 1, 1, 1), kind),
             dtype=dt, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1, 1, 1), label=dt)
    case(op, ints(1, 2, 5, 5, lo=-50, hi=50), ref=lambda x, kind=kind: pool_ref(x, (2, 2), (1, 1), (1, 0, 0, 1), kind),
         dtype="int32" if kind == "max" else "float64", kernel_size=(2, 2), stride=(1, 1), padding=(1, 0, 0, 1), label="ints")
case("max_pool2d", -pos(1, 2, 4, 4), ref=lambda x: pool_ref(x, (2, 2), (2, 2), (1, 1, 1, 1), "max"), dtype="float32",
     kernel_size=(2, 2), padding=(1, 1, 1, 1), label="all-negative-padded")
case("max_pool2d", randn(1, 2, 6, 6), ref=lambda x: pool_ref(x, (2, 2), (2, 2), (0, 0, 0, 0), "max"), dtype="float32",
     kernel_size=(2, 2), label="stride-default")

for dt in FLOATS:
    case("global_avg_pool", randn(2, 3, 5, 4, dtype=dt) + 1, ref=lambda x: x.astype(np.float64).mean(axis=(2, 3), keepdims=True),
         dtype=dt)
case("global_avg_pool", ints(2, 3, 4, 4), ref=lambda x: x.mean(axis=(2, 3), keepdims=True), dtype="float64", label="ints")
case("global_avg_pool", randn(2, 3, 6), ref=lambda x: x.astype(np.float64).mean(axis=2, keepdims=True), dtype="float32",
     label="1d-spatial")

for dt in ("float16", "int8", "bool"):
    x = bools(3, 4) if dt == "bool" else randn(3, 4).astype(dt)
    case("identity", x, ref=lambda x: x, label=dt)

# fused (made by the elementwise fusion pass): a program of steps (op, args, attrs); args 0..n-1 are the
# inputs, n + j is step j. This one computes t = tanh(a * b + 2); t / sum(t, axis=-1, keepdims=True).
for dt in ("float32", "float64"):
    program = (
        ("mul", (0, 1), ()),
        ("literal", (), (("value", 2.0), ("dtype", dt), ("shape", ()))),
        ("add", (2, 3), ()),
        ("tanh", (4,), ()),
        ("sum", (5,), (("axis", -1), ("keepdims", True))),
        ("div", (5, 6), ()),
    )

    def _fused_ref(a, b):
        t = np.tanh(a.astype(np.float64) * b + 2)
        return t / t.sum(axis=-1, keepdims=True)

    case("fused", randn(3, 5, dtype=dt), randn(5, dtype=dt), ref=_fused_ref, dtype=dt, program=program, label=dt)

# fused_matmul (simplification and pattern fusion): matmul of possibly transposed operands, then an in-place
# epilogue program over (product, *extras) in the format of ``fused``.
def _fmm_ref(transpose_a=False, transpose_b=False, epilogue=None):
    def ref(a, b, *extras):
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        p = (a64.swapaxes(-1, -2) if transpose_a else a64) @ (b64.swapaxes(-1, -2) if transpose_b else b64)
        return epilogue(p, *extras) if epilogue else p

    return ref


for dt in ("float32", "float64"):
    case("fused_matmul", randn(5, 7, dtype=dt), randn(7, 3, dtype=dt), ref=_fmm_ref(), dtype=dt, tol=3, label=f"plain-{dt}")
    case("fused_matmul", randn(5, 7, dtype=dt), randn(3, 7, dtype=dt), ref=_fmm_ref(transpose_b=True), dtype=dt, tol=3,
         transpose_b=True, label=f"transpose-b-{dt}")
case("fused_matmul", randn(2, 3, 7, 5), randn(3, 6, 7), ref=_fmm_ref(True, True), dtype="float32", tol=3,
     transpose_a=True, transpose_b=True, label="transpose-both-batched")
case("fused_matmul", ints(3, 4), ints(4, 2), ref=lambda a, b: a @ b, label="ints")
# bias + relu: v2 = add(in0, in1); v3 = 0.0; v4 = maximum(v2, v3)
case("fused_matmul", randn(6, 8), randn(8, 5), randn(5), ref=_fmm_ref(epilogue=lambda p, b: np.maximum(p + b, 0)),
     dtype="float32", tol=3, label="bias-relu",
     epilogue=(("add", (0, 1), ()), ("literal", (), (("value", 0.0), ("dtype", "float32"), ("shape", ()))),
               ("maximum", (2, 3), ())))
# bias + residual, then tanh: v3 = add(in0, in1); v4 = add(v3, in2); v5 = tanh(v4)
case("fused_matmul", randn(2, 6, 8, dtype="float64"), randn(8, 5, dtype="float64"), randn(5, dtype="float64"),
     randn(2, 6, 5, dtype="float64"), ref=_fmm_ref(epilogue=lambda p, b, r: np.tanh(p + b + r)), dtype="float64",
     label="bias-residual-tanh", epilogue=(("add", (0, 1), ()), ("add", (3, 2), ()), ("tanh", (4,), ())))
# attention scores: softmax(q @ k.mT * 0.5) over the last axis, in place
case("fused_matmul", randn(2, 4, 6), randn(2, 5, 6), transpose_b=True, dtype="float32", tol=3, label="scaled-softmax",
     ref=_fmm_ref(transpose_b=True, epilogue=lambda p: _softmax_ref(p * 0.5)),
     epilogue=(("literal", (), (("value", 0.5), ("dtype", "float32"), ("shape", ()))), ("mul", (0, 1), ()),
               ("max", (2,), (("axis", -1), ("keepdims", True))), ("sub", (2, 3), ()), ("exp", (4,), ()),
               ("sum", (5,), (("axis", -1), ("keepdims", True))), ("div", (5, 6), ())))

# Transfers (inserted by placement): the value itself, moved; on NumPy a copy stands in for the move.
for x in (randn(4, 3), ints(5, dtype="int64"), bools(2, 2, 2), randn(dtype="float64")):
    case("to_device", x, ref=lambda x: x, device="gpu:0", label=x.dtype.name)
    case("to_host", x, ref=lambda x: x, device="gpu:0", label=x.dtype.name)


# -- ops added for ONNX import (graphscope/ir/op_defs/onnx_extra.py) ------------------------------

TRIG = {
    "tan": (np.tan, randn), "asin": (np.arcsin, lambda *s, dtype="float32": RNG.uniform(-0.9, 0.9, s).astype(dtype)),
    "acos": (np.arccos, lambda *s, dtype="float32": RNG.uniform(-0.9, 0.9, s).astype(dtype)),
    "atan": (np.arctan, randn), "sinh": (np.sinh, randn), "cosh": (np.cosh, randn), "asinh": (np.arcsinh, randn),
    "acosh": (np.arccosh, lambda *s, dtype="float32": RNG.uniform(1.1, 4.0, s).astype(dtype)),
    "atanh": (np.arctanh, lambda *s, dtype="float32": RNG.uniform(-0.9, 0.9, s).astype(dtype)),
}
for op, (fn, gen) in TRIG.items():
    for dt in FLOATS:
        case(op, gen(3, 5, dtype=dt), ref=f64(fn))
    if op in ("tan", "atan", "sinh", "cosh", "asinh"):
        case(op, ints(2, 3, lo=-2, hi=3), ref=f64(fn), label="ints")


def _cum_ref(fn, axis, exclusive=False, reverse=False):
    def ref(x):
        t = np.flip(x, axis) if reverse else x
        out = np.asarray([fn(np.take(t, range(k + (0 if exclusive else 1)), axis=axis).astype(np.float64), axis=axis)
                          for k in range(x.shape[axis])])
        out = np.moveaxis(out, 0, axis)
        return (np.flip(out, axis) if reverse else out).astype(x.dtype)

    return ref


for op, fn in (("cumsum", np.sum), ("cumprod", np.prod)):
    case(op, randn(3, 5), ref=_cum_ref(fn, 1), axis=1)
    case(op, randn(4, 3, dtype="float64"), ref=_cum_ref(fn, 0, exclusive=True), axis=0, exclusive=True, label="exclusive")
    case(op, ints(2, 6, lo=-3, hi=4), ref=_cum_ref(fn, -1, reverse=True), axis=-1, reverse=True, label="reverse-ints")
    case(op, randn(2, 3, 4, dtype="float16"), ref=_cum_ref(fn, 2, True, True), axis=2, exclusive=True, reverse=True,
         label="exclusive-reverse")


def _argsort_desc_ref(x, axis):
    # Stable descending order, equal values in index order: sort by (-value, index).
    return np.argsort(-x.astype(np.float64), axis=axis, kind="stable")


ties = np.array([[3, 1, 3, 2, 1], [0, 5, 5, 1, 5]], dtype="float32")
case("argsort", ties, ref=lambda x: np.argsort(x, axis=-1, kind="stable"), label="ties")
case("argsort", ties, ref=lambda x: _argsort_desc_ref(x, -1), descending=True, label="ties-descending")
case("argsort", ints(4, 3, dtype="int64"), ref=lambda x: _argsort_desc_ref(x, 0), axis=0, descending=True, label="ints")
case("argsort", randn(2, 3, 4, dtype="float64"), ref=lambda x: np.argsort(x, axis=1, kind="stable"), axis=1, label="3d")


# -- comparing ------------------------------------------------------------------------------------


def assert_close(got: np.ndarray, want: np.ndarray, dtype: np.dtype, tol: float, what: str) -> None:
    assert got.shape == want.shape, f"{what}: shape {got.shape} != reference {want.shape}"
    if dtype.kind == "f":
        rtol, atol = TOL[dtype.name]
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol * tol, atol=atol * tol,
                                   err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def build_cases(seed: int) -> list[Case]:
    """The case table on fresh random data: this module's code run again with ``SEED = seed``."""
    name = f"op_cases_seed{seed}"
    spec = importlib.util.spec_from_file_location(name, __file__)
    module = importlib.util.module_from_spec(spec)
    module.SEED = seed
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module.CASES
