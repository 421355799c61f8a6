"""The dashboard in a real browser (headless Chromium through Dash's ``dash_duo``).

Every page loads with no console error and a screenshot that is not blank; the user journey (pick
the transformer, run it at level 2, see the timeline, click the slowest node, read its source line,
compare with level 0); uploads (bad ones show their error, a good one after them works); a
20,000-node graph opening collapsed in under 5 s; two browser sessions kept apart; a failing run
showing its error on the page that started it.
"""

from __future__ import annotations

import json
import linecache
import time

import pytest

pytest.importorskip("selenium", reason="the browser tests need dash[testing] (the dev extra)")
from app_helpers import make_app, save_big_graph, screenshot_stats, severe_logs, state_of, wait_for
from selenium.webdriver.common.action_chains import ActionChains

import graphscope as gs
from graphscope.app.runner import RunSettings, start_run
from graphscope.errors import NodeExecutionError
from graphscope.profile.compare import compare

PAGES = {  # page -> (path, an element that only shows once its content is drawn)
    "home": ("/", "#home-runs td"),
    "graph": ("/graph", "#graph-canvas g.node"),
    "timeline": ("/timeline", "#timeline-lanes .main-svg"),
    "memory": ("/memory", "#memory-curve .main-svg"),
    "bottlenecks": ("/bottlenecks", "#bottlenecks-nodes td"),
    "compare": ("/compare", "#compare-speedup"),
}


@pytest.fixture
def app_factory(dash_duo, browser_ok):
    """Apps for dash_duo; their job workers stop before the test server is torn down."""
    made = []

    def make(*args, **kwargs):
        app = make_app(*args, **kwargs)
        made.append(app)
        return app

    yield make
    for app in made:
        state_of(app).jobs.shutdown(wait=True)


def _start(dash_duo, app, path: str = "/") -> None:
    dash_duo.start_server(app)
    if path != "/":
        dash_duo.driver.get(dash_duo.server_url + path)
    dash_duo.wait_for_element("#app-run-select", timeout=15)


def _session(dash_duo) -> str:
    return json.loads(dash_duo.driver.execute_script("return window.sessionStorage.getItem('app-session');"))


def _run_in_browser(dash_duo, level: int, repeat: int = 3) -> None:
    dash_duo.find_element(f"#home-level input[value='{level}']").click()
    repeat_box = dash_duo.find_element("#home-repeat")
    dash_duo.clear_input(repeat_box)
    repeat_box.send_keys(f"{repeat}\t")
    assert repeat_box.get_attribute("value") == str(repeat)
    before = len(dash_duo.find_elements("#home-runs tbody tr"))
    dash_duo.find_element("#home-run").click()
    dash_duo.wait_for_contains_text("#home-stage", "done", timeout=60)
    wait_for(lambda: len(dash_duo.find_elements("#home-runs tbody tr")) > before, what="the new run in the runs table")


def _goto(dash_duo, page: str) -> None:
    dash_duo.find_element(f"#app-nav-{page}").click()
    dash_duo.wait_for_element(PAGES[page][1], timeout=15)


def _no_console_errors(dash_duo, where: str) -> None:
    errors = severe_logs(dash_duo)
    assert errors == [], f"{where}: browser console errors: {errors}"


def test_every_page_loads_without_console_errors_and_draws_something(dash_duo, app_factory, tmp_path):
    app = app_factory()
    _start(dash_duo, app)
    state, sid = state_of(app), _session(dash_duo)
    src = state.source(sid, "sample:transformer")
    for level in (0, 2):  # two runs of this session, so every page (Compare too) has something to show
        job = state.jobs.wait(sid, start_run(state, sid, src, RunSettings(level=level, repeat=3, warmup=1)), timeout=90)
        assert job.status == "done", job.error
    for page, (path, ready) in PAGES.items():
        dash_duo.driver.get(dash_duo.server_url + path)
        dash_duo.wait_for_element(ready, timeout=15)
        time.sleep(0.3)  # let the figures finish their transitions before the picture
        shot = tmp_path / f"{page}.png"
        dash_duo.driver.save_screenshot(str(shot))
        colors, ink = screenshot_stats(shot)
        assert colors >= 40 and ink >= 0.05, f"{page}: the screenshot looks blank ({colors} colours, {ink:.1%} ink)"
        _no_console_errors(dash_duo, page)


