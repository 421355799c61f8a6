"""Elementwise fusion (issue 3): every CPU technique for fused nodes vs plain NumPy eager, in one process.

    python benchmarks/bench_fusion.py [--rounds 15] [--cold] [--workloads elementwise,transformer,chain]

Workloads: the ``elementwise`` sample (layer_norm(gelu(x*w+b)) on 4096x1024 float32), the
``transformer`` sample (one encoder block), and a chain of 1,000 tiny elementwise ops on a
16-element vector (the same chain as bench_foundation.py). Every variant runs round-robin with its
baseline (interleaved medians: the machine is shared and noisy):

* ``numpy eager``: the model's own NumPy code;
* ``numpy eager, x*x*x``: the same with the GELU's ``x**3`` spelled ``x*x*x`` (NumPy's float
  ``power`` is slow; this is the honest hand-tuned baseline);
* ``level 1 (unfused)``: graphscope after the exact cleanups, one NumPy call per node;
* ``fused: reference``: level 2, fused nodes run by the fused op's generic ``impl`` (step by step,
  whole arrays);
* ``fused: numpy``: level 2, cache-blocked ufuncs into preallocated per-thread buffers, thread pool;
* ``fused: numba``: level 2, one generated and compiled row kernel per fused node, thread pool;
* ``fused: numba, outputs in the arena``: the same with the fused out-kernel registered, so the
  memory plan keeps fused intermediates in its arena (no allocation, no page faults per run).

It also reports the first-call cost of each engine (binding plus JIT compile, or a disk-cache
load); ``--cold`` points the kernel cache at a fresh directory to measure compiles from scratch.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

import graphscope as gs
from graphscope import samples
from graphscope.backends import fused_kernels, get_backend
from graphscope.passes.pipeline import optimize
from graphscope.runtime.run import get_plan
from graphscope.samples import models

ENGINES = ("reference", "numpy", "numba")


def _time(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t0) / 1e6  # ms


def interleaved(cases: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median ms of each case, measured round-robin so drift hits all cases alike."""
    for fn in cases.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, fn in cases.items():
                times[name].append(_time(fn))
    finally:
        if gc_was:
            gc.enable()
    return {k: statistics.median(v) for k, v in times.items()}


def _gelu_cube(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))))


def _eager_cube(fn: gs.Function) -> Callable[..., object]:
    """The model's eager code with the GELU's x**3 spelled x*x*x (the samples look it up at call time)."""

    def run(*inputs):
        saved = models._gelu_tanh
        models._gelu_tanh = _gelu_cube
        try:
            return fn.python_function(*inputs)
        finally:
            models._gelu_tanh = saved

    return run


def chain_workload(n: int = 1000) -> tuple[gs.Function, list[np.ndarray]]:
    """n tiny elementwise ops (cycling add/mul/tanh/sub) on a 16-element float32 vector."""

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

    x = np.random.default_rng(0).standard_normal(16).astype(np.float32)
    return gs.function(body, name="chain"), [x]


def workload(name: str) -> tuple[gs.Function, list[np.ndarray]]:
    return chain_workload() if name == "chain" else samples.model(name)


def bind(graph: gs.Graph, engine: str, arena: bool = False) -> tuple[gs.Graph, float]:
    """A copy of ``graph`` whose plan binds fused nodes with ``engine``; and the seconds binding took.

    ``arena``: also register the fused out-kernel, so the memory plan (if the backend has one) keeps
    fused intermediates in its arena instead of allocating them on every run.
    """
    g = graph.copy()
    backend = get_backend("numpy")
    out_kernels, in_place = getattr(backend, "OUT_KERNELS", None), getattr(backend, "IN_PLACE", None)
    added = arena and out_kernels is not None and in_place is not None and "fused" not in out_kernels
    if added:
        out_kernels["fused"], in_place["fused"] = fused_kernels.fused_out_kernel, fused_kernels.fused_in_place_ok
    t0 = time.perf_counter()
    try:
        with fused_kernels.use_engine(engine):
            get_plan(g, backend)
    finally:
        if added:
            del out_kernels["fused"], in_place["fused"]
    return g, time.perf_counter() - t0


