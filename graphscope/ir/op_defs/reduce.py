"""Reductions over axes: sum mean max min argmax argmin var std (keepdims, negative axes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphscope.errors import ShapeError
from graphscope.ir.ops import REDUCTION, OpDef, normalize_axes, normalize_axis, probe_dtype, register_op
from graphscope.ir.spec import TensorSpec


def reduced_shape(op: str, shape: tuple[int, ...], axis: Any, keepdims: bool) -> tuple[int, ...]:
    axes = normalize_axes(op, axis, len(shape))
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _axis_arg(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _reduction(name: str, fn: str, flops: int = 1, extra: Mapping[str, Any] | None = None) -> None:
    def impl(xp, x, axis=None, keepdims=False, **kw):
        return xp.asarray(getattr(xp, fn)(x, axis=_axis_arg(axis), keepdims=keepdims, **kw))

    def infer(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
        x = specs[0]
        if name in ("max", "min") and any(x.shape[a] == 0 for a in normalize_axes(name, attrs["axis"], x.ndim)):
            raise ShapeError(f"op '{name}': zero-size operand {x.shape} has no {name} along axis {attrs['axis']}")
        return TensorSpec(reduced_shape(name, x.shape, attrs["axis"], attrs["keepdims"]), probe_dtype(name, specs, attrs))

    def cost(specs, out, attrs):
        return specs[0].size * flops, specs[0].nbytes, out.nbytes

    register_op(OpDef(
        name=name, arity=1, infer=infer, impl=impl, attrs={"axis": None, "keepdims": False, **(extra or {})},
        cost=cost, groups=frozenset({REDUCTION}), doc=f"numpy.{fn}(x, axis, keepdims)",
    ))


_reduction("sum", "sum")
_reduction("mean", "mean")
_reduction("max", "max")
_reduction("min", "min")
_reduction("prod", "prod")
_reduction("var", "var", flops=4, extra={"ddof": 0})
_reduction("std", "std", flops=5, extra={"ddof": 0})


def _arg_reduction(name: str) -> None:
    # NumPy's argmax/argmin take a single axis (or None: index into the flattened array).
    def impl(xp, x, axis=None, keepdims=False):
        return xp.asarray(getattr(xp, name)(x, axis=axis, keepdims=keepdims))

    def infer(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
        x, axis = specs[0], attrs["axis"]
        if axis is None:
            if x.size == 0:
                raise ShapeError(f"op '{name}': zero-size operand {x.shape}")
            shape = (1,) * x.ndim if attrs["keepdims"] else ()
        else:
            if not isinstance(axis, int):
                raise ShapeError(f"op '{name}': axis must be one int or None, got {axis!r}")
            ax = normalize_axis(name, axis, x.ndim)
            if x.ndim and x.shape[ax] == 0:
                raise ShapeError(f"op '{name}': zero-size axis {axis} of operand {x.shape}")
            shape = reduced_shape(name, x.shape, ax, attrs["keepdims"])
        return TensorSpec(shape, "int64")

    def cost(specs, out, attrs):
        return specs[0].size, specs[0].nbytes, out.nbytes

    register_op(OpDef(
        name=name, arity=1, infer=infer, impl=impl, attrs={"axis": None, "keepdims": False},
        cost=cost, groups=frozenset({REDUCTION}), doc=f"numpy.{name}(x, axis, keepdims)",
    ))


_arg_reduction("argmax")
_arg_reduction("argmin")
