"""Recommendations on real runs: each names its nodes and carries the numbers behind it."""

import statistics

import numpy as np
import pytest
from prof_helpers import profile_of

import graphscope as gs
from graphscope.ir.graph import Graph
from graphscope.ir.ops import ELEMENTWISE, ops_in
from graphscope.ir.spec import TensorSpec
from graphscope.profile import analysis as A
from graphscope.profile.calibration import Peaks
from graphscope.profile.events import NodeEvent, NodeInfo, RunProfile

F32 = np.float32
MiB = 2**20


def _chain_model(rng):
    w = rng.standard_normal((256, 1024), dtype=F32) * F32(0.05)

    @gs.function
    def model(x):
        h = x @ w
        with gs.name_scope("act"):
            a = h * 2.0
            b = a + 1.0
            c = np.tanh(b)
            d = np.exp(c)
            e = d - 0.5
            f = np.maximum(e, 0.0)
            g = f * f  # reads f twice
        return g.sum(axis=-1)

    return model, [rng.standard_normal((256, 256), dtype=F32)]


def test_unfused_elementwise_chain_is_found_with_its_node_ids(rng, peaks, overhead):
    model, inputs = _chain_model(rng)
    graph, prof = profile_of(model, *inputs)
    chain = [n.id for n in graph.nodes if n.scope == "act" and n.op in ops_in(ELEMENTWISE)]
    assert len(chain) == 7
    assert A.elementwise_regions(prof) == [chain]

    rep = A.analyze(prof, peaks, overhead)
    recs = [r for r in rep.recommendations if r.kind == "fuse_elementwise"]
    assert len(recs) == 1
    rec = recs[0]
    assert rec.node_ids == chain
    # 6 intermediates of 1 MiB, each written once and read once, except f (read twice by f * f)
    assert rec.details["intermediates"] == chain[:-1]
    assert rec.saving_bytes == 5 * 2 * MiB + 3 * MiB
    assert rec.details["bandwidth_saving_ns"] == pytest.approx(rec.saving_bytes / peaks.bytes_per_s * 1e9)
    assert rec.details["dispatch_saving_ns"] == pytest.approx(6 * overhead.plain_node_ns)
    measured = sum(rep.node(n).median_ns for n in chain)
    assert rec.saving_ns == pytest.approx(min(measured, rec.details["bandwidth_saving_ns"] + 6 * overhead.plain_node_ns))
    assert "7 elementwise ops" in rec.message and "13.0 MiB" in rec.message and "scope 'act'" in rec.message


def test_regions_stop_at_outputs_and_non_elementwise_readers():
    g = Graph("split")
    x = g.placeholder("x", TensorSpec((8, 8), "float32"))
    a = g.add_node("exp", [x])
    b = g.add_node("tanh", [a])
    s = g.add_node("sum", [a], {"axis": 1})  # a is also read by a reduction: it must exist
    c = g.add_node("neg", [b])
    d = g.add_node("abs", [c])  # c -> d fusible
    g.set_outputs([s, d, c])  # ... but c is an output
    prof = gs.run(g, [np.ones((8, 8), F32)], profile=True).profile
    assert A.elementwise_regions(prof) == [[b.id, c.id]]  # only b -> c: b is read by c alone
    g2 = Graph("chain")
    x = g2.placeholder("x", TensorSpec((8, 8), "float32"))
    a = g2.add_node("exp", [x])
    b = g2.add_node("tanh", [a])
    g2.set_outputs([g2.add_node("sum", [b], {"axis": 1})])
    prof = gs.run(g2, [np.ones((8, 8), F32)], profile=True).profile
    assert A.elementwise_regions(prof) == [[a.id, b.id]]


def test_matmul_far_under_peak(rng, overhead):
    model, inputs = _chain_model(rng)
    graph, prof = profile_of(model, *inputs)
    huge = Peaks(flops_per_s=1e15, bytes_per_s=10e9)  # no CPU matmul reaches a petaflop
    rep = A.analyze(prof, huge, overhead)
    mm = next(n for n in graph.nodes if n.op == "matmul")
    recs = [r for r in rep.recommendations if r.kind == "matmul_under_peak"]
    assert [r.node_ids for r in recs] == [[mm.id]]
    assert recs[0].details["peak_fraction"] < 0.01 and "1000000 GFLOP/s peak" in recs[0].message
    reachable = Peaks(flops_per_s=1e6, bytes_per_s=10e9)  # any matmul beats a megaflop
    assert not [r for r in A.analyze(prof, reachable, overhead).recommendations if r.kind == "matmul_under_peak"]


def test_overhead_dominated_graph(peaks, overhead):
    g = Graph("tiny_ops")
    h = g.placeholder("x", TensorSpec((4,), "float32"))
    for k in range(60):
        h = g.add_node("neg" if k % 2 else "abs", [h])
    g.set_outputs([h])
    prof = gs.run(g, [np.ones(4, F32)], profile=True, repeat=5, warmup=1).profile
    rep = A.analyze(prof, peaks, overhead)
    assert all(r.bound == A.OVERHEAD for r in rep.nodes)
    recs = [r for r in rep.recommendations if r.kind == "overhead_dominated"]
    assert len(recs) == 1 and len(recs[0].node_ids) == 60
    assert recs[0].details["share_of_run"] > 0.3 and "60 of 60 nodes" in recs[0].message
    # one lane, and each node depends on the last: nothing to parallelize
    assert rep.schedule.parallelism == pytest.approx(1.0)
    assert not [r for r in rep.recommendations if r.kind == "parallelism"]


