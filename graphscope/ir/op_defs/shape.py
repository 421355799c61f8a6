"""Shape and data-movement ops: reshape transpose (more in the same style below)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphscope.errors import ShapeError
from graphscope.ir.ops import REQUIRED, VIEW, OpDef, normalize_axis, register_op
from graphscope.ir.spec import TensorSpec


def _move_cost(specs, out, attrs):
    return 0, specs[0].nbytes, out.nbytes


def _view_cost(specs, out, attrs):
    return 0, 0, 0  # a view moves no data (a copy, when NumPy must make one, is rare here)


def _reshape(xp, x, shape):
    return xp.reshape(x, shape)


def _infer_reshape(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    x, shape = specs[0], list(attrs["shape"])
    if shape.count(-1) > 1:
        raise ShapeError(f"op 'reshape': at most one -1 in {tuple(shape)}")
    known = 1
    for d in shape:
        if d != -1:
            if d < 0:
                raise ShapeError(f"op 'reshape': negative dimension in {tuple(shape)}")
            known *= d
    if -1 in shape:
        if known == 0 or x.size % known:
            raise ShapeError(f"op 'reshape': cannot reshape {x.shape} into {tuple(shape)}")
        shape[shape.index(-1)] = x.size // known
    elif known != x.size:
        raise ShapeError(f"op 'reshape': cannot reshape {x.shape} ({x.size} elements) into {tuple(shape)}")
    return TensorSpec(tuple(shape), x.dtype)


register_op(OpDef(
    name="reshape", arity=1, infer=_infer_reshape, impl=_reshape, attrs={"shape": REQUIRED},
    cost=_view_cost, groups=frozenset({VIEW}), doc="numpy.reshape(x, shape)",
))


def _transpose(xp, x, perm=None):
    return xp.transpose(x, perm)


def _infer_transpose(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    x, perm = specs[0], attrs["perm"]
    if perm is None:
        perm = tuple(reversed(range(x.ndim)))
    perm = tuple(normalize_axis("transpose", p, x.ndim) for p in perm)
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"op 'transpose': {attrs['perm']} is not a permutation of the axes of {x.shape}")
    return TensorSpec(tuple(x.shape[p] for p in perm), x.dtype)


register_op(OpDef(
    name="transpose", arity=1, infer=_infer_transpose, impl=_transpose, attrs={"perm": None},
    cost=_view_cost, groups=frozenset({VIEW}), doc="numpy.transpose(x, perm)",
))

_ = _move_cost  # used by the copying ops defined below
