"""`graphscope profile | report | compare | render`: outputs, files, help, and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import graphscope
from graphscope import cli, samples
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "viz"))
from trace_validator import validate_trace  # noqa: E402

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")
SVG_TAG = "{http://www.w3.org/2000/svg}svg"


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory):
    """The machine peaks analyze() measures are cached here, not in the real home."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRAPHSCOPE_CACHE_DIR", str(tmp_path_factory.mktemp("gs-cache")))
        yield


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("samples")
    return {os.path.basename(p)[:-4]: p for p in samples.ensure_samples(str(directory))}


@pytest.fixture(scope="module")
def saved_profiles(tmp_path_factory, sample_files):
    """Profiles of the mlp sample, unoptimized and at level 2."""
    d = tmp_path_factory.mktemp("profiles")
    paths = {}
    for level in (0, 2):
        paths[level] = str(d / f"mlp{level}.gsprof")
        code = cli.main(["profile", sample_files["mlp"], "--level", str(level), "--repeat", "3", "--warmup", "1",
                         "--save-profile", paths[level]])
        assert code == 0
    return paths


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphscope: error: "), err
    for f in fragments:
        assert f in lines[0], err


# -- help ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, options", [
    ([], ["profile", "report", "compare", "render", "exit codes"]),
    (["profile"], ["FILE", "--level", "--repeat", "--warmup", "--top", "--seed", "--backend", "--parallel",
                   "--save-profile", "--json", "--html", "--trace", "--max-events", "(default: 200000)"]),
    (["report"], ["PROFILE", "--top", "--json", "--html", "--trace", "--max-events"]),
    (["compare"], ["BASE", "NEW", "--top", "--json"]),
    (["render"], ["FILE", "--output", "--optimized", "--diff", "--stages", "--level", "--profile", "--color",
                  "--collapse-depth", "--max-nodes", "--no-constants", ".svg", ".png", ".dot"]),
])
def test_help_for_each_command(capsys, argv, options):
    code, out, _ = run_cli(capsys, *argv, "--help")
    assert code == 0
    for opt in options:
        assert opt in out, opt
    lines = out.splitlines()
    for k, line in enumerate(lines):  # an option line (indented 2) has its help beside it or on the next line
        if line.startswith("  -") and "  " not in line.strip():
            following = lines[k + 1] if k + 1 < len(lines) else ""
            if not following.startswith(" " * 8) or following.strip().startswith("-"):
                pytest.fail(f"option without help text: {line!r}")


def test_report_options_come_from_the_format_registry(capsys, monkeypatch):
    from graphscope import formats

    monkeypatch.setattr(formats, "FORMATS", dict(formats.FORMATS))
    formats.register_format(formats.FileFormat("csv", ".nodes.csv", "report", None, "x:y", "CSV of node times"))
    _, out, _ = run_cli(capsys, "report", "--help")
    assert "--csv OUT" in out and "CSV of node times" in out


# -- graphscope profile ------------------------------------------------------------------------------


def test_profile_prints_the_report_and_writes_every_output(capsys, sample_files, tmp_path):
    paths = {k: tmp_path / name for k, name in
             (("html", "report.html"), ("trace", "trace.json"), ("json", "report.json"), ("prof", "run.gsprof"))}
    code, out, err = run_cli(capsys, "profile", sample_files["transformer"], "--level", "2", "--repeat", "3",
                             "--warmup", "1", "--html", paths["html"], "--trace", paths["trace"], "--json",
                             paths["json"], "--save-profile", paths["prof"])
    assert code == 0, err
    assert err == ""  # no progress bar or spinner when stderr is not a terminal
    assert "optimized 'transformer' at level 2: 78 ->" in out
    for section in ("graphscope profile: transformer", "Top nodes by self time", "By op type", "By name scope",
                    "Schedule", "Memory", "Recommendations"):
        assert section in out
    for label in ("profile saved to", "JSON report", "HTML report", "Chrome trace"):
        assert label in out
    doc = json.loads(paths["json"].read_text())
    assert doc["format"] == "graphscope-report" and doc["graph_name"] == "transformer" and doc["timing"]["iterations"] == 3
    validate_trace(paths["trace"].read_text())
    html = paths["html"].read_text()
    assert '<section id="flame">' in html and '<section id="graph">' in html
    prof = graphscope.load_profile(paths["prof"])
    assert prof.metadata["optimization_level"] == 2 and prof.pass_log and len(prof.iterations) == 3


def test_profile_checks_outputs_before_running(capsys, model_file, tmp_path, monkeypatch):
    monkeypatch.setattr(graphscope, "run", lambda *a, **k: pytest.fail("ran before checking the outputs"))
    code, _, err = run_cli(capsys, "profile", model_file, "--html", tmp_path / "nowhere" / "r.html")
    assert code == 2
    assert_one_line_error(err, "does not exist")
    code, _, err = run_cli(capsys, "profile", model_file, "--json", tmp_path)
    assert code == 2
    assert_one_line_error(err, "is a directory")


