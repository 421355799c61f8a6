"""GPU check: every op and every sample graph on the CuPy backend against NumPy, then timings vs CuPy eager.

    python benchmarks/gpu_check.py [--seed N] [--rounds 15] [--out FILE]

On a CUDA machine, in one process (a few minutes):

1. every op case of ``tests/ops/op_cases.py``, rebuilt on fresh random data (``--seed``, default: from
   the clock, printed), as a one-node graph on the CuPy backend, against the case's NumPy reference
   with the CPU tests' tolerances (float32: rtol 3e-5, atol 3e-6, times the case's factor);
2. every sample graph (``graphscope.samples``) at optimization levels 0 and 2 on fresh random inputs,
   against the same model run in float64 by NumPy (max error / max |reference| < 1e-4, the CPU tests'
   float32 bound), plus the profile's bookkeeping: a device time for every GPU node, and the CuPy
   pool's used bytes (sampled after every node) never below the executor's logical device bytes;
3. timings of each sample: plain CuPy eager code (the level-0 graph's ops called one by one on CuPy
   arrays, ``impl(cupy, ...)``) vs graphscope at level 0 and level 2 (inputs and outputs on the device,
   one synchronize per call), interleaved round by round; medians and ratios to eager, and from one
   profiled level-2 run its summed device and host dispatch times and GPU memory peak.

Prints markdown tables (and writes them to ``--out``); exit status 0 when everything matches, 1 on any
mismatch, 2 (with one line) when no CUDA device is usable.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import traceback

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "ops"))

import graphscope as gs  # noqa: E402
from graphscope import samples  # noqa: E402
from graphscope.backends.cupy_backend import cupy_status  # noqa: E402
from graphscope.ir.graph import Graph  # noqa: E402
from graphscope.ir.ops import get_op  # noqa: E402
from graphscope.ir.spec import TensorSpec  # noqa: E402
from graphscope.profile.analysis import analyze  # noqa: E402

SAMPLE_BOUND = 1e-4


def check_ops(be, seed: int) -> tuple[list[str], int]:
    from op_cases import assert_close, build_cases

    failures = []
    cases = build_cases(seed)
    for c in cases:
        try:
            want = np.asarray(c.ref(*c.inputs))
            g = Graph(c.op)
            ins = [g.placeholder(f"in{i}", TensorSpec.of(a)) for i, a in enumerate(c.inputs)]
            g.set_outputs([g.add_node(c.op, ins, c.attrs)])
            got = np.asarray(be.run(g, c.inputs).outputs[0])
            assert_close(got, want, np.dtype(c.dtype) if c.dtype else want.dtype, c.tol, c.id)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, the check goes on
            failures.append(f"{c.id}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
    return failures, len(cases)


def eager_runner(graph: Graph, cp):
    """The graph's ops called one by one on CuPy arrays, as plain eager CuPy code would (values freed at last use)."""
    consts = {n.id: cp.asarray(n.value) for n in graph.nodes if n.op == "constant"}
    compute = [n for n in graph.nodes if n.op not in ("placeholder", "constant")]
    last = {}
    for k, n in enumerate(compute):
        for i in n.inputs:
            last[i.id] = k
    keep = {o.id for o in graph.outputs} | set(consts) | {n.id for n in graph.inputs}
    steps = [(n.id, get_op(n.op).impl, [i.id for i in n.inputs], dict(n.attrs),
              [i for i in {x.id for x in n.inputs} if last[i] == k and i not in keep]) for k, n in enumerate(compute)]
    in_ids, out_ids = [n.id for n in graph.inputs], [n.id for n in graph.outputs]

    def run(inputs):
        vals = dict(consts)
        vals.update(zip(in_ids, inputs))
        for nid, impl, args, attrs, frees in steps:
            vals[nid] = impl(cp, *[vals[a] for a in args], **attrs)
            for f in frees:
                del vals[f]
        return [vals[o] for o in out_ids]

    return run


def check_profile(prof) -> list[str]:
    """Every GPU node has a device time; the pool never holds less than the logical device bytes."""
    out = []
    meta = prof.metadata["gpu"]
    base, host = meta["pool_baseline_used_bytes"], 0
    for e in prof.iterations[-1]:
        info = prof.nodes[e.node_id]
        if e.lane != "cpu" and e.device_ns is None:
            out.append(f"%{e.node_id} {info.name}: no device time")
        if info.op == "to_host" or e.lane == "cpu":
            host += e.bytes_allocated
        pool = meta["pool_used_bytes"][str(e.node_id)] - base
        if pool < e.live_bytes - host:
            out.append(f"%{e.node_id} {info.name}: pool {pool} B < logical device bytes {e.live_bytes - host} B")
    return out[:5]


