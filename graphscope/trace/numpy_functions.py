"""NumPy functions that trace: each body mirrors the NumPy signature and calls graphscope ops."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphscope.errors import TracingError
from graphscope.trace.numpy_api import implements
from graphscope.trace.tensor import apply_op


def _no_out(name: str, out: Any) -> None:
    if out is not None:
        raise TracingError(f"cannot trace np.{name}(..., out=...): graphs do not write into caller arrays")


def _reduction(op: str):
    def fn(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
        _no_out(op, out)
        kw = {k: v for k, v in kw.items() if k in ("ddof",)}
        if dtype is not None:
            a = apply_op("cast", [a], {"dtype": np.dtype(dtype).name})
        return apply_op(op, [a], {"axis": axis, "keepdims": bool(keepdims), **kw})

    return fn


implements(np.sum)(_reduction("sum"))
implements(np.mean)(_reduction("mean"))
implements(np.prod)(_reduction("prod"))
implements(np.var)(_reduction("var"))
implements(np.std)(_reduction("std"))


def _minmax(op: str):
    def fn(a, axis=None, out=None, keepdims=False, **kw):
        _no_out(op, out)
        return apply_op(op, [a], {"axis": axis, "keepdims": bool(keepdims)})

    return fn


implements(np.max, np.amax)(_minmax("max"))
implements(np.min, np.amin)(_minmax("min"))


@implements(np.argmax)
def _argmax(a, axis=None, out=None, keepdims=False):
    _no_out("argmax", out)
    return apply_op("argmax", [a], {"axis": axis, "keepdims": bool(keepdims)})


@implements(np.argmin)
def _argmin(a, axis=None, out=None, keepdims=False):
    _no_out("argmin", out)
    return apply_op("argmin", [a], {"axis": axis, "keepdims": bool(keepdims)})


@implements(np.reshape)
def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    shape = newshape if shape is None else shape
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if order != "C":
        raise TracingError(f"cannot trace np.reshape(order={order!r}): only C order")
    return apply_op("reshape", [a], {"shape": tuple(int(d) for d in shape)})


@implements(np.transpose)
def _transpose(a, axes=None):
    return apply_op("transpose", [a], {"perm": None if axes is None else tuple(axes)})


@implements(np.matmul, np.dot)
def _matmul(a, b, out=None):
    _no_out("matmul", out)
    return apply_op("matmul", [a, b])


@implements(np.einsum)
def _einsum(subscripts, *operands, out=None, optimize=False, **kw):
    _no_out("einsum", out)
    if not isinstance(subscripts, str):
        raise TracingError("cannot trace np.einsum with the interleaved (operand, sublist) form; use a string")
    return apply_op("einsum", list(operands), {"equation": subscripts.replace(" ", "")})


@implements(np.where)
def _where(condition, x=None, y=None):
    if x is None or y is None:
        raise TracingError("cannot trace np.where(condition) with one argument (its output shape depends on values)")
    return apply_op("where", [condition, x, y])


@implements(np.clip)
def _clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **kw):  # noqa: A002
    _no_out("clip", out)
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    for bound in (lo, hi):
        if bound is not None and not isinstance(bound, (int, float, np.generic)):
            raise TracingError("cannot trace np.clip with array bounds; use np.minimum/np.maximum")
    return apply_op("clip", [a], {"min": lo, "max": hi})