def test_profile_failure_exits_1(capsys, failing_file):
    code, _, err = run_cli(capsys, "profile", failing_file, "--repeat", "1", "--level", "0")
    assert code == 1
    assert_one_line_error(err, "'inverse'")


def test_trace_budget_option(capsys, model_file, tmp_path):
    path = tmp_path / "t.json"
    code, _, err = run_cli(capsys, "profile", model_file, "--repeat", "30", "--warmup", "0", "--trace", path,
                           "--max-events", "60")
    assert code == 0, err
    doc = json.loads(path.read_text())
    validate_trace(doc)
    assert len(doc["traceEvents"]) <= 60 and doc["otherData"]["aggregated"]


# -- graphscope report / compare ---------------------------------------------------------------------


def test_report_from_a_saved_profile(capsys, saved_profiles, tmp_path):
    code, out, err = run_cli(capsys, "report", saved_profiles[2], "--top", "3", "--json", tmp_path / "r.json",
                             "--html", tmp_path / "r.html", "--trace", tmp_path / "r.trace.json")
    assert code == 0, err
    assert "graphscope profile: mlp" in out and "Top nodes by self time" in out
    assert json.loads((tmp_path / "r.json").read_text())["graph_name"] == "mlp"
    assert (tmp_path / "r.html").stat().st_size > 1_000_000
    validate_trace((tmp_path / "r.trace.json").read_text())


def test_compare_two_profiles(capsys, saved_profiles, tmp_path):
    code, out, err = run_cli(capsys, "compare", saved_profiles[0], saved_profiles[2], "--json", tmp_path / "c.json")
    assert code == 0, err
    assert "graphscope comparison: mlp -> mlp" in out and "Largest node changes" in out and "By op type" in out
    assert "faster" in out or "slower" in out
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["format"] == "graphscope-comparison" and doc["nodes"]


@pytest.mark.parametrize("command, suffix", [(["report"], ".gsprof"), (["compare", "{ok}"], ".gsprof"),
                                             (["render", "-o", "{tmp}/g.svg"], ".gsg"), (["profile"], ".gsg")])
def test_missing_file_exits_2_with_one_line(capsys, tmp_path, saved_profiles, command, suffix):
    missing = tmp_path / f"absent{suffix}"
    argv = [c.format(ok=saved_profiles[0], tmp=tmp_path) for c in command]
    argv = [argv[0], str(missing), *argv[1:]]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert_one_line_error(err, f"cannot load '{missing}': no such file")


def test_invalid_files_exit_2(capsys, tmp_path, model_file, saved_profiles):
    bad = tmp_path / "bad.gsprof"
    bad.write_text('{"format": "graphscope-profile", "format_version": 1, "nodes": 3}')
    code, _, err = run_cli(capsys, "report", bad)
    assert code == 2
    assert_one_line_error(err, f"cannot load '{bad}'")
    code, _, err = run_cli(capsys, "report", model_file)
    assert code == 2
    assert_one_line_error(err, "is a graph file", "needs a profile (.gsprof)")
    code, _, err = run_cli(capsys, "compare", saved_profiles[0], model_file)
    assert code == 2
    assert_one_line_error(err, "is a graph file")
    code, _, err = run_cli(capsys, "render", model_file, "--profile", bad, "-o", tmp_path / "g.svg")
    assert code == 2
    assert_one_line_error(err, f"cannot load '{bad}'")


# -- graphscope render -------------------------------------------------------------------------------


