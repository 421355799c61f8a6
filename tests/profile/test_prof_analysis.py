"""The analysis on real runs: statistics, rankings, aggregation, roofline, critical path, memory."""

import math

import numpy as np
import pytest
from prof_helpers import profile_of

import graphscope as gs
from graphscope.profile import analysis as A
from graphscope.profile.calibration import Overhead, Peaks

F32 = np.float32


# -- statistics -----------------------------------------------------------------------------------


def test_quantile_matches_numpy():
    xs = sorted([5.0, 1.0, 9.0, 3.0, 7.0, 2.0])
    for q in (0.0, 0.1, 0.5, 0.9, 1.0):
        assert A.quantile(xs, q) == pytest.approx(np.percentile(xs, 100 * q))
    assert math.isnan(A.quantile([], 0.5))


def test_median_ci_order_statistics():
    xs = list(range(1, 11))  # n = 10: [x(2), x(9)] covers 1 - 2 * (1 + 10) / 1024
    lo, hi, cov = A.median_ci(reversed(xs))
    assert (lo, hi) == (2, 9)
    assert cov == pytest.approx(1 - 22 / 1024)
    lo, hi, cov = A.median_ci([3, 1, 2])  # too few for 95%: the full range with its real coverage
    assert (lo, hi) == (1, 3) and cov == pytest.approx(0.75)
    assert A.median_ci([]) [2] == 0.0


def _mixed_model(rng):
    w_small = rng.standard_normal((256, 256), dtype=F32)
    w_big = rng.standard_normal((256, 2560), dtype=F32)

    @gs.function
    def model(x):
        with gs.name_scope("enc"):
            with gs.name_scope("a"):
                h = np.tanh(x @ w_small)
            with gs.name_scope("b"):
                h = h @ w_small + 1.0
        with gs.name_scope("big"):
            big = h @ w_big  # 10x the FLOPs of each other matmul
        return big.sum(axis=1)

    return model, [rng.standard_normal((64, 256), dtype=F32)]


def test_node_statistics_over_repeats_with_warmup_apart(rng, peaks, overhead):
    model, inputs = _mixed_model(rng)
    graph, prof = profile_of(model, *inputs, repeat=7, warmup=2)
    stats = A.node_statistics(prof)
    compute = [n for n in graph.nodes if n.op not in ("placeholder", "constant")]
    assert set(stats) == {n.id for n in compute}
    for s in stats.values():
        assert s.count == 7 and s.calls == 1
        assert s.p10_ns <= s.median_ns <= s.p90_ns and s.min_ns <= s.mean_ns <= s.max_ns
    rep = A.analyze(prof, peaks, overhead)
    t = rep.timing
    assert t.iterations == 7 and t.warmup == 2 and len(t.warmup_ns) == 2
    assert t.warmup_median_ns == pytest.approx(np.median(prof.warmup_ns))
    assert t.ci_low_ns <= t.median_ns <= t.ci_high_ns and t.ci_level >= 0.95
    assert t.node_total_ns == pytest.approx(sum(s.median_ns for s in stats.values()))
    # the profiler's own cost is stated: per node, times the events of an iteration
    assert t.profiler_overhead_ns == pytest.approx(overhead.profiler_ns * len(compute))
    assert rep.overhead.profiler_ns == pytest.approx(900.0)


def test_nodes_under_the_cost_of_measuring_are_flagged(rng, peaks):
    model, inputs = _mixed_model(rng)
    _, prof = profile_of(model, *inputs)
    slow_timer = Overhead(40.0, 50.0, 500.0, 500.0 + 200_000.0)  # pretend profiling costs 200 us per node
    rep = A.analyze(prof, peaks, slow_timer)
    for row in rep.nodes:
        assert row.unreliable == (row.median_ns < 200_000.0)
    assert rep.timing.unreliable_nodes == sum(r.unreliable for r in rep.nodes) >= 1
    assert any("faster than" in n for n in rep.notes)


# -- top nodes and aggregation --------------------------------------------------------------------


def test_the_10x_matmul_ranks_first(rng, peaks, overhead):
    model, inputs = _mixed_model(rng)
    graph, prof = profile_of(model, *inputs)
    rep = A.analyze(prof, peaks, overhead)
    first = rep.top(1)[0]
    big = next(n for n in graph.nodes if n.op == "matmul" and n.scope == "big")
    assert first.id == big.id and first.op == "matmul" and first.scope == "big"
    assert first.shape == [64, 2560] and first.dtype == "float32"
    assert first.source and first.source.startswith(__file__)
    assert first.flops == 2 * 64 * 256 * 2560
    others = [r for r in rep.nodes if r.op == "matmul" and r.id != big.id]
    assert first.median_ns > 3 * max(r.median_ns for r in others)
    assert sum(r.pct for r in rep.nodes) == pytest.approx(100.0)
    assert first.pct == pytest.approx(100.0 * first.median_ns / rep.timing.node_total_ns)


