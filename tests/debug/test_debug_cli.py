"""`graphscope run --check-numerics / --capture / --dump / --summaries` and `graphscope explain`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from debug_models import MLP, log_model, source_of

import graphscope as gs
from graphscope import cli
from graphscope.debug import load_dump


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def nan_file(tmp_path):
    x, w = np.ones((16, 32), np.float32), np.ones((32, 24), np.float32)
    path = tmp_path / "nan.gsg"
    gs.save(log_model.get_graph(x, w), path)  # random normal inputs make the product negative in places
    return path


@pytest.fixture
def mlp_file(tmp_path, rng):
    m = MLP(rng)
    path = tmp_path / "mlp.gsg"
    gs.save(m.graph, path)
    return path, m


@pytest.mark.parametrize("level", [0, 2])
def test_check_numerics_fails_with_the_node_and_line(capsys, nan_file, level):
    code, out, err = run_cli(capsys, "run", nan_file, "--check-numerics", "--repeat", "2", "--level", level)
    assert code == cli.EXIT_RUN_FAILED
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphscope: error: node %3 'enc/log' (log, scope 'enc', "), err
    assert source_of("PLANT-LOG") in lines[0] and "NaN" in lines[0] and "Traceback" not in err
    assert "Slowest" not in out  # nothing measured after the failure


def test_check_numerics_passes_on_a_finite_graph(capsys, mlp_file):
    path, _ = mlp_file
    code, out, err = run_cli(capsys, "run", path, "--check-numerics", "--repeat", "2", "--level", "2")
    assert code == 0 and err == ""
    assert "check_numerics: every float value" in out and "is finite" in out and "Slowest" in out


def test_capture_and_dump(capsys, mlp_file, tmp_path):
    path, m = mlp_file
    out_dir = tmp_path / "out"
    code, out, err = run_cli(capsys, "run", path, "--capture", "layer1/*", "--capture", "op:softmax", "--dump", out_dir,
                             "--repeat", "2", "--seed", "3")
    assert code == 0, err
    assert "Captured 4 values" in out and f"wrote 4 values and index.json to {out_dir}" in out
    doc = json.loads((out_dir / "index.json").read_text())
    assert doc["seed"] == 3 and doc["graph_file"] == os.path.abspath(path)
    assert [e["name"] for e in doc["values"]] == ["layer1/matmul", "layer1/add", "layer1/maximum", "head/softmax"]
    values = load_dump(out_dir)
    x = cli.random_inputs(m.graph, 3)[0]  # the CLI's inputs for seed 3, recomputed with NumPy
    w, b = m.layers[0]
    np.testing.assert_allclose(values["layer1/matmul"], x @ w, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(values["layer1/maximum"], np.maximum(x @ w + b, 0), rtol=2e-6, atol=1e-6)
    assert values["head/softmax"].shape == (64, 10)
    np.testing.assert_allclose(values["head/softmax"].sum(axis=-1), 1.0, rtol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.gsg", "out"]  # no temporary left


def test_summaries_listed_and_saved(capsys, mlp_file, tmp_path):
    path, _ = mlp_file
    prof = tmp_path / "run.gsprof"
    code, out, err = run_cli(capsys, "run", path, "--summaries", "--repeat", "2", "--save-profile", prof)
    assert code == 0, err
    assert "Value summaries (" in out and "all finite" in out and "head/softmax" in out
    assert len(gs.load_profile(prof).value_summaries) == len(gs.load(path))


def test_usage_errors(capsys, mlp_file, tmp_path):
    path, _ = mlp_file
    code, _, err = run_cli(capsys, "run", path, "--dump", tmp_path / "d")
    assert code == cli.EXIT_USAGE and "--dump needs --capture" in err
    code, _, err = run_cli(capsys, "run", path, "--capture", "nope/*")
    assert code == cli.EXIT_USAGE and "'nope/*' selects no node" in err and len(err.strip().splitlines()) == 1
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "a.txt").write_text("x")
    code, _, err = run_cli(capsys, "run", path, "--capture", "head/*", "--dump", keep)
    assert code == cli.EXIT_USAGE and "not a graphscope dump" in err and (keep / "a.txt").exists()


def test_explain_subcommand(capsys, mlp_file):
    path, _ = mlp_file
    code, out, err = run_cli(capsys, "explain", path, "--levels", "0,2", "--repeat", "2", "--no-parallel")
    assert code == 0, err
    assert "gs.explain 'mlp': eager" in out and "(node references)" in out
    for word in ("L0", "L2", "dispatch", "fusion", "memory"):
        assert word in out
    code, _, err = run_cli(capsys, "explain", path, "--levels", "1,2")
    assert code == cli.EXIT_USAGE and "level 0" in err


def test_check_numerics_as_a_real_process(nan_file):
    res = subprocess.run([sys.executable, "-m", "graphscope.cli", "run", str(nan_file), "--check-numerics", "--repeat", "1"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, res.stderr
    assert res.stderr.startswith("graphscope: error: node %3 'enc/log'") and "RuntimeWarning" not in res.stderr