def bench(names: list[str], rounds: int) -> list[str]:
    rows = ["| workload | variant | nodes | ms (median) | vs NumPy eager | vs eager x*x*x | first call (s) |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for name in names:
        fn, inputs = workload(name)
        graph = fn.get_graph(*inputs)
        level1, _ = optimize(graph, level=1)
        level2, log = optimize(graph, level=2)
        cases: dict[str, Callable[[], object]] = {"numpy eager": lambda fn=fn, inputs=inputs: fn.python_function(*inputs)}
        if name != "chain":
            cases["numpy eager, x*x*x"] = lambda fn=fn, inputs=inputs: _eager_cube(fn)(*inputs)
        cases["level 1 (unfused)"] = lambda g=level1, inputs=inputs: gs.run(g, inputs)
        sizes = {"numpy eager": len(graph), "numpy eager, x*x*x": len(graph), "level 1 (unfused)": len(level1)}
        first: dict[str, float] = {}
        ref = gs.run(level1, inputs).outputs[0]
        variants = [(e, False) for e in ENGINES] + [("numba", True)]
        for engine, arena in variants:
            if engine == "numba" and not fused_kernels.numba_available():
                continue
            if arena and not hasattr(get_backend("numpy"), "OUT_KERNELS"):
                continue
            g, bind_s = bind(level2, engine, arena)
            variant = f"fused: {engine}" + (", outputs in the arena" if arena else "")
            t0 = time.perf_counter()
            out = gs.run(g, inputs).outputs[0]
            first[variant] = bind_s + time.perf_counter() - t0
            err = float(np.max(np.abs(out.astype(np.float64) - ref))) if out.size else 0.0
            if not np.allclose(out, ref, rtol=1e-4, atol=1e-5):
                print(f"warning: {name}, {variant}: differs from level 1 by {err:.3g}", file=sys.stderr)
            cases[variant] = lambda g=g, inputs=inputs: gs.run(g, inputs)
            sizes[variant] = len(g)
        med = interleaved(cases, rounds)
        cube = med.get("numpy eager, x*x*x")
        for variant, ms in med.items():
            vs_cube = f"{ms / cube:.3f}x" if cube else "-"
            fc = f"{first[variant]:.2f}" if variant in first else "-"
            ratio = ms / med["numpy eager"]
            rows.append(f"| {name} | {variant} | {sizes[variant]} | {ms:.3f} | {ratio:.3f}x | {vs_cube} | {fc} |")
        fused = sum(len(p.fused) for p in log.passes)
        blocked = [b for p in log.passes if p.name == "elementwise_fusion" for b in p.blocked]
        rows.append(f"| {name} | (fusion: {fused} fused nodes, {len(blocked)} blocked entries) | | | | | |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds per workload (median taken)")
    ap.add_argument("--workloads", default="elementwise,transformer,chain", help="comma-separated: elementwise, "
                    "transformer, chain, or any sample name")
    ap.add_argument("--cold", action="store_true", help="compile kernels into a fresh cache directory")
    args = ap.parse_args()
    if args.cold:
        os.environ["GRAPHSCOPE_CACHE_DIR"] = tempfile.mkdtemp(prefix="graphscope-bench-")
    print(f"graphscope {gs.__version__}, NumPy {np.__version__}, numba "
          f"{'available' if fused_kernels.numba_available() else 'missing'}, {os.cpu_count()} CPUs, rounds={args.rounds}"
          f"{', cold kernel cache' if args.cold else ''}\n")
    print("\n".join(bench(args.workloads.split(","), args.rounds)) + "\n", flush=True)


if __name__ == "__main__":
    main()
