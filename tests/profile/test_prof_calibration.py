"""Calibration: peaks measured once and cached on disk per machine; the cost of measuring."""

import json
import os

import pytest

from graphscope.profile import calibration as C


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An empty cache dir and no in-memory peaks."""
    monkeypatch.setenv("GRAPHSCOPE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(C, "_peaks_memo", {})
    return tmp_path


def test_measure_peaks_is_plausible_and_quick():
    p = C.measure_peaks(budget_s=0.3)
    assert p.source == "measured" and p.machine == C.machine_key()
    assert 1e9 < p.flops_per_s < 1e14  # between a GFLOP/s and 100 TFLOP/s
    assert 1e8 < p.bytes_per_s < 1e13


def test_peaks_are_cached_on_disk_per_machine(fresh, monkeypatch):
    calls = []

    def fake_measure(budget_s=1.0):
        calls.append(1)
        return C.Peaks(1.5e11, 2.5e10, "measured", C.machine_key())

    monkeypatch.setattr(C, "measure_peaks", fake_measure)
    p = C.machine_peaks()
    assert p.source == "measured" and calls == [1]
    doc = json.loads((fresh / C.CACHE_FILE).read_text())
    assert doc["version"] == C.CALIBRATION_VERSION
    assert doc["machines"][C.machine_key()]["flops_per_s"] == 1.5e11

    monkeypatch.setattr(C, "_peaks_memo", {})  # a new process: read from disk, no measuring
    p = C.machine_peaks()
    assert (p.flops_per_s, p.bytes_per_s, p.source) == (1.5e11, 2.5e10, "cache") and calls == [1]
    assert C.machine_peaks() is p  # then from memory
    assert C.machine_peaks(refresh=True).source == "measured" and calls == [1, 1]


def test_a_corrupt_or_unwritable_cache_is_not_fatal(fresh, monkeypatch):
    monkeypatch.setattr(C, "measure_peaks", lambda budget_s=1.0: C.Peaks(1e11, 1e10, "measured"))
    (fresh / C.CACHE_FILE).write_text("{not json")
    assert C.machine_peaks().source == "measured"
    blocked = fresh / "file"
    blocked.write_text("")
    monkeypatch.setenv("GRAPHSCOPE_CACHE_DIR", str(blocked / "sub"))  # a directory that cannot exist
    monkeypatch.setattr(C, "_peaks_memo", {})
    assert C.machine_peaks().flops_per_s == 1e11
    assert not os.path.exists(blocked / "sub")


def test_measure_overhead():
    o = C.measure_overhead()
    assert C.measure_overhead() is o  # once per process
    assert 0 < o.timer_resolution_ns < 1e6 and o.timer_call_ns >= 0
    assert 0 < o.plain_node_ns < o.profiled_node_ns  # profiling adds two clock reads and bookkeeping per node
    assert o.profiler_ns == pytest.approx(o.profiled_node_ns - o.plain_node_ns)
    assert o.unreliable_below_ns == max(o.timer_resolution_ns, o.profiler_ns)
    assert set(o.to_dict()) >= {"timer_resolution_ns", "profiler_ns", "plain_node_ns", "profiled_node_ns"}
