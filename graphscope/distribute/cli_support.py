"""What the ``graphscope`` command needs for ``--dask ADDRESS`` and ``--replicas N``.

    parser = ...; cli_support.add_arguments(profile_parser)
    executor = cli_support.executor_from_args(args)      # None when neither flag was given
    try:
        result = gs.run(graph, inputs, profile=True, repeat=..., warmup=..., executor=executor)
    finally:
        if executor is not None:
            executor.close()

``--dask tcp://host:8786`` runs the graph on that cluster (one task per segment, lanes per worker
thread); ``--dask local`` or ``local:N`` starts a LocalCluster of N worker processes (default 2) on
127.0.0.1 for this command; ``--replicas N`` runs N data-parallel replicas (threads here, or Dask tasks
when ``--dask`` is given too). Errors: MissingExtraError and ClusterUnavailableError are setup problems
(exit 2); other DistributedError (a lost worker, a batch that cannot be split) end the run (exit 1).
"""

from __future__ import annotations

import argparse
from typing import Any

from graphscope.distribute.errors import DistributedError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("distribution")
    group.add_argument("--dask", metavar="ADDRESS", default=None,
                       help="run on the Dask cluster at ADDRESS (tcp://host:8786), or 'local[:N]' for a LocalCluster "
                            "of N worker processes on 127.0.0.1 (needs graphscope-profiler[distributed])")
    group.add_argument("--replicas", type=_positive, default=None, metavar="N",
                       help="split the batch (axis 0 of every input) across N data-parallel replicas")
    group.add_argument("--dask-timeout", type=float, default=10.0, metavar="S",
                       help="seconds to wait for the Dask scheduler (default 10)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def executor_from_args(args: argparse.Namespace) -> Any:
    return make_executor(dask=getattr(args, "dask", None), replicas=getattr(args, "replicas", None),
                         timeout=getattr(args, "dask_timeout", 10.0))


def make_executor(dask: str | None = None, replicas: int | None = None, *, timeout: float = 10.0,
                  batch_axis: Any = 0) -> Any:
    """An executor for ``gs.run(..., executor=)``, or None for a plain run. Its ``close()`` releases
    what it made (a client, a LocalCluster, threads)."""
    executor = None
    if dask:
        from graphscope.distribute.dask import DaskExecutor, start_local_cluster

        if dask == "local" or dask.startswith("local:"):
            n = int(dask.partition(":")[2] or 2)
            executor = DaskExecutor(start_local_cluster(n), timeout=timeout)
            executor._own = True
        else:
            executor = DaskExecutor(address=dask, timeout=timeout)
    if replicas is not None:
        from graphscope.distribute.mirrored import MirroredStrategy

        if replicas < 1:
            raise DistributedError(f"--replicas must be at least 1, got {replicas}")
        strategy = MirroredStrategy(replicas=replicas, batch_axis=batch_axis, executor=executor)
        strategy.owns_executor = executor is not None
        return strategy
    return executor


def describe(executor: Any) -> str:
    """One line for the command's header: where the run happens."""
    if executor is None:
        return "this process"
    from graphscope.distribute.mirrored import MirroredStrategy

    if isinstance(executor, MirroredStrategy):
        where = "threads" if executor.executor is None else describe(executor.executor)
        return f"{executor.replicas} data-parallel replicas on {where}"
    workers = len(executor.client.scheduler_info().get("workers", {}))
    return f"Dask cluster {executor.scheduler_address} ({workers} workers)"
