"""TensorSpec: the static shape and dtype of a value in the graph."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

SUPPORTED_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")

_SHORT = {
    "float16": "f16", "float32": "f32", "float64": "f64", "int8": "i8", "int16": "i16",
    "int32": "i32", "int64": "i64", "uint8": "u8", "bool": "bool", "complex64": "c64", "complex128": "c128",
}


def format_spec(dtype: str, shape: Iterable[int]) -> str:
    """Compact text of a dtype name and shape, e.g. ``f32[256,1024]`` (unknown dtypes keep their name).
    The one formatter of specs: the printer, reports, renderings and traces all use it."""
    return f"{_SHORT.get(dtype, dtype)}[{','.join(map(str, shape))}]"


_CHECKED: dict[object, np.dtype] = {}  # dtype-like -> validated dtype (dtype.name is slow in NumPy)


def as_dtype(dtype: object) -> np.dtype:
    """Normalize anything NumPy accepts as a dtype; reject dtypes the graph cannot carry."""
    try:
        return _CHECKED[dtype]
    except (KeyError, TypeError):
        pass
    dt = np.dtype(dtype)  # type: ignore[call-overload]
    if dt.name not in SUPPORTED_DTYPES:
        raise TypeError(f"dtype {dt.name} is not supported (supported: {', '.join(SUPPORTED_DTYPES)})")
    try:
        _CHECKED[dtype] = dt
    except TypeError:
        pass
    return dt


@dataclass(frozen=True, slots=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: np.dtype

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        object.__setattr__(self, "dtype", as_dtype(self.dtype))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def short(self) -> str:
        """Compact text form, e.g. ``f32[256,1024]``."""
        return format_spec(self.dtype.name, self.shape)

    def to_json(self) -> dict:
        return {"shape": list(self.shape), "dtype": self.dtype.name}

    @classmethod
    def of(cls, array: object) -> TensorSpec:
        return cls(tuple(np.shape(array)), np.asarray(array).dtype if not hasattr(array, "dtype") else array.dtype)  # type: ignore[attr-defined]
