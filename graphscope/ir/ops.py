"""The op catalogue: one OpDef per op, looked up by name.

An OpDef says everything the rest of graphscope needs to know about an op, so that no other
module keeps per-op if/elif chains:

* ``infer(specs, attrs) -> TensorSpec``: the shape/dtype rule, raising ShapeError on bad operands;
* ``impl(xp, *arrays, **attrs)``: the reference implementation written against an array module
  ``xp`` (NumPy for the reference and the CPU backend, CuPy on the GPU);
* ``cost(specs, out, attrs) -> (flops, bytes_read, bytes_written)``;
* ``groups``: derived properties (ELEMENTWISE, COMMUTATIVE, REDUCTION, VIEW, SOURCE ...).

Definitions live in ``graphscope/ir/op_defs/*.py``; adding an op is one ``register_op`` call there.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphscope.errors import ShapeError, UnknownOpError
from graphscope.ir.spec import TensorSpec

# Op groups (properties the optimizer and runtime key on).
ELEMENTWISE = "elementwise"  # output[i] depends on broadcast inputs[i] only
COMMUTATIVE = "commutative"  # binary op with f(a, b) == f(b, a)
REDUCTION = "reduction"  # reduces over attrs["axis"]
VIEW = "view"  # may return a view of its first input (no new memory)
SOURCE = "source"  # no inputs: placeholder, constant
IMPURE = "impure"  # must not be merged or folded (none yet; reserved for random ops)

Cost = tuple[int, int, int]
InferFn = Callable[[Sequence[TensorSpec], Mapping[str, Any]], TensorSpec]
ImplFn = Callable[..., Any]
CostFn = Callable[[Sequence[TensorSpec], TensorSpec, Mapping[str, Any]], Cost]

REQUIRED = object()  # marks an attribute without a default


@dataclass(frozen=True)
class OpDef:
    name: str
    arity: int | tuple[int, int | None]  # exact count, or (min, max) with None for unbounded
    infer: InferFn
    impl: ImplFn
    attrs: Mapping[str, Any] = field(default_factory=dict)  # name -> default (or REQUIRED)
    cost: CostFn | None = None
    groups: frozenset[str] = frozenset()
    ufunc: str | None = None  # name of the xp function when impl is exactly xp.<ufunc>(*inputs)
    flops_per_element: int = 1  # used by the default cost of elementwise ops
    doc: str = ""

    def check_arity(self, n: int) -> None:
        if isinstance(self.arity, int):
            ok = n == self.arity
            want = str(self.arity)
        else:
            lo, hi = self.arity
            ok = n >= lo and (hi is None or n <= hi)
            want = f"{lo}..{'' if hi is None else hi}"
        if not ok:
            raise ShapeError(f"op '{self.name}' takes {want} inputs, got {n}")

    def normalize_attrs(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """Fill defaults and reject unknown or missing attributes."""
        unknown = set(attrs) - set(self.attrs)
        if unknown:
            raise ShapeError(f"op '{self.name}' has no attribute(s) {sorted(unknown)}; known: {sorted(self.attrs)}")
        out = {}
        for key, default in self.attrs.items():
            if key in attrs:
                out[key] = freeze(attrs[key])
            elif default is REQUIRED:
                raise ShapeError(f"op '{self.name}' needs attribute '{key}'")
            else:
                out[key] = default
        return out

    def estimate_cost(self, specs: Sequence[TensorSpec], out: TensorSpec, attrs: Mapping[str, Any]) -> Cost:
        if self.cost is not None:
            return self.cost(specs, out, attrs)
        read = sum(s.nbytes for s in specs)
        flops = out.size * self.flops_per_element if ELEMENTWISE in self.groups else 0
        return flops, read, out.nbytes

    def has(self, group: str) -> bool:
        return group in self.groups


_REGISTRY: dict[str, OpDef] = {}


def register_op(op: OpDef) -> OpDef:
    if op.name in _REGISTRY:
        raise ValueError(f"op '{op.name}' is already registered")
    _REGISTRY[op.name] = op
    return op


def get_op(name: str) -> OpDef:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownOpError(f"unknown op '{name}' (not in the op catalogue)") from None


def all_ops() -> dict[str, OpDef]:
    _ensure_loaded()
    return dict(_REGISTRY)


def ops_in(group: str) -> frozenset[str]:
    _ensure_loaded()
    return frozenset(name for name, op in _REGISTRY.items() if group in op.groups)


_loaded = False


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        import graphscope.ir.op_defs  # noqa: F401  (registers every op)


# ---------------------------------------------------------------------------------------------
# Helpers shared by the op definitions.


def freeze(value: Any) -> Any:
    """Attributes are kept hashable and JSON-friendly: lists become tuples, NumPy scalars Python ones."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.dtype):
        return value.name
    return value


def broadcast(op: str, specs: Sequence[TensorSpec]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*(s.shape for s in specs)))
    except ValueError:
        shapes = " and ".join(str(s.shape) for s in specs)
        raise ShapeError(f"op '{op}': cannot broadcast shapes {shapes}") from None


_PROBED: dict[tuple, np.dtype] = {}


def _probe(op_name: str, dtypes: tuple[np.dtype, ...], ndims: tuple[int, ...], attrs: Mapping[str, Any]) -> np.dtype:
    op = _REGISTRY[op_name]
    arrays = [np.ones((1,) * nd, dtype=dt) for dt, nd in zip(dtypes, ndims)]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. var(ddof=1) of one element: only the dtype matters here
        return np.asarray(op.impl(np, *arrays, **attrs)).dtype


def probe_dtype(op: str, specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> np.dtype:
    """The dtype NumPy itself gives for these operand dtypes: run the reference on 1-element arrays.

    This makes type promotion follow NumPy's own rules (NEP 50) exactly, without a hand-kept table.
    Results are cached by (op, dtypes, ranks, attributes): tracing pays for a probe once per kind.
    """
    dtypes = tuple(s.dtype for s in specs)
    ndims = tuple(len(s.shape) for s in specs)
    try:
        key = (op, dtypes, ndims, tuple(attrs.items()))
        hit = _PROBED.get(key)
    except TypeError:  # an unhashable attribute value: probe without caching
        key, hit = None, None
    if hit is not None:
        return hit
    try:
        dt = _probe(op, dtypes, ndims, {k: freeze(v) for k, v in attrs.items()})
    except (TypeError, np.exceptions.DTypePromotionError) as exc:
        names = ", ".join(d.name for d in dtypes)
        raise ShapeError(f"op '{op}' does not accept dtypes ({names}): {exc}") from None
    if key is not None:
        _PROBED[key] = dt
    return dt


def normalize_axis(op: str, axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise ShapeError(f"op '{op}': axis {axis} is out of range for a {ndim}-d operand")
    return axis % ndim if ndim else 0


def normalize_axes(op: str, axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """Axis attribute (None = all, int, or sequence) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = tuple(sorted({normalize_axis(op, int(a), ndim) for a in axes}))
    if len(out) != len(axes):
        raise ShapeError(f"op '{op}': repeated axis in {axis}")
    return out


def elementwise_cost(flops_per_element: int) -> CostFn:
    def cost(specs: Sequence[TensorSpec], out: TensorSpec, attrs: Mapping[str, Any]) -> Cost:
        return out.size * flops_per_element, sum(s.nbytes for s in specs), out.nbytes

    return cost
