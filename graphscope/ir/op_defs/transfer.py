"""Transfer ops: ``to_device`` (host -> GPU) and ``to_host`` (GPU -> host), inserted by placement.

They compute nothing: the value is the input, moved. A GPU backend runs them as copies on a stream
(timed, with their bytes); on NumPy a copy stands in, so a placed graph still runs anywhere and its
profile still shows every crossing. ``device`` names the GPU side (``"gpu:0"``): the destination of
``to_device``, the source of ``to_host``. They are IMPURE so that no pass folds or merges them away.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphscope.ir.ops import IMPURE, OpDef, register_op
from graphscope.ir.spec import TensorSpec


def _same(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    return specs[0]


def _cost(specs, out, attrs):
    return 0, specs[0].nbytes, out.nbytes


def _to_device(xp, x, device="gpu:0"):
    return xp.array(x, copy=True)  # CuPy: cupy.array(host array) uploads; NumPy: a copy stands in


def _to_host(xp, x, device="gpu:0"):
    if isinstance(x, np.ndarray):
        return x.copy()
    asnumpy = getattr(xp, "asnumpy", None)  # cupy.asnumpy downloads a device array
    return asnumpy(x) if asnumpy is not None else np.array(x, copy=True)


register_op(OpDef(
    name="to_device", arity=1, infer=_same, impl=_to_device, attrs={"device": "gpu:0"}, cost=_cost,
    groups=frozenset({IMPURE}), doc="copy a host value to a device (inserted by placement)",
))
register_op(OpDef(
    name="to_host", arity=1, infer=_same, impl=_to_host, attrs={"device": "gpu:0"}, cost=_cost,
    groups=frozenset({IMPURE}), doc="copy a device value to the host (inserted by placement)",
))
