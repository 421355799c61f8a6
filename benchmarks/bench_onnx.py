"""ONNX import (issue 6): the nine light model-zoo models in graphscope (level 0 and 2) vs ONNX Runtime, in one process.

    python benchmarks/bench_onnx.py [--rounds 7] [--threads 1] [--models squeezenet,resnet50,...]

The models are the ones the onnx wheel ships in ``onnx/backend/test/data/light/`` (weights are
ConstantOfShape nodes, 0.02 everywhere: the compute is the real architecture's), fed what ONNX's own
runner feeds (``arange(n).reshape(shape) / n``, float32, batch 1). Per model, three variants run
round-robin (interleaved medians; the machine is shared and noisy):

* ``ONNX Runtime``: a CPU session with its default graph optimizations (ORT_ENABLE_ALL: its own
  fusions and layouts), ``intra_op_num_threads`` = ``--threads``;
* ``graphscope level 0``: the imported graph as it is, run by ``gs.run`` (NumPy backend, BLAS
  limited to ``--threads`` threads with threadpoolctl);
* ``graphscope level 2``: after ``gs.optimize(graph, 2)`` (cleanups, fusion, memory plan).

It also reports the one-time costs: ``from_onnx`` (import with shape folding) and ``gs.optimize``
at level 2 for graphscope, session creation for ONNX Runtime. Prints a Markdown table.

``--threads`` defaults to 1: on a shared machine, OpenBLAS's worker threads stall for a scheduler tick
when other processes hold the cores (squeezenet's convolutions took 7x longer with 2 BLAS threads than
with 1 at a load average of 3.5 on 2 cores), which measures the neighbours, not the code. Use
``--threads 2`` (or the core count) on a quiet machine. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import graphscope as gs
from graphscope.formats.onnx_import import from_onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import interleaved  # noqa: E402


def light_dir() -> str:
    import onnx

    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def light_models() -> list[str]:
    return sorted(f[len("light_"):-len(".onnx")] for f in os.listdir(light_dir()) if f.endswith(".onnx"))


def light_input(graph: gs.Graph) -> np.ndarray:
    x = graph.inputs[0]
    return (np.arange(x.spec.size).reshape(x.shape) / x.spec.size).astype(np.float32)


def ort_session(path: str, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # No spin-waiting pool threads after a run: they would take the cores from graphscope's case measured next.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def bench_model(name: str, rounds: int, threads: int) -> dict[str, float | int | str]:
    path = os.path.join(light_dir(), f"light_{name}.onnx")
    t0 = time.perf_counter()
    graph = from_onnx(path)
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    opt, _ = gs.optimize(graph, 2)
    t_opt = time.perf_counter() - t0
    t0 = time.perf_counter()
    sess = ort_session(path, threads)
    t_sess = time.perf_counter() - t0
    x = light_input(graph)
    feeds = {graph.inputs[0].name: x}
    gs.run(graph, [x]), gs.run(opt, [x])  # build the plans (and JIT kernels) before timing
    med = interleaved({
        "ort": lambda: sess.run(None, feeds),
        "gs0": lambda: gs.run(graph, [x]),
        "gs2": lambda: gs.run(opt, [x]),
    }, rounds)
    return {"name": name, "nodes0": len(graph.nodes), "nodes2": len(opt.nodes), "gflop": graph.total_cost()[0] / 1e9, **med,
            "import_s": t_import, "optimize_s": t_opt, "session_s": t_sess}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per model (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of ONNX Runtime and of BLAS in graphscope (default: %(default)s)")
    parser.add_argument("--models", default=None, help="comma-separated subset of the light models (default: all nine)")
    args = parser.parse_args(argv)
    import onnxruntime
    from threadpoolctl import threadpool_limits

    names = args.models.split(",") if args.models else light_models()
    t_all = time.perf_counter()
    load = os.getloadavg()[0]
    print(f"# onnxruntime {onnxruntime.__version__}, NumPy {np.__version__}, {os.cpu_count()} cores, {args.threads} thread(s), "
          f"rounds {args.rounds}, load average {load:.2f}", file=sys.stderr)
    rows = [
        "| model | nodes (level 0 / 2) | GFLOP | ONNX Runtime (ms) | graphscope level 0 (ms) | ratio "
        "| graphscope level 2 (ms) | ratio | import (s) | optimize (s) | ORT session (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios0, ratios2 = [], []
    for name in names:
        with threadpool_limits(limits=args.threads, user_api="blas"):
            r = bench_model(name, args.rounds, args.threads)
        ratios0.append(r["gs0"] / r["ort"])
        ratios2.append(r["gs2"] / r["ort"])
        rows.append(f"| {name} | {r['nodes0']} / {r['nodes2']} | {r['gflop']:.2f} | {r['ort']:.1f} | {r['gs0']:.1f} | "
                    f"{ratios0[-1]:.2f}x | {r['gs2']:.1f} | {ratios2[-1]:.2f}x | {r['import_s']:.2f} | "
                    f"{r['optimize_s']:.2f} | {r['session_s']:.2f} |")
        print(rows[-1], file=sys.stderr)

    def geo(v: list[float]) -> float:
        return float(np.exp(np.mean(np.log(v))))

    rows.append(f"| geometric mean | | | | | {geo(ratios0):.2f}x | | {geo(ratios2):.2f}x | | | |")
    print("\n".join(rows))
    print(f"\n{args.threads} thread(s); load average {load:.2f} before, {os.getloadavg()[0]:.2f} after; "
          f"total {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
