"""Shared fixtures: fixed peaks and overhead (deterministic classification), a private cache dir."""

import os

import pytest

from graphscope.profile.calibration import Overhead, Peaks


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Calibration never writes to the real home during tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRAPHSCOPE_CACHE_DIR", str(tmp_path_factory.mktemp("gs-cache")))
        yield os.environ["GRAPHSCOPE_CACHE_DIR"]


@pytest.fixture
def peaks() -> Peaks:
    """100 GFLOP/s and 10 GB/s: the ridge point is at 10 FLOPs per byte."""
    return Peaks(flops_per_s=100e9, bytes_per_s=10e9)


@pytest.fixture
def overhead() -> Overhead:
    """A 40 ns timer, 0.5 us fixed per-op cost, 0.9 us profiler cost per node."""
    return Overhead(timer_resolution_ns=40.0, timer_call_ns=50.0, plain_node_ns=500.0, profiled_node_ns=1400.0,
                    source="explicit")



def _openblas_threads():
    """(get, set) for the number of OpenBLAS threads NumPy uses, or None when not found."""
    import ctypes
    import glob

    import numpy as np

    root = os.path.dirname(os.path.dirname(np.__file__))
    candidates = glob.glob(os.path.join(root, "numpy.libs", "*openblas*"))
    candidates += glob.glob(os.path.join(root, "numpy", ".dylibs", "*openblas*"))
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ("64_", "_64_", ""):
            for prefix in ("scipy_openblas", "openblas"):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    get.restype = ctypes.c_int
                    return get, set_
    return None


@pytest.fixture(scope="session", autouse=True)
def _single_threaded_blas():
    """On a loaded machine a multithreaded BLAS call can wait a whole scheduler tick (~16 ms) for its
    worker thread, which would swamp the rankings these tests assert: use one BLAS thread here."""
    import ctypes

    funcs = _openblas_threads()
    if funcs is None:
        yield
        return
    get, set_ = funcs
    old = get()
    set_(ctypes.c_int(1))
    yield
    set_(ctypes.c_int(old))
