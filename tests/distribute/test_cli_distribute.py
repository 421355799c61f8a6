"""`graphscope profile --replicas N` and `--dask ADDRESS`: the run happens there, the profile shows its lanes."""

from __future__ import annotations

import socket

import pytest

import graphscope as gs
from graphscope import cli, samples


def _run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def mlp_file(tmp_path):
    graph, _ = samples.build("mlp")
    path = tmp_path / "mlp.gsg"
    gs.save(graph, path)
    return path


def test_profile_with_replicas_has_one_lane_per_replica(capsys, mlp_file, tmp_path):
    saved = tmp_path / "r.gsprof"
    code, out, err = _run_cli(capsys, "profile", mlp_file, "--level", "0", "--repeat", "2", "--warmup", "0",
                              "--replicas", "2", "--save-profile", saved)
    assert code == 0, err
    assert "running on 2 data-parallel replicas on threads" in out and "Top nodes by self time" in out
    prof = gs.load_profile(str(saved))
    assert {e.lane for e in prof.iterations[0]} == {"replica0", "replica1"}
    assert prof.metadata["distribute"]["replicas"] == 2


def test_unreachable_scheduler_and_bad_combinations_exit_2(capsys, mlp_file):
    pytest.importorskip("distributed", reason="needs graphscope-profiler[distributed]")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = _run_cli(capsys, "profile", mlp_file, "--dask", f"tcp://127.0.0.1:{port}", "--dask-timeout", "1")
    assert code == 2 and err.startswith("graphscope: error: cannot reach the Dask scheduler") and len(err.splitlines()) == 1
    code, out, err = _run_cli(capsys, "profile", mlp_file, "--replicas", "2", "--summaries")
    assert code == 2 and "--summaries" in err
    code, out, err = _run_cli(capsys, "profile", mlp_file, "--replicas", "0")
    assert code == 2 and "positive integer" in err