def test_op_and_scope_aggregation_sum_to_the_total(rng, peaks, overhead):
    model, inputs = _mixed_model(rng)
    _, prof = profile_of(model, *inputs)
    rep = A.analyze(prof, peaks, overhead)
    total = rep.timing.node_total_ns
    assert sum(g.total_ns for g in rep.by_op) == pytest.approx(total)
    assert sum(g.pct for g in rep.by_op) == pytest.approx(100.0)
    assert sum(g.count for g in rep.by_op) == len(rep.nodes)
    matmul = next(g for g in rep.by_op if g.key == "matmul")
    assert matmul.count == 3 and rep.by_op[0].key == "matmul"

    scopes = {s.scope: s for s in rep.by_scope}
    assert list(scopes)[0] == "" and scopes[""].total_ns == pytest.approx(total)
    assert set(scopes) == {"", "enc", "enc/a", "enc/b", "big"}
    assert scopes["enc"].depth == 1 and scopes["enc/a"].depth == 2
    # a parent's total is its own nodes plus its children's totals
    assert scopes["enc"].total_ns == pytest.approx(scopes["enc"].self_ns + scopes["enc/a"].total_ns + scopes["enc/b"].total_ns)
    assert scopes[""].total_ns == pytest.approx(scopes[""].self_ns + scopes["enc"].total_ns + scopes["big"].total_ns)
    assert scopes["enc/a"].count == 2 and scopes["enc"].count == 4
    # tree order: a scope's children follow it
    order = [s.scope for s in rep.by_scope]
    assert order.index("enc/a") > order.index("enc") and order.index("enc/b") > order.index("enc")


# -- roofline ------------------------------------------------------------------------------------


def test_classify_rule(peaks):
    floor = 5_000.0
    assert A.classify(1e6, 1e9, 1e6, peaks, floor)[0] == A.COMPUTE  # 1000 FLOP/B, above the ridge (10)
    assert A.classify(1e6, 1e6, 1e7, peaks, floor)[0] == A.MEMORY  # 0.1 FLOP/B
    assert A.classify(1_000.0, 0, 64, peaks, floor)[0] == A.OVERHEAD  # 1 us, roofline explains ~0.6%
    assert A.classify(4_000.0, 0, 40_000, peaks, floor)[0] == A.MEMORY  # tiny, but at full bandwidth
    assert A.classify(30_000.0, 10, 1_000, peaks, floor)[0] == A.OVERHEAD  # 30 us at 0.3% of the roof
    bound, ideal, util = A.classify(2e6, 0, 1e7, peaks, floor)
    assert bound == A.MEMORY and ideal == pytest.approx(1e6) and util == pytest.approx(0.5)


def test_roofline_labels_on_a_real_run(rng, peaks, overhead):
    a = rng.standard_normal((512, 512), dtype=F32)

    @gs.function
    def model(x, y, z, tiny):
        s = x + y  # 2048 x 2048: 48 MiB moved for 4 M FLOPs
        m = z @ a  # 268 M FLOPs on 3 MiB
        t = tiny + 1.0  # 4 elements
        return s, m, t

    x = rng.standard_normal((2048, 2048), dtype=F32)
    graph, prof = profile_of(model, x, x.copy(), a.T.copy(), np.ones(4, F32), repeat=3)
    rep = A.analyze(prof, peaks, overhead)
    by_op_shape = {(r.op, tuple(r.shape)): r for r in rep.nodes}
    add_big = by_op_shape[("add", (2048, 2048))]
    mm = by_op_shape[("matmul", (512, 512))]
    add_tiny = by_op_shape[("add", (4,))]
    assert mm.bound == A.COMPUTE and mm.intensity > 5 * peaks.ridge_intensity
    assert add_big.bound == A.MEMORY and add_big.intensity < peaks.ridge_intensity / 10
    assert add_tiny.bound == A.OVERHEAD
    assert mm.gflops == pytest.approx(mm.flops / mm.median_ns)
    assert add_big.gbps == pytest.approx(add_big.bytes_moved / add_big.median_ns)
    assert add_big.bytes_moved == 3 * 2048 * 2048 * 4


# -- critical path ---------------------------------------------------------------------------------


def _branchy(rng):
    """Four branches off one input, one of them ~8x the others, joined by a concat."""
    wa = rng.standard_normal((256, 256), dtype=F32)
    wb1 = rng.standard_normal((256, 1024), dtype=F32)
    wb2 = rng.standard_normal((1024, 256), dtype=F32)
    wc = rng.standard_normal((256, 256), dtype=F32)

    @gs.function
    def model(x):
        with gs.name_scope("a"):
            a = np.tanh(x @ wa)
        with gs.name_scope("b"):
            b = np.tanh(np.tanh(x @ wb1) @ wb2)
        with gs.name_scope("c"):
            c = x @ wc
        with gs.name_scope("d"):
            d = np.maximum(x, 0.0)
        return np.concatenate([a, b, c, d], axis=1)

    return model, [rng.standard_normal((128, 256), dtype=F32)]


