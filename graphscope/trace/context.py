"""Per-thread tracing state: the graph being built and the name-scope stack."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graphscope.ir.graph import Graph


class _State(threading.local):
    def __init__(self) -> None:
        self.graphs: list[Graph] = []  # innermost trace last
        self.scopes: list[str] = []


_state = _State()


def current_graph() -> Graph | None:
    return _state.graphs[-1] if _state.graphs else None


def current_scope() -> str:
    return "/".join(_state.scopes)


@contextlib.contextmanager
def tracing(graph: Graph) -> Iterator[Graph]:
    """Make ``graph`` the target of traced ops; scopes restart empty inside a trace."""
    saved = _state.scopes
    _state.graphs.append(graph)
    _state.scopes = []
    try:
        yield graph
    finally:
        _state.graphs.pop()
        _state.scopes = saved


@contextlib.contextmanager
def name_scope(name: str) -> Iterator[str]:
    """Group the nodes created inside under ``name`` (nested scopes join with '/')."""
    if not name or "/" in name:
        raise ValueError(f"name_scope: a scope name is a non-empty string without '/', got {name!r}")
    _state.scopes.append(name)
    try:
        yield current_scope()
    finally:
        _state.scopes.pop()
