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

``--techniques`` (or ``--only-techniques``) measures the choices behind the simplification and pattern
fusion passes, each against its alternatives in one interleaved run:

* a transposed product operand: the swapped view handed to BLAS vs a contiguous operand vs copying
  the transpose first (the fold in ``passes/simplify.py`` keeps the view);
* a product's epilogue (MLP layer: bias + relu on 256x1024; FFN: bias + GELU on 1024x2048): a separate
  fused node into a new buffer vs in place on the product's buffer on one and on two threads vs NumPy
  ufuncs in place;
* a compiled fused kernel handed the same buffer as input and output: the two-array kernel (LLVM's
  overlap check fails and the scalar loop runs) vs the in-place variant;
* attention (8 heads x 128 x 64 per batch of 8): batched products with the softmax in place on the
  scores vs a loop over heads keeping each head's scores in cache, on one lane and on two.
"""

from __future__ import annotations

import argparse
import math
import os
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_foundation import chain_body, chain_input  # noqa: E402
from timing import interleaved  # noqa: E402

ENGINES = ("reference", "numpy", "numba")


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
    """The benchmarks' chain of n tiny elementwise ops (bench_foundation.chain_body) as a gs.Function."""
    return gs.function(chain_body(n), name="chain"), [chain_input()]


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


# -- the techniques behind simplification and pattern fusion -------------------------------------------


def _row(label: str, med: dict[str, float], base: str) -> list[str]:
    return [f"| {label} | {k} | {v:.3f} | {v / med[base]:.2f}x |" for k, v in med.items()]


def _epilogue_cases(rng: np.random.Generator, m: int, k: int, n: int, act: Callable) -> dict[str, Callable[[], object]]:
    from graphscope.ir.op_defs.fused_matmul import product_spec

    a = rng.standard_normal((m, k), dtype=np.float32)
    w = (rng.standard_normal((k, n), dtype=np.float32) / np.float32(math.sqrt(k))).astype(np.float32)
    b = rng.standard_normal(n, dtype=np.float32)
    sep, _ = optimize(gs.function(lambda x: act(x @ w + b)).get_graph(a),
                      passes=["constant_folding", "elementwise_fusion"])
    (fused,) = [x for x in sep.nodes if x.op == "fused"]
    (fm,) = [x for x in optimize(gs.function(lambda x: act(x @ w + b)).get_graph(a), level=2)[0].nodes
             if x.op == "fused_matmul"]
    prog, extras = fm.attrs["epilogue"], fm.inputs[2:]
    specs = [product_spec([i.spec for i in fm.inputs], fm.attrs)] + [i.spec for i in extras]
    ro = [False] + [True] * len(extras)
    one = fused_kernels.program_compute(prog, specs, ro, alias=0, min_work=1 << 62)
    two = fused_kernels.program_compute(prog, specs, ro, alias=0, min_work=0)
    sep_kernel = fused_kernels.fused_out_kernel(fused)
    sep_args = [i.value for i in fused.inputs]
    slot = [i.op for i in fused.inputs].index("matmul")  # the product; the others are constants
    vals = [e.value for e in extras]
    prod, out = np.empty((m, n), np.float32), np.empty((m, n), np.float32)

    def separate():
        np.matmul(a, w, out=prod)
        args = list(sep_args)
        args[slot] = prod
        sep_kernel(*args, out)

    def in_place(compute):
        def run():
            np.matmul(a, w, out=prod)
            compute((prod, *vals), prod)
        return run

    return {"product only": lambda: np.matmul(a, w, out=prod), "product, then a fused node (new buffer)": separate,
            "in-place epilogue, 1 thread": in_place(one), "in-place epilogue, 2 threads": in_place(two)}


def bench_techniques(rounds: int) -> list[str]:
    rng = np.random.default_rng(0)
    rows = ["| technique | variant | ms (median) | vs first |", "|---|---|---:|---:|"]
    for label, (a, bt) in {
        "a @ b.mT, 256x1024 @ (1024x1024).T": (rng.standard_normal((256, 1024), dtype=np.float32),
                                             rng.standard_normal((1024, 1024), dtype=np.float32)),
        "q @ k.mT, (8,8,128,64) @ (8,8,128,64).mT": (rng.standard_normal((8, 8, 128, 64), dtype=np.float32),
                                                    rng.standard_normal((8, 8, 128, 64), dtype=np.float32)),
    }.items():
        view = np.swapaxes(bt, -1, -2)
        contig = np.ascontiguousarray(view)
        assert np.array_equal(np.matmul(a, view), np.matmul(a, contig))  # the fold is exact
        rows += _row(label, interleaved({"transposed view to BLAS": lambda a=a, v=view: np.matmul(a, v),
                                         "contiguous operand": lambda a=a, c=contig: np.matmul(a, c),
                                         "copy the transpose, then multiply":
                                             lambda a=a, v=view: np.matmul(a, np.ascontiguousarray(v))}, rounds),
                     "transposed view to BLAS")
    relu = lambda t: np.maximum(t, np.float32(0))  # noqa: E731
    rows += _row("MLP layer: relu(x @ w + b), 256x1024x1024", interleaved(_epilogue_cases(rng, 256, 1024, 1024, relu), rounds),
                 "product only")
    rows += _row("FFN: gelu(x @ w + b), 1024x512x2048", interleaved(_epilogue_cases(rng, 1024, 512, 2048, _gelu_cube), rounds),
                 "product only")
    # A compiled kernel given one buffer as input and output: a flat program (bias + GELU) and a row program
    # (the elementwise block, with its layer norm's reductions).
    bias = rng.standard_normal(2048, dtype=np.float32)
    x = rng.standard_normal((1024, 2048), dtype=np.float32)
    for label, fn, inputs in (("bias + GELU, 1024x2048", gs.function(lambda t: _gelu_cube(t + bias)), [x]),
                              ("elementwise block, 1024x2048", *models.elementwise(rows=1024, cols=2048))):
        (node,) = [n for n in optimize(fn.get_graph(*inputs), level=2)[0].nodes if n.op == "fused"]
        plain, variant = fused_kernels._compute(node), fused_kernels._compute(node, alias=0)
        rest = [i.value for i in node.inputs[1:]]
        src, buf, dst = inputs[0], inputs[0].copy(), np.empty_like(inputs[0])

        def case(compute, out_is_input, src=src, buf=buf, dst=dst, rest=rest):
            def run():  # every case refills its input first: a kernel run over its own output again and again
                np.copyto(buf, src)  # drifts towards subnormal values, which are slow
                compute([buf, *rest], buf if out_is_input else dst)
            return run

        rows += _row(f"fused kernel, {label} (each incl. a refill copy)", interleaved({
            "into another buffer": case(plain, False), "same buffer, two-array kernel": case(plain, True),
            "same buffer, in-place variant": case(variant, True)}, rounds), "into another buffer")
    rows += _attention_rows(rng, rounds)
    return rows


