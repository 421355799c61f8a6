"""Capture by name, glob, id and op type: values equal a NumPy re-computation, survive the memory plan, and
never change the run's outputs; dumps are atomic and load back."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import graphscope as gs
from graphscope.backends import get_backend
from graphscope.debug import dump_captured, load_dump, select_nodes
from graphscope.runtime.run import get_plan


def test_capture_by_name_glob_and_op_type_equals_numpy(mlp):
    ref = mlp.numpy_values()
    run = gs.run(mlp.graph, [mlp.x], capture=["head/softmax", "layer2/*", "op:matmul"])
    expect = {"head/softmax"} | {k for k in ref if k.startswith("layer2/")} | {k for k in ref if k.endswith("/matmul")}
    assert set(run.captured) == expect
    for name, value in run.captured.items():
        np.testing.assert_allclose(value, ref[name], rtol=2e-6, atol=1e-7, err_msg=name)
        assert value.dtype == np.float32 and value.shape == ref[name].shape
    np.testing.assert_array_equal(run.captured["head/softmax"], run.outputs[0])


def test_capture_by_id_and_plain_op_word(mlp):
    soft = next(n for n in mlp.graph.nodes if n.op == "softmax")
    assert [n.id for n in select_nodes(mlp.graph, f"%{soft.id}")] == [soft.id]
    assert [n.name for n in select_nodes(mlp.graph, "softmax")] == ["head/softmax"]  # no node named so: the op
    assert [n.name for n in select_nodes(mlp.graph, "type:maximum")] == ["layer1/maximum", "layer2/maximum",
                                                                          "layer3/maximum"]
    run = gs.run(mlp.graph, [mlp.x], capture="x")  # an input is a node too
    np.testing.assert_array_equal(run.captured["x"], mlp.x)


def test_captured_runs_give_identical_outputs(mlp):
    for level in (0, 2):
        graph = mlp.graph if level == 0 else gs.optimize(mlp.graph, level)[0]
        plain = gs.run(graph, [mlp.x]).outputs
        for capture in ("*", "head/*"):
            got = gs.run(graph, [mlp.x], capture=capture, value_summaries=True).outputs
            for a, b in zip(plain, got):
                np.testing.assert_array_equal(a, b)


def test_captured_values_survive_the_memory_plan(mlp):
    ref = mlp.numpy_values()
    opt, _ = gs.optimize(mlp.graph, 2)
    plan = get_plan(opt, get_backend("numpy"))
    assert plan.memory is not None
    layers = [n for n in opt.nodes if n.op == "fused_matmul" and n.name.startswith("layer")]
    assert len(layers) == 3
    in_arena = [n for n in layers if plan.memory.offset(n.id) is not None]
    assert in_arena, "the test needs intermediates that live in the arena"
    # Storages of dead values are reused by later ones: a reference instead of a copy would be overwritten.
    offsets = [plan.memory.offset(n.id) for n in in_arena]
    assert len(in_arena) < 3 or len(set(offsets)) < len(offsets)
    for _ in range(2):  # the arena persists between runs: captures must come from this run, not alias it
        run = gs.run(opt, [mlp.x], capture="op:fused_matmul")
        for n in layers:
            k = n.name.split("/")[0]
            np.testing.assert_allclose(run.captured[n.name], ref[f"{k}/maximum"], rtol=2e-6, atol=1e-6, err_msg=n.name)
        arena = plan.local_arena()
        assert all(not np.shares_memory(v, arena) for v in run.captured.values())


def test_capture_with_profile_keeps_timings_and_records(mlp):
    run = gs.run(mlp.graph, [mlp.x], capture="layer1/*", profile=True, repeat=3)
    assert len(run.profile.iterations) == 3 and len(run.captured) == 3
    assert run.profile.metadata["debug"]["captured"] == 3


def test_a_pattern_that_selects_nothing_is_an_error(mlp):
    with pytest.raises(ValueError, match=r"'layer9/\*' selects no node .*patterns"):
        gs.run(mlp.graph, [mlp.x], capture="layer9/*")
    with pytest.raises(ValueError, match="closest names: head/softmax"):
        select_nodes(mlp.graph, "head/sofmax")
    with pytest.raises(ValueError, match="'nosuchop' is not an op"):
        select_nodes(mlp.graph, "op:nosuchop")
    opt, _ = gs.optimize(mlp.graph, 2)
    with pytest.raises(ValueError, match="fused nodes replace their members"):
        select_nodes(opt, "layer1/add")
    with pytest.raises(ValueError, match="non-empty strings"):
        select_nodes(mlp.graph, ["head/softmax", ""])


def test_dump_writes_npy_and_index_atomically(mlp, tmp_path):
    run = gs.run(mlp.graph, [mlp.x], capture="layer1/*")
    out = tmp_path / "dump"
    files = dump_captured(run.captured, out, mlp.graph)
    assert sorted(os.listdir(out)) == sorted(files) and "index.json" in files
    doc = json.loads((out / "index.json").read_text())
    assert doc["format"] == "graphscope-capture" and [e["name"] for e in doc["values"]] == list(run.captured)
    entry = doc["values"][0]
    node = mlp.graph.node(entry["name"])
    assert entry["id"] == node.id and entry["op"] == node.op and entry["source"] == node.source
    back = load_dump(out)
    for name, v in run.captured.items():
        np.testing.assert_array_equal(back[name], v)
    # A second dump replaces the first as a whole; nothing temporary is left beside it.
    dump_captured({"head/softmax": run.outputs[0]}, out, mlp.graph)
    assert list(load_dump(out)) == ["head/softmax"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dump"]


def test_dump_refuses_a_directory_it_did_not_write(tmp_path):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a graphscope dump"):
        dump_captured({"a": np.ones(3)}, other)
    assert (other / "notes.txt").read_text() == "keep me"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        dump_captured({"a": np.ones(3)}, tmp_path / "missing" / "d")


def test_a_failed_dump_leaves_nothing_under_the_final_name(tmp_path):
    class Boom:
        def __array__(self, dtype=None, copy=None):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        dump_captured({"a": np.ones(3), "b": Boom()}, tmp_path / "d")
    assert list(tmp_path.iterdir()) == []
