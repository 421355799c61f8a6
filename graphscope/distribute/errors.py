"""Errors of the distribution layer. Each message says what failed, where, and what to do."""

from __future__ import annotations

from graphscope.errors import GraphscopeError

INSTALL_HINT = "pip install 'graphscope-profiler[distributed]'"


class DistributedError(GraphscopeError):
    """A distributed run that could not start or could not finish (no partial result is returned)."""


class MissingExtraError(DistributedError, ImportError):
    """An optional dependency of graphscope.distribute is not installed."""


class ClusterUnavailableError(DistributedError, ConnectionError):
    """The Dask scheduler did not answer within the timeout."""


class WorkerLostError(DistributedError):
    """A worker (a Dask worker or a replica) died or was lost while the run was in flight."""


class BatchSplitError(DistributedError, ValueError):
    """Inputs that cannot be split along the declared batch axes, or outputs that cannot be combined."""


class RebatchError(BatchSplitError):
    """A graph that cannot be rebuilt for another batch size (its batch size is baked into a node)."""


def require_dask() -> None:
    """Import check for the [distributed] extra, with the one-line install message."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(
            f"the Dask executor needs dask[distributed] ({exc.name} is not installed): {INSTALL_HINT}") from None
