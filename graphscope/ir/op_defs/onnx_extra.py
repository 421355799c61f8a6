"""Ops added for ONNX import where no exact decomposition into the catalogue exists.

* inverse and hyperbolic trigonometry, and tan: ``tan asin acos atan sinh cosh asinh acosh atanh``
  (elementwise NumPy ufuncs; sin/cos are in ``elementwise.py``);
* ``cumsum`` / ``cumprod`` along one axis, optionally exclusive and/or reversed, in the input's dtype
  (ONNX CumSum/CumProd; NumPy's own cumsum would widen small ints);
* ``argsort``: stable sort indices along one axis, ascending or descending, where equal values keep
  their index order in both directions (what ONNX TopK needs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphscope.errors import ShapeError
from graphscope.ir.ops import (
    ELEMENTWISE,
    OpDef,
    broadcast,
    elementwise_cost,
    normalize_axis,
    probe_dtype,
    register_op,
)
from graphscope.ir.spec import TensorSpec

# -- trigonometry ---------------------------------------------------------------------------------

_TRIG = {
    "tan": "tan", "asin": "arcsin", "acos": "arccos", "atan": "arctan", "sinh": "sinh", "cosh": "cosh",
    "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh",
}


def _trig(name: str, ufunc: str) -> None:
    def impl(xp, x):
        return getattr(xp, ufunc)(x)

    def infer(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
        return TensorSpec(broadcast(name, specs), probe_dtype(name, specs, attrs))

    register_op(OpDef(
        name=name, arity=1, infer=infer, impl=impl, ufunc=ufunc, flops_per_element=8, cost=elementwise_cost(8),
        groups=frozenset({ELEMENTWISE}), doc=f"numpy.{ufunc}",
    ))


for _name, _ufunc in _TRIG.items():
    _trig(_name, _ufunc)


# -- cumulative sums and products ----------------------------------------------------------------


def _check_axis(op: str, x: TensorSpec, axis: Any) -> int:
    if x.ndim == 0:
        raise ShapeError(f"op '{op}': the input must be at least 1-d, got shape {x.shape}")
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise ShapeError(f"op '{op}': axis must be an int, got {axis!r}")
    return normalize_axis(op, axis, x.ndim)


def _cumulative(name: str, fn: str, identity: int) -> None:
    def impl(xp, x, axis=0, exclusive=False, reverse=False):
        ax = axis % x.ndim
        t = xp.flip(x, ax) if reverse else x
        out = getattr(xp, fn)(t, axis=ax, dtype=x.dtype)
        if exclusive:  # shift by one along the axis, starting from the identity
            first = xp.full(x.shape[:ax] + (1,) + x.shape[ax + 1:], identity, dtype=x.dtype)
            out = xp.concatenate([first, xp.take(out, xp.arange(x.shape[ax] - 1), axis=ax)], axis=ax)
        return xp.ascontiguousarray(xp.flip(out, ax)) if reverse else out

    def infer(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
        x = specs[0]
        _check_axis(name, x, attrs["axis"])
        if x.dtype.kind == "b":
            raise ShapeError(f"op '{name}' does not accept bool operands")
        return x

    register_op(OpDef(
        name=name, arity=1, infer=infer, impl=impl, attrs={"axis": 0, "exclusive": False, "reverse": False},
        cost=lambda specs, out, attrs: (out.size, specs[0].nbytes, out.nbytes),
        doc=f"numpy.{fn} along axis in the input's dtype; exclusive leaves each element out of its own result, "
            "reverse accumulates from the end (ONNX " + ("CumSum" if fn == "cumsum" else "CumProd") + ")",
    ))


_cumulative("cumsum", "cumsum", 0)
_cumulative("cumprod", "cumprod", 1)


# -- argsort ------------------------------------------------------------------------------------------


def _argsort(xp, x, axis=-1, descending=False):
    ax = axis % x.ndim
    if not descending:
        return xp.argsort(x, axis=ax, kind="stable")
    # Stable descending order: sort the reversed array ascending, reverse the result, map indices back.
    n = x.shape[ax]
    idx = xp.argsort(xp.flip(x, ax), axis=ax, kind="stable")
    return xp.ascontiguousarray((n - 1) - xp.flip(idx, ax))


def _infer_argsort(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    x = specs[0]
    _check_axis("argsort", x, attrs["axis"])
    return TensorSpec(x.shape, "int64")


register_op(OpDef(
    name="argsort", arity=1, infer=_infer_argsort, impl=_argsort, attrs={"axis": -1, "descending": False},
    cost=lambda specs, out, attrs: (specs[0].size * max(1, specs[0].shape[attrs["axis"]].bit_length()),
                                    specs[0].nbytes, out.nbytes),
    doc="stable sort indices along axis (int64); descending keeps equal values in index order too",
))
