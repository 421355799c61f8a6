"""The NumPy (CPU) backend: the ops' reference implementations, with a few faster kernels."""

from __future__ import annotations

import platform

import numpy as np

from graphscope.backends.base import Backend, Kernel
from graphscope.ir.graph import Node


def _relu(node: Node) -> Kernel:
    zero = node.spec.dtype.type(0)
    maximum = np.maximum
    return lambda x: maximum(x, zero)


class NumpyBackend(Backend):
    name = "numpy"
    xp = np
    KERNELS = {"relu": _relu}

    def asarray(self, value):
        return np.asarray(value)

    def info(self) -> dict:
        return {
            "backend": self.name, "numpy": np.__version__, "device": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        }
