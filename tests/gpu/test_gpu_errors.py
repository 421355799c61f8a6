"""Asking for the CuPy backend where it cannot run: one clear line, never a crash inside CUDA code."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

import graphscope as gs
from graphscope.backends import available_backends, get_backend
from graphscope.backends.cupy_backend import INSTALL_HINT, check_device, cupy_status, load_cupy
from graphscope.errors import BackendUnavailableError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (the import of CuPy is simulated there, not here)."""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)


def test_cupy_is_registered_lazily():
    assert "cupy" in available_backends()
    proc = _python("""
        import sys
        import graphscope as gs
        import graphscope.backends.cupy_backend
        from graphscope.backends import available_backends
        assert "cupy" in available_backends()
        assert "cupy" not in sys.modules, "importing graphscope or the backend module must not import CuPy"
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_without_cupy_the_error_names_the_extra():
    proc = _python("""
        import sys
        sys.modules["cupy"] = None  # as if CuPy were not installed
        import numpy as np
        import graphscope as gs
        from graphscope.ir.graph import Graph
        from graphscope.ir.spec import TensorSpec
        g = Graph("g"); x = g.placeholder("x", TensorSpec((3,), "float32")); g.set_outputs([g.add_node("exp", [x])])
        try:
            gs.run(g, [np.ones(3, np.float32)], backend="cupy")
        except gs.BackendUnavailableError as exc:
            print(type(exc).__name__ + ": " + str(exc))
        else:
            print("no error")
    """)
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert "\n" not in line
    assert line.startswith("BackendUnavailableError: backend 'cupy' needs CuPy, which is not installed")
    assert "graphscope-profiler[gpu]" in line and "cupy-cuda13x" in line


def test_a_broken_cupy_install_is_one_line():
    proc = _python("""
        import sys, types
        class Broken(types.ModuleType):
            def __getattr__(self, name):
                raise AttributeError(name)
        import importlib.abc, importlib.machinery
        class Finder(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name == "cupy":
                    return importlib.machinery.ModuleSpec(name, Loader())
        class Loader(importlib.abc.Loader):
            def create_module(self, spec):
                return None
            def exec_module(self, module):
                raise OSError("libcudart.so.12: cannot open shared object file: No such file or directory\\nmore")
        sys.meta_path.insert(0, Finder())
        from graphscope.backends import get_backend
        try:
            get_backend("cupy")
        except Exception as exc:
            print(type(exc).__name__ + ": " + str(exc))
    """)
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert "\n" not in line
    assert line.startswith("BackendUnavailableError: backend 'cupy': importing CuPy failed (OSError: libcudart.so.12")
    assert INSTALL_HINT in line


def _fake_cupy(available: bool, count: int = 1, raises: Exception | None = None) -> types.SimpleNamespace:
    def is_available() -> bool:
        if raises is not None:
            raise raises
        return available

    runtime = types.SimpleNamespace(getDeviceCount=lambda: count)
    return types.SimpleNamespace(__version__="13.6.0", cuda=types.SimpleNamespace(is_available=is_available, runtime=runtime))


def test_no_usable_device_says_so():
    with pytest.raises(BackendUnavailableError, match=r"CuPy 13.6.0 is installed but no usable CUDA device .*is_available\(\) "
                       r"is False.*backend='numpy'"):
        check_device(_fake_cupy(False))
    with pytest.raises(BackendUnavailableError, match=r"no usable CUDA device was found \(CUDARuntimeError: "
                       r"cudaErrorInsufficientDriver\)"):
        check_device(_fake_cupy(True, raises=type("CUDARuntimeError", (RuntimeError,), {})("cudaErrorInsufficientDriver")))
    with pytest.raises(BackendUnavailableError, match=r"CUDA device 2 does not exist \(2 device\(s\): 0..1\); set "
                       r"GRAPHSCOPE_CUDA_DEVICE"):
        check_device(_fake_cupy(True, count=2), 2)
    check_device(_fake_cupy(True, count=2), 1)  # fine


def test_real_cupy_without_a_device():
    """With CuPy installed on a machine without a GPU (CI): the real is_available() path, one line."""
    try:
        cupy = load_cupy()
    except BackendUnavailableError as exc:
        pytest.skip(f"CuPy is not installed here ({exc})")
    if cupy.cuda.is_available():
        pytest.skip("a CUDA device is usable here: the no-device path cannot be exercised")
    status = cupy_status()
    assert status.startswith(f"backend 'cupy': CuPy {cupy.__version__} is installed but no usable CUDA device")
    with pytest.raises(BackendUnavailableError) as info:
        get_backend("cupy")
    assert str(info.value) == status and "\n" not in status
    x = np.ones(3, np.float32)
    g = gs.function(lambda x: np.exp(x)).get_graph(x)
    with pytest.raises(BackendUnavailableError, match="no usable CUDA device"):
        gs.run(g, [x], backend="cupy")


def test_cli_profile_with_cupy_is_a_usage_error_without_a_device(tmp_path):
    if cupy_status() == "ok":
        pytest.skip("a CUDA device is usable here")
    x = np.ones((2, 3), np.float32)
    path = tmp_path / "g.gsg"
    gs.save(gs.function(lambda x: np.tanh(x)).get_graph(x), str(path))
    proc = subprocess.run([sys.executable, "-m", "graphscope.cli", "profile", str(path), "--backend", "cupy", "--repeat", "2"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphscope: error: backend 'cupy'"), proc.stderr
