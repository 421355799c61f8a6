"""``gs.device("gpu:0")``: place the nodes traced inside the block on a device.

    @gs.function
    def model(x):
        with gs.device("cpu"):
            x = preprocess(x)          # stays on the host, whatever the backend
        with gs.device("gpu:0"):
            return net(x)

Each node made inside the block is recorded in ``graph.metadata["placement"]`` (node id -> device);
blocks nest (the innermost wins). Nodes traced outside any block go to the backend's default device.
Placement is read by GPU backends (``graphscope.placement``); the NumPy backend runs every node on the
host. Outside a trace the block does nothing (eager ops run on the arrays they are given). A
``@gs.function`` caches its graph per input signature, so the placement is the one in force when it
was first traced.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from graphscope.placement.placement import parse_device

if TYPE_CHECKING:
    from graphscope.ir.graph import Graph, Node


class _State(threading.local):
    def __init__(self) -> None:
        self.stack: list[str] = []


_state = _State()


@contextlib.contextmanager
def device(name: str) -> Iterator[str]:
    """Place the nodes traced inside on ``name`` (``"cpu"``, ``"gpu:0"``, ``"gpu"`` = ``"gpu:0"``)."""
    dev = parse_device(name)
    _state.stack.append(dev)
    try:
        yield dev
    finally:
        _state.stack.pop()


def current_device() -> str | None:
    """The device of the innermost ``gs.device`` block of this thread (None outside any)."""
    stack = _state.stack
    return stack[-1] if stack else None


def record(graph: Graph, node: Node) -> None:
    """Called by the tracer for every node it adds: note the node's device when a block is active."""
    stack = _state.stack
    if stack:
        graph.metadata.setdefault("placement", {})[node.id] = stack[-1]
