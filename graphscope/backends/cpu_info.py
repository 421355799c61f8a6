"""What the CPU offers and which BLAS kernels NumPy actually runs, for profiles to record.

A profile that says "matmuls run at 10% of peak" is more useful when it can also say why: OpenBLAS
picks its kernels by CPU detection when NumPy loads it, and on CPUs it does not recognise (new AMD
EPYC parts under a hypervisor, seen on this project's machines) it falls back to its AVX2 "Haswell"
kernels although the CPU has AVX-512: sgemm then runs at about half its speed
(``OPENBLAS_CORETYPE=SkylakeX`` set before Python starts: 111 -> 207 GFLOP/s single-threaded, see
benchmarks/RESULTS.md). Both facts are read once per process.
"""

from __future__ import annotations

import functools
import platform
from typing import Any

# OpenBLAS core types whose kernels use at most AVX2 (no AVX-512).
AVX2_OR_OLDER_CORETYPES = frozenset({
    "haswell", "zen", "sandybridge", "nehalem", "core2", "penryn", "dunnington", "atom", "prescott", "katmai",
    "coppermine", "northwood", "barcelona", "bulldozer", "piledriver", "steamroller", "excavator", "bobcat",
    "opteron", "opteron_sse3", "athlon", "nano", "generic",
})
# What to set instead on an AVX-512 CPU (SkylakeX kernels need AVX512F/CD/BW/DQ/VL).
AVX512_CORETYPE = "SkylakeX"


@functools.cache
def cpu_features() -> dict[str, Any]:
    """The CPU's model name and whether it has AVX2 and AVX-512 (Linux /proc/cpuinfo; unknown elsewhere)."""
    model, flags = platform.processor() or platform.machine(), None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model in ("", platform.machine(), platform.processor()):
                    model = value.strip()
                elif key == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    if flags is None:
        return {"model": model, "avx2": None, "avx512": None}
    avx512 = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"} <= flags
    return {"model": model, "avx2": "avx2" in flags, "avx512": avx512}


@functools.cache
def blas_runtime() -> dict[str, Any]:
    """The BLAS NumPy loaded: library, version, kernel architecture and threads (via threadpoolctl when
    installed; otherwise only what NumPy's build configuration says)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return {"library": pool.get("internal_api"), "version": pool.get("version"),
                        "architecture": pool.get("architecture"), "threads": pool.get("num_threads")}
    try:
        import numpy as np

        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return {"library": blas.get("name"), "version": blas.get("version"), "architecture": None, "threads": None}
    except Exception:  # numpy's config layout is not an API: absent facts are None
        return {"library": None, "version": None, "architecture": None, "threads": None}


def blas_kernel_mismatch(machine: dict[str, Any]) -> str | None:
    """The OpenBLAS core type in use when it is an AVX2-or-older one on a CPU with AVX-512, else None."""
    blas, cpu = machine.get("blas") or {}, machine.get("cpu") or {}
    arch = str(blas.get("architecture") or "")
    if str(blas.get("library") or "").lower() != "openblas" or not cpu.get("avx512"):
        return None
    return arch if arch.lower() in AVX2_OR_OLDER_CORETYPES else None