def svg_nodes(path) -> int:
    root = ET.parse(path).getroot()
    assert root.tag == SVG_TAG
    return sum(1 for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node")


@needs_dot
@pytest.mark.parametrize("name", samples.names())
def test_render_every_sample(capsys, sample_files, tmp_path, name):
    out_path = tmp_path / f"{name}.svg"
    code, out, err = run_cli(capsys, "render", sample_files[name], "-o", out_path)
    assert code == 0, err
    graph = graphscope.load(sample_files[name])
    assert svg_nodes(out_path) == len(graph)
    assert out.startswith(f"wrote {out_path}: {len(graph)} nodes")


@needs_dot
def test_render_optimized_coloured_by_time_profiles_first(capsys, sample_files, tmp_path):
    path = tmp_path / "graph.svg"
    code, out, err = run_cli(capsys, "render", sample_files["transformer"], "--optimized", "-o", path, "--color", "time",
                             "--repeat", "1")
    assert code == 0, err
    opt, _ = graphscope.optimize(graphscope.load(sample_files["transformer"]), level=2)
    assert svg_nodes(path) == len(opt)
    assert "time from 1 profiled runs on random inputs" in out
    assert "share of node time" in path.read_text()


@needs_dot
def test_render_with_a_profile_collapsed_png_and_dot(capsys, sample_files, saved_profiles, tmp_path):
    code, out, err = run_cli(capsys, "render", saved_profiles[2], "-o", tmp_path / "p.png", "--color", "memory")
    assert code == 0, err
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG" and "memory from" in out
    code, out, err = run_cli(capsys, "render", sample_files["transformer"], "-o", tmp_path / "c.dot",
                             "--collapse-depth", "1", "--no-constants")
    assert code == 0, err
    text = (tmp_path / "c.dot").read_text()
    assert text.startswith("digraph") and "box3d" in text and "scopes collapsed at depth 1" in out
    assert 'label="const' not in text


@needs_dot
def test_render_diff_and_stages(capsys, sample_files, tmp_path):
    from graphscope.passes.pipeline import LEVELS

    code, out, err = run_cli(capsys, "render", sample_files["redundant"], "--diff", "-o", tmp_path / "d.svg")
    assert code == 0, err
    assert "side by side" in out and "merged into a duplicate" in (tmp_path / "d.svg").read_text()
    code, out, err = run_cli(capsys, "render", sample_files["redundant"], "--stages", "--level", "1",
                             "-o", tmp_path / "s.svg")
    assert code == 0, err
    names = ["original", *LEVELS[1]]
    for k, name in enumerate(names):
        path = tmp_path / f"s.{k}-{name}.svg"
        assert path.exists() and svg_nodes(path) > 0
    assert len(out.strip().splitlines()) == len(names)


@needs_dot
def test_render_five_thousand_nodes_in_under_ten_seconds(capsys, tmp_path):
    g = Graph("big")
    cur = skip = g.placeholder("x", TensorSpec((4, 8), np.float32))
    for k in range(4999):
        scope = f"block{k // 100:02d}/part{k // 20 % 5}"
        if k % 7 == 6:
            cur = skip = g.add_node("add", [cur, skip], scope=scope)
        else:
            cur = g.add_node(("tanh", "sin", "neg", "abs", "cos", "tanh")[k % 6], [cur], scope=scope)
    g.set_outputs([cur])
    assert len(g) == 5000
    graphscope.save(g, tmp_path / "big.gsg")
    t0 = time.perf_counter()
    code, out, err = run_cli(capsys, "render", tmp_path / "big.gsg", "--collapse-depth", "1", "-o", tmp_path / "big.svg",
                             "--color", "time", "--repeat", "1")
    elapsed = time.perf_counter() - t0
    assert code == 0, err
    assert elapsed < 10.0
    assert svg_nodes(tmp_path / "big.svg") == 51  # 50 blocks + the input
    assert "5000 nodes in 51 boxes" in out


def test_render_usage_errors(capsys, tmp_path, model_file, saved_profiles, monkeypatch):
    code, _, err = run_cli(capsys, "render", model_file, "-o", tmp_path / "g.txt")
    assert code == 2
    assert_one_line_error(err, "cannot render to", ".svg, .png, .dot")
    code, _, err = run_cli(capsys, "render", model_file, "-o", tmp_path / "g.gsprof")
    assert code == 2
    assert_one_line_error(err, "holds a profile")
    code, _, err = run_cli(capsys, "render", saved_profiles[2], "--diff", "-o", tmp_path / "g.svg")
    assert code == 2
    assert_one_line_error(err, "is a profile", "need a graph file")
    code, _, err = run_cli(capsys, "render", model_file, "-o", tmp_path / "g.svg", "--collapse-depth", "0")
    assert code == 2 and "must be at least 1" in err

    import graphviz

    def missing(*a, **k):
        raise graphviz.ExecutableNotFound(("dot",))

    monkeypatch.setattr(graphviz, "pipe", missing)
    code, _, err = run_cli(capsys, "render", model_file, "-o", tmp_path / "new.svg", "--no-constants")
    assert code == 2
    assert_one_line_error(err, "Graphviz's 'dot' program is not installed")


def test_subprocess_render_missing_file(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    res = subprocess.run([sys.executable, "-m", "graphscope.cli", "render", str(tmp_path / "x.gsg"), "-o",
                          str(tmp_path / "x.svg")], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == f"graphscope: error: cannot load '{tmp_path / 'x.gsg'}': no such file\n"


def test_profile_with_value_summaries_saves_and_reports_them(capsys, model_file, tmp_path):
    import graphscope as gs
    from graphscope.cli import random_inputs

    saved = tmp_path / "m.gsprof"
    code, out, err = run_cli(capsys, "profile", model_file, "--level", "0", "--repeat", "2", "--summaries",
                             "--save-profile", saved)
    assert code == 0, err
    assert "Value summaries" in out
    prof = gs.load_profile(str(saved))
    graph = gs.load(str(model_file))
    values = gs.run(graph, random_inputs(graph, 0)).outputs  # the same seeded inputs as the CLI's run
    out_id = graph.outputs[0].id
    s = prof.value_summaries[out_id]
    assert s.shape == tuple(values[0].shape) and s.min == pytest.approx(float(values[0].min()), rel=1e-6)
    assert s.max == pytest.approx(float(values[0].max()), rel=1e-6) and sum(s.hist_counts) == values[0].size
    code, out, err = run_cli(capsys, "report", saved)
    assert code == 0 and "Value summaries" in out
