"""Elementwise ops: unary and binary math, comparisons, where, clip, cast and activations.

Shapes broadcast as in NumPy; dtypes come from NumPy itself (``probe_dtype``), so traced code
returns exactly the dtypes eager NumPy would (NEP 50 promotion included).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphscope.ir.ops import (
    COMMUTATIVE,
    ELEMENTWISE,
    REQUIRED,
    OpDef,
    broadcast,
    elementwise_cost,
    probe_dtype,
    register_op,
)
from graphscope.ir.spec import TensorSpec, as_dtype
from graphscope.ir.special import special


def _infer(name: str):
    def infer(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
        return TensorSpec(broadcast(name, specs), probe_dtype(name, specs, attrs))

    return infer


def _ufunc(name: str, arity: int, ufunc: str, flops: int = 1, groups: frozenset = frozenset(), doc: str = "") -> None:
    def impl(xp, *arrays):
        return getattr(xp, ufunc)(*arrays)

    register_op(
        OpDef(
            name=name, arity=arity, infer=_infer(name), impl=impl, ufunc=ufunc, flops_per_element=flops,
            cost=elementwise_cost(flops), groups=frozenset({ELEMENTWISE}) | groups, doc=doc or f"numpy.{ufunc}",
        )
    )


def _custom(name: str, arity: int, impl, flops: int, attrs: Mapping[str, Any] | None = None, doc: str = "") -> None:
    register_op(
        OpDef(
            name=name, arity=arity, infer=_infer(name), impl=impl, attrs=attrs or {}, flops_per_element=flops,
            cost=elementwise_cost(flops), groups=frozenset({ELEMENTWISE}), doc=doc,
        )
    )


# Binary arithmetic.
_ufunc("add", 2, "add", groups=frozenset({COMMUTATIVE}))
_ufunc("sub", 2, "subtract")
_ufunc("mul", 2, "multiply", groups=frozenset({COMMUTATIVE}))
_ufunc("div", 2, "true_divide")
_ufunc("floordiv", 2, "floor_divide")
_ufunc("mod", 2, "remainder")
_ufunc("pow", 2, "power", flops=8)
_ufunc("maximum", 2, "maximum", groups=frozenset({COMMUTATIVE}))
_ufunc("minimum", 2, "minimum", groups=frozenset({COMMUTATIVE}))

# Comparisons and logic (bool results).
_ufunc("equal", 2, "equal", groups=frozenset({COMMUTATIVE}))
_ufunc("not_equal", 2, "not_equal", groups=frozenset({COMMUTATIVE}))
_ufunc("less", 2, "less")
_ufunc("less_equal", 2, "less_equal")
_ufunc("greater", 2, "greater")
_ufunc("greater_equal", 2, "greater_equal")
_ufunc("logical_and", 2, "logical_and", groups=frozenset({COMMUTATIVE}))
_ufunc("logical_or", 2, "logical_or", groups=frozenset({COMMUTATIVE}))
_ufunc("logical_not", 1, "logical_not")

# Unary math.
_ufunc("neg", 1, "negative")
_ufunc("abs", 1, "absolute")
_ufunc("sign", 1, "sign")
_ufunc("exp", 1, "exp", flops=8)
_ufunc("log", 1, "log", flops=8)
_ufunc("sqrt", 1, "sqrt", flops=4)
_ufunc("square", 1, "square")
_ufunc("reciprocal", 1, "reciprocal")
_ufunc("tanh", 1, "tanh", flops=8)
_ufunc("sin", 1, "sin", flops=8)
_ufunc("cos", 1, "cos", flops=8)
_ufunc("floor", 1, "floor")
_ufunc("ceil", 1, "ceil")


def _rsqrt(xp, x):
    out = xp.sqrt(x)
    return xp.reciprocal(out, out=out) if out.dtype.kind == "f" else 1 / out


_custom("rsqrt", 1, _rsqrt, 5, doc="1 / sqrt(x)")


def _as_float(x):
    """Integer and bool inputs as the float dtype ``np.exp`` would give them (float16 for int8, float64 for int64)."""
    return x if x.dtype.kind == "f" else x.astype(np.promote_types(x.dtype, np.float16))


def _sigmoid(xp, x):
    # 1 / (1 + exp(-x)), computed in place on one temporary.
    x = _as_float(x)
    t = xp.negative(x, out=xp.empty_like(x))  # out=: a 0-d input stays an array (not a NumPy scalar)
    xp.exp(t, out=t)
    t += 1
    return xp.reciprocal(t, out=t)


_custom("sigmoid", 1, _sigmoid, 10, doc="logistic sigmoid 1 / (1 + exp(-x))")


def _relu(xp, x):
    return xp.maximum(x, x.dtype.type(0))


_custom("relu", 1, _relu, 1, doc="max(x, 0)")


def _erf(xp, x):
    out = special(xp, "erf")(x)
    return out.astype(x.dtype, copy=False) if x.dtype.kind == "f" else out  # ints: the special function's float


_custom("erf", 1, _erf, 20, doc="Gauss error function")

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _gelu(xp, x, approximate: str = "none"):
    x = _as_float(x)
    if approximate == "tanh":
        # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        t = xp.multiply(x, x, out=xp.empty_like(x))  # out=: a 0-d input stays an array (not a NumPy scalar)
        t *= 0.044715 * x
        t += x
        t *= _SQRT_2_OVER_PI
        xp.tanh(t, out=t)
    elif approximate == "none":
        t = special(xp, "erf")(x * (1 / math.sqrt(2.0))).astype(x.dtype, copy=False)
    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    t += 1
    t *= x
    t *= 0.5
    return t


_custom("gelu", 1, _gelu, 20, attrs={"approximate": "none"}, doc="GELU, exact (erf) or tanh approximation")


def _where(xp, cond, a, b):
    return xp.where(cond, a, b)


register_op(
    OpDef(
        name="where", arity=3, infer=_infer("where"), impl=_where, ufunc="where", flops_per_element=1,
        cost=elementwise_cost(1), groups=frozenset({ELEMENTWISE}), doc="cond ? a : b",
    )
)


def _clip(xp, x, min=None, max=None):  # noqa: A002 - NumPy's own names
    if min is None and max is None:
        return x.copy()
    return xp.clip(x, min, max)


register_op(
    OpDef(
        # Bounds are weak scalars (NEP 50): float32 stays float32, but an int array clipped to a float
        # bound becomes float64 as in NumPy, so the dtype comes from the probe.
        name="clip", arity=1, infer=_infer("clip"), impl=_clip, attrs={"min": None, "max": None},
        cost=elementwise_cost(2), groups=frozenset({ELEMENTWISE}), doc="clip(x, min, max) with scalar bounds",
    )
)


def _cast(xp, x, dtype: str):
    return x.astype(dtype)


def _infer_cast(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    return TensorSpec(specs[0].shape, as_dtype(attrs["dtype"]))


register_op(
    OpDef(
        name="cast", arity=1, infer=_infer_cast, impl=_cast, attrs={"dtype": REQUIRED},
        cost=elementwise_cost(0), groups=frozenset({ELEMENTWISE}), doc="x.astype(dtype)",
    )
)
