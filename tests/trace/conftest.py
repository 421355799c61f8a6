"""Helpers for the tracing tests: trace a function, run it, compare with eager NumPy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import graphscope as gs


def assert_same(got: Any, expected: Any, rtol: float = 1e-6, atol: float = 1e-6) -> None:
    """Same structure, and per array: same dtype, same shape, equal values (NaNs equal)."""
    if isinstance(expected, (list, tuple)):
        assert type(got) is type(expected), (type(got), type(expected))
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert_same(g, e, rtol, atol)
        return
    if isinstance(expected, dict):
        assert isinstance(got, dict) and list(got) == list(expected)
        for k in expected:
            assert_same(got[k], expected[k], rtol, atol)
        return
    g, e = np.asarray(got), np.asarray(expected)
    assert g.dtype == e.dtype, f"traced dtype {g.dtype} != NumPy dtype {e.dtype}"
    assert g.shape == e.shape, f"traced shape {g.shape} != NumPy shape {e.shape}"
    if e.dtype.kind in "biu":
        np.testing.assert_array_equal(g, e)
    else:
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, equal_nan=True)


def traced_matches(fn: Callable, *args: Any, rtol: float = 1e-6, atol: float = 1e-6, **kwargs: Any) -> gs.Graph:
    """Trace ``fn`` with ``gs.function``, run the graph, assert it matches ``fn`` run eagerly; return the graph."""
    expected = fn(*args, **kwargs)
    f = gs.function(fn)
    got = f(*args, **kwargs)
    assert_same(got, expected, rtol, atol)
    graph = f.get_graph(*args, **kwargs)
    graph.lint()
    assert len(f.signatures()) == 1
    return graph


def ops_of(graph: gs.Graph, *, sources: bool = False) -> list[str]:
    """Op names in order; placeholders and constants left out unless ``sources``."""
    return [n.op for n in graph.nodes if sources or n.op not in ("placeholder", "constant")]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


@pytest.fixture
def check() -> Callable[..., gs.Graph]:
    """``check(fn, *args)``: trace, run and compare with eager NumPy (dtype, shape, values); the graph."""
    return traced_matches


@pytest.fixture
def same() -> Callable[..., None]:
    return assert_same


@pytest.fixture
def op_names() -> Callable[..., list[str]]:
    return ops_of
