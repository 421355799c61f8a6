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
    # op name -> factory taking the node and returning a kernel ``f(*arrays, out)`` that writes the
    # node's value into ``out`` (a C-contiguous array of the node's shape and dtype) and returns
    # ``out``, or None when it cannot for this node (a dtype it does not handle exactly).
    OUT_KERNELS: dict[str, Callable[[Node], Kernel | None]] = {}
    # ops whose out kernel may be handed one of its inputs as ``out`` (same shape and dtype):
    # op name -> predicate (node, input index) -> bool.
    IN_PLACE: dict[str, Callable[[Node, int], bool]] = {}

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

    def out_kernel(self, node: Node) -> Kernel | None:
        """The node's kernel writing into a given buffer (see ``OUT_KERNELS``), or None.

        The memory plan places values whose op has one in a persistent arena; the others are
        allocated by their kernel on every run. Results must equal the plain kernel's bit for bit.
        """
        factory = self.OUT_KERNELS.get(node.op)
        return factory(node) if factory is not None else None

    def in_place_ok(self, node: Node, index: int) -> bool:
        """Whether the out kernel may write over input ``index`` (a buffer of the node's own spec)."""
        rule = self.IN_PLACE.get(node.op)
        return rule is not None and rule(node, index)

    def kernel_threads(self, node: Node, kernel: Kernel | None = None) -> int:
        """How many cores the node's kernel keeps busy (the scheduler never oversubscribes them).

        1 for single-threaded kernels; backends with multi-threaded kernels (BLAS) say more. A
        kernel may also carry a ``threads`` attribute (e.g. a parallel compiled kernel).
        """
        return int(getattr(kernel, "threads", 1) or 1)

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
