"""Exceptions raised by graphscope. Every message names the node, file or line at fault."""

from __future__ import annotations


class GraphscopeError(Exception):
    """Base class of every graphscope error."""


class TracingError(GraphscopeError):
    """An operation the tracer cannot follow (data-dependent control flow, an unsupported function)."""


class ShapeError(GraphscopeError, ValueError):
    """Operand shapes or dtypes that an op does not accept."""


class UnknownOpError(GraphscopeError, KeyError):
    """An op name that is not in the catalogue."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class GraphError(GraphscopeError):
    """A graph that breaks an invariant (cycle, dangling use, inconsistent spec)."""


class GraphFormatError(GraphscopeError):
    """A graph or profile file that cannot be loaded: truncated, corrupt, wrong version, invalid."""


class NodeExecutionError(GraphscopeError):
    """A node raised while the graph ran; the message names node, op, scope, source line and inputs."""

    def __init__(self, message: str, node_id: int | None = None) -> None:
        super().__init__(message)
        self.node_id = node_id


class BackendUnavailableError(GraphscopeError):
    """A backend whose optional dependency or device is missing."""
