"""`graphscope optimize`: the pass log, the before/after summary, the saved graph, and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import graphscope as gs
from graphscope import cli
from graphscope import samples as sample_models


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphscope: error: ") and "Traceback" not in err, err
    for f in fragments:
        assert f in lines[0], err


@pytest.fixture
def redundant_file(tmp_path):
    graph, _ = sample_models.build("redundant")
    path = tmp_path / "redundant.gsg"
    gs.save(graph, path)
    return path


def _summary(out: str) -> dict[str, list[str]]:
    """The summary table's rows: label -> [before, after, ratio]."""
    rows = {}
    for line in out.splitlines():
        parts = [p for p in line.strip().split("  ") if p.strip()]
        if len(parts) == 4 and parts[-1].strip().endswith("x"):
            rows[parts[0].strip()] = [p.strip() for p in parts[1:]]
    return rows


def test_optimize_prints_the_pass_log_and_summary_and_saves(capsys, redundant_file, tmp_path):
    out_path = tmp_path / "r.opt.gsg"
    code, out, err = run_cli(capsys, "optimize", redundant_file, "-o", out_path)
    assert code == 0 and err == ""
    graph = gs.load(redundant_file)
    opt, log = gs.optimize(graph, level=2)
    # the pass log, as gs.optimize prints it (every pass, what it changed, what it could not)
    for p in log.passes:
        assert p.name in out
    assert "folded" in out and "merged" in out and "removed" in out and "fused" in out
    rows = _summary(out)
    assert rows["nodes"] == [str(len(graph)), str(len(opt)), f"{len(opt) / len(graph):.2f}x"]
    compute = sum(n.op not in ("placeholder", "constant") for n in opt.nodes)
    assert rows["compute nodes"][1] == str(compute)
    for label in ("peak memory planned", "naive memory (every value kept)", "estimated FLOPs per run",
                  "estimated bytes moved per run"):
        assert label in rows
    before_flops, after_flops = graph.total_cost()[0], opt.total_cost()[0]
    assert rows["estimated FLOPs per run"][2] == f"{after_flops / before_flops:.2f}x"
    assert f"wrote {out_path}" in out
    # the saved graph is the optimized one, with its pass log and provenance
    back = gs.load(out_path)
    back.lint()
    assert str(back) == str(opt) and back.metadata["optimization_level"] == 2
    assert [p["name"] for p in back.metadata["pass_log"]] == [p.name for p in log.passes]
    x = np.random.default_rng(3).standard_normal(graph.inputs[0].shape).astype(np.float32)
    np.testing.assert_allclose(gs.run(back, [x]).outputs[0], gs.run(graph, [x]).outputs[0], rtol=1e-4, atol=1e-5)


def test_summary_numbers_for_the_transformer():
    graph, _ = sample_models.build("transformer")
    opt, _ = gs.optimize(graph, level=2)
    rows = {label: (b, a, r) for label, b, a, r in cli.optimization_summary(graph, opt)}
    assert rows["nodes"] == ("78", str(len(opt)), f"{len(opt) / 78:.2f}x")
    from graphscope.passes.memory_plan import plan_memory

    before, after = plan_memory(graph).lower_bound_bytes, plan_memory(opt).planned_peak_bytes
    assert after < 0.5 * before  # fusion, in-place epilogues and the arena
    assert rows["peak memory planned"] == (cli.fmt_bytes(before), cli.fmt_bytes(after), f"{after / before:.2f}x")
    assert float(rows["estimated bytes moved per run"][2].rstrip("x")) < 0.5


@pytest.mark.parametrize("level", [0, 1, 3])
def test_levels(capsys, redundant_file, tmp_path, level):
    out_path = tmp_path / f"r{level}.gsg"
    code, out, _ = run_cli(capsys, "optimize", redundant_file, "-o", out_path, "--level", level)
    assert code == 0 and f"optimize level {level}" in out
    assert gs.load(out_path).metadata["optimization_level"] == level
    if level == 0:
        assert _summary(out)["nodes"][2] == "1.00x"


def test_the_output_may_replace_the_input(capsys, redundant_file):
    before = len(gs.load(redundant_file))
    code, _, _ = run_cli(capsys, "optimize", redundant_file, "-o", redundant_file)
    assert code == 0 and len(gs.load(redundant_file)) < before