def test_parallelism_available_in_a_serial_run(rng, peaks, overhead):
    ws = [rng.standard_normal((256, 256), dtype=F32) for _ in range(4)]

    @gs.function
    def model(x):
        return np.concatenate([x @ w for w in ws], axis=1)  # four equal independent matmuls

    graph, prof = profile_of(model, rng.standard_normal((256, 256), dtype=F32))
    rep = A.analyze(prof, peaks, overhead)
    assert rep.schedule.parallelism > 2.0
    rec = next(r for r in rep.recommendations if r.kind == "parallelism")
    assert rec.saving_ns == pytest.approx(rep.schedule.node_total_ns - rep.schedule.critical_path_ns)


def _lane_profile() -> RunProfile:
    """Two lanes, one busy 10 ms and one 1 ms: what a parallel scheduler's profile looks like."""
    nodes = {i: NodeInfo(i, f"n{i}", "matmul", "", None, (4, 4), "float32", ()) for i in range(4)}
    iters = []
    for _ in range(3):
        iters.append([
            NodeEvent(0, 0, 5_000_000, "worker-0", 0, 0, 10, 10),
            NodeEvent(1, 5_000_000, 10_000_000, "worker-0", 0, 0, 10, 10),
            NodeEvent(2, 0, 500_000, "worker-1", 0, 0, 10, 10),
            NodeEvent(3, 500_000, 1_000_000, "worker-1", 0, 0, 10, 10),
        ])
    return RunProfile("lanes", "numpy", nodes, iters, [10_000_000] * 3)


def test_idle_lane(peaks, overhead):
    rep = A.analyze(_lane_profile(), peaks, overhead)
    lanes = {ln.lane: ln for ln in rep.schedule.lanes}
    assert lanes["worker-0"].busy_share == pytest.approx(1.0) and lanes["worker-1"].busy_share == pytest.approx(0.1)
    rec = next(r for r in rep.recommendations if r.kind == "idle_lane")
    assert rec.node_ids == [2, 3] and rec.details["lane"] == "worker-1"
    assert rec.saving_ns == pytest.approx(10_000_000 - 5_500_000)
    assert rep.schedule.critical_path_ns == pytest.approx(5_000_000)  # no edges: the longest single node


def test_recommendations_are_sorted_and_serialisable(rng, peaks, overhead):
    import json

    model, inputs = _chain_model(rng)
    _, prof = profile_of(model, *inputs)
    rep = A.analyze(prof, peaks, overhead)
    timed = [r.saving_ns for r in rep.recommendations if r.saving_ns]
    assert timed == sorted(timed, reverse=True)
    json.dumps(rep.to_dict()["recommendations"], allow_nan=False)


def test_slow_kernel_far_under_its_roof(rng, peaks, overhead):
    @gs.function
    def model(x, y):
        return x + y  # 48 MiB moved: more than the caches hold

    x = rng.standard_normal((2048, 2048), dtype=F32)
    graph, prof = profile_of(model, x, x.copy(), repeat=3)
    add = next(n for n in graph.nodes if n.op == "add")
    fast_memory = Peaks(flops_per_s=1e11, bytes_per_s=2e12)  # 2 TB/s: the add would need 25 us
    rep = A.analyze(prof, fast_memory, overhead)
    recs = [r for r in rep.recommendations if r.kind == "slow_kernel"]
    assert [r.node_ids for r in recs] == [[add.id]] and recs[0].details["utilization"] < 0.05
    assert recs[0].saving_ns == pytest.approx(rep.node(add.id).median_ns - rep.node(add.id).ideal_ns)
    # at 10 GB/s the same add is at (or above) its roof: nothing to say
    assert not [r for r in A.analyze(prof, peaks, overhead).recommendations if r.kind == "slow_kernel"]


def test_blas_kernels_below_the_cpu(rng, peaks, overhead):
    from graphscope.backends.cpu_info import blas_kernel_mismatch

    w1, w2 = rng.standard_normal((256, 256), dtype=np.float32), rng.standard_normal((256, 256), dtype=np.float32)

    @gs.function
    def products(x):
        return np.tanh(x @ w1) @ w2

    graph, prof = profile_of(products, rng.standard_normal((256, 256), dtype=np.float32))
    assert {"library", "architecture", "threads"} <= set(prof.machine["blas"]) and "avx512" in prof.machine["cpu"]
    mismatch = {"blas": {"library": "openblas", "architecture": "Haswell"}, "cpu": {"model": "AMD EPYC", "avx512": True}}
    prof.machine = {**prof.machine, **mismatch}
    (rec,) = [r for r in A.analyze(prof, peaks, overhead).recommendations if r.kind == "blas_kernels"]
    mms = sorted(n.id for n in graph.nodes if n.op == "matmul")
    assert sorted(rec.node_ids) == mms and "OPENBLAS_CORETYPE=SkylakeX" in rec.message and "Haswell" in rec.message
    products_ns = sum(statistics.median(ts) for nid, ts in prof.node_times_ns().items() if nid in mms)
    assert rec.details["products_ns"] == pytest.approx(products_ns) and rec.saving_ns == pytest.approx(products_ns / 2)
    for machine in ({"blas": {"library": "openblas", "architecture": "SkylakeX"}, "cpu": {"avx512": True}},
                    {"blas": {"library": "openblas", "architecture": "Haswell"}, "cpu": {"avx512": False}},
                    {"blas": {"library": "mkl", "architecture": None}, "cpu": {"avx512": True}}):
        assert blas_kernel_mismatch(machine) is None
        prof.machine = {**prof.machine, **machine}
        assert not [r for r in A.analyze(prof, peaks, overhead).recommendations if r.kind == "blas_kernels"]