def test_journey_transformer_level_2_timeline_slowest_node_source_then_compare_with_level_0(dash_duo, app_factory):
    app = app_factory()
    _start(dash_duo, app)
    state, sid = state_of(app), _session(dash_duo)
    dash_duo.select_dcc_dropdown("#home-source", value="sample: transformer")
    _run_in_browser(dash_duo, level=2)
    run2 = state.latest_run(sid, profiled=True)
    assert run2.level == 2 and run2.source_label == "sample: transformer"

    _goto(dash_duo, "timeline")
    slowest = run2.report.nodes[0]
    # The bar of the slowest node in the drawn figure: its trace and point index, from the figure's own data.
    bar = dash_duo.driver.execute_script("""
        var gd = document.querySelector('#timeline-lanes .js-plotly-plot');
        for (var t = 0; t < gd.data.length; t++) {
          var cd = gd.data[t].customdata || [];
          for (var p = 0; p < cd.length; p++) {
            if (String(cd[p][0]).indexOf(arguments[0]) === 0) {
              return gd.querySelectorAll('.barlayer .trace')[t].querySelectorAll('.point')[p];
            }
          }
        }
        return null;""", f"%{slowest.id} ")
    assert bar is not None, f"no bar for %{slowest.id} in the timeline"
    ActionChains(dash_duo.driver).move_to_element(bar).pause(0.3).click().perform()
    dash_duo.wait_for_element(f"#timeline-node[data-node='{slowest.id}']", timeout=10)
    path, _, line = slowest.source.rpartition(":")
    dash_duo.wait_for_text_to_equal("#timeline-source", f"{path.rsplit('/', 1)[-1]}:{line}")
    code = dash_duo.find_element("#timeline-node .gs-code").text
    assert code == linecache.getline(path, int(line)).strip() and code
    assert slowest.op in dash_duo.find_element("#timeline-op").text

    _goto(dash_duo, "graph")  # the click selected the node on the Graph page too
    dash_duo.wait_for_element(f"#graph-node[data-node='{slowest.id}']")
    highlighted = wait_for(lambda: dash_duo.driver.execute_script(
        "var el = document.querySelector('#graph-canvas g.gs-selected'); return el && el.getAttribute('data-gs-node');"),
        what="the selected node highlighted in the drawing")
    assert highlighted == str(slowest.id)

    _goto(dash_duo, "home")
    _run_in_browser(dash_duo, level=0)
    run0 = state.latest_run(sid, profiled=True)
    assert run0.level == 0
    _goto(dash_duo, "compare")
    c = compare(run0.profile, run2.profile)
    dash_duo.wait_for_contains_text("#compare-speedup", f"{c.speedup:.2f}x")
    assert run0.label in dash_duo.find_element("#compare-before").text
    assert run2.label in dash_duo.find_element("#compare-after").text
    assert len(dash_duo.find_elements("#compare-nodes tbody tr")) > 1
    _no_console_errors(dash_duo, "journey")


