"""The CuPy backend's executor on a simulated device (``gpu_fake.FakeCuda``, the ``CudaRuntime`` boundary).

What runs is the real backend: placement, transfer nodes, streams and their events, host dispatch
and device times, logical memory accounting against the pool, the profile and the report. Only CUDA
itself is simulated, with a device clock whose costs are known, so the bookkeeping is checked exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from gpu_fake import COPY_NS, CXX, LAUNCH_NS, DeviceArray, FakeCuda
from test_gpu_placement import branches, ping_pong

import graphscope as gs
from graphscope import samples
from graphscope.backends.cupy_backend import CupyBackend, GpuKernelWarning
from graphscope.errors import NodeExecutionError, ShapeError
from graphscope.ir.graph import Graph
from graphscope.profile.analysis import analyze
from graphscope.profile.text import format_report


@pytest.fixture
def gpu() -> tuple[FakeCuda, CupyBackend]:
    fake = FakeCuda()
    return fake, CupyBackend(runtime=fake)


def _steps(be: CupyBackend, graph: Graph, inputs: list) -> object:
    """The backend's compiled program for these inputs (its steps, events and streams)."""
    _, devs = be.bind(graph, inputs)
    return be.program(graph, devs, "cpu")


def _x(shape=(64, 32), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# -- results --------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [0, 2])
@pytest.mark.parametrize("name", samples.names())
def test_samples_match_numpy(gpu, name, level):
    fake, be = gpu
    graph, _ = samples.build(name)
    inputs = samples.random_inputs(graph, seed=11)  # fresh data, not the example inputs
    want = gs.run(graph, inputs).outputs
    g = gs.optimize(graph, level=level)[0] if level else graph
    with pytest.warns(GpuKernelWarning) if CXX is None and level else _no_warning():
        run = be.run(g, inputs, profile=True)
    for got, ref in zip(run.outputs, want):
        assert isinstance(got, np.ndarray) and not isinstance(got, DeviceArray) and got.dtype == ref.dtype
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-5)
    kernels = run.profile.metadata["gpu"]["kernels"]
    if CXX is not None:  # fused nodes ran as one generated kernel each (its host twin here)
        assert all(k in ("cuda", "cupy") or k.startswith("reference (") for k in kernels.values()), kernels
        if level == 2 and name in ("elementwise", "transformer"):
            assert "cuda" in kernels.values(), kernels


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_cupy_inputs_stay_on_the_device_and_outputs_can_too(gpu):
    fake, be = gpu
    g = branches(2)
    x = np.abs(_x((4, 8))) + 0.5
    want = gs.run(g, [x]).outputs[0]
    dx = fake.upload(x)
    run = be.run(g, [dx], profile=True, output_device=None)
    (y,) = run.outputs
    assert isinstance(y, DeviceArray)  # left where it was made
    np.testing.assert_allclose(be.to_numpy(y), want, rtol=1e-6)
    assert run.profile.metadata["gpu"]["transfers"] == {}  # nothing crossed devices
    run = be.run(g, [dx], profile=True)  # default: outputs come back to the host
    assert [t["direction"] for t in run.profile.metadata["gpu"]["transfers"].values()] == ["d2h"]


def test_inputs_are_checked_with_the_input_name(gpu):
    _, be = gpu
    g = branches(1)
    with pytest.raises(ShapeError, match=r"input 'x' of graph 'branches' expects f32\[4,8\], got float64\[4, 8\].*astype"):
        be.run(g, [np.ones((4, 8))])
    with pytest.raises(ShapeError, match="takes 1 inputs"):
        be.run(g, [])
    with pytest.raises(ShapeError, match="no input"):
        be.run(g, {"y": np.ones((4, 8), np.float32)})


def test_a_failing_kernel_names_node_lane_and_inputs(gpu):
    _, be = gpu
    g = branches(1)

    def broken(node):
        def kernel(x):
            raise RuntimeError("cudaErrorIllegalAddress: an illegal memory access\nsecond line")
        return kernel

    be.KERNELS["tanh"] = broken
    with pytest.raises(NodeExecutionError, match=r"node %2 'b0/op1' \(tanh, on gpu:0/stream0\) raised RuntimeError: "
                       r"cudaErrorIllegalAddress: an illegal memory access \[inputs: %1 float32\[4, 8\] \(device\)\]"):
        be.run(g, [np.ones((4, 8), np.float32)])


# -- timings: events per node, no synchronization per node -----------------------------------------


def test_one_synchronize_per_profiled_iteration_and_none_per_node(gpu):
    fake, be = gpu
    graph, inputs = samples.build("inception")
    be.run(graph, inputs)  # builds the program (one synchronize: the constants' uploads)
    before = fake.syncs
    be.run(graph, inputs, repeat=3)
    assert fake.syncs == before  # plain runs never synchronize the host
    run = be.run(graph, inputs, profile=True, repeat=3, warmup=2)
    assert fake.syncs == before + 5  # one per warm-up and one per measured iteration, none per node
    assert len(run.profile.iterations) == 3 and len(run.profile.warmup_ns) == 2
    assert len(run.profile.iterations[0]) > 10


