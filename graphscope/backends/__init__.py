"""Backend registry. Backends are registered by import string so optional deps load only when used."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from graphscope.errors import BackendUnavailableError

if TYPE_CHECKING:
    from graphscope.backends.base import Backend

# name -> "module:Class"; adding a backend is one file plus one line here.
BACKENDS: dict[str, str] = {
    "numpy": "graphscope.backends.numpy_backend:NumpyBackend",
    # Importing the module does not import CuPy; making the backend does, and says which extra to
    # install (or that no CUDA device is usable) in one line.
    "cupy": "graphscope.backends.cupy_backend:CupyBackend",
}

_instances: dict[str, Backend] = {}


def register_backend(name: str, target: str) -> None:
    BACKENDS[name] = target


def get_backend(name: str | Backend = "numpy") -> Backend:
    """The backend instance for ``name`` (one per process), importing its module on first use."""
    from graphscope.backends.base import Backend

    if isinstance(name, Backend):
        return name
    if name not in _instances:
        try:
            target = BACKENDS[name]
        except KeyError:
            raise BackendUnavailableError(f"unknown backend '{name}' (available: {', '.join(sorted(BACKENDS))})") from None
        module_name, _, cls_name = target.partition(":")
        cls = getattr(importlib.import_module(module_name), cls_name)
        _instances[name] = cls()
    return _instances[name]


def available_backends() -> list[str]:
    return sorted(BACKENDS)