def test_bad_uploads_show_their_error_and_a_good_one_after_them_works(dash_duo, app_factory, tmp_path, rng):
    app = app_factory(max_upload_bytes=64 * 1024)
    _start(dash_duo, app)
    g = _small_graph(rng)
    gs.save(g, str(tmp_path / "good.gsg"))
    prof = gs.run(g, [rng.standard_normal((16, 32), dtype="float32")], profile=True, repeat=2).profile
    gs.save_profile(prof, str(tmp_path / "run.gsprof"))
    (tmp_path / "bad.gsg").write_bytes(rng.integers(0, 256, 3000, dtype="uint8").tobytes())
    (tmp_path / "cut.gsprof").write_bytes((tmp_path / "run.gsprof").read_bytes()[:700])
    (tmp_path / "huge.gsg").write_bytes(b"\0" * (200 * 1024))
    upload = "#home-upload input[type=file]"
    for name, expected in [("bad.gsg", "cannot load 'bad.gsg': not a graphscope graph archive"),
                           ("cut.gsprof", "cannot load 'cut.gsprof'"),
                           ("huge.gsg", "upload 'huge.gsg' is 200.0 KiB, over the 64.0 KiB limit")]:
        dash_duo.find_element(upload).send_keys(str(tmp_path / name))
        if "KiB" in expected:
            expected = "upload 'huge.gsg' is 0.2 MiB, over the 0.1 MiB limit"  # the browser's check: MiB, 1 decimal
        dash_duo.wait_for_contains_text("#home-upload-msg", expected, timeout=10)
        assert "gs-error" in dash_duo.find_element("#home-upload-msg").get_attribute("class")
    dash_duo.find_element(upload).send_keys(str(tmp_path / "good.gsg"))
    dash_duo.wait_for_contains_text("#home-upload-msg", f"loaded 'good.gsg': graph 'small' with {len(g.nodes)} nodes")
    dash_duo.wait_for_contains_text("#home-source", "upload: good.gsg")
    dash_duo.find_element(upload).send_keys(str(tmp_path / "run.gsprof"))
    dash_duo.wait_for_contains_text("#home-upload-msg", "loaded 'run.gsprof': profile of 'small'")
    dash_duo.wait_for_contains_text("#app-run-select", "run.gsprof (upload)")
    _goto(dash_duo, "timeline")  # the uploaded profile is what the pages show now
    _no_console_errors(dash_duo, "uploads")


def _small_graph(rng):
    w = rng.standard_normal((32, 8), dtype="float32")

    @gs.function(name="small")
    def f(x):
        with gs.name_scope("layer"):
            return gs.ops.softmax(x @ w, axis=-1)

    return f.get_graph(rng.standard_normal((16, 32), dtype="float32"))


def test_a_20000_node_graph_opens_collapsed_in_under_5_s_and_a_scope_opens_on_click(dash_duo, app_factory, tmp_path):
    path = save_big_graph(tmp_path / "big.gsg", blocks=100, per=200)
    app = app_factory([str(path)])
    state = state_of(app)
    big = state.shared_sources[f"file:{path}"].load()
    assert len(big.nodes) >= 20_000
    _start(dash_duo, app)
    dash_duo.select_dcc_dropdown("#home-source", value="big.gsg")
    dash_duo.find_element("#home-open").click()
    dash_duo.wait_for_contains_text("#home-error", "Opened")
    t0 = time.perf_counter()
    dash_duo.driver.get(dash_duo.server_url + "/graph")  # a fresh page load: scripts, layout, drawing
    dash_duo.wait_for_element("#graph-canvas g.node", timeout=15)
    seconds = time.perf_counter() - t0
    boxes = int(dash_duo.find_element("#graph-canvas").get_attribute("data-gs-boxes"))
    print(f"{len(big.nodes)}-node graph opened in {seconds:.2f} s as {boxes} boxes")  # shown with pytest -s
    assert seconds < 5.0, f"the 20,000-node graph took {seconds:.1f} s to open"
    assert boxes <= 2 * 300 and dash_duo.find_elements("#graph-canvas g.node[data-gs-scope='block42/attn']")
    scope_nodes = [n for n in big.nodes if n.scope == "block42/attn"]
    dash_duo.find_element("#graph-canvas g.node[data-gs-scope='block42/attn']").click()
    wait_for(lambda: len(dash_duo.find_elements("#graph-canvas g.node[data-gs-node]")) >= len(scope_nodes),
             what="the nodes of block42/attn drawn")
    drawn = {int(e.get_attribute("data-gs-node")) for e in dash_duo.find_elements("#graph-canvas g.node[data-gs-node]")}
    assert {n.id for n in scope_nodes} <= drawn
    dash_duo.find_element(f"#graph-canvas g.node[data-gs-node='{scope_nodes[0].id}']").click()  # a node: its details
    dash_duo.wait_for_contains_text("#graph-title", scope_nodes[0].name)
    dash_duo.find_element("#graph-canvas g.cluster[data-gs-cluster='block42'] text").click()  # a scope's title closes it
    dash_duo.wait_for_element("#graph-canvas g.node[data-gs-scope='block42']")
    assert not dash_duo.find_elements(f"#graph-canvas g.node[data-gs-node='{scope_nodes[0].id}']")
    target = next(n for n in big.nodes if n.scope == "block77/mlp" and n.op == "tanh")
    search = dash_duo.find_element("#graph-search")
    search.send_keys(target.name + "\n")  # find by name: its scopes open and it is selected
    dash_duo.wait_for_contains_text("#graph-title", target.name)
    selected = wait_for(lambda: dash_duo.driver.execute_script(
        "var el = document.querySelector('#graph-canvas g.gs-selected'); return el && el.getAttribute('data-gs-node');"),
        what="the found node highlighted")
    assert selected == str(target.id)
    _no_console_errors(dash_duo, "large graph")


