"""Per-thread tracing state: the traces being built (innermost last) and the name-scope stack."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphscope.ir.graph import Graph, Node


class Trace:
    """One trace in progress: its graph and the constants already made for it.

    ``arrays`` maps ``id(array)`` to ``(array, node)`` so a NumPy array read twice (a weight used in
    two places) stays one constant node; ``scalars`` maps ``(dtype, bytes, scope)`` to the node of a
    0-d constant, so ``x * 0.5`` in a loop does not add one constant per iteration.
    """

    __slots__ = ("graph", "arrays", "scalars")

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.arrays: dict[int, tuple[Any, Node]] = {}
        self.scalars: dict[tuple, Node] = {}


class _State(threading.local):
    def __init__(self) -> None:
        self.traces: list[Trace] = []  # innermost trace last
        self.scopes: list[str] = []
        self.scope: str = ""  # "/".join(scopes), kept current so each node reads it for free


_state = _State()


def current_trace() -> Trace | None:
    traces = _state.traces
    return traces[-1] if traces else None


def current_graph() -> Graph | None:
    traces = _state.traces
    return traces[-1].graph if traces else None


def current_scope() -> str:
    return _state.scope


@contextlib.contextmanager
def tracing(graph: Graph) -> Iterator[Graph]:
    """Make ``graph`` the target of traced ops; scopes restart empty inside a trace."""
    saved = _state.scopes, _state.scope
    _state.traces.append(Trace(graph))
    _state.scopes, _state.scope = [], ""
    try:
        yield graph
    finally:
        _state.traces.pop()
        _state.scopes, _state.scope = saved


@contextlib.contextmanager
def name_scope(name: str) -> Iterator[str]:
    """Group the nodes created inside under ``name``; nested scopes join with '/' (``encoder/layer0``).

    Works inside a trace (node scopes) and in eager mode (the scope eager observers, such as the
    profiler, see). Usable as a decorator too: ``@gs.name_scope("block")``.
    """
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"name_scope: a scope name is a non-empty string without '/', got {name!r}")
    _state.scopes.append(name)
    saved = _state.scope
    _state.scope = f"{saved}/{name}" if saved else name
    try:
        yield _state.scope
    finally:
        _state.scopes.pop()
        _state.scope = saved
