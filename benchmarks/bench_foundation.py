"""Foundation benchmarks: graphscope (no optimization) vs plain NumPy eager, in one process.

    python benchmarks/bench_foundation.py [--rounds 15] [--samples mlp,transformer,...]

Every measurement is interleaved with its baseline (eager NumPy, then graphscope, then graphscope
with profiling, round after round) and reported as medians and ratios, because the machine is
shared and noisy. Sections:

1. sample workloads: NumPy eager vs graphscope run vs graphscope profiled run;
2. per-node interpreter overhead on a 1,000-node chain of tiny elementwise ops;
3. tracing speed (transformer sample, and a generated 10,000-node graph).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

import numpy as np

import graphscope as gs
from graphscope import samples
from graphscope.backends import get_backend
from graphscope.runtime.run import get_plan

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import interleaved  # noqa: E402


def bench_samples(names: list[str], rounds: int) -> list[str]:
    rows = ["| sample | nodes | NumPy eager (ms) | graphscope (ms) | ratio | profiled (ms) | profiling cost |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name in names:
        fn, inputs = samples.model(name)
        graph = fn.get_graph(*inputs)
        med = interleaved({
            "eager": lambda fn=fn, inputs=inputs: fn.python_function(*inputs),
            "graph": lambda graph=graph, inputs=inputs: gs.run(graph, inputs),
            "profiled": lambda graph=graph, inputs=inputs: gs.run(graph, inputs, profile=True),
        }, rounds)
        rows.append(
            f"| {name} | {len(graph)} | {med['eager']:.2f} | {med['graph']:.2f} | {med['graph'] / med['eager']:.3f}x "
            f"| {med['profiled']:.2f} | {100 * (med['profiled'] / med['graph'] - 1):+.1f}% |"
        )
    return rows


def chain_body(n: int = 1000) -> Callable[[np.ndarray], np.ndarray]:
    """n tiny elementwise ops (cycling add/mul/tanh/sub): the chain every benchmark uses."""

    def body(x):
        for i in range(n):
            k = i % 4
            if k == 0:
                x = x + 0.5
            elif k == 1:
                x = x * 0.9
            elif k == 2:
                x = np.tanh(x)
            else:
                x = x - 0.1
        return x

    return body


def chain_input() -> np.ndarray:
    return np.random.default_rng(0).standard_normal(16).astype(np.float32)


def chain_graph(n: int = 1000) -> tuple[gs.Graph, list[np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """The chain of ``chain_body`` traced on a 16-element float32 vector, its input, and the eager body."""
    body, x = chain_body(n), chain_input()
    return gs.function(body).get_graph(x), [x], body


def bench_overhead(rounds: int) -> list[str]:
    n = 1000
    graph, inputs, body = chain_graph(n)
    plan = get_plan(graph, get_backend("numpy"))
    kernels = [(s.kernel, s.args) for s in plan.steps]
    consts = plan.template

    def bare_kernels():
        # The same kernels called back to back with no interpreter: the floor for one NumPy call per node.
        v = inputs[0]
        for fn, args in kernels:
            v = fn(v, consts[args[1]]) if len(args) == 2 else fn(v)
        return v

    med = interleaved({
        "numpy eager": lambda: body(inputs[0]),
        "bare kernels": bare_kernels,
        "graphscope": lambda: gs.run(graph, inputs),
        "graphscope profiled": lambda: gs.run(graph, inputs, profile=True),
    }, rounds)
    per = {k: v * 1e3 / n for k, v in med.items()}  # us per node
    rows = ["| chain of 1,000 tiny ops | µs per node | vs NumPy eager | interpreter overhead (µs/node, vs bare kernels) |",
            "|---|---:|---:|---:|"]
    for k, v in per.items():
        rows.append(f"| {k} | {v:.2f} | {v / per['numpy eager']:.2f}x | {v - per['bare kernels']:+.2f} |")
    return rows


def bench_tracing(rounds: int) -> list[str]:
    fn, inputs = samples.model("transformer")

    def trace_transformer():
        gs.function(fn.python_function).get_graph(*inputs)

    def generated(n: int = 10_000):
        def body(x, y):
            for _ in range(n // 4):
                x = np.tanh(x * 1.0001 + y) - 0.5
            return x
        a = np.ones((8, 8), np.float32)
        return gs.function(body).get_graph(a, a)

    n_nodes = len(generated())
    med = interleaved({"transformer": trace_transformer, "generated": generated}, max(3, rounds // 3))
    n_tr = len(fn.get_graph(*inputs))
    return [
        "| tracing | nodes | median time (ms) | per 10,000 nodes (s) |",
        "|---|---:|---:|---:|",
        f"| transformer sample | {n_tr} | {med['transformer']:.1f} | {med['transformer'] / n_tr * 10:.3f} |",
        f"| generated chain | {n_nodes} | {med['generated']:.1f} | {med['generated'] / n_nodes * 10:.3f} |",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds per measurement (median taken)")
    ap.add_argument("--samples", default="mlp,cnn,transformer,elementwise,inception",
                    help="comma-separated sample names")
    args = ap.parse_args()
    print(f"graphscope {gs.__version__}, NumPy {np.__version__}, rounds={args.rounds}\n")
    for section in (bench_samples(args.samples.split(","), args.rounds), bench_overhead(args.rounds * 4),
                    bench_tracing(args.rounds)):
        print("\n".join(section) + "\n", flush=True)


if __name__ == "__main__":
    main()