def test_critical_path_follows_the_heaviest_branch(rng):
    model, inputs = _branchy(rng)
    graph, prof = profile_of(model, *inputs)
    stats = A.node_statistics(prof)
    path, length = A.critical_path(prof, stats)
    b_nodes = [n.id for n in graph.nodes if n.scope == "b" and n.op != "constant"]
    concat = next(n.id for n in graph.nodes if n.op == "concat")
    assert path == b_nodes + [concat]
    assert length == pytest.approx(sum(stats[n].median_ns for n in path))
    sched = A.schedule(prof, stats)
    assert sched.parallelism == pytest.approx(sched.node_total_ns / length) and sched.parallelism > 1.0
    assert len(sched.lanes) == 1 and sched.lanes[0].nodes == len(stats)
    assert 0.0 <= sched.gap_share < 1.0 and sched.gap_ns >= 0
    assert sched.lanes[0].busy_ns <= sched.wall_ns


@pytest.mark.skipif(not hasattr(gs.ops, "conv2d"), reason="conv2d is not in the op catalogue yet")
def test_critical_path_of_the_inception_sample():
    from graphscope import samples

    graph, inputs = samples.build("inception")
    prof = gs.run(graph, inputs, profile=True, repeat=3, warmup=1).profile
    stats = A.node_statistics(prof)
    path, length = A.critical_path(prof, stats)
    branches = {}
    for n in graph.nodes:
        if n.id in stats and n.scope.startswith("branch"):
            branches.setdefault(n.scope, []).append(n.id)
    heaviest = max(branches, key=lambda s: sum(stats[i].median_ns for i in branches[s]))
    assert set(branches[heaviest]) <= set(path)
    assert not any(set(ids) & set(path) for s, ids in branches.items() if s != heaviest)


# -- memory ---------------------------------------------------------------------------------------


def _memory_model():
    @gs.function
    def model(x, w):
        a = np.exp(x)  # 2 MB, made first and read last
        b = x @ w  # 4 MB
        c = np.tanh(b)  # 4 MB: the peak (a + b + c) is right after it
        d = c.sum(axis=1, keepdims=True)
        return a * d

    rng = np.random.default_rng(0)
    return model, [rng.standard_normal((500, 1000), dtype=F32), rng.standard_normal((1000, 2000), dtype=F32) * F32(0.03)]


def test_memory_peak_names_the_live_tensors():
    model, inputs = _memory_model()
    graph, prof = profile_of(model, *inputs, repeat=2)
    by_op = {n.op: n for n in graph.nodes}
    mem = A.memory_report(prof)
    assert mem.peak_bytes == 2_000_000 + 4_000_000 + 4_000_000
    assert mem.peak_node == by_op["tanh"].id and mem.peak_index == 2
    assert {t.node_id for t in mem.peak_tensors} == {by_op["exp"].id, by_op["matmul"].id, by_op["tanh"].id}
    top = mem.peak_tensors[0]
    assert top.bytes == 4_000_000 and top.pct_of_peak == pytest.approx(40.0)
    exp_row = next(t for t in mem.peak_tensors if t.op == "exp")
    assert exp_row.produced_index == 0 and exp_row.last_use_index == 4 and not exp_row.is_output
    assert exp_row.users == [by_op["mul"].id] and exp_row.source.startswith(__file__)
    assert max(b for _, b in mem.timeline) == mem.peak_bytes
    assert mem.timeline[-1][1] == 2_000_000  # only the output is left
    assert mem.planned_peak_bytes is None and mem.input_bytes == sum(x.nbytes for x in inputs)

    prof.metadata["planned_peak_bytes"] = 8_000_000
    mem = A.memory_report(prof)
    assert mem.planned_peak_bytes == 8_000_000 and mem.measured_over_planned == pytest.approx(1.25)


def test_long_lived_tensor_at_the_peak_is_recommended(peaks, overhead):
    model, inputs = _memory_model()
    graph, prof = profile_of(model, *inputs, repeat=2)
    rep = A.analyze(prof, peaks, overhead)
    recs = [r for r in rep.recommendations if r.kind == "long_lived_tensor"]
    exp = next(n for n in graph.nodes if n.op == "exp")
    assert [r.node_ids[0] for r in recs] == [exp.id]
    assert recs[0].saving_bytes == 2_000_000 and "20% of the" in recs[0].message


def test_empty_profile_does_not_crash(peaks, overhead):
    prof = gs.RunProfile("empty", "numpy", {}, [], [])
    rep = A.analyze(prof, peaks, overhead)
    assert rep.nodes == [] and rep.recommendations == [] and rep.memory.peak_bytes == 0
    assert rep.to_dict()["timing"]["median_ns"] is None


def test_explicit_peaks_object():
    p = Peaks(2e11, 2e10)
    assert p.ridge_intensity == pytest.approx(10.0)
    assert p.ideal_ns(2e11, 0) == pytest.approx(1e9)
    assert p.to_dict()["gflops"] == pytest.approx(200.0)
