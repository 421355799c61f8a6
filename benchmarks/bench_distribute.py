"""Distribution benchmarks: data-parallel throughput and the Dask path's per-call overhead.

    python benchmarks/bench_distribute.py [--rounds 9] [--samples mlp,transformer]

For each sample (MLP: batch 256, 784-1024-1024-1024-10; transformer block: batch 8 x 128 tokens) the
same batch runs, interleaved round by round in one process:

* single process: ``gs.run(graph, inputs)`` (the baseline; BLAS uses every core);
* MirroredStrategy with 1 and 2 replicas in threads (BLAS threads divided between replicas);
* the Dask executor on a 2-worker LocalCluster (processes, 1 thread each, 127.0.0.1): the graph as a
  task graph, weights scattered once;
* MirroredStrategy(replicas=2) with its replicas as Dask tasks on the same cluster.

Throughput is samples per second from the median time of one call (the batch's leading axis), with the
ratio to the single-process run. Then the per-call overhead of the Dask path on a tiny graph (one add of
two 4-element vectors): median time per call through the cluster vs ``gs.run``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np

import graphscope as gs
from graphscope import samples
from graphscope.distribute import MirroredStrategy
from graphscope.distribute.dask import DaskExecutor, start_local_cluster
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import interleaved  # noqa: E402


def throughput_rows(names: list[str], rounds: int, dask: DaskExecutor) -> list[str]:
    rows = ["| sample | batch | case | median (ms) | samples/s | vs single process |", "|---|---:|---|---:|---:|---:|"]
    one, two = MirroredStrategy(replicas=1), MirroredStrategy(replicas=2)
    two_on_dask = MirroredStrategy(replicas=2, executor=dask)
    for name in names:
        graph, inputs = samples.build(name)
        batch = inputs[0].shape[0]
        cases = {
            "single process (gs.run)": lambda g=graph, x=inputs: gs.run(g, x),
            "MirroredStrategy, 1 replica": lambda g=graph, x=inputs: one.run(g, x),
            "MirroredStrategy, 2 replicas (threads)": lambda g=graph, x=inputs: two.run(g, x),
            "DaskExecutor, 2 workers": lambda g=graph, x=inputs: dask.run(g, x),
            "MirroredStrategy, 2 replicas on Dask": lambda g=graph, x=inputs: two_on_dask.run(g, x),
        }
        ref = gs.run(graph, inputs).outputs
        for label, fn in cases.items():  # every path gives the single-process result before it is timed
            out = fn().outputs
            for a, b in zip(ref, out):
                np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=f"{name}: {label}")
        med = interleaved(cases, rounds)
        base = med["single process (gs.run)"]
        for label, ms in med.items():
            rows.append(f"| {name} | {batch} | {label} | {ms:.2f} | {batch / (ms / 1e3):,.0f} | {base / ms:.2f}x |")
    return rows


def tiny_graph() -> tuple[Graph, list[np.ndarray]]:
    g = Graph("tiny")
    a = g.placeholder("a", TensorSpec((4,), "float32"))
    b = g.placeholder("b", TensorSpec((4,), "float32"))
    g.set_outputs([g.add_node("add", [a, b])])
    rng = np.random.default_rng(0)
    return g, [rng.standard_normal(4, dtype=np.float32), rng.standard_normal(4, dtype=np.float32)]


def overhead_rows(rounds: int, dask: DaskExecutor) -> list[str]:
    graph, inputs = tiny_graph()
    med = interleaved({"gs.run": lambda: gs.run(graph, inputs), "dask": lambda: dask.run(graph, inputs)}, rounds * 5)
    return ["| tiny graph (1 add of 4 floats) | median per call |", "|---|---:|",
            f"| gs.run, in process | {med['gs.run'] * 1e3:.1f} µs |",
            f"| DaskExecutor, 2-worker LocalCluster | {med['dask']:.2f} ms ({med['dask'] / med['gs.run']:,.0f}x) |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--samples", default="mlp,transformer")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} cores, "
          f"{args.rounds} interleaved rounds, medians\n")
    client = start_local_cluster(n_workers=2, threads_per_worker=1)
    dask = DaskExecutor(client)
    try:
        print("\n".join(throughput_rows(args.samples.split(","), args.rounds, dask)))
        print()
        print("\n".join(overhead_rows(args.rounds, dask)))
    finally:
        dask.close()
        client.close()
        client._gs_cluster.close()


if __name__ == "__main__":  # Dask's worker processes re-import this module
    main()
