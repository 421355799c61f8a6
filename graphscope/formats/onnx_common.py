"""What the ONNX importer and exporter share: the lazy import of ``onnx``, dtype tables, errors.

``onnx`` is an optional dependency (the ``[onnx]`` extra); nothing here imports it at module level,
so ``import graphscope`` never needs it.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from graphscope.errors import GraphFormatError

INSTALL_HINT = "pip install 'graphscope-profiler[onnx]'"


class OnnxUnavailableError(GraphFormatError, ImportError):
    """The ``onnx`` package is missing (or too old); the message says which extra to install."""


class UnsupportedOnnxError(GraphFormatError):
    """A model that uses ops (or op variants) graphscope cannot import.

    ``ops`` maps each unsupported op type (``domain::Op`` outside the default domain) to the number
    of nodes using it, so one error lists everything a model needs, not only the first problem.
    """

    def __init__(self, message: str, ops: dict[str, int] | None = None, static_inputs: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.ops = dict(ops or {})
        self.static_inputs = tuple(static_inputs)  # graph inputs that would have to be bound as constants


class OnnxExportError(ValueError):
    """A graph that cannot be written in the requested opset (the message names the node and the fix)."""


def require_onnx(what: str = "ONNX support") -> ModuleType:
    """``import onnx``, or an OnnxUnavailableError that says which extra to install."""
    try:
        import onnx
    except ImportError as exc:
        raise OnnxUnavailableError(f"{what} needs the 'onnx' package, which is not installed ({exc}); "
                                   f"install it with: {INSTALL_HINT}") from None
    version = tuple(int(p) for p in onnx.__version__.split(".")[:2] if p.isdigit())
    if version < (1, 16):
        raise OnnxUnavailableError(f"{what} needs onnx >= 1.16, found {onnx.__version__}; upgrade with: {INSTALL_HINT}")
    return onnx


# ONNX TensorProto element types <-> NumPy dtypes graphscope carries (graphscope.ir.spec.SUPPORTED_DTYPES).
ONNX_TO_NUMPY: dict[int, str] = {
    1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 11: "float64",
}
NUMPY_TO_ONNX: dict[str, int] = {v: k for k, v in ONNX_TO_NUMPY.items()}
ONNX_TYPE_NAMES: dict[int, str] = {
    0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64", 8: "STRING",
    9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 14: "COMPLEX64", 15: "COMPLEX128",
    16: "BFLOAT16", 17: "FLOAT8E4M3FN", 18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2", 20: "FLOAT8E5M2FNUZ", 21: "UINT4",
    22: "INT4", 23: "FLOAT4E2M1",
}


def onnx_type_name(elem_type: int) -> str:
    return ONNX_TYPE_NAMES.get(elem_type, f"type {elem_type}")


def numpy_dtype(elem_type: int) -> np.dtype | None:
    """The NumPy dtype of an ONNX element type, or None when graphscope cannot carry it."""
    name = ONNX_TO_NUMPY.get(elem_type)
    return None if name is None else np.dtype(name)


def onnx_type(dtype: np.dtype | str) -> int:
    return NUMPY_TO_ONNX[np.dtype(dtype).name]


__all__ = [
    "INSTALL_HINT", "NUMPY_TO_ONNX", "ONNX_TO_NUMPY", "OnnxExportError", "OnnxUnavailableError", "UnsupportedOnnxError",
    "numpy_dtype", "onnx_type", "onnx_type_name", "require_onnx",
]
