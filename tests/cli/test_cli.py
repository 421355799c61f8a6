"""The `graphscope` command: output, exit codes and error messages, in-process and as a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import graphscope
from graphscope import cli
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("graphscope: error: "), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], err


# -- graphscope info -------------------------------------------------------------------------------


def test_info_describes_the_graph(capsys, model_file):
    code, out, err = run_cli(capsys, "info", model_file)
    assert code == 0 and err == ""
    assert "tiny_model" in out
    assert "x: f32[16,32]" in out and "ids[0]: i64[16,8]" in out and "mask: bool[16,8]" in out
    assert "head/probs: f32[16,8]" in out
    assert "10 (6 compute nodes, 1 constant, 3 inputs)" in out
    assert "256 (1 KiB)" in out  # parameters: count and bytes
    assert "kFLOP" in out and "moved" in out
    for op in ("matmul", "softmax", "where", "cast"):
        assert op in out
    for scope in ("enc", "enc/inner", "head"):
        assert scope in out
    assert "\x1b[" not in out  # plain text when not a terminal


def test_info_op_counts_match_the_graph(capsys, model_file):
    _, out, _ = run_cli(capsys, "info", model_file)
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip().startswith("placeholder")}
    assert rows == {"placeholder": "3"}


def test_info_on_a_profile_file(capsys, model_file, tmp_path):
    prof = tmp_path / "run.gsprof"
    assert cli.main(["run", str(model_file), "--repeat", "3", "--warmup", "0", "--save-profile", str(prof)]) == 0
    capsys.readouterr()
    code, out, err = run_cli(capsys, "info", prof, "--top", "2")
    assert code == 0 and err == ""
    assert "Slowest 2 of 6 nodes" in out and "median total" in out
    assert "of graph 'tiny_model'" in out and "3 measured, 0 warm-up" in out and "numpy" in out


# -- graphscope run --------------------------------------------------------------------------------


def test_run_prints_the_slowest_nodes_and_a_summary(capsys, model_file):
    code, out, err = run_cli(capsys, "run", model_file, "--repeat", "5", "--warmup", "1", "--top", "4")
    assert code == 0, err
    assert "Slowest 4 of 6 nodes" in out
    for header in ("node", "op", "scope", "source", "shape", "median", "%", "p10", "p90", "allocated", "FLOPs"):
        assert header in out
    table_rows = [line for line in out.splitlines() if "model.py:" in line]
    assert len(table_rows) == 4
    assert any("enc/proj" in r and "matmul" in r and "f32[16,8]" in r and "model.py:15" in r for r in table_rows)
    assert "median total" in out and "over 5 runs (1 warm-up)" in out
    assert "peak memory" in out and "live:" in out
    assert "\x1b[" not in out


def test_run_saves_a_profile(capsys, model_file, tmp_path):
    out_path = tmp_path / "out.gsprof"
    code, out, _ = run_cli(capsys, "run", model_file, "--repeat", "3", "--warmup", "2", "--seed", "5",
                           "--save-profile", out_path)
    assert code == 0
    prof = graphscope.load_profile(out_path)
    assert len(prof.iterations) == 3 and len(prof.warmup_ns) == 2
    assert prof.graph_name == "tiny_model" and prof.metadata["seed"] == 5
    assert f"profile saved to {out_path}" in out


def test_random_inputs_follow_the_specs_and_are_never_zero():
    g = Graph("specs")
    for name, dt in [("f16", np.float16), ("f64", np.float64), ("i8", np.int8), ("u8", np.uint8), ("b", np.bool_)]:
        g.placeholder(name, TensorSpec((50, 4), dt))
    values = cli.random_inputs(g, seed=0)
    for node, v in zip(g.inputs, values):
        assert v.shape == node.spec.shape and v.dtype == node.spec.dtype
        assert v.any()
    for v in values[:4]:
        assert np.all(v != 0)
    assert 0 < values[4].mean() < 1
    assert np.array_equal(values[0], cli.random_inputs(g, seed=0)[0])
    assert not np.array_equal(values[0], cli.random_inputs(g, seed=1)[0])
    assert np.all((1 <= values[2]) & (values[2] <= 9))


def test_run_failure_exits_1_with_the_node_message(capsys, failing_file):
    code, out, err = run_cli(capsys, "run", failing_file, "--repeat", "2")
    assert code == 1
    assert_one_line_error(err, "node %2 'inverse' (pow)", "bad.py:7", "ValueError")


def test_ctrl_c_exits_130(capsys, model_file, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(graphscope, "run", interrupted)
    code, _, err = run_cli(capsys, "run", model_file)
    assert code == 130
    assert "interrupted" in err and "Traceback" not in err


# -- usage errors and bad files --------------------------------------------------------------------


@pytest.mark.parametrize("command", ["info", "run"])
def test_missing_file_exits_2(capsys, tmp_path, command):
    path = tmp_path / "absent.gsg"
    code, out, err = run_cli(capsys, command, path)
    assert code == 2 and out == ""
    assert_one_line_error(err, f"cannot load '{path}': no such file")


def test_corrupt_file_exits_2(capsys, model_file):
    data = model_file.read_bytes()
    model_file.write_bytes(data[: len(data) // 2])
    code, _, err = run_cli(capsys, "info", model_file)
    assert code == 2
    assert_one_line_error(err, f"cannot load '{model_file}'", "truncated")


def test_unknown_suffix_exits_2(capsys, tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"x")
    code, _, err = run_cli(capsys, "info", path)
    assert code == 2
    assert_one_line_error(err, "unknown file type '.pt'", ".gsg")


def test_run_needs_a_graph_not_a_profile(capsys, model_file, tmp_path):
    prof = tmp_path / "p.gsprof"
    cli.main(["run", str(model_file), "--repeat", "1", "--save-profile", str(prof)])
    capsys.readouterr()
    code, _, err = run_cli(capsys, "run", prof)
    assert code == 2
    assert_one_line_error(err, "is a profile file", "needs a graph (.gsg")


@pytest.mark.parametrize("target, fragment", [
    ("missing_dir/out.gsprof", "does not exist"),
    ("out.txt", "unknown file type '.txt'"),
    ("out.gsg", "holds a graph"),
])
def test_bad_save_profile_target_fails_before_running(capsys, model_file, tmp_path, monkeypatch, target, fragment):
    monkeypatch.setattr(graphscope, "run", lambda *a, **k: pytest.fail("ran before checking --save-profile"))
    code, _, err = run_cli(capsys, "run", model_file, "--save-profile", tmp_path / target)
    assert code == 2
    assert_one_line_error(err, fragment)


@pytest.mark.parametrize("argv, fragment", [
    (["run", "m.gsg", "--repeat", "0"], "must be at least 1"),
    (["run", "m.gsg", "--warmup", "-1"], "must be at least 0"),
    (["run", "m.gsg", "--top", "many"], "expected an integer"),
    (["run", "m.gsg", "--backend", "abacus"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
    (["run"], "required: FILE"),
])
def test_usage_errors_exit_2(capsys, argv, fragment):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert fragment in err and "Traceback" not in err


def test_no_command_exits_2(capsys):
    code, _, err = run_cli(capsys)
    assert code == 2 and "a command is required" in err


def test_version(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.startswith(f"graphscope {graphscope.__version__}")


@pytest.mark.parametrize("argv, options", [
    ([], ["info", "run", "--version", "exit codes", "examples"]),
    (["info"], ["FILE", "--top"]),
    (["run"], ["FILE", "--repeat", "--warmup", "--top", "--seed", "--backend", "--save-profile", "(default: 20)"]),
])
def test_help_describes_every_option(capsys, argv, options):
    code, out, _ = run_cli(capsys, *argv, "--help")
    assert code == 0
    for opt in options:
        assert opt in out
    for line in out.splitlines():  # every option line carries a description
        stripped = line.strip()
        if stripped.startswith("--") and "  " not in stripped:
            pytest.fail(f"option without help text: {line!r}")


# -- a real process --------------------------------------------------------------------------------


def _subprocess(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "graphscope.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=120, env=env)


def test_subprocess_info_and_run(model_file, tmp_path):
    res = _subprocess("info", model_file)
    assert res.returncode == 0 and "tiny_model" in res.stdout and res.stderr == ""
    res = _subprocess("run", model_file, "--repeat", "3", "--save-profile", tmp_path / "p.gsprof")
    assert res.returncode == 0, res.stderr
    assert "median total" in res.stdout and "\x1b[" not in res.stdout
    assert (tmp_path / "p.gsprof").exists()


def test_subprocess_missing_file(tmp_path):
    res = _subprocess("run", tmp_path / "nope.gsg")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == f"graphscope: error: cannot load '{tmp_path / 'nope.gsg'}': no such file\n"


def test_subprocess_run_failure(failing_file):
    res = _subprocess("run", failing_file, "--repeat", "1")
    assert res.returncode == 1
    assert_one_line_error(res.stderr, "'inverse'", "Integers to negative integer powers")


# The console script of the environment running the tests (a venv's bin/ need not be on PATH).
_SCRIPT = os.path.join(os.path.dirname(sys.executable), "graphscope")
_SCRIPT = _SCRIPT if os.path.exists(_SCRIPT) else shutil.which("graphscope")


@pytest.mark.skipif(_SCRIPT is None, reason="console script not installed (pip install -e . puts it beside python)")
def test_installed_console_script(tmp_path):
    res = subprocess.run([_SCRIPT, "--version"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("graphscope ")
    res = subprocess.run([_SCRIPT, "info", str(tmp_path / "x.gsg")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.startswith("graphscope: error: cannot load")
