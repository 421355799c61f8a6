"""Bundled sample graphs, built deterministically from the model code in ``models.py``.

Large weights are not committed: ``ensure_samples(directory)`` (run by ``sample_graphs/build.py``,
the CLI and the dashboard) builds any sample file that is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from graphscope.ir.graph import Graph
from graphscope.samples import models
from graphscope.trace.function import Function

SAMPLES: dict[str, Callable[..., tuple[Function, list[np.ndarray]]]] = {
    "mlp": models.mlp,
    "cnn": models.cnn,
    "transformer": models.transformer,
    "elementwise": models.elementwise,
    "inception": models.inception,
    "redundant": models.redundant,
}


def names() -> list[str]:
    return list(SAMPLES)


def model(name: str, seed: int = 0) -> tuple[Function, list[np.ndarray]]:
    """The sample's traced function and example inputs (``fn.python_function`` runs it eagerly)."""
    try:
        builder = SAMPLES[name]
    except KeyError:
        raise KeyError(f"unknown sample '{name}' (samples: {', '.join(SAMPLES)})") from None
    return builder(seed=seed)


def build(name: str, seed: int = 0) -> tuple[Graph, list[np.ndarray]]:
    """The sample graph ``name`` and example inputs for it."""
    fn, inputs = model(name, seed)
    return fn.get_graph(*inputs), inputs


def ensure_samples(directory: str, only: list[str] | None = None, force: bool = False) -> list[str]:
    """Write ``<directory>/<name>.gsg`` for each sample that is missing; return the paths."""
    from graphscope.formats.native import save

    os.makedirs(directory, exist_ok=True)
    paths = []
    for name in only or names():
        path = os.path.join(directory, f"{name}.gsg")
        if force or not os.path.exists(path):
            graph, _ = build(name)
            save(graph, path)
        paths.append(path)
    return paths


def random_inputs(graph: Graph, seed: int = 0) -> list[np.ndarray]:
    """Random inputs of the declared specs: normal floats, small ints, random bools (never zeros)."""
    rng = np.random.default_rng(seed)
    out = []
    for node in graph.inputs:
        spec = node.spec
        if spec.dtype.kind == "f":
            out.append(rng.standard_normal(spec.shape).astype(spec.dtype))
        elif spec.dtype.kind == "b":
            out.append(rng.random(spec.shape) < 0.5)
        else:
            out.append(rng.integers(1, 10, spec.shape).astype(spec.dtype))
    return out
