"""NumPy functions that trace: each body mirrors the NumPy signature and calls graphscope ops.

The same bodies serve ``np.sum(t)`` (through ``__array_function__``) and the methods ``t.sum()``.
Arguments NumPy accepts but graphs cannot honour (``out=``, ``where=``, ``order='F'`` ...) raise a
TracingError naming the function and the user's line rather than being dropped.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphscope.errors import ShapeError, TracingError
from graphscope.ir.ops import normalize_axis
from graphscope.trace.numpy_api import implements
from graphscope.trace.source import user_source
from graphscope.trace.tensor import Tensor, apply_op, constant_tensor


def _at() -> str:
    where = user_source(3)
    return f" at {where}" if where else ""


def _no_out(name: str, out: Any) -> None:
    if out is not None:
        raise TracingError(f"cannot trace np.{name}(..., out=...): graphs do not write into arrays; use the "
                           f"returned value{_at()}")


def _reject(name: str, **given: Any) -> None:
    """Raise for any argument given a value graphscope cannot honour (None/_NoValue mean 'not given')."""
    for key, value in given.items():
        if value is not None and value is not np._NoValue:
            raise TracingError(f"cannot trace np.{name}(..., {key}=...): not supported in traced code{_at()}")


def _c_order(name: str, order: Any) -> None:
    if order not in ("C", "K", "A", None):
        raise TracingError(f"cannot trace np.{name}(order={order!r}): only C order is traced{_at()}")


def _ndim(x: Any) -> int:
    return x.ndim if isinstance(x, (Tensor, np.ndarray, np.generic)) else np.ndim(x)


def _shape(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, (Tensor, np.ndarray, np.generic)) else np.shape(x)


def _dtype(x: Any) -> np.dtype:
    return x.dtype if isinstance(x, (Tensor, np.ndarray, np.generic)) else np.asarray(x).dtype


def _ints(value: Any, what: str) -> tuple[int, ...]:
    """A shape or axis list as Python ints (a traced value there raises via Tensor.__index__)."""
    if isinstance(value, (int, np.integer)) or isinstance(value, Tensor):
        return (operator.index(value),)
    return tuple(operator.index(v) for v in value)


def cast(x: Any, dtype: Any) -> Any:
    """``x`` as ``dtype``: a cast node for a traced tensor (none when it already has that dtype)."""
    dt = np.dtype(dtype)
    if isinstance(x, Tensor):
        return x if x.dtype == dt else apply_op("cast", [x], {"dtype": dt.name})
    return np.asarray(x, dtype=dt)


# -- reductions ---------------------------------------------------------------------------------


def _reduce(op: str, a: Any, axis: Any, keepdims: Any, **attrs: Any) -> Any:
    if isinstance(axis, list):
        axis = tuple(axis)
    return apply_op(op, [a], {"axis": axis, "keepdims": bool(keepdims), **attrs})


def _reduce_as(op: str, a: Any, dtype: Any, axis: Any, keepdims: Any) -> Any:
    """A reduction computed in ``dtype`` and returned as ``dtype`` (np.sum(int8, dtype=np.int16) is int16,
    where a plain sum of int16 would be int64)."""
    if dtype is None:
        return _reduce(op, a, axis, _keepdims(keepdims))
    return cast(_reduce(op, cast(a, dtype), axis, _keepdims(keepdims)), dtype)


def _keepdims(keepdims: Any) -> bool:
    return False if keepdims is np._NoValue else bool(keepdims)


@implements(np.sum)
def sum_(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _no_out("sum", out)
    _reject("sum", initial=initial, where=None if where is True else where)
    return _reduce_as("sum", a, dtype, axis, keepdims)


@implements(np.prod)
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _no_out("prod", out)
    _reject("prod", initial=initial, where=None if where is True else where)
    return _reduce_as("prod", a, dtype, axis, keepdims)


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    _no_out("mean", out)
    _reject("mean", where=None if where is True else where)
    return _reduce_as("mean", a, dtype, axis, keepdims)


def _var_std(op: str, a, axis, dtype, out, ddof, keepdims, where, mean, correction):
    _no_out(op, out)
    _reject(op, where=None if where is True else where, mean=mean)
    if correction is not None and correction is not np._NoValue:
        if ddof:
            raise TypeError(f"{op}() got both ddof and correction")
        ddof = correction
    x = cast(a, dtype) if dtype is not None else a
    return _reduce(op, x, axis, _keepdims(keepdims), ddof=ddof)


@implements(np.var)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None, correction=None):
    return _var_std("var", a, axis, dtype, out, ddof, keepdims, where, mean, correction)


@implements(np.std)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None, correction=None):
    return _var_std("std", a, axis, dtype, out, ddof, keepdims, where, mean, correction)


@implements(np.max, np.amax)
def max_(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    _no_out("max", out)
    _reject("max", initial=initial, where=None if where is True else where)
    return _reduce("max", a, axis, _keepdims(keepdims))


@implements(np.min, np.amin)
def min_(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    _no_out("min", out)
    _reject("min", initial=initial, where=None if where is True else where)
    return _reduce("min", a, axis, _keepdims(keepdims))


@implements(np.argmax)
def argmax(a, axis=None, out=None, *, keepdims=False):
    _no_out("argmax", out)
    return _reduce("argmax", a, axis, _keepdims(keepdims))


@implements(np.argmin)
def argmin(a, axis=None, out=None, *, keepdims=False):
    _no_out("argmin", out)
    return _reduce("argmin", a, axis, _keepdims(keepdims))


def _as_bool(a: Any) -> Any:
    return a if _dtype(a) == np.bool_ else apply_op("not_equal", [a, 0])


@implements(np.all)
def all_(a, axis=None, out=None, keepdims=False, *, where=None):
    _no_out("all", out)
    _reject("all", where=None if where is True else where)
    return _reduce("min", _as_bool(a), axis, _keepdims(keepdims))


@implements(np.any)
def any_(a, axis=None, out=None, keepdims=False, *, where=None):
    _no_out("any", out)
    _reject("any", where=None if where is True else where)
    return _reduce("max", _as_bool(a), axis, _keepdims(keepdims))


@implements(np.average)
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    if weights is not None or returned:
        raise TracingError(f"cannot trace np.average with weights=/returned=: use np.sum(a * w) / np.sum(w){_at()}")
    return _reduce("mean", a, axis, _keepdims(keepdims))


@implements(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    if ord not in (None, "fro") and not (ord == 2 and (isinstance(axis, int) or _ndim(x) == 1)):
        raise TracingError(f"cannot trace np.linalg.norm(ord={ord!r}): only the 2-norm/Frobenius norm{_at()}")
    if _dtype(x).kind not in "f":
        x = cast(x, np.float64)  # NumPy's norm works in float
    return apply_op("sqrt", [_reduce("sum", apply_op("mul", [x, x]), axis, keepdims)])


# -- shape and layout ---------------------------------------------------------------------------


@implements(np.reshape)
def reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    shape = newshape if shape is None else shape
    if shape is None:
        raise TypeError("reshape() needs a shape")
    _c_order("reshape", order)
    return apply_op("reshape", [a], {"shape": _ints(shape, "shape")})


@implements(np.ravel)
def ravel(a, order="C"):
    _c_order("ravel", order)
    return apply_op("reshape", [a], {"shape": (-1,)})


@implements(np.transpose)
def transpose(a, axes=None):
    return apply_op("transpose", [a], {"perm": None if axes is None else _ints(axes, "axes")})


@implements(np.swapaxes)
def swapaxes(a, axis1, axis2):
    n = _ndim(a)
    i, j = normalize_axis("swapaxes", operator.index(axis1), n), normalize_axis("swapaxes", operator.index(axis2), n)
    perm = list(range(n))
    perm[i], perm[j] = perm[j], perm[i]
    return apply_op("transpose", [a], {"perm": tuple(perm)})


@implements(np.moveaxis)
def moveaxis(a, source, destination):
    n = _ndim(a)
    src = [normalize_axis("moveaxis", s, n) for s in _ints(source, "source")]
    dst = [normalize_axis("moveaxis", d, n) for d in _ints(destination, "destination")]
    if len(src) != len(dst):
        raise ShapeError(f"np.moveaxis: source {source} and destination {destination} differ in length{_at()}")
    order = [i for i in range(n) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return apply_op("transpose", [a], {"perm": tuple(order)})


@implements(np.expand_dims)
def expand_dims(a, axis):
    from graphscope import ops

    return ops.expand_dims(a, axis if isinstance(axis, (int, np.integer)) else _ints(axis, "axis"))


@implements(np.squeeze)
def squeeze(a, axis=None):
    from graphscope import ops

    return ops.squeeze(a, None if axis is None else axis if isinstance(axis, (int, np.integer)) else _ints(axis, "axis"))


@implements(np.atleast_1d)
def atleast_1d(*arys):
    out = [reshape(a, (1,)) if _ndim(a) == 0 else a for a in arys]
    return out[0] if len(out) == 1 else tuple(out)


@implements(np.atleast_2d)
def atleast_2d(*arys):
    out = [reshape(a, (1,) * (2 - _ndim(a)) + tuple(_shape(a))) if _ndim(a) < 2 else a for a in arys]
    return out[0] if len(out) == 1 else tuple(out)


def _same_dtype(arrays: Sequence[Any], dtype: Any) -> list[Any]:
    """Operands of concatenate/stack cast to their common (or the requested) dtype, as NumPy does."""
    target = np.dtype(dtype) if dtype is not None else np.result_type(*[_dtype(a) for a in arrays])
    return [cast(a, target) if _dtype(a) != target else a for a in arrays]


@implements(np.concatenate)
def concatenate(arrays, axis=0, out=None, *, dtype=None, casting=None):
    from graphscope import ops

    _no_out("concatenate", out)
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    return ops.concat(_same_dtype(arrays, dtype), axis=operator.index(axis))


@implements(np.stack)
def stack(arrays, axis=0, out=None, *, dtype=None, casting=None):
    from graphscope import ops

    _no_out("stack", out)
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array to stack")
    return ops.stack(_same_dtype(arrays, dtype), axis=operator.index(axis))


@implements(np.hstack)
def hstack(tup, *, dtype=None, casting=None):
    arrays = [atleast_1d(a) for a in tup]
    return concatenate(arrays, axis=0 if _ndim(arrays[0]) == 1 else 1, dtype=dtype)


@implements(np.vstack)
def vstack(tup, *, dtype=None, casting=None):
    return concatenate([atleast_2d(a) for a in tup], axis=0, dtype=dtype)


@implements(np.split)
def split(ary, indices_or_sections, axis=0):
    from graphscope import ops

    ios = indices_or_sections
    ios = operator.index(ios) if isinstance(ios, (int, np.integer)) else list(_ints(ios, "indices"))
    return list(ops.split(ary, ios, axis=operator.index(axis)))


@implements(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    from graphscope import ops

    ios = indices_or_sections
    if isinstance(ios, (int, np.integer)):
        sections = operator.index(ios)
        if sections <= 0:
            raise ValueError("number sections must be larger than 0.")
        n = _shape(ary)[normalize_axis("array_split", operator.index(axis), _ndim(ary))]
        each, extra = divmod(n, sections)
        bounds, at = [], 0
        for k in range(sections - 1):
            at += each + (1 if k < extra else 0)
            bounds.append(at)
        ios = bounds
    else:
        ios = list(_ints(ios, "indices"))
    return list(ops.split(ary, ios, axis=operator.index(axis)))


@implements(np.broadcast_to)
def broadcast_to(array, shape, subok=False):
    from graphscope import ops

    return ops.broadcast_to(array, _ints(shape, "shape"))


@implements(np.flip)
def flip(m, axis=None):
    n = _ndim(m)
    axes = range(n) if axis is None else [normalize_axis("flip", a, n) for a in _ints(axis, "axis")]
    return getitem(m, tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(n)))


@implements(np.astype)
def astype(x, dtype, /, *, copy=True, device=None):
    return cast(x, dtype)


@implements(np.copy)
def copy(a, order="K", subok=False):
    return a  # traced values are immutable


@implements(np.shape)
def shape(a):
    return _shape(a)


@implements(np.ndim)
def ndim(a):
    return _ndim(a)


@implements(np.size)
def size(a, axis=None):
    s = _shape(a)
    return math.prod(s) if axis is None else s[normalize_axis("size", axis, len(s))]


# -- constants of a traced shape ------------------------------------------------------------------


def _full_like(name: str, a: Any, fill: Any, dtype: Any, shape: Any) -> Any:
    if not isinstance(a, Tensor):
        raise TracingError(f"np.{name}: expected a traced tensor{_at()}")
    shp = _shape(a) if shape is None else _ints(shape, "shape")
    dt = a.dtype if dtype is None else np.dtype(dtype)
    if isinstance(fill, Tensor):
        from graphscope import ops

        return ops.broadcast_to(cast(fill, dt), shp)
    return constant_tensor(a.graph, np.full(shp, fill, dtype=dt), name=name)


@implements(np.zeros_like)
def zeros_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _full_like("zeros_like", a, 0, dtype, shape)


@implements(np.empty_like)
def empty_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _full_like("empty_like", a, 0, dtype, shape)  # any contents are right; zeros are deterministic


@implements(np.ones_like)
def ones_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _full_like("ones_like", a, 1, dtype, shape)


@implements(np.full_like)
def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _full_like("full_like", a, fill_value, dtype, shape)


# -- products -------------------------------------------------------------------------------------


@implements(np.dot)
def dot(a, b, out=None):
    _no_out("dot", out)
    # np.dot converts Python scalars to arrays: they are not weak here (np.dot(f32, 2.0) is float64).
    a, b = (np.asarray(v) if isinstance(v, (bool, int, float)) else v for v in (a, b))
    na, nb = _ndim(a), _ndim(b)
    if na == 0 or nb == 0:
        return apply_op("mul", [a, b])
    if na <= 2 and nb <= 2:
        return apply_op("matmul", [a, b])
    raise TracingError(f"cannot trace np.dot of {na}-d and {nb}-d operands (shapes {_shape(a)} and {_shape(b)}): it "
                       f"differs from matmul there; use np.matmul, np.tensordot or np.einsum{_at()}")


@implements(np.matmul)
def matmul(a, b, out=None, **kw):
    _no_out("matmul", out)
    _reject("matmul", **{k: v for k, v in kw.items() if k not in ("casting", "order", "subok")})
    return apply_op("matmul", [a, b])


@implements(np.tensordot)
def tensordot(a, b, axes=2):
    sa, sb = tuple(_shape(a)), tuple(_shape(b))
    if isinstance(axes, (int, np.integer)):
        k = operator.index(axes)
        if k < 0 or k > len(sa) or k > len(sb):
            raise ShapeError(f"np.tensordot: axes={k} does not fit shapes {sa} and {sb}{_at()}")
        ax_a, ax_b = list(range(len(sa) - k, len(sa))), list(range(k))
    else:
        ax_a, ax_b = (list(_ints(x, "axes")) for x in axes)
        ax_a = [normalize_axis("tensordot", i, len(sa)) for i in ax_a]
        ax_b = [normalize_axis("tensordot", i, len(sb)) for i in ax_b]
    if len(ax_a) != len(ax_b) or any(sa[i] != sb[j] for i, j in zip(ax_a, ax_b)):
        raise ShapeError(f"np.tensordot: summed axes {ax_a} of {sa} and {ax_b} of {sb} do not match{_at()}")
    free_a = [i for i in range(len(sa)) if i not in ax_a]
    free_b = [i for i in range(len(sb)) if i not in ax_b]
    m = math.prod(sa[i] for i in free_a)
    n = math.prod(sb[i] for i in free_b)
    kk = math.prod(sa[i] for i in ax_a)
    a2 = _transpose_if_needed(a, free_a + ax_a)
    b2 = _transpose_if_needed(b, ax_b + free_b)
    prod_ = apply_op("matmul", [reshape(a2, (m, kk)), reshape(b2, (kk, n))])
    return reshape(prod_, tuple(sa[i] for i in free_a) + tuple(sb[i] for i in free_b))


def _transpose_if_needed(x: Any, perm: list[int]) -> Any:
    return x if perm == sorted(perm) else apply_op("transpose", [x], {"perm": tuple(perm)})


@implements(np.outer)
def outer(a, b, out=None):
    _no_out("outer", out)
    return apply_op("mul", [reshape(a, (-1, 1)), reshape(b, (1, -1))])


@implements(np.einsum)
def einsum(*operands, out=None, dtype=None, order="K", casting="safe", optimize=False):
    from graphscope import ops

    _no_out("einsum", out)
    if not operands or not isinstance(operands[0], str):
        raise TracingError(f"cannot trace np.einsum with the interleaved (operand, sublist) form; use a subscripts "
                           f"string{_at()}")
    equation, arrays = operands[0].replace(" ", ""), list(operands[1:])
    if dtype is not None:
        arrays = [cast(x, dtype) for x in arrays]
    return ops.einsum(equation, *arrays)


# -- selection ------------------------------------------------------------------------------------


@implements(np.where)
def where(condition, x=None, y=None):
    if x is None or y is None:
        raise TracingError(f"cannot trace np.where(condition) with one argument: its output shape depends on the "
                           f"values; use np.where(condition, x, y){_at()}")
    return apply_op("where", [condition, x, y])


@implements(np.clip)
def clip(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue, max=np._NoValue, **kwargs):  # noqa: A002
    from graphscope import ops

    _no_out("clip", out)
    lo = a_min if a_min is not np._NoValue else (None if min is np._NoValue else min)
    hi = a_max if a_max is not np._NoValue else (None if max is np._NoValue else max)
    dtype = kwargs.pop("dtype", None)
    _reject("clip", **{k: v for k, v in kwargs.items() if k not in ("casting", "order", "subok")})
    if dtype is not None:
        a = cast(a, dtype)
    if lo is None and hi is None:
        raise ValueError("One of max or min must be given")
    bounds = [b for b in (lo, hi) if b is not None]
    if all(isinstance(b, (int, float, np.generic)) for b in bounds):
        # NumPy promotes as for any ufunc: np.clip(int_array, 0.5, 2.5) is float64.
        want = np.result_type(_dtype(a), *bounds)
        if want != _dtype(a):
            a = cast(a, want)
        return ops.clip(a, _scalar(lo), _scalar(hi))
    # Array or traced bounds: clip(a, lo, hi) == minimum(maximum(a, lo), hi), with the same promotion.
    if lo is not None:
        a = apply_op("maximum", [a, lo])
    if hi is not None:
        a = apply_op("minimum", [a, hi])
    return a


def _scalar(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


@implements(np.take)
def take(a, indices, axis=None, out=None, mode="raise"):
    from graphscope import ops

    _no_out("take", out)
    if mode != "raise":
        raise TracingError(f"cannot trace np.take(mode={mode!r}): only mode='raise'{_at()}")
    if axis is None:
        a, axis = ravel(a), 0
    if not isinstance(indices, Tensor):
        indices = np.asarray(indices)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"np.take: indices must be integers, got {indices.dtype}")
    return ops.gather(a, indices, axis=operator.index(axis))


@implements(np.pad)
def pad(array, pad_width, mode="constant", **kwargs):
    from graphscope import ops

    value = kwargs.pop("constant_values", 0)
    if kwargs:
        raise TracingError(f"cannot trace np.pad with argument(s) {sorted(kwargs)}{_at()}")
    if callable(mode):
        raise TracingError(f"cannot trace np.pad with a function as mode{_at()}")
    flat = np.asarray(value)
    if flat.size != 1 and not (flat == flat.flat[0]).all():
        raise TracingError(f"cannot trace np.pad with different constant_values per side; pad in steps{_at()}")
    # NumPy stores the pad value in the array's dtype (np.pad(int_array, 1, constant_values=1.7) pads 1).
    fill = np.asarray(flat.flat[0]).astype(_dtype(array)).item()
    return ops.pad(array, pad_width, mode=mode, constant_value=fill)


# -- indexing -------------------------------------------------------------------------------------


def _is_advanced(index: Any) -> bool:
    if isinstance(index, Tensor):
        return True
    if isinstance(index, np.ndarray):
        return index.ndim > 0 or index.dtype == np.bool_
    return isinstance(index, list)


def getitem(x: Any, index: Any) -> Any:
    """``x[index]``: basic indexing (ints, slices, None, Ellipsis) is one ``getitem`` node; a single
    integer-array index becomes ``gather`` (np.take along that axis). Boolean masks are rejected:
    their result shape depends on the values."""
    from graphscope import ops

    items = index if isinstance(index, tuple) else (index,)
    adv = [i for i, v in enumerate(items) if _is_advanced(v)]
    if not adv:
        return ops.getitem(x, index)
    for i in adv:
        v = items[i]
        dt = v.dtype if isinstance(v, (Tensor, np.ndarray)) else np.asarray(v).dtype
        if dt == np.bool_:
            raise TracingError(f"cannot trace boolean-mask indexing x[mask]: its result shape depends on the values; "
                               f"use np.where(mask, x, 0) or a reduction with the mask{_at()}")
        if dt.kind not in "iu":
            raise TracingError(f"cannot trace indexing with a {dt} array: indices must be integers{_at()}")
    if len(adv) > 1:
        raise TracingError(f"cannot trace indexing with {len(adv)} integer arrays in one subscript (NumPy's combined "
                           f"advanced indexing); index one axis at a time{_at()}")
    p = adv[0]
    # Expand an Ellipsis so positions count real axes.
    if any(v is Ellipsis for v in items):
        e = next(i for i, v in enumerate(items) if v is Ellipsis)
        consumed = sum(1 for v in items if v is not None and v is not Ellipsis)
        items = items[:e] + (slice(None),) * (_ndim(x) - consumed) + items[e + 1:]
        p = next(i for i, v in enumerate(items) if _is_advanced(v))
    indices = items[p]
    if not isinstance(indices, Tensor):
        indices = np.asarray(indices)
    # Ints next to an index array take part in NumPy's advanced indexing: their removed axes and the
    # array's new ones stay in place when they are adjacent, else the new axes go first.
    group = [i for i, v in enumerate(items) if i == p or _is_int_index(v)]
    adjacent = group[-1] - group[0] + 1 == len(group)
    basic = items[:p] + (slice(None),) + items[p + 1:]
    axis = sum(1 for v in items[:p] if v is None or isinstance(v, slice))
    y = x if all(isinstance(v, slice) and v == slice(None) for v in basic) else ops.getitem(x, basic)
    out = ops.gather(y, indices, axis=axis)
    m = indices.ndim
    if adjacent or axis == 0 or m == 0:
        return out
    perm = tuple(range(axis, axis + m)) + tuple(i for i in range(out.ndim) if not axis <= i < axis + m)
    return apply_op("transpose", [out], {"perm": perm})


def _is_int_index(v: Any) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return False
    return isinstance(v, (int, np.integer)) or (isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iu")