def test_sessions_are_kept_apart_and_a_failing_run_shows_its_error_where_it_started(dash_duo, app_factory, monkeypatch):
    import graphscope.app.runner as runner

    app = app_factory()
    _start(dash_duo, app)
    a = _session(dash_duo)
    real = runner.profile_graph

    def failing(graph, settings, progress):
        raise NodeExecutionError(f"node %5 'attn/qkv/matmul' (matmul, models.py:126) failed: simulated fault in {graph.name}")

    monkeypatch.setattr(runner, "profile_graph", failing)
    dash_duo.select_dcc_dropdown("#home-source", value="sample: mlp")
    dash_duo.find_element("#home-run").click()
    dash_duo.wait_for_contains_text("#home-error-text", "simulated fault in mlp", timeout=20)
    monkeypatch.setattr(runner, "profile_graph", real)

    first = dash_duo.driver.current_window_handle
    dash_duo.driver.switch_to.new_window("tab")  # a second browser session (its own sessionStorage)
    dash_duo.driver.get(dash_duo.server_url)
    dash_duo.wait_for_element("#home-source")
    b = _session(dash_duo)
    assert b != a
    assert not dash_duo.find_elements("#home-error-text")  # the other session's failure is not shown here
    dash_duo.select_dcc_dropdown("#home-source", value="sample: mlp")
    _run_in_browser(dash_duo, level=1, repeat=2)
    state = state_of(app)
    assert len(state.runs(b)) == 1 and state.runs(a) == []
    dash_duo.driver.switch_to.window(first)
    dash_duo.driver.refresh()
    dash_duo.wait_for_element("#home-source")
    assert _session(dash_duo) == a  # a reload keeps the tab's session
    time.sleep(0.5)
    assert dash_duo.find_elements("#home-runs tbody tr td") == []  # session b's run is not listed in a
    _no_console_errors(dash_duo, "sessions")


def test_node_details_show_the_value_summary_and_histogram_of_a_run_that_recorded_them(dash_duo, app_factory):
    app = app_factory()
    _start(dash_duo, app)
    state, sid = state_of(app), _session(dash_duo)
    src = state.source(sid, "sample:mlp")
    settings = RunSettings(level=0, repeat=2, warmup=0, value_summaries=True)
    job = state.jobs.wait(sid, start_run(state, sid, src, settings), timeout=90)
    assert job.status == "done", job.error
    run = state.run(sid, job.result)
    node = next(n for n in run.graph.nodes if n.op == "matmul")
    summary = run.profile.value_summaries[node.id]
    dash_duo.driver.get(dash_duo.server_url + "/graph")
    dash_duo.wait_for_element(PAGES["graph"][1], timeout=15)
    dash_duo.find_element("#graph-search").send_keys(node.name + "\n")
    dash_duo.wait_for_contains_text("#graph-title", node.name)
    dash_duo.wait_for_element("#graph-values", timeout=10)
    dash_duo.wait_for_element("#graph-hist .main-svg", timeout=10)  # the histogram is drawn
    text = dash_duo.find_element("#graph-values").text
    assert f"{summary.min:.4g} / {summary.max:.4g}" in text and f"{summary.nan_count} / {summary.inf_count}" in text
    bars = dash_duo.driver.execute_script(
        "var gd = document.querySelector('#graph-hist .js-plotly-plot'); return gd && gd.data[0].y;")
    assert [int(v) for v in bars] == list(summary.hist_counts)
    _no_console_errors(dash_duo, "value summary")
