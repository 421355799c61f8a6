"""Debugging overheads: check_numerics, value summaries and capture against a plain run, in one process.

    python benchmarks/bench_debug.py [--rounds 15] [--samples mlp,transformer] [--levels 0,2]

Every case of a sample and level runs round-robin with its plain baseline (``gs.run(g, x)``), so drift
on a shared machine hits all alike; the table gives medians and ratios to the plain run. Each debug
run is one observed run (``execute_observed``) doing per node only what was asked:

* ``check_numerics``: one vectorized ``isfinite(...).all()`` per float output (views skipped);
* ``value_summaries``: shape, min/max/mean/std in float64, NaN/Inf counts and a 20-bin histogram per
  node (inputs and constants too; constants are summarized once per plan);
* ``capture *``: a copy of every computed value.

A last table gives the per-node cost of the observer on a chain of 1,000 tiny ops (where the
interpreter's own overhead dominates), against the plain interpreter.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import graphscope as gs
from graphscope import samples

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import interleaved  # noqa: E402


def bench_samples(names: list[str], levels: list[int], rounds: int) -> list[str]:
    rows = ["| sample | level | nodes | checked | plain (ms) | check_numerics (ms) | ratio | value_summaries (ms) | ratio "
            "| capture * (ms) | ratio |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in names:
        g, inputs = samples.build(name)
        for level in levels:
            graph = g if level == 0 else gs.optimize(g, level)[0]
            checked = gs.run(graph, inputs, check_numerics=True, profile=True).profile.metadata["debug"]["checked_nodes"]
            med = interleaved({
                "plain": lambda graph=graph, inputs=inputs: gs.run(graph, inputs),
                "check": lambda graph=graph, inputs=inputs: gs.run(graph, inputs, check_numerics=True),
                "summaries": lambda graph=graph, inputs=inputs: gs.run(graph, inputs, value_summaries=True),
                "capture": lambda graph=graph, inputs=inputs: gs.run(graph, inputs, capture="*"),
            }, rounds)
            p = med["plain"]
            rows.append(f"| {name} | {level} | {len(graph)} | {checked} | {p:.2f} | {med['check']:.2f} | "
                        f"{med['check'] / p:.3f}x | {med['summaries']:.2f} | {med['summaries'] / p:.3f}x | "
                        f"{med['capture']:.2f} | {med['capture'] / p:.3f}x |")
            print(rows[-1], flush=True)
    return rows


def bench_chain(rounds: int, n: int = 1000) -> list[str]:
    """Per-node cost of the observer where kernels are trivial (16-element float32 vector)."""

    @gs.function
    def chain(x):
        for i in range(n):
            x = x + 0.5 if i % 2 == 0 else x * 0.9
        return x

    x = np.linspace(-1, 1, 16, dtype=np.float32)
    g = chain.get_graph(x)
    med = interleaved({
        "plain": lambda: gs.run(g, [x]),
        "check_numerics": lambda: gs.run(g, [x], check_numerics=True),
        "value_summaries": lambda: gs.run(g, [x], value_summaries=True),
    }, rounds)
    rows = [f"| chain of {n:,} tiny ops | µs per node | added by the option (µs/node) |", "|---|---:|---:|"]
    for k, ms in med.items():
        rows.append(f"| {k} | {ms * 1e3 / n:.2f} | {(ms - med['plain']) * 1e3 / n:+.2f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds per measurement (median taken)")
    ap.add_argument("--samples", default="mlp,transformer", help="comma-separated sample names")
    ap.add_argument("--levels", default="0,2", help="comma-separated optimization levels")
    args = ap.parse_args()
    print(f"graphscope {gs.__version__}, NumPy {np.__version__}, rounds={args.rounds}\n")
    rows = bench_samples(args.samples.split(","), [int(x) for x in args.levels.split(",")], args.rounds)
    print()
    print("\n".join(rows))
    print()
    print("\n".join(bench_chain(args.rounds)))


if __name__ == "__main__":
    main()
