"""Distribution: data-parallel replicas and graph execution on a Dask cluster, profiled per lane.

    strategy = gs.distribute.MirroredStrategy(replicas=2)
    run = strategy.run(graph, [x], profile=True)          # one lane per replica
    with strategy.scope():
        y = model(x)                                       # @gs.function calls split the batch

    from dask.distributed import Client
    executor = gs.distribute.DaskExecutor(Client("tcp://scheduler:8786"))
    run = executor.run(graph, [x], profile=True)           # one lane per worker thread

Dask is an optional extra (``pip install 'graphscope-profiler[distributed]'``) and is imported only
when a Dask executor is made: importing this package does not import dask.
"""

from __future__ import annotations

from typing import Any

from graphscope.distribute.errors import (
    BatchSplitError,
    ClusterUnavailableError,
    DistributedError,
    MissingExtraError,
    RebatchError,
    WorkerLostError,
)
from graphscope.distribute.mirrored import MirroredStrategy
from graphscope.distribute.rebatch import rebatch

__all__ = [
    "BatchSplitError", "ClusterUnavailableError", "DaskExecutor", "DistributedError", "MirroredStrategy",
    "MissingExtraError", "RebatchError", "WorkerLostError", "make_executor", "rebatch",
]


def __getattr__(name: str) -> Any:  # lazy: DaskExecutor's module imports dask when an executor is made
    if name == "DaskExecutor":
        from graphscope.distribute.dask import DaskExecutor

        return DaskExecutor
    if name == "make_executor":
        from graphscope.distribute.cli_support import make_executor

        return make_executor
    raise AttributeError(f"module 'graphscope.distribute' has no attribute {name!r}")