def check_sample(be, cp, name: str, seed: int):
    """(table row, timed callables, problems) of one sample on fresh inputs, at levels 0 and 2."""
    fn, _ = samples.model(name)
    graph, _ = samples.build(name)
    inputs = samples.random_inputs(graph, seed=seed)
    ref = fn.python_function(*[x.astype(np.float64) for x in inputs])  # the model itself, in float64
    scale = np.abs(ref).max()
    opt, _ = gs.optimize(graph, level=2)
    d_in = [cp.asarray(x) for x in inputs]
    eager = eager_runner(graph, cp)
    runners = {"eager": lambda: eager(d_in)}
    problems, errs, report = [], {}, None
    for level, g in ((0, graph), (2, opt)):
        run = be.run(g, inputs, profile=True, repeat=2)  # NumPy inputs and outputs: transfers included
        errs[level] = float(np.abs(np.asarray(run.outputs[0], np.float64) - ref).max() / scale)
        if not errs[level] < SAMPLE_BOUND:
            problems.append(f"{name} level {level}: relative error {errs[level]:.2e} >= {SAMPLE_BOUND:.0e}")
        problems += [f"{name} level {level}: {m}" for m in check_profile(run.profile)]
        runners[f"L{level}"] = lambda g=g: be.run(g, d_in, output_device=None)
        report = analyze(run.profile)
    e_err = float(np.abs(cp.asnumpy(eager(d_in)[0]).astype(np.float64) - ref).max() / scale)
    if not e_err < SAMPLE_BOUND:
        problems.append(f"{name} CuPy eager baseline: relative error {e_err:.2e} >= {SAMPLE_BOUND:.0e}")
    return (name, len(graph), len(opt), errs, report), runners, problems


def run_check(be, cp, *, seed: int, rounds: int, warmup: int = 3, names: list[str] | None = None) -> tuple[list[str], bool]:
    """The whole check on backend ``be`` with array module ``cp``: (markdown lines, whether anything failed)."""
    info = be.info()
    lines = [f"GPU check: {info.get('device')} (CC {info.get('compute_capability')}, {info.get('memory_bytes', 0) / 2**30:.0f} "
             f"GiB), CuPy {info.get('cupy')}, CUDA runtime {info.get('cuda_runtime')}, driver {info.get('cuda_driver')}, "
             f"NumPy {np.__version__}; seed {seed}, {rounds} rounds", ""]
    print(lines[0], flush=True)

    t0 = time.perf_counter()
    op_failures, n_cases = check_ops(be, seed)
    lines += [f"Ops: {n_cases - len(op_failures)}/{n_cases} cases match NumPy ({time.perf_counter() - t0:.0f} s)", ""]
    lines += [f"- FAIL {f}" for f in op_failures[:50]] + ([""] if op_failures else [])
    print("\n".join(lines[2:]), flush=True)

    rows, sample_failures, timers = [], [], {}
    for name in names or samples.names():
        try:
            row, runners, problems = check_sample(be, cp, name, seed)
        except Exception as exc:  # noqa: BLE001 - reported, the other samples still run
            traceback.print_exc()
            sample_failures.append(f"{name}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
            continue
        sample_failures += problems
        rows.append(row)
        timers[name] = runners

    sync = cp.cuda.Device().synchronize
    for runners in timers.values():  # warm-up: compile the fused kernels, fill the memory pool
        for f in runners.values():
            for _ in range(warmup):
                f()
            sync()
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):  # interleaved: each variant once per round, round after round
        for name, runners in timers.items():
            for key, f in runners.items():
                t = time.perf_counter()
                f()
                sync()
                times.setdefault((name, key), []).append(time.perf_counter() - t)

    table = len(lines)
    lines += ["| sample | nodes L0/L2 | max rel. error L0 / L2 | CuPy eager (ms) | L0 (ms) | L2 (ms) | L0/eager | L2/eager "
              "| L2 device / dispatch (ms) | L2 bound | GPU memory peak |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for name, n0, n2, errs, rep in rows:
        med = {k: statistics.median(times[(name, k)]) * 1e3 for k in ("eager", "L0", "L2")}
        d = rep.device
        lines.append(f"| {name} | {n0}/{n2} | {errs[0]:.1e} / {errs[2]:.1e} | {med['eager']:.3f} | {med['L0']:.3f} | "
                     f"{med['L2']:.3f} | {med['L0'] / med['eager']:.2f}x | {med['L2'] / med['eager']:.2f}x | "
                     f"{d.device_ns / 1e6:.3f} / {d.dispatch_ns / 1e6:.3f} | {d.bound} | "
                     f"{(d.pool_peak_used_bytes or 0) / 2**20:.1f} MiB |")
    lines += [""] + [f"- FAIL {f}" for f in sample_failures]
    failed = bool(op_failures or sample_failures)
    lines.append(f"Result: {'FAIL' if failed else 'OK'} ({len(op_failures)} op case(s) and {len(sample_failures)} sample "
                 f"check(s) failed)")
    print("\n".join(lines[table:]), flush=True)
    return lines, failed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=None, help="random data seed (default: from the clock)")
    ap.add_argument("--rounds", type=int, default=15, help="timing rounds (default: %(default)s)")
    ap.add_argument("--samples", default=None, help="comma-separated sample names (default: all)")
    ap.add_argument("--out", default=None, help="also write the tables to this file")
    args = ap.parse_args(argv)
    status = cupy_status()
    if status != "ok":
        print(f"gpu_check: cannot run: {status}", file=sys.stderr)
        return 2
    import cupy as cp

    from graphscope.backends import get_backend

    seed = args.seed if args.seed is not None else int(time.time()) % 1_000_000
    lines, failed = run_check(get_backend("cupy"), cp, seed=seed, rounds=args.rounds,
                              names=args.samples.split(",") if args.samples else None)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
