"""What this machine can do, and what measuring costs: peaks for the roofline, and the timer's and
profiler's own cost, so every report can say how far its numbers can be trusted.

* ``machine_peaks()``: peak float32 FLOP/s (a large matmul) and memory bandwidth (a large copy),
  measured once (about a second) and cached on disk in ``calibration.json`` under
  ``$GRAPHSCOPE_CACHE_DIR`` (default ``$XDG_CACHE_HOME/graphscope`` or ``~/.cache/graphscope``),
  keyed by machine (host, CPU, core count, NumPy version). Pass an explicit ``Peaks`` to analyses
  (tests do) to make them deterministic.
* ``measure_overhead()``: the timer's resolution and the per-node cost of the interpreter with and
  without profiling, measured once per process on a chain of trivial ops and cached in memory.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

CACHE_FILE = "calibration.json"
CALIBRATION_VERSION = 1


@dataclass(frozen=True)
class Peaks:
    """Peak compute and memory throughput of a machine (roofline ceilings)."""

    flops_per_s: float  # float32 matmul
    bytes_per_s: float  # bytes read + written per second by a large copy
    source: str = "explicit"  # "explicit", "measured" or "cache"
    machine: str = ""

    @property
    def ridge_intensity(self) -> float:
        """FLOPs per byte above which a kernel is compute-bound at the peaks (the roofline's knee)."""
        return self.flops_per_s / self.bytes_per_s

    def ideal_ns(self, flops: float, bytes_moved: float) -> float:
        """The roofline time: the slower of doing the FLOPs at peak and moving the bytes at peak."""
        return max(flops / self.flops_per_s, bytes_moved / self.bytes_per_s) * 1e9

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "gflops": self.flops_per_s / 1e9, "gbps": self.bytes_per_s / 1e9}


@dataclass(frozen=True)
class Overhead:
    """The cost of measuring, per node (ns). ``profiler_ns`` is what profiling adds to each node."""

    timer_resolution_ns: float  # smallest non-zero step of perf_counter_ns seen back to back
    timer_call_ns: float  # median cost of one perf_counter_ns() call
    plain_node_ns: float  # interpreter cost of a trivial node, unprofiled (the fixed per-op cost)
    profiled_node_ns: float  # the same, profiled
    source: str = "measured"

    @property
    def profiler_ns(self) -> float:
        return max(self.profiled_node_ns - self.plain_node_ns, 0.0)

    @property
    def unreliable_below_ns(self) -> float:
        """Node times under this are of the order of the cost of measuring them."""
        return max(self.timer_resolution_ns, self.profiler_ns)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "profiler_ns": self.profiler_ns, "unreliable_below_ns": self.unreliable_below_ns}


# -- machine identity and the on-disk cache -------------------------------------------------------


def machine_key() -> str:
    return "|".join([platform.node(), platform.machine(), platform.processor() or "?", f"{os.cpu_count()} cpus",
                     f"numpy {np.__version__}"])