def test_event_pairs_bracket_each_gpu_node_on_its_stream(gpu):
    fake, be = gpu
    g = branches(3)
    x = _x((4, 8))
    prog = _steps(be, g, [x])
    fake.log.clear()
    be.run(g, [x], profile=True)
    log = fake.log
    records = [(e[1], e[2]) for e in log if e[0] == "record"]
    for k, step in enumerate(prog.steps):
        start, end = prog.start_events[k].name, prog.end_events[k].name
        stream = prog.streams[step.stream].name
        assert records.count((start, stream)) == 1 and records.count((end, stream)) == 1, step.node.describe()
        i_start = log.index(("record", start, stream))
        i_end = log.index(("record", end, stream))
        assert i_start < i_end
        # Each cross-stream dependency is waited for on this stream before the node starts.
        for w in step.waits:
            i_wait = log.index(("wait", prog.end_events[w].name, stream))
            assert log.index(("record", prog.end_events[w].name, prog.streams[prog.steps[w].stream].name)) < i_wait < i_start
    # Entry: every stream waits for the caller's stream first; exit: the caller waits for every stream.
    ref = prog.ref_event.name
    assert log[0] == ("record", ref, "null")
    assert {e[2] for e in log if e[0] == "wait" and e[1] == ref} == {s.name for s in prog.streams}
    joins = {e.name for e in prog.join_events}
    assert {e[1] for e in log if e[0] == "wait" and e[2] == "null"} == joins
    assert log[-2:] == [("use", "null"), ("synchronize",)]  # the one host wait, after the last node


def test_device_times_follow_the_stream_clock(gpu):
    fake, be = gpu
    g = branches(3, depth=2)
    x = _x((4, 8))
    run = be.run(g, [x], profile=True)
    prof = run.profile
    gpu_meta = prof.metadata["gpu"]
    events = {e.node_id: e for e in prof.iterations[0]}
    nbytes = 4 * 8 * 4  # f32[4,8]
    by_name = {n.name: nid for nid, n in prof.nodes.items()}
    # One device call each: a launch plus the bytes it writes (the fake's cost model), exactly.
    for b in range(3):
        for k in range(2):
            e = events[by_name[f"b{b}/op{k}"]]
            assert e.device_ns == LAUNCH_NS + nbytes
            assert e.lane.startswith("gpu:0/stream")
    upload = events[by_name["x_to_gpu0"]]
    assert upload.device_ns == COPY_NS + nbytes
    # Streams run in order; a node that waits for another stream starts after that producer ends.
    start = {int(k): v for k, v in gpu_meta["device_start_ns"].items()}
    prog = _steps(be, g, [x])
    for step in prog.steps:
        for w in step.waits:
            p = prog.steps[w].node.id
            assert start[step.node.id] >= start[p] + events[p].device_ns
    lanes = {}
    for e in prof.iterations[0]:
        lanes.setdefault(e.lane, []).append(e)
    assert len(lanes) == gpu_meta["streams"] == 3
    for evs in lanes.values():
        evs.sort(key=lambda e: start[e.node_id])
        for a, b in zip(evs, evs[1:]):
            assert start[b.node_id] >= start[a.node_id] + a.device_ns
    # The three branches overlap on the device: the run is shorter than its summed device time.
    end = max(start[nid] + e.device_ns for nid, e in events.items())
    assert end < sum(e.device_ns for e in events.values())
    # Host dispatch times are host-clock intervals inside the iteration.
    for e in prof.iterations[0]:
        assert 0 <= e.start_ns <= e.end_ns <= prof.iteration_ns[0]


# -- memory -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mlp", "inception", "transformer"])
def test_logical_device_memory_equals_the_pool(gpu, name):
    """The executor's accounting (array sizes) against an independent measure: live bytes in the pool."""
    fake, be = gpu
    graph, inputs = samples.build(name)
    prof = be.run(graph, inputs, profile=True).profile
    meta = prof.metadata["gpu"]
    base = meta["pool_baseline_used_bytes"]
    assert base >= prof.constant_bytes  # the constants were uploaded once, before the run
    host = 0
    for e in prof.iterations[0]:
        if prof.nodes[e.node_id].op == "to_host" or e.lane == "cpu":
            host += e.bytes_allocated  # the outputs' downloads stay alive (host memory)
        assert e.live_bytes - host == meta["pool_used_bytes"][str(e.node_id)] - base, prof.nodes[e.node_id].name
    assert meta["device_peak_bytes"] >= meta["pool_peak_used_bytes"] - base > 0
    assert sum(b for _, b in meta["device_peak_live"]) == meta["device_peak_bytes"]
    assert meta["pool_peak_total_bytes"] >= meta["pool_peak_used_bytes"]


