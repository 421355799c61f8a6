"""Timing for the benchmarks: interleaved rounds, medians (the machine is shared and noisy).

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from timing import interleaved
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable


def _time(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t0) / 1e6  # ms


def interleaved(cases: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median ms of each case, measured round-robin (order rotated every round) so drift hits all cases alike."""
    for fn in cases.values():  # warm-up: plans, caches, page faults of first allocations
        fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    gc_was = gc.isenabled()
    gc.disable()
    try:
        items = list(cases.items())
        for r in range(rounds):
            # Each round starts at the next case: a case runs faster right after one that freed large
            # buffers (measured: whichever case follows NumPy eager on the MLP gains ~6%), so no case
            # keeps one neighbour.
            for name, fn in items[r % len(items):] + items[:r % len(items)]:
                times[name].append(_time(fn))
    finally:
        if gc_was:
            gc.enable()
    return {k: statistics.median(v) for k, v in times.items()}
