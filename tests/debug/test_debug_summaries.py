"""Value summaries: statistics equal NumPy's, NaN/Inf counted, stored in the profile and its file, shown in the
text and HTML reports (and drawn in headless Chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

import graphscope as gs
from graphscope.debug import format_summary, summarize
from graphscope.formats.profile_file import check_fields, load_profile, save_profile

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def test_summary_matches_numpy(rng):
    a = (rng.standard_normal((40, 30)) * 3 + 1).astype(np.float32)
    s = summarize(a, bins=12)
    assert s.shape == (40, 30) and s.dtype == "float32" and s.nan_count == s.inf_count == 0
    assert s.min == float(a.min()) and s.max == float(a.max())
    assert s.mean == pytest.approx(float(a.astype(np.float64).mean()), rel=1e-12)
    assert s.std == pytest.approx(float(a.astype(np.float64).std()), rel=1e-12)
    counts, edges = np.histogram(a, bins=12, range=(float(a.min()), float(a.max())))
    assert s.hist_counts == counts.tolist() and s.hist_edges == pytest.approx(edges.tolist())
    assert sum(s.hist_counts) == a.size


def test_non_finite_values_are_counted_and_excluded(rng):
    a = rng.standard_normal(1000).astype(np.float32)
    a[[1, 5, 9]] = np.nan
    a[[2, 4]] = np.inf
    a[7] = -np.inf
    s = summarize(a)
    finite = a[np.isfinite(a)]
    assert (s.nan_count, s.inf_count) == (3, 3)
    assert s.min == float(finite.min()) and s.max == float(finite.max()) and sum(s.hist_counts) == finite.size
    assert "nan=3 inf=3" in format_summary(s)
    empty = summarize(np.full(4, np.nan))
    assert empty.min is None and empty.mean is None and empty.nan_count == 4 and empty.hist_counts == []


def test_ints_bools_and_constant_arrays():
    s = summarize(np.arange(10, dtype=np.int32))
    assert (s.min, s.max, s.mean) == (0.0, 9.0, 4.5) and sum(s.hist_counts) == 10
    b = summarize(np.array([True, False, True, True]))
    assert b.mean == 0.75 and b.dtype == "bool"
    c = summarize(np.full((3, 3), 2.5, np.float64))
    assert c.hist_counts == [9] and c.hist_edges == [2.5, 2.5] and c.std == 0.0


def test_run_records_a_summary_per_node(mlp):
    ref = mlp.numpy_values()
    run = gs.run(mlp.graph, [mlp.x], value_summaries=True, profile=True, repeat=2)
    assert run.profile.value_summaries == run.value_summaries
    assert set(run.value_summaries) == {n.id for n in mlp.graph.nodes}  # inputs, weights and every computed value
    for name, value in ref.items():
        s = run.value_summaries[mlp.graph.node(name).id]
        assert s.shape == value.shape
        assert s.min == pytest.approx(float(value.min()), rel=1e-5, abs=1e-6)
        assert s.max == pytest.approx(float(value.max()), rel=1e-5, abs=1e-6)
        assert s.mean == pytest.approx(float(value.astype(np.float64).mean()), rel=1e-4, abs=1e-6)
    plain = gs.run(mlp.graph, [mlp.x])
    assert plain.value_summaries == {} and plain.captured == {}
    no_profile = gs.run(mlp.graph, [mlp.x], value_summaries=True)  # without a profile: on the result only
    assert no_profile.profile is None and len(no_profile.value_summaries) == len(mlp.graph)


def test_profile_file_round_trip_and_old_files(mlp, tmp_path):
    check_fields()
    prof = gs.run(mlp.graph, [mlp.x], value_summaries=True, profile=True).profile
    path = tmp_path / "run.gsprof"
    save_profile(prof, path)
    back = load_profile(path)
    assert back.value_summaries == prof.value_summaries
    doc = json.loads(path.read_text())
    del doc["value_summaries"]  # a file written before summaries existed
    path.write_text(json.dumps(doc))
    assert load_profile(path).value_summaries == {}
    plain = gs.run(mlp.graph, [mlp.x], profile=True).profile
    save_profile(plain, path)
    assert "value_summaries" not in json.loads(path.read_text())


def test_profile_file_rejects_bad_summaries(mlp, tmp_path):
    prof = gs.run(mlp.graph, [mlp.x], value_summaries=True, profile=True).profile
    path = tmp_path / "run.gsprof"
    save_profile(prof, path)
    doc = json.loads(path.read_text())
    doc["value_summaries"][0]["hist_edges"] = doc["value_summaries"][0]["hist_edges"][:-1]
    path.write_text(json.dumps(doc))
    with pytest.raises(gs.GraphFormatError, match="histogram counts need"):
        load_profile(path)
    doc["value_summaries"][0]["node_id"] = 9999
    path.write_text(json.dumps(doc))
    with pytest.raises(gs.GraphFormatError, match="node 9999"):
        load_profile(path)


def _planted_nan_profile(rng):
    @gs.function
    def f(x):
        with gs.name_scope("blk"):
            return np.sqrt(x) * 2.0

    x = rng.standard_normal((16, 16)).astype(np.float32)
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return gs.run(f.get_graph(x), [x], value_summaries=True, profile=True, repeat=2).profile, x


def test_text_report_shows_summaries(rng):
    from graphscope.profile.analysis import analyze
    from graphscope.profile.text import format_report, format_value_summaries

    prof, x = _planted_nan_profile(rng)
    text = format_value_summaries(prof)
    nans = int(np.count_nonzero(x < 0))
    assert "Value summaries (4 nodes, 2 with NaN/Inf" in text  # the sqrt and the product after it
    first = next(line for line in text.splitlines() if "blk/" in line)
    assert "blk/sqrt" in first and f" {nans} " in first  # the node with NaN is listed first
    report = format_report(analyze(prof), profile=prof)
    assert "Value summaries" in report and "Top nodes by self time" in report
    assert "Value summaries" not in format_report(analyze(prof))


def test_html_report_has_the_values_section(rng, tmp_path):
    from graphscope.viz import html as H

    prof, _ = _planted_nan_profile(rng)
    page = H.html_report(prof, graph_svg="<svg></svg>")
    assert '<section id="values">' in page and 'href="#values"' in page
    body = page[page.index('<section id="values">'):]
    body = body[:body.index("</section>")]
    assert body.count('<svg class="hist"') == len(prof.value_summaries)  # one histogram per node
    assert body.count(">NaN/Inf</span>") == 2 and "blk/sqrt" in body
    prof.value_summaries = {}
    assert '<section id="values">' not in H.html_report(prof, graph_svg="<svg></svg>")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install -y chromium)")
def test_values_section_renders_in_headless_chromium(rng, tmp_path):
    from graphscope.viz import html as H

    prof, _ = _planted_nan_profile(rng)
    path = tmp_path / "report.html"
    H.save_html_report(prof, path, graph_svg="<svg></svg>")
    profile_dir = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-extensions", f"--user-data-dir={profile_dir}",
           "--window-size=1280,900", "--virtual-time-budget=15000", "--enable-logging=stderr", "--v=0", "--dump-dom",
           path.as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    console = [ln for ln in res.stderr.splitlines() if ":CONSOLE" in ln]
    assert console == [], console
    dom = res.stdout
    assert 'data-gs-status="ok"' in dom
    section = dom[dom.index('<section id="values">'):]
    section = section[:section.index("</section>")]
    rows = re.findall(r"<tr>", section)
    assert len(rows) == len(prof.value_summaries) + 1  # header + one row per node
    assert len(re.findall(r"<rect ", section)) > 10  # histogram bars drawn


def test_a_range_of_a_few_ulps_still_gets_a_histogram():
    one = np.float32(1)
    a = np.array([one, np.nextafter(one, np.float32(2))] * 5, np.float32)  # np.histogram refuses 20 float32 bins here
    s = summarize(a)
    assert sum(s.hist_counts) == 10 and s.hist_counts[0] == s.hist_counts[-1] == 5 and len(s.hist_edges) == 21
