"""Ops without computation: graph inputs, constants, identity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphscope.ir.ops import REQUIRED, SOURCE, VIEW, OpDef, register_op
from graphscope.ir.spec import TensorSpec


def _infer_declared(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    return TensorSpec(tuple(attrs["shape"]), attrs["dtype"])


def _no_impl(xp, *args, **attrs):
    raise RuntimeError("placeholder and constant nodes are filled by the runtime, not computed")


def _zero_cost(specs, out, attrs):
    return 0, 0, 0


register_op(OpDef(
    name="placeholder", arity=0, infer=_infer_declared, impl=_no_impl,
    attrs={"shape": REQUIRED, "dtype": REQUIRED}, cost=_zero_cost, groups=frozenset({SOURCE}),
    doc="a graph input",
))
register_op(OpDef(
    name="constant", arity=0, infer=_infer_declared, impl=_no_impl,
    attrs={"shape": REQUIRED, "dtype": REQUIRED}, cost=_zero_cost, groups=frozenset({SOURCE}),
    doc="a constant array (its value is stored on the node, not in attrs)",
))


def _identity(xp, x):
    return x


register_op(OpDef(
    name="identity", arity=1, infer=lambda specs, attrs: specs[0], impl=_identity, cost=_zero_cost,
    groups=frozenset({VIEW}), doc="the input itself",
))