def cache_dir() -> str:
    explicit = os.environ.get("GRAPHSCOPE_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "graphscope")


def _read_cache(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("version") != CALIBRATION_VERSION or not isinstance(doc.get("machines"), dict):
        return {}
    return doc


def _write_cache(path: str, doc: dict[str, Any]) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home must not break a report: the peaks are measured again next time


_peaks_lock = threading.Lock()
_peaks_memo: dict[str, Peaks] = {}


def machine_peaks(*, refresh: bool = False, cache: bool = True) -> Peaks:
    """This machine's peaks: from memory, else the disk cache, else measured (and cached)."""
    key = machine_key()
    with _peaks_lock:
        if not refresh and key in _peaks_memo:
            return _peaks_memo[key]
        path = os.path.join(cache_dir(), CACHE_FILE)
        doc = _read_cache(path) if cache else {}
        entry = doc.get("machines", {}).get(key) if not refresh else None
        peaks = None
        if isinstance(entry, dict):
            try:
                peaks = Peaks(float(entry["flops_per_s"]), float(entry["bytes_per_s"]), "cache", key)
            except (KeyError, TypeError, ValueError):
                peaks = None
        if peaks is None or not (peaks.flops_per_s > 0 and peaks.bytes_per_s > 0):
            peaks = measure_peaks()
            if cache:
                doc = _read_cache(path) or {"version": CALIBRATION_VERSION, "machines": {}}
                doc["machines"][key] = {"flops_per_s": peaks.flops_per_s, "bytes_per_s": peaks.bytes_per_s,
                                        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
                _write_cache(path, doc)
        _peaks_memo[key] = peaks
        return peaks


def _best_ns(fn, reps: int, budget_ns: float) -> int:
    """The fastest of up to ``reps`` timed calls, stopping early once ``budget_ns`` is spent."""
    best = None
    spent = 0
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        fn()
        dt = time.perf_counter_ns() - t0
        spent += dt
        best = dt if best is None else min(best, dt)
        if spent > budget_ns:
            break
    return max(best or 1, 1)


def measure_peaks(budget_s: float = 1.0) -> Peaks:
    """Measure peak float32 matmul FLOP/s and copy bandwidth (best of a few runs, ~``budget_s``)."""
    rng = np.random.default_rng(0)
    # Matmul: grow n until one product takes ~20 ms (so BLAS threads are all busy), then best of a few.
    n = 256
    while True:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        a @ b  # warm up (threads, pages)
        t = _best_ns(lambda a=a, b=b: a @ b, 2, 0)
        if t > 20e6 or n >= 2048:
            break
        n *= 2
    t = _best_ns(lambda: a @ b, 8, budget_s * 0.5e9)
    flops = 2.0 * n**3 / (t * 1e-9)
    # Bandwidth: copy 64 MiB (larger than the caches) into a preallocated buffer: read + write bytes.
    src = np.ones(16 * 2**20, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    t = _best_ns(lambda: np.copyto(dst, src), 10, budget_s * 0.5e9)
    bandwidth = 2.0 * src.nbytes / (t * 1e-9)
    return Peaks(flops, bandwidth, "measured", machine_key())


# -- the cost of measuring ------------------------------------------------------------------------

_overhead_lock = threading.Lock()
_overhead_memo: Overhead | None = None


def measure_overhead(*, refresh: bool = False) -> Overhead:
    """Timer resolution and per-node interpreter cost (plain vs profiled), once per process."""
    global _overhead_memo
    with _overhead_lock:
        if _overhead_memo is None or refresh:
            _overhead_memo = _measure_overhead()
        return _overhead_memo


def _measure_overhead(nodes: int = 200, trials: int = 30) -> Overhead:
    from graphscope.backends import get_backend
    from graphscope.ir.graph import Graph
    from graphscope.ir.spec import TensorSpec
    from graphscope.runtime.interpreter import execute, execute_profiled
    from graphscope.runtime.plan import Plan

    perf = time.perf_counter_ns
    steps = []
    for _ in range(5000):
        a = perf()
        b = perf()
        steps.append(b - a)
    positive = [s for s in steps if s > 0]
    resolution = float(min(positive)) if positive else 1.0
    call = float(statistics.median(steps))

    g = Graph("overhead_probe")
    h = g.placeholder("x", TensorSpec((1,), "float32"))
    for _ in range(nodes):
        h = g.add_node("neg", [h])
    g.set_outputs([h])
    plan = Plan(g, get_backend("numpy"))
    inputs = [np.ones(1, dtype=np.float32)]

    def best(fn) -> float:
        fn()
        ts = []
        for _ in range(trials):
            t0 = perf()
            fn()
            ts.append(perf() - t0)
        return min(ts) / nodes

    # Interleave the two measures so a burst of load hits both alike.
    plain = min(best(lambda: execute(plan, inputs)) for _ in range(3))
    profiled = min(best(lambda: execute_profiled(plan, inputs)) for _ in range(3))
    plain = min(plain, best(lambda: execute(plan, inputs)))
    return Overhead(resolution, call, plain, profiled)


__all__ = ["Overhead", "Peaks", "cache_dir", "machine_key", "machine_peaks", "measure_overhead", "measure_peaks"]
