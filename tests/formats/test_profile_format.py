"""The .gsprof file: a RunProfile round-trips exactly; bad files raise GraphFormatError."""

from __future__ import annotations

import json

import numpy as np
import pytest
from format_helpers import dtypes_graph, mlp_graph, random_inputs

import graphscope as gs
from graphscope.errors import GraphFormatError
from graphscope.formats import profile_file
from graphscope.profile.events import NodeEvent, NodeInfo, RunProfile


def real_profile(graph=None, repeat=4, warmup=1) -> RunProfile:
    graph = graph or mlp_graph()
    graph.metadata["pass_log"] = [{"pass": "cse", "merged": [[3, 4]]}]
    prof = gs.run(graph, random_inputs(graph), profile=True, repeat=repeat, warmup=warmup).profile
    prof.metadata = {"command": "test", "seed": 0}
    return prof


def synthetic_profile() -> RunProfile:
    """Several lanes, device times, and a node that did not run in every iteration."""
    nodes = {
        0: NodeInfo(0, "x", "placeholder", "", None, (2, 3), "float32", (), (0,), {"shape": (2, 3), "dtype": "float32"}),
        1: NodeInfo(1, "blk/t", "transpose", "blk", "m.py:4", (3, 2), "float32", (0,), (1, 5), {"perm": (1, 0)}),
        2: NodeInfo(2, "blk/s", "sum", "blk", "m.py:5", (), "float32", (1,), (2,), {"axis": None, "keepdims": False}),
    }
    it0 = [NodeEvent(1, 10, 50, "MainThread", 0, 0, 0, 0, None), NodeEvent(2, 60, 90, "worker-1", 4, 4, 6, 28, 25)]
    it1 = [NodeEvent(2, 5, 40, "worker-2", 4, 4, 6, 28, 30)]
    return RunProfile("synthetic", "numpy", nodes, [it0, it1], [100, 120], warmup_ns=[300], peak_bytes=4,
                      peak_live=[(2, 4)], input_bytes=24, constant_bytes=0, inputs=[0], outputs=[2],
                      machine={"cpu": "test", "cores": 2}, pass_log=None, metadata={"note": "hand-made"})


@pytest.mark.parametrize("make", [real_profile, lambda: real_profile(dtypes_graph(), repeat=3, warmup=0), synthetic_profile])
def test_round_trip_is_exact(tmp_path, make):
    prof = make()
    path = tmp_path / "run.gsprof"
    profile_file.save_profile(prof, path)
    loaded = profile_file.load_profile(path)
    assert loaded == prof
    assert loaded.summary() == prof.summary()
    assert loaded.top_nodes(5) == prof.top_nodes(5)
    assert loaded.node_median_ns() == prof.node_median_ns()


def test_public_api_round_trip(tmp_path):
    prof = real_profile()
    gs.save_profile(prof, tmp_path / "p.gsprof")
    assert gs.load_profile(tmp_path / "p.gsprof").summary() == prof.summary()


def test_events_are_stored_by_column(tmp_path):
    prof = synthetic_profile()
    profile_file.save_profile(prof, tmp_path / "p.gsprof")
    doc = json.loads((tmp_path / "p.gsprof").read_text())
    assert doc["format"] == "graphscope-profile" and doc["format_version"] == profile_file.FORMAT_VERSION
    assert doc["lanes"] == ["MainThread", "worker-1", "worker-2"]
    assert doc["iterations"][0]["node_id"] == [1, 2]
    assert doc["iterations"][0]["device_ns"] == [None, 25]