def test_bad_input_is_one_line_and_exit_2(capsys, redundant_file, tmp_path):
    code, _, err = run_cli(capsys, "optimize", tmp_path / "missing.gsg", "-o", tmp_path / "o.gsg")
    assert code == 2
    assert_one_line_error(err, "missing.gsg")
    garbage = tmp_path / "garbage.gsg"
    garbage.write_bytes(b"not a graph")
    code, _, err = run_cli(capsys, "optimize", garbage, "-o", tmp_path / "o.gsg")
    assert code == 2
    assert_one_line_error(err, "garbage.gsg")
    code, _, err = run_cli(capsys, "optimize", redundant_file, "-o", tmp_path / "o.txt")
    assert code == 2
    assert_one_line_error(err, "o.txt", ".gsg")
    code, _, err = run_cli(capsys, "optimize", redundant_file, "-o", tmp_path / "no" / "dir" / "o.gsg")
    assert code == 2
    assert_one_line_error(err, "does not exist")
    prof = tmp_path / "run.gsprof"
    assert run_cli(capsys, "run", redundant_file, "--repeat", 1, "--warmup", 0, "--save-profile", prof)[0] == 0
    code, _, err = run_cli(capsys, "optimize", prof, "-o", tmp_path / "o.gsg")
    assert code == 2
    assert_one_line_error(err, "profile", "graph")
    assert not (tmp_path / "o.gsg").exists()  # nothing written on any error


def test_a_failed_write_leaves_the_old_file(capsys, redundant_file, tmp_path, monkeypatch):
    out_path = tmp_path / "keep.gsg"
    out_path.write_bytes(b"old content")
    from graphscope.formats import native

    real_add, calls = native._add, []

    def add_then_fail(zf, name, *rest):  # the disk fills up after the first member is written
        calls.append(name)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real_add(zf, name, *rest)

    monkeypatch.setattr(native, "_add", add_then_fail)
    code, _, err = run_cli(capsys, "optimize", redundant_file, "-o", out_path)
    assert code == 2
    assert_one_line_error(err, "keep.gsg", "No space left")
    assert out_path.read_bytes() == b"old content"
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []


def test_help_reads_well(capsys):
    code, out, _ = run_cli(capsys, "optimize", "--help")
    assert code == 0
    for phrase in ("pass log", "before/after summary", "peak memory", "FLOPs", "atomically", "--level", "-o OUT",
                   "graphscope optimize sample_graphs/transformer.gsg -o t.opt.gsg --level 2", "provenance"):
        assert phrase in out, phrase
    code, out, _ = run_cli(capsys, "--help")
    assert "optimize" in out


def test_as_a_real_process(redundant_file, tmp_path):
    out_path = tmp_path / "p.gsg"
    proc = subprocess.run([sys.executable, "-m", "graphscope.cli", "optimize", str(redundant_file), "-o", str(out_path),
                           "--level", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "common_subexpression_elimination" in proc.stdout and out_path.exists()
    proc = subprocess.run([sys.executable, "-m", "graphscope.cli", "optimize", str(redundant_file), "-o", str(out_path),
                           "--level", "7"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


@pytest.mark.parametrize("command", [["profile", "{f}", "--level", "2"], ["run", "{f}", "--level", "2"],
                                     ["render", "{f}", "--optimized", "-o", "{tmp}/g.svg"],
                                     ["export", "{f}", "--level", "2", "--gsg", "{tmp}/e.gsg"],
                                     ["optimize", "{f}", "-o", "{tmp}/o.gsg"]])
def test_a_failing_optimization_ends_every_command_with_one_line(capsys, tmp_path, monkeypatch, command):
    import graphscope

    graph, _ = sample_models.build("mlp")
    gs.save(graph, tmp_path / "m.gsg")

    def broken(graph, level=2, passes=None):  # the optimizer failing on a graph (a pass raising)
        raise graphscope.GraphError(f"pass 'elementwise_fusion' failed on '{graph.name}'")

    monkeypatch.setattr(graphscope, "optimize", broken)
    argv = [a.format(f=tmp_path / "m.gsg", tmp=tmp_path) for a in command]
    code, out, err = run_cli(capsys, *argv)
    assert code == 1, (argv, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphscope: error: optimization at level 2 failed: pass 'elementwise")
    assert not any((tmp_path / name).exists() for name in ("g.svg", "e.gsg", "o.gsg"))  # nothing half-written
