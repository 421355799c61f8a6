"""Neural-network ops: softmax (more in the same style below)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphscope.ir.ops import OpDef, normalize_axis, probe_dtype, register_op
from graphscope.ir.spec import TensorSpec


def _softmax(xp, x, axis=-1):
    m = xp.max(x, axis=axis, keepdims=True)
    e = xp.subtract(x, m)
    xp.exp(e, out=e)
    s = xp.sum(e, axis=axis, keepdims=True)
    e /= s
    return e


def _infer_same(name: str):
    def infer(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
        if "axis" in attrs and attrs["axis"] is not None:
            normalize_axis(name, attrs["axis"], specs[0].ndim)
        return TensorSpec(specs[0].shape, probe_dtype(name, specs, attrs))

    return infer


register_op(OpDef(
    name="softmax", arity=1, infer=_infer_same("softmax"), impl=_softmax, attrs={"axis": -1},
    flops_per_element=5,
    cost=lambda specs, out, attrs: (5 * out.size, specs[0].nbytes, out.nbytes),
    doc="exp(x - max) / sum(exp(x - max)) along axis",
))