def test_format_covers_every_dataclass_field():
    profile_file.check_fields()  # a field added to RunProfile/NodeInfo/NodeEvent must be added to the format


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "p.gsprof"
    profile_file.save_profile(synthetic_profile(), path)
    before = path.read_bytes()
    bad = synthetic_profile()
    bad.metadata["obj"] = object()
    with pytest.raises(TypeError, match="profile"):
        profile_file.save_profile(bad, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.gsprof"]


# -- bad files -----------------------------------------------------------------------------------


@pytest.fixture
def doc():
    return profile_file.profile_to_doc(synthetic_profile())


def load_error(tmp_path, content) -> str:
    path = tmp_path / "bad.gsprof"
    if isinstance(content, dict):
        content = json.dumps(content)
    path.write_text(content) if isinstance(content, str) else path.write_bytes(content)
    with pytest.raises(GraphFormatError) as info:
        profile_file.load_profile(path)
    message = str(info.value)
    assert message.startswith(f"cannot load '{path}': ") and "\n" not in message
    return message


def test_missing_file(tmp_path):
    with pytest.raises(GraphFormatError, match="no such file"):
        profile_file.load_profile(tmp_path / "nope.gsprof")


def test_empty_file(tmp_path):
    assert "empty" in load_error(tmp_path, "")


def test_truncated_json(tmp_path):
    text = json.dumps(profile_file.profile_to_doc(real_profile()))
    assert "truncated" in load_error(tmp_path, text[: len(text) // 2])


def test_binary_garbage(tmp_path):
    assert "not UTF-8" in load_error(tmp_path, b"\xff\xfe\x00garbage")


def test_not_an_object(tmp_path):
    assert "must be a JSON object" in load_error(tmp_path, "[1, 2, 3]")


@pytest.mark.parametrize("version, expect", [(2, "newer"), (0, "invalid"), (None, "must be an integer")])
def test_wrong_version(tmp_path, doc, version, expect):
    doc["format_version"] = version
    assert expect in load_error(tmp_path, doc)


def test_graph_file_given_as_profile(tmp_path, doc):
    doc["format"] = "graphscope-graph"
    assert "expected 'graphscope-profile'" in load_error(tmp_path, doc)


@pytest.mark.parametrize("field", ["graph_name", "backend", "nodes", "iterations", "iteration_ns", "lanes", "peak_bytes",
                                   "machine", "metadata", "inputs", "outputs", "warmup_ns", "peak_live"])
def test_missing_field(tmp_path, doc, field):
    del doc[field]
    assert f"missing required field '{field}'" in load_error(tmp_path, doc)


@pytest.mark.parametrize("field", ["name", "op", "shape", "dtype", "inputs"])
def test_node_missing_field(tmp_path, doc, field):
    del doc["nodes"][1][field]
    assert f"missing required field '{field}'" in load_error(tmp_path, doc)


def test_event_refers_to_unknown_node(tmp_path, doc):
    doc["iterations"][1]["node_id"] = [42]
    message = load_error(tmp_path, doc)
    assert "iteration 1, event 0" in message and "node 42" in message


def test_peak_refers_to_unknown_node(tmp_path, doc):
    doc["peak_live"] = [[9, 100]]
    assert "'peak_live' refers to node 9" in load_error(tmp_path, doc)


def test_output_refers_to_unknown_node(tmp_path, doc):
    doc["outputs"] = [7]
    assert "node 7" in load_error(tmp_path, doc)


def test_node_input_refers_to_unknown_node(tmp_path, doc):
    doc["nodes"][2]["inputs"] = [8]
    assert "node 8" in load_error(tmp_path, doc)


def test_duplicate_node_ids(tmp_path, doc):
    doc["nodes"][2]["id"] = 1
    assert "duplicate node id 1" in load_error(tmp_path, doc)


def test_ragged_columns(tmp_path, doc):
    doc["iterations"][0]["end_ns"] = [1]
    assert "column 'end_ns' has 1 entries" in load_error(tmp_path, doc)


def test_lane_out_of_range(tmp_path, doc):
    doc["iterations"][0]["lane"] = [0, 7]
    assert "lane index 7" in load_error(tmp_path, doc)


def test_iteration_count_mismatch(tmp_path, doc):
    doc["iteration_ns"] = [1]
    assert "'iteration_ns' has 1 entries for 2 iterations" in load_error(tmp_path, doc)


def test_wrong_types(tmp_path, doc):
    doc["iterations"][0]["start_ns"] = [1.5, 2]
    assert "list of integers" in load_error(tmp_path, doc)


def test_profile_of_large_repeat_stays_compact(tmp_path):
    prof = real_profile(repeat=50, warmup=0)
    path = tmp_path / "p.gsprof"
    profile_file.save_profile(prof, path)
    events = sum(len(it) for it in prof.iterations)
    assert path.stat().st_size < 80 * events + 20_000  # columns, not one object per event
    assert np.isclose(profile_file.load_profile(path).total_ns, prof.total_ns)
