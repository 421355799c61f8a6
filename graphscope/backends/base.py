"""What a backend provides: one kernel per node, array transfer, and a clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from graphscope.ir.graph import Node
from graphscope.ir.ops import get_op

Kernel = Callable[..., Any]


class Backend:
    """Base backend over an array module ``xp`` with a NumPy-compatible API.

    ``kernel(node)`` binds the op's implementation to the node's attributes once, at plan time,
    so the interpreter's hot loop only calls ``kernel(*arrays)``. Subclasses put faster kernels
    in ``KERNELS`` (op name -> factory taking the node).
    """

    name = "base"
    xp: ModuleType
    KERNELS: dict[str, Callable[[Node], Kernel]] = {}

    def kernel(self, node: Node) -> Kernel:
        factory = self.KERNELS.get(node.op)
        if factory is not None:
            return factory(node)
        opdef = get_op(node.op)
        xp = self.xp
        if opdef.ufunc is not None and not node.attrs:
            return getattr(xp, opdef.ufunc)
        impl, attrs = opdef.impl, node.attrs
        if attrs:
            return lambda *arrays: impl(xp, *arrays, **attrs)
        return lambda *arrays: impl(xp, *arrays)

    def asarray(self, value: Any) -> Any:
        return self.xp.asarray(value)

    def to_numpy(self, value: Any) -> Any:
        return value

    def synchronize(self) -> None:
        """Wait for queued work (a no-op on synchronous backends)."""

    @staticmethod
    def now_ns() -> int:
        return time.perf_counter_ns()

    def info(self) -> dict[str, Any]:
        return {"backend": self.name}