# -- transfers, placement, lanes ---------------------------------------------------------------------


def test_ping_pong_shows_every_transfer_in_profile_and_report(gpu):
    fake, be = gpu
    g = ping_pong(3)
    x = _x((4, 8))
    want = gs.run(g, [x]).outputs[0]
    run = be.run(g, [x], profile=True, repeat=3)
    np.testing.assert_allclose(run.outputs[0], want, rtol=1e-6)
    prof = run.profile
    meta = prof.metadata["gpu"]
    assert [t["direction"] for t in meta["transfers"].values()] == ["h2d", "d2h"] * 3
    assert all(t["bytes"] == 4 * 8 * 4 for t in meta["transfers"].values())
    events = prof.iterations[0]
    for e in events:
        op = prof.nodes[e.node_id].op
        if op == "exp":  # placed on the host
            assert e.lane == "cpu" and e.device_ns is None
        else:
            assert e.lane.startswith("gpu:0/stream") and e.device_ns is not None
    assert meta["placement"][str(g.node("r0/exp").id)] == "cpu"
    report = analyze(prof)
    d = report.device
    assert d is not None and len(d.transfers) == 6 and d.h2d_bytes == d.d2h_bytes == 3 * 128
    assert d.transfer_device_ns == pytest.approx(sum(t.device_ns for t in d.transfers))
    text = format_report(report)
    assert "3 host-to-device (384 B), 3 device-to-host (384 B)" in text
    assert "GPU nodes by device time (host = dispatch)" in text and "tanh_to_cpu_1" in text


def test_report_shows_host_and_device_time_per_node_and_gpu_memory(gpu):
    fake, be = gpu
    graph, inputs = samples.build("inception")
    prof = be.run(graph, inputs, profile=True, repeat=3).profile
    report = analyze(prof)
    d = report.device
    rows = [r for r in report.nodes if r.device_ns is not None]
    assert d.gpu_nodes == len(rows) == len(prof.iterations[0])
    assert d.device_ns == pytest.approx(sum(r.device_ns for r in rows))
    assert d.dispatch_ns == pytest.approx(sum(r.median_ns for r in rows))
    assert d.bound == ("launch-bound" if d.dispatch_ns > d.device_ns else "device-bound")
    for r in rows:
        assert r.device_bound == ("launch-bound" if r.median_ns > r.device_ns else "device-bound")
        med = np.median([e.device_ns for it in prof.iterations for e in it if e.node_id == r.id])
        assert r.device_ns == med
    assert d.pool_peak_used_bytes == prof.metadata["gpu"]["pool_peak_used_bytes"] and d.streams == 4
    text = format_report(report)
    assert "GPU (gpu:0, 4 streams)" in text and "GPU memory peak" in text and "host dispatch" in text
    assert {ln.lane for ln in report.schedule.lanes} == {f"gpu:0/stream{k}" for k in range(4)}
    doc = report.to_dict()
    assert doc["device"]["transfers"][0]["direction"] in ("h2d", "d2h") and doc["nodes"][0]["device_ns"] is not None


def test_profile_file_round_trip_keeps_device_times(gpu, tmp_path):
    fake, be = gpu
    g = ping_pong(2)
    prof = be.run(g, [_x((4, 8))], profile=True).profile
    path = tmp_path / "gpu.gsprof"
    gs.save_profile(prof, str(path))
    loaded = gs.load_profile(str(path))
    assert [e.device_ns for e in loaded.iterations[0]] == [e.device_ns for e in prof.iterations[0]]
    assert analyze(loaded).device.transfers == analyze(prof).device.transfers


def test_embedded_profiler_records_gpu_runs(gpu):
    fake, be = gpu
    g = branches(2)
    with gs.profile(warmup=0, repeat=5) as p:
        be.run(g, [_x((4, 8))])
        be.run(g, [_x((4, 8), seed=1)])
    prof = p.profiles["branches"]
    assert len(prof.iterations) == 2
    assert all(e.device_ns is not None for it in prof.iterations for e in it)


def test_gs_run_hands_the_graph_to_the_backends_own_executor(gpu, rng):
    """gs.run(backend=<a backend that executes graphs>) runs through its executor: device times in the events."""
    _, be = gpu
    graph, inputs = samples.build("mlp")
    result = gs.run(graph, inputs, backend=be, profile=True, repeat=2)
    np.testing.assert_allclose(result.outputs[0], gs.run(graph, inputs).outputs[0], rtol=1e-4, atol=1e-5)
    assert result.profile.backend == be.name and len(result.profile.iterations) == 2
    assert all(e.device_ns is not None for e in result.profile.iterations[0] if e.lane.startswith("stream"))
    assert any(e.device_ns is not None for e in result.profile.iterations[0])
    with pytest.raises(ValueError, match="not supported on backend"):
        gs.run(graph, inputs, backend=be, check_numerics=True)
