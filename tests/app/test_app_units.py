"""The dashboard's server side without a browser: workspaces, jobs, uploads, exports, and the page
callbacks' bodies called directly (they are plain functions of the app state)."""

from __future__ import annotations

import base64
import json
import linecache
import threading

import numpy as np
import pytest
from app_helpers import big_graph, make_app

import graphscope as gs
from graphscope.app.components import graph_view as gv
from graphscope.app.components.node_details import find_node, node_details
from graphscope.app.jobs import DONE, FAILED, JobManager
from graphscope.app.pages import bottlenecks, compare, graph, home, memory, timeline
from graphscope.app.runner import RunSettings, UploadError, add_upload, decode_upload, export_report, open_graph, start_run
from graphscope.app.state import AppState, Run, Source, new_session_id
from graphscope.errors import NodeExecutionError
from graphscope.profile.analysis import analyze
from graphscope.profile.compare import compare as compare_profiles
from graphscope.profile.events import ValueSummary


def _contents(raw: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(raw).decode()


def _text(component) -> str:
    """All the text of a Dash component tree."""
    if component is None:
        return ""
    if isinstance(component, (str, int, float)):
        return str(component)
    if isinstance(component, (list, tuple)):
        return " ".join(_text(c) for c in component)
    return _text(getattr(component, "children", None))


def _find(component, cid):
    if isinstance(component, (list, tuple)):
        for c in component:
            hit = _find(c, cid)
            if hit is not None:
                return hit
        return None
    if getattr(component, "id", None) == cid:
        return component
    kids = getattr(component, "children", None)
    return _find(kids, cid) if kids is not None and not isinstance(kids, str) else None


@pytest.fixture(scope="module")
def runs():
    """An app state with one session holding the transformer run at level 2 and at level 0."""
    state = AppState(None)
    sid = new_session_id()
    src = state.source(sid, "sample:transformer")
    out = {}
    for level in (2, 0):
        job_id = start_run(state, sid, src, RunSettings(level=level, repeat=3, warmup=1))
        job = state.jobs.wait(sid, job_id, timeout=120)
        assert job.status == DONE, job.error
        assert job.done == job.total == 4  # every warm-up and measured iteration reported progress
        out[level] = state.run(sid, job.result)
    yield state, sid, out
    state.jobs.shutdown(wait=True)


# ---------------------------------------------------------------------------------------------
# sessions and jobs


def test_workspaces_are_private_to_their_session(runs):
    state, sid, by_level = runs
    other = new_session_id()
    assert {r.id for r in state.runs(sid)} >= {by_level[0].id, by_level[2].id}
    assert state.runs(other) == [] and state.run(other, by_level[2].id) is None
    assert state.latest_run(other) is None and state.latest_run(sid) is by_level[0]
    with pytest.raises(ValueError, match="session id"):
        state.workspace("../../etc/passwd")


def test_old_sessions_are_dropped_past_the_cap():
    state = AppState(None, max_sessions=3)
    ids = [new_session_id() for _ in range(4)]
    for sid in ids:
        state.workspace(sid).add_run(Run(state.next_run_id(), "x", "x"))
    assert state.runs(ids[0]) == []  # evicted (made afresh, empty)
    assert len(state.runs(ids[3])) == 1
    state.jobs.shutdown(wait=True)


def test_two_sessions_run_at_the_same_time_and_see_only_their_own_job():
    jobs = JobManager(workers=2)
    both_running = threading.Barrier(2, timeout=10)  # passes only if the two jobs overlap

    def work(name):
        def run(progress):
            progress("waiting for the other", 0, 2)
            both_running.wait()
            progress.step()
            progress.step()
            return name
        return run

    a, b = new_session_id(), new_session_id()
    ja, jb = jobs.submit(a, "A", work("ra")), jobs.submit(b, "B", work("rb"))
    assert jobs.wait(a, ja.id).status == DONE and jobs.wait(b, jb.id).status == DONE
    assert jobs.get(a, ja.id).result == "ra" and jobs.get(b, jb.id).result == "rb"
    assert jobs.get(a, jb.id) is None and jobs.get(b, ja.id) is None  # never the other session's
    assert jobs.get(a, ja.id).snapshot()["done"] == 2
    assert jobs.get(a, ja.id).overlapped and jobs.get(b, jb.id).overlapped  # both are told their CPUs were shared
    jobs.shutdown(wait=True)


def test_a_failing_job_reports_its_message():
    jobs = JobManager(workers=1)
    sid = new_session_id()

    def boom(progress):
        raise NodeExecutionError("node %7 'attn/softmax' (softmax, model.py:12) failed: bad axis")

    def bug(progress):
        raise KeyError("x")

    j1, j2 = jobs.submit(sid, "a", boom), jobs.submit(sid, "b", bug)
    assert jobs.wait(sid, j1.id).status == FAILED
    assert jobs.get(sid, j1.id).error == "node %7 'attn/softmax' (softmax, model.py:12) failed: bad axis"
    assert jobs.wait(sid, j2.id).error == "KeyError: 'x'"
    jobs.shutdown(wait=True)


def test_the_run_page_refuses_a_second_run_and_bad_settings(runs):
    state, sid, _ = runs
    with pytest.raises(ValueError, match="whole number"):
        home.settings_from(2, "numpy", "", 1, [])
    with pytest.raises(ValueError, match="repeats must be between 1 and 1000"):
        home.submit(state, sid, "sample:mlp", RunSettings(repeat=0))
    with pytest.raises(ValueError, match="backend 'nope' is not available"):
        home.submit(state, sid, "sample:mlp", RunSettings(backend="nope"))
    with pytest.raises(ValueError, match="pick a model"):
        home.submit(state, sid, None, RunSettings())
    s = home.settings_from("1", "numpy", "7", "0", ["parallel"])
    assert (s.level, s.repeat, s.warmup, s.parallel) == (1, 7, 0, True)
    assert home.job_view(state, sid, "no-such-job")["ended"]


def test_run_profiles_the_optimized_graph_with_random_inputs(runs):
    _, _, by_level = runs
    r2, r0 = by_level[2], by_level[0]
    assert r2.optimized is not None and len(r2.optimized.nodes) < len(r2.original.nodes)
    assert r0.optimized is None and r0.graph is r0.original
    assert len(r2.profile.iterations) == 3 and r2.profile.metadata["optimization_level"] == 2
    assert set(r2.profile.nodes) == {n.id for n in r2.optimized.nodes}
    assert r2.report.timing.nodes_timed == len(r2.report.nodes) > 0


# ---------------------------------------------------------------------------------------------
# uploads


def test_decode_upload_rejects_bad_data():
    with pytest.raises(UploadError, match="not base64"):
        decode_upload("data:text/plain,hello", "a.gsg", 100)
    with pytest.raises(UploadError, match="invalid base64"):
        decode_upload("data:x;base64,@@@@", "a.gsg", 100)
    with pytest.raises(UploadError, match="empty file"):
        decode_upload("data:x;base64,", "a.gsg", 100)
    with pytest.raises(UploadError, match=r"'a.gsg' is 1.0 KiB, over the 100 B limit"):
        decode_upload(_contents(b"x" * 1024), "a.gsg", 100)
    assert decode_upload(_contents(b"abc"), "a.gsg", 100) == b"abc"


def test_bad_uploads_name_the_uploaded_file_and_change_nothing(tmp_path):
    state = AppState(None)
    sid = new_session_id()
    path = tmp_path / "m.gsprof"
    gs.save_profile(gs.run(*_mlp_graph_and_inputs(), profile=True, repeat=2).profile, str(path))
    good = path.read_bytes()
    cases = [("garbage.gsg", b"\x00not a zip archive" * 10, "cannot load 'garbage.gsg': not a graphscope graph archive"),
             ("cut.gsprof", good[: len(good) // 2], "cannot load 'cut.gsprof'"),
             ("notes.txt", b"hello", "cannot open 'notes.txt': not a graph or profile file name")]
    for name, raw, message in cases:
        with pytest.raises(UploadError) as err:
            add_upload(state, sid, _contents(raw), name)
        assert message in str(err.value) and "graphscope-upload-" not in str(err.value)
    assert state.runs(sid) == [] and [s.origin for s in state.sources(sid)] == ["sample"] * 6
    message, run = add_upload(state, sid, _contents(good), "m.gsprof")  # a good one afterwards works
    assert "profile of 'mlp2'" in message and state.run(sid, run.id) is run and not run.trusted
    state.jobs.shutdown(wait=True)


def _mlp_graph_and_inputs():
    rng = np.random.default_rng(3)

    @gs.function(name="mlp2")
    def f(x, w):
        with gs.name_scope("layer"):
            return np.tanh(x @ w)

    x, w = rng.standard_normal((16, 32), dtype=np.float32), rng.standard_normal((32, 8), dtype=np.float32)
    return f.get_graph(x, w), [x, w]


def test_an_uploaded_graph_becomes_a_model_of_that_session_only(tmp_path):
    state = AppState(None)
    a, b = new_session_id(), new_session_id()
    g, _ = _mlp_graph_and_inputs()
    gs.save(g, str(tmp_path / "g.gsg"))
    message, src = add_upload(state, a, _contents((tmp_path / "g.gsg").read_bytes()), "g.gsg")
    assert message == f"loaded 'g.gsg': graph 'mlp2' with {len(g.nodes)} nodes"
    assert state.source(a, src.key) is src and state.source(b, src.key) is None
    options, value = home.source_options(state, a, src.key)
    assert value == src.key and {"label": "upload: g.gsg", "value": src.key} in options
    assert home.source_options(state, b, src.key)[1] == "sample:transformer"
    job = state.jobs.wait(a, start_run(state, a, src, RunSettings(level=1, repeat=2, warmup=0)))
    assert job.status == DONE and not state.run(a, job.result).trusted  # uploaded code lines are never read
    state.jobs.shutdown(wait=True)


# ---------------------------------------------------------------------------------------------
# downloads


def test_report_downloads_are_the_registered_exporters(runs):
    _, _, by_level = runs
    run = by_level[2]
    name, data = export_report(run, "json")
    doc = json.loads(data)
    assert name.endswith(".json") and doc["format"] == "graphscope-report"
    assert [n["id"] for n in doc["nodes"]] == [r.id for r in run.report.nodes]
    name, data = export_report(run, "trace")
    events = json.loads(data)["traceEvents"]
    assert name.endswith(".chrome-trace.json")
    assert {r.name for r in run.report.nodes} <= {e.get("name") for e in events}
    name, data = export_report(run, "html")
    assert name.endswith(".html") and b'<section id="summary"' in data and b"Plotly" in data


# ---------------------------------------------------------------------------------------------
# the graph page


def test_a_view_maps_every_svg_element_back_to_the_graph(runs):
    state, _, by_level = runs
    run = by_level[2]
    stage = gv.default_stage(run)
    assert stage == len(gv.pass_names(run)) + 1  # the whole pipeline, before | after
    expanded = gv.default_expanded(state.layouts, run, stage)
    view = gv.render(state.layouts, run, stage, "time", expanded)
    titles = set(__import__("re").findall(r"<title>([^<]+)</title>", view["svg"]))
    nodes = {t[2] for t in view["targets"].values() if t[0] == "node"}
    assert set(view["targets"]) <= titles | {k for k, t in view["targets"].items() if t[0] == "cluster"}
    assert nodes == {n.id for n in run.original.nodes} | {n.id for n in run.optimized.nodes}  # small: all drawn
    sides = {t[1] for t in view["targets"].values()}
    assert sides == {"b", "a"}
    hits = state.layouts.hits
    again = gv.render(state.layouts, run, stage, "time", expanded)
    assert again is view and state.layouts.hits == hits + 1  # laid out once per view


def test_each_pass_stage_shows_what_that_pass_changed(runs):
    state, _, by_level = runs
    run = by_level[2]
    names = gv.pass_names(run)
    fusion = names.index("elementwise_fusion") + 1
    view = gv.render(state.layouts, run, fusion, "none", gv.default_expanded(state.layouts, run))
    assert "fused" in view["summary"] and "after elementwise_fusion" in view["svg"]
    assert gv.clamp_stage(run, 99) == len(names) + 1 and gv.clamp_stage(run, "x") == gv.default_stage(run)
    assert graph.stage_controls(by_level[0])[3] == {"display": "none"}  # level 0: nothing to step through


def test_a_large_graph_opens_collapsed_and_scopes_open_one_by_one():
    state = AppState(None)
    sid = new_session_id()
    g = big_graph(blocks=40, per=100)
    run = open_graph(state, sid, Source("upload:x", "big", "graph", "upload", obj=g))
    st = graph.next_state(state, run, None, event="load")
    assert "block3" in st["expanded"] and "block3/attn" not in st["expanded"]
    view = gv.render(state.layouts, run, 0, "none", st["expanded"])
    scopes = {t[2] for t in view["targets"].values() if t[0] == "scope"}
    assert len(scopes) == 80 and view["boxes"] == 80 + 2  # two boxes per block, plus the two inputs
    st2 = graph.next_state(state, run, st, event="click", click={"kind": "scope", "value": "block3/attn"})
    view2 = gv.render(state.layouts, run, 0, "none", st2["expanded"])
    drawn = {t[2] for t in view2["targets"].values() if t[0] == "node"}
    assert {n.id for n in g.nodes if n.scope == "block3/attn"} <= drawn
    st3 = graph.next_state(state, run, st2, event="click", click={"kind": "cluster", "value": "block3"})
    assert not any(p == "block3" or p.startswith("block3/") for p in st3["expanded"])
    deep = next(n for n in g.nodes if n.scope == "block7/mlp")  # selecting a node opens the scopes around it
    st4 = graph.next_state(state, run, st, event="load", node={"run": run.id, "node": deep.id})
    assert {"block7", "block7/mlp"} <= set(st4["expanded"])
    state.jobs.shutdown(wait=True)


def test_search_prefers_an_exact_name(runs):
    _, _, by_level = runs
    run = by_level[0]
    hits = gv.search(run, "attn/qkv/matmul")
    assert hits[0].name == "attn/qkv/matmul" and all("attn/qkv/matmul" in h.name for h in hits)
    assert gv.search(run, "no such node") == []


# ---------------------------------------------------------------------------------------------
# node details


def test_node_details_show_op_source_line_time_and_provenance(runs):
    _, _, by_level = runs
    run = by_level[2]
    slowest = run.report.nodes[0]
    panel = node_details(run, slowest.id, "graph")
    text = _text(panel)
    path, _, line = slowest.source.rpartition(":")
    assert slowest.op in text and f"{path.rsplit('/', 1)[-1]}:{line}" in text
    assert linecache.getline(path, int(line)).strip() in text  # the line of code itself (a run made here)
    from graphscope.profile.analysis import format_ns

    assert format_ns(slowest.median_ns) in _text(_find(panel, "graph-median"))
    fused = next(n for n in run.optimized.nodes if len(n.provenance) > 1)
    prov = _text(_find(node_details(run, fused.id, "graph"), "graph-provenance"))
    for p in fused.provenance:
        assert f"%{p} {run.original.node(p).name}" in prov
    assert "%" not in _text(node_details(run, None, "graph"))


def test_node_details_show_a_value_summary_with_its_histogram(runs, rng):
    _, _, by_level = runs
    run = by_level[0]
    node = run.report.nodes[0]
    values = rng.standard_normal(1000).astype(np.float32) * 3 + 1
    values[:5] = np.nan
    finite = values[np.isfinite(values)]
    counts, edges = np.histogram(finite, bins=12)
    summary = ValueSummary((1000,), "float32", float(finite.min()), float(finite.max()), float(finite.mean()),
                           float(finite.std()), 5, 0, counts.tolist(), edges.tolist())
    run.profile.value_summaries[node.id] = summary
    try:
        panel = node_details(run, node.id, "timeline")
    finally:
        del run.profile.value_summaries[node.id]
    text = _text(_find(panel, "timeline-values"))
    assert f"{finite.min():.4g} / {finite.max():.4g}" in text and "5 / 0" in text
    hist = _find(panel, "timeline-hist").figure
    assert list(hist.data[0].y) == counts.tolist() and hist.data[0].x[0] == pytest.approx((edges[0] + edges[1]) / 2)


def test_source_lines_of_untrusted_runs_are_not_read(runs):
    _, _, by_level = runs
    run = by_level[0]
    node = run.report.nodes[0]
    path, _, line = node.source.rpartition(":")
    code = linecache.getline(path, int(line)).strip()
    untrusted = Run("u1", "upload", "upload", profile=run.profile, report=run.report, trusted=False)
    assert code in _text(node_details(run, node.id, "graph"))
    assert code not in _text(node_details(untrusted, node.id, "graph"))  # an upload names any path it likes
    assert find_node(untrusted, node.id)[0].name == node.name  # the profile's own record of the node


# ---------------------------------------------------------------------------------------------
# timeline, memory, bottlenecks, compare


def test_a_click_on_either_chart_selects_the_node(runs):
    _, _, by_level = runs
    run = by_level[2]
    lanes, flame, notice_, style = timeline.figures_for(run, None)
    assert notice_ is None and style == {}
    bar = lanes.data[0]
    click = {"points": [{"curveNumber": 0, "pointNumber": 0, "customdata": list(bar.customdata[0])}]}
    assert timeline.node_from_click(click) == int(bar.customdata[0][0].split()[0][1:])
    ice = flame.data[0]
    k = next(i for i, x in enumerate(ice.ids) if x.startswith("node:"))
    assert timeline.node_from_click({"points": [{"id": ice.ids[k]}]}) == int(ice.ids[k][5:])
    assert timeline.node_from_click({"points": [{"id": "scope:attn", "customdata": ["attn"]}]}) is None
    opts, rep = timeline.iteration_options(run)
    assert len(opts) == 3 and "(median)" in opts[rep]["label"]


def test_memory_page_numbers_are_the_reports(runs):
    _, _, by_level = runs
    run = by_level[2]
    notice_, cards, fig, rows, text, style = memory.page_content(run)
    m = run.report.memory
    assert notice_ is None and style == {}
    assert [r["node_id"] for r in rows] == [t.node_id for t in m.peak_tensors]
    assert sum(r["kib"] for r in rows) == pytest.approx(sum(t.bytes for t in m.peak_tensors) / 1024, rel=1e-3)
    from graphscope.profile.analysis import format_bytes

    assert format_bytes(m.peak_bytes) in _text(cards) and format_bytes(m.planned_peak_bytes) in _text(cards)
    assert memory.page_content(None)[5] == {"display": "none"}


def test_bottleneck_tables_are_the_reports(runs):
    _, _, by_level = runs
    run = by_level[2]
    out = bottlenecks.page_content(run)
    rows, ops, path = out[4], out[5], out[6]
    assert [r["id"] for r in rows] == [r.id for r in run.report.nodes]
    for row, r in zip(rows, run.report.nodes):
        assert row["median_us"] == pytest.approx(r.median_ns / 1e3, rel=5e-4)  # 4 significant digits
    assert sum(o["count"] for o in ops) == len(run.report.nodes)
    assert [p["id"] for p in path] == run.report.schedule.critical_path
    assert bottlenecks.page_content(None)[1] == {"display": "none"}
    assert _find(bottlenecks.summary_cards(run), "bottlenecks-overlap") is None
    run.profile.metadata["overlapped_runs"] = True  # what a run sharing the CPUs with another session records
    try:
        assert "shared the CPUs" in _text(_find(bottlenecks.summary_cards(run), "bottlenecks-overlap"))
    finally:
        del run.profile.metadata["overlapped_runs"]


def test_compare_defaults_to_the_unoptimized_run_as_baseline(runs):
    state, sid, by_level = runs
    options, before, after = compare.choices(state, sid, by_level[0].id, None, None)
    assert (before, after) == (by_level[0].id, by_level[2].id)
    out = compare.page_content(by_level[0], by_level[2])
    c = compare_profiles(by_level[0].profile, by_level[2].profile)
    assert f"{c.speedup:.2f}x" in _text(out[2])
    assert [r["name"] for r in out[4]] == [d.name for d in c.nodes]
    assert compare.page_content(by_level[0], None)[1] == {"display": "none"}


def test_the_run_selector_keeps_a_valid_choice(runs):
    from graphscope.app.app import pick_run

    state, sid, by_level = runs
    r0, r2 = by_level[0].id, by_level[2].id
    assert pick_run(state, sid, r2, r0, from_select=True) == r2
    assert pick_run(state, sid, r2, r0, from_select=False) == r0
    assert pick_run(state, sid, "gone", None, from_select=True) == r0  # the latest
    assert home.runs_rows(state, sid)[0]["id"] == r0


def test_profile_files_given_to_the_app_are_shared_runs(tmp_path):
    g, inputs = _mlp_graph_and_inputs()
    prof = gs.run(g, inputs, profile=True, repeat=2).profile
    gs.save_profile(prof, str(tmp_path / "p.gsprof"))
    gs.save(g, str(tmp_path / "g.gsg"))
    state = AppState(None, [str(tmp_path / "p.gsprof"), str(tmp_path / "g.gsg")])
    a, b = new_session_id(), new_session_id()
    assert [r.label for r in state.runs(a)] == [r.label for r in state.runs(b)] == ["p.gsprof (file)"]
    assert state.source(b, f"file:{tmp_path / 'g.gsg'}").load().name == "mlp2"
    assert analyze(state.runs(a)[0].profile).timing.iterations == 2
    state.jobs.shutdown(wait=True)


def test_several_apps_live_in_one_process_with_all_their_callbacks():
    a, b = make_app(), make_app()
    deps = [a.server.test_client().get("/_dash-dependencies").get_json(),
            b.server.test_client().get("/_dash-dependencies").get_json()]
    assert len(deps[0]) == len(deps[1]) > 20
    layout = a.server.test_client().get("/_dash-layout").get_json()
    assert "app-session" in json.dumps(layout)
    for app in (a, b):
        app.server.extensions["graphscope"].jobs.shutdown(wait=True)


def test_a_run_with_value_summaries_shows_them_in_node_details():
    from graphscope.runtime.run import evaluate_all
    from graphscope.samples import random_inputs

    state = AppState(None)
    sid = new_session_id()
    src = state.source(sid, "sample:mlp")
    job = state.jobs.wait(sid, start_run(state, sid, src, RunSettings(level=0, repeat=2, warmup=0, value_summaries=True)), 120)
    assert job.status == DONE, job.error
    run = state.run(sid, job.result)
    node = next(n for n in run.graph.nodes if n.op == "matmul")
    s = run.profile.value_summaries[node.id]
    value = evaluate_all(run.graph, random_inputs(run.graph, 0))[node.id]  # the same inputs the run used (seed 0)
    assert s.min == pytest.approx(float(value.min()), rel=1e-6) and s.max == pytest.approx(float(value.max()), rel=1e-6)
    panel = node_details(run, node.id, "graph")
    assert list(_find(panel, "graph-hist").figure.data[0].y) == list(s.hist_counts) and sum(s.hist_counts) == value.size
    assert "overlapped_runs" not in run.profile.metadata  # ran alone
    state.jobs.shutdown(wait=True)


def test_a_parallel_run_records_its_lanes():
    state = AppState(None)
    sid = new_session_id()
    src = state.source(sid, "sample:inception")
    job = state.jobs.wait(sid, start_run(state, sid, src, RunSettings(level=2, repeat=2, warmup=1, parallel=True)), 120)
    assert job.status == DONE, job.error
    run = state.run(sid, job.result)
    assert run.settings["parallel"] and "parallel" in run.label
    lanes = {e.lane for it in run.profile.iterations for e in it}
    assert lanes == {r.lane for r in run.report.schedule.lanes} and len(bottlenecks.page_content(run)[8]) == len(lanes)
    state.jobs.shutdown(wait=True)