def _attention_rows(rng: np.random.Generator, rounds: int) -> list[str]:
    from concurrent.futures import ThreadPoolExecutor

    from graphscope.ir.spec import TensorSpec

    b, h, s, d = 8, 8, 128, 64
    q, v = (rng.standard_normal((b, h, s, d), dtype=np.float32) for _ in range(2))
    kt = np.swapaxes(rng.standard_normal((b, s, h * d), dtype=np.float32).reshape(b, s, h, d).transpose(0, 2, 1, 3), -1, -2)
    scale = np.float32(1 / math.sqrt(d))
    f = gs.function(lambda q, k, v: gs.ops.softmax((q @ np.swapaxes(k, -1, -2)) * scale, axis=-1) @ v)
    (fm,) = [x for x in optimize(f.get_graph(q, np.ascontiguousarray(np.swapaxes(kt, -1, -2)), v), level=2)[0].nodes
             if x.op == "fused_matmul"]
    prog = fm.attrs["epilogue"]
    whole = fused_kernels.program_compute(prog, [TensorSpec((b, h, s, s), "float32")], alias=0,
                                          min_work=fused_kernels.EPILOGUE_PARALLEL_MIN_WORK)
    tile = fused_kernels.program_compute(prog, [TensorSpec((s, s), "float32")], alias=0, min_work=1 << 62)
    scores, out = np.empty((b, h, s, s), np.float32), np.empty((b, h, s, d), np.float32)
    tiles = [np.empty((s, s), np.float32) for _ in range(2)]
    pool = ThreadPoolExecutor(2)

    def batched():
        np.matmul(q, kt, out=scores)
        whole((scores,), scores)
        np.matmul(scores, v, out=out)

    def heads(lane: int, lanes: int) -> None:
        t = tiles[lane]
        for i in range(lane, b * h, lanes):
            bi, hi = divmod(i, h)
            np.matmul(q[bi, hi], kt[bi, hi], out=t)
            tile((t,), t)
            np.matmul(t, v[bi, hi], out=out[bi, hi])

    def two_lanes():
        other = pool.submit(heads, 1, 2)
        heads(0, 2)
        other.result()

    try:
        return _row("attention: softmax(q @ k.mT * s) @ v, 8x8 heads of 128x64", interleaved({
            "batched products, softmax in place on the scores": batched,
            "per head (scores stay in cache), 1 lane": lambda: heads(0, 1),
            "per head, 2 lanes": two_lanes}, rounds), "batched products, softmax in place on the scores")
    finally:
        pool.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds per workload (median taken)")
    ap.add_argument("--workloads", default="elementwise,transformer,chain", help="comma-separated: elementwise, "
                    "transformer, chain, or any sample name")
    ap.add_argument("--cold", action="store_true", help="compile kernels into a fresh cache directory")
    ap.add_argument("--techniques", action="store_true", help="also measure the pattern-fusion techniques (see above)")
    ap.add_argument("--only-techniques", action="store_true", help="measure only the pattern-fusion techniques")
    args = ap.parse_args()
    if args.cold:
        os.environ["GRAPHSCOPE_CACHE_DIR"] = tempfile.mkdtemp(prefix="graphscope-bench-")
    print(f"graphscope {gs.__version__}, NumPy {np.__version__}, numba "
          f"{'available' if fused_kernels.numba_available() else 'missing'}, {os.cpu_count()} CPUs, rounds={args.rounds}"
          f"{', cold kernel cache' if args.cold else ''}\n")
    if not args.only_techniques:
        print("\n".join(bench(args.workloads.split(","), args.rounds)) + "\n", flush=True)
    if args.techniques or args.only_techniques:
        print("\n".join(bench_techniques(args.rounds)) + "\n", flush=True)


if __name__ == "__main__":
    main()
