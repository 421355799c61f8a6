"""The HTML report: self-contained (opens offline), every section present, and, in headless Chromium,
every figure drawn with no console errors and a screenshot that is not blank."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import numpy as np
import pytest
from viz_helpers import OVERHEAD, PEAKS

from graphscope.formats import get_format, save_any
from graphscope.profile.analysis import analyze
from graphscope.viz import html as H

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    from viz_helpers import sample_run

    run = sample_run("transformer")
    path = tmp_path_factory.mktemp("html") / "report.html"
    H.save_html_report(run.profile, path, report=run.report)
    return path


def test_every_section_and_figure_is_in_the_page(report_file):
    text = report_file.read_text()
    for sid in H.SECTIONS:
        assert f'<section id="{sid}">' in text
    for fid in H.FIGURES:
        assert f'<div id="{fid}" class="figure">' in text and f'"{fid}":' in text
    assert text.count("<svg") >= 1 and 'class="graph"' in text  # the Graphviz drawing, inline
    assert "ffn/up/matmul" in text and "Tensors live at the peak" in text
    assert "elementwise_fusion" in text or "common_subexpression_elimination" in text  # the pass log


def test_the_page_is_self_contained(report_file):
    text = report_file.read_text()
    assert re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=", text) is None  # nothing fetched
    assert "<link" not in text and "@import" not in text
    assert len(H.plotly_js()) > 1_000_000 and H.plotly_js()[:2000] in text  # plotly.js inlined
    size = report_file.stat().st_size
    assert 3 * 2**20 < size < 12 * 2**20


def test_user_text_is_escaped(lanes_profile, tmp_path):
    lanes_profile.nodes[2].name = "<script>alert(1)</script>"
    lanes_profile.metadata["graph_file"] = "</code><b>x"
    page = H.html_report(lanes_profile, analyze(lanes_profile, PEAKS, OVERHEAD), graph_svg="<svg></svg>")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "</code><b>x" not in page
    figures = page[page.index('id="gs-figures">'):]
    assert "</script>alert" not in figures.split("</script>", 1)[0]


def test_registered_and_graphviz_optional(lanes_profile, tmp_path, monkeypatch):
    from graphscope.viz import dot

    fmt = get_format("html")
    assert fmt.kind == "report" and fmt.suffix == ".html"

    def no_graphviz(*a, **k):
        raise dot.GraphvizError("Graphviz's 'dot' program is not installed")

    monkeypatch.setattr(dot, "svg_for_html", no_graphviz)
    from graphscope.profile import analysis as A

    real = A.analyze
    monkeypatch.setattr(A, "analyze", lambda p: real(p, PEAKS, OVERHEAD))
    monkeypatch.setattr(H, "analyze", lambda p: real(p, PEAKS, OVERHEAD))
    save_any(lanes_profile, tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text()
    assert "No graph image: Graphviz" in text and '<section id="graph">' in text
    with pytest.raises(TypeError, match="RunProfile"):
        H.html_report(analyze(lanes_profile, PEAKS, OVERHEAD))


# -- in a real browser ---------------------------------------------------------------------------------


def _chromium(tmp_path, url: str, *args: str) -> subprocess.CompletedProcess:
    profile_dir = tmp_path / "chromium-profile"
    profile_dir.mkdir(exist_ok=True)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-extensions", f"--user-data-dir={profile_dir}",
           "--window-size=1280,900", "--virtual-time-budget=15000", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@needs_chromium
def test_report_renders_in_headless_chromium(report_file, tmp_path):
    res = _chromium(tmp_path, report_file.as_uri(), "--enable-logging=stderr", "--v=0", "--dump-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    console = [ln for ln in res.stderr.splitlines() if ":CONSOLE" in ln]
    assert console == [], console  # no errors, warnings or stray logs from the page
    assert 'data-gs-status="ok"' in dom and f'data-gs-figures="{len(H.FIGURES)}"' in dom
    assert 'class="gs-error"' not in dom
    for sid in H.SECTIONS:
        start = dom.index(f'<section id="{sid}">')
        body = dom[start: dom.find("</section>", start)]
        assert "<h2>" in body and len(re.sub(r"<[^>]+>", "", body)) > 20, sid
    for fid in H.FIGURES:  # plotly drew every figure: its div holds an svg.main-svg
        start = dom.index(f'id="{fid}"')
        tag = dom[dom.rindex("<", 0, start): dom.index(">", start)]
        assert "js-plotly-plot" in tag, fid
        assert 'class="main-svg"' in dom[start: dom.find("<section", start)], fid


@needs_chromium
def test_screenshot_is_not_blank(report_file, tmp_path):
    from PIL import Image

    shot = tmp_path / "page.png"
    res = _chromium(tmp_path, report_file.as_uri(), f"--screenshot={shot}")
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    img = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")).astype(float)
    assert img.shape[:2] == (900, 1280)
    non_white = (img.min(axis=2) < 235).mean()
    assert non_white > 0.05 and img.std() > 20  # the header bar, cards, a chart: not an empty page
    dark_header = img[:40].mean()
    assert dark_header < 120  # the report's dark header bar is at the top


@needs_chromium
def test_a_broken_page_is_caught(report_file, tmp_path):
    """The control: the same checks see a failure when plotly.js is missing from the page."""
    broken = tmp_path / "broken.html"
    broken.write_text(report_file.read_text().replace(H.plotly_js(), "/* plotly.js removed */"))
    res = _chromium(tmp_path, broken.as_uri(), "--dump-dom")
    assert 'data-gs-status="error"' in res.stdout and 'class="gs-error"' in res.stdout
    assert "plotly.js did not load" in res.stdout
