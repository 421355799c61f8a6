"""The Plotly figure builders: checked on their data (what is drawn), not on pixels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from viz_helpers import OVERHEAD, PEAKS, two_lane_profile

from graphscope.profile.analysis import analyze
from graphscope.viz import figures as F


@pytest.fixture
def lanes_report(lanes_profile):
    return analyze(lanes_profile, PEAKS, OVERHEAD)


def test_flame_chart_is_the_scope_tree_with_nodes_on_top(lanes_report):
    fig = F.flame_chart(lanes_report)
    (ice,) = fig.data
    assert ice.type == "icicle" and ice.branchvalues == "total" and ice.tiling.flip == "y"  # root at the bottom
    parent = dict(zip(ice.ids, ice.parents))
    value = dict(zip(ice.ids, ice.values))
    assert parent["scope:"] == "" and parent["scope:enc"] == "scope:" and parent["scope:enc/a"] == "scope:enc"
    assert parent["node:1"] == "scope:enc/a" and parent["node:5"] == "scope:head"
    med = {r.id: r.median_ns for r in lanes_report.nodes}
    assert value["node:1"] == med[1] and value["scope:enc/a"] == pytest.approx(med[1] + med[3])
    assert value["scope:"] == pytest.approx(lanes_report.timing.node_total_ns)
    for node_id, v in value.items():  # no parent is narrower than its children
        kids = [value[c] for c, p in parent.items() if p == node_id]
        assert v >= sum(kids) - 1e-6


def test_flame_chart_sums_the_smallest_nodes_past_the_leaf_cap(transformer_run):
    rep = transformer_run.report
    fig = F.flame_chart(rep, max_leaves=5)
    ids = list(fig.data[0].ids)
    assert sum(i.startswith("node:") for i in ids) == 5
    others = [v for i, v in zip(ids, fig.data[0].values) if i.startswith("other:")]
    assert others and sum(others) + sum(r.median_ns for r in rep.top(5)) == pytest.approx(rep.timing.node_total_ns)


def test_timeline_has_a_row_per_lane_and_a_bar_per_event(lanes_profile):
    fig = F.timeline(lanes_profile)
    k = F.representative_iteration(lanes_profile)
    bars = [(y, x, b, t.name) for t in fig.data for y, x, b in zip(t.y, t.x, t.base)]
    assert len(bars) == len(lanes_profile.iterations[k]) == 5
    assert {y for y, *_ in bars} == {"worker-0", "worker-1"}
    assert {t.name for t in fig.data} == {"matmul", "tanh", "exp", "relu", "add"}
    assert fig.layout.xaxis.title.text.endswith("(µs)")
    exp = next(b for b in bars if b[3] == "exp")  # in µs: start 13, duration 10 (+0.1 us per iteration index)
    assert exp[2] == pytest.approx(13.0) and exp[1] == pytest.approx(10 + 0.1 * k)


def test_memory_curve_marks_the_peak(lanes_report):
    fig = F.memory_curve(lanes_report)
    line, peak = fig.data[0], fig.data[1]
    assert line.line.shape == "hv"
    assert max(line.y) == pytest.approx(768.0) == pytest.approx(peak.y[0])  # 3 x 256 KiB, in KiB
    assert fig.layout.yaxis.title.text.endswith("(KiB)")
    assert peak.text[0].startswith("peak 768.0 KiB after %")


def test_memory_curve_of_a_real_run_matches_the_report(transformer_run):
    rep = transformer_run.report
    fig = F.memory_curve(rep)
    unit, scale = F.byte_unit(rep.memory.peak_bytes)
    assert max(fig.data[0].y) * scale == pytest.approx(max(b for _, b in rep.memory.timeline))
    assert "peak" in fig.layout.title.text


def test_op_breakdown_adds_up(transformer_run):
    rep = transformer_run.report
    fig = F.op_breakdown(rep, top=3)
    bar = fig.data[0]
    unit, scale = F.time_unit(max(g.total_ns for g in rep.by_op))
    assert list(bar.y[:3]) == [g.key for g in rep.by_op[:3]]
    assert sum(bar.x) * scale == pytest.approx(sum(g.total_ns for g in rep.by_op))
    if len(rep.by_op) > 3:
        assert bar.y[-1].startswith("other (")


def test_roofline_points_and_roofs(lanes_report):
    fig = F.roofline(lanes_report)
    points = [t for t in fig.data if t.mode == "markers"]
    roofs = {t.name.split(" ")[0]: t for t in fig.data if t.mode == "lines"}
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    ridge = PEAKS.flops_per_s / PEAKS.bytes_per_s
    mem, comp = roofs["memory"], roofs["compute"]
    assert mem.x[1] == pytest.approx(ridge) and mem.y[1] == pytest.approx(100.0)  # meets the compute roof
    assert mem.y[0] == pytest.approx(mem.x[0] * 10.0)  # slope = 10 GB/s
    assert list(comp.y) == [100.0, 100.0]
    drawn = {cd[0] for t in points for cd in t.customdata}
    assert drawn == {f"%{r.id} {r.name}" for r in lanes_report.nodes if r.flops and r.bytes_moved}
    row = next(r for r in lanes_report.nodes if r.id == 1)
    trace = next(t for t in points if t.name == row.bound)
    k = [cd[0] for cd in trace.customdata].index("%1 enc/a/matmul")
    assert trace.x[k] == pytest.approx(row.flops / row.bytes_moved) and trace.y[k] == pytest.approx(row.gflops)


def test_top_nodes_and_iteration_times(lanes_report, lanes_profile):
    fig = F.top_nodes(lanes_report, k=3)
    assert list(fig.data[0].y) == [f"%{r.id} {r.name}" for r in lanes_report.top(3)]
    it = F.iteration_times(lanes_profile)
    assert [t.name for t in it.data] == ["warm-up", "measured"]
    assert len(it.data[1].y) == len(lanes_profile.iteration_ns)


def test_units_and_colours():
    assert F.time_unit(5e6) == ("ms", 1e6) and F.time_unit(12) == ("ns", 1.0)
    assert F.byte_unit(3 * 2**20) == ("MiB", 2**20)
    colors = F.op_colors(["b", "a", "b"])
    assert colors == F.op_colors(["a", "b"]) and len(set(colors.values())) == 2


def test_figures_of_an_empty_profile_do_not_fail():
    prof = two_lane_profile(iterations=1)
    prof.iterations, prof.iteration_ns = [[]], [0]
    rep = analyze(prof, PEAKS, OVERHEAD)
    for fig in (F.flame_chart(rep), F.timeline(prof), F.memory_curve(rep), F.op_breakdown(rep), F.roofline(rep),
                F.top_nodes(rep), F.iteration_times(prof)):
        fig.to_json()
    assert all(math.isfinite(v) for v in F.roofline(rep).data[-1].y)


def test_value_histogram_draws_the_summary_bins(rng):
    from graphscope.profile.events import ValueSummary

    a = rng.standard_normal(5000) * 2.5 - 1
    counts, edges = np.histogram(a, bins=16)
    s = ValueSummary((50, 100), "float32", float(a.min()), float(a.max()), float(a.mean()), float(a.std()), 3, 1,
                     counts.tolist(), edges.tolist())
    fig = F.value_histogram(s)
    (bar,) = fig.data
    assert list(bar.y) == counts.tolist() and sum(bar.y) == 5000
    assert np.allclose(bar.x, (edges[:-1] + edges[1:]) / 2) and np.allclose(bar.width, np.diff(edges))
    assert "f32[50,100]" in fig.layout.title.text and "3 NaN, 1 Inf" in fig.layout.title.text
    one = F.value_histogram(ValueSummary((4,), "float32", 2.0, 2.0, 2.0, 0.0, 0, 0, [4], [2.0, 2.0]))
    assert list(one.data[0].y) == [4] and one.data[0].width is None  # one value: one ordinary bar
    with pytest.raises(ValueError, match="one more edge"):
        F.value_histogram(ValueSummary((4,), "float32", 0.0, 1.0, 0.5, 0.1, 0, 0, [1, 2], [0.0, 1.0]))


def test_comparison_by_op_shows_both_sides_per_op(lanes_profile):
    from graphscope.profile.compare import compare

    slower = two_lane_profile()
    for events in slower.iterations:  # every matmul twice as long
        for e in events:
            if slower.nodes[e.node_id].op == "matmul":
                e.end_ns = e.start_ns + 2 * (e.end_ns - e.start_ns)
    c = compare(lanes_profile, slower)
    fig = F.comparison_by_op(c)
    before, after = fig.data
    assert list(before.y) == list(after.y) == [d.op for d in c.by_op]
    k = list(before.y).index("matmul")
    assert after.x[k] == pytest.approx(2 * before.x[k])
    others = [i for i in range(len(before.y)) if i != k]
    assert all(after.x[i] == pytest.approx(before.x[i]) for i in others)
    assert f"{c.speedup:.2f}x" in fig.layout.title.text
