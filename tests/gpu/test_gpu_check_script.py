"""benchmarks/gpu_check.py: exit 2 in one line without a device; its checks on the simulated device."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types

import pytest
from gpu_fake import CXX, FakeCuda

from graphscope.backends.cupy_backend import CupyBackend, cupy_status

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_check.py")


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _FakeCupyModule:
    """``cupy`` for the script's own calls (asarray, asnumpy, Device().synchronize); the rest is the fake's xp."""

    def __init__(self, fake: FakeCuda) -> None:
        self._xp = fake.xp
        self.asarray = fake.upload
        self.asnumpy = fake.download
        self.cuda = types.SimpleNamespace(Device=lambda *a: types.SimpleNamespace(synchronize=fake.synchronize))

    def __getattr__(self, name: str):
        return getattr(self._xp, name)


def test_without_a_device_it_exits_2_with_one_line():
    if cupy_status() == "ok":
        pytest.skip("a CUDA device is usable here")
    proc = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu_check: cannot run: backend 'cupy'"), proc.stderr


@pytest.mark.skipif(CXX is None, reason="no C++ compiler for the generated kernels' host twins")
def test_the_check_passes_on_the_simulated_device_and_catches_a_wrong_kernel(capsys):
    gc = _module()
    fake = FakeCuda()
    be = CupyBackend(runtime=fake)
    lines, failed = gc.run_check(be, _FakeCupyModule(fake), seed=123, rounds=2, warmup=1, names=["mlp", "inception"])
    text = "\n".join(lines)
    assert not failed, text
    assert "cases match NumPy" in text and "Result: OK (0 op case(s) and 0 sample check(s) failed)" in text
    rows = [ln for ln in lines if ln.startswith("| mlp |") or ln.startswith("| inception |")]
    assert len(rows) == 2 and all(ln.count("|") == 12 for ln in rows)

    be.KERNELS["tanh"] = lambda node: (lambda x: x)  # a wrong kernel: the check must say so
    op_failures, n = gc.check_ops(be, seed=5)
    assert op_failures and all(f.startswith("tanh[") for f in op_failures) and n > len(op_failures)
