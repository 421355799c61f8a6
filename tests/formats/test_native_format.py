"""The .gsg archive: round trips, atomic saves, and a clear GraphFormatError for every bad file."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile

import numpy as np
import pytest
from format_helpers import (
    attrs_graph,
    dtypes_graph,
    edit_graph_json,
    mlp_graph,
    node_entry,
    read_members,
    same_outputs,
    write_members,
)

import graphscope as gs
from graphscope.errors import GraphFormatError
from graphscope.formats import native
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec

# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [mlp_graph, attrs_graph, dtypes_graph])
def test_round_trip_keeps_printed_ir_and_outputs(tmp_path, build):
    g = build()
    path = tmp_path / f"{g.name}.gsg"
    native.save(g, path)
    h = native.load(path)
    assert str(h) == str(g)
    assert [n.name for n in h.inputs] == [n.name for n in g.inputs]
    assert [n.id for n in h.outputs] == [n.id for n in g.outputs]
    assert same_outputs(g, h, seed=0) and same_outputs(g, h, seed=1)


def test_round_trip_keeps_every_node_field(tmp_path):
    g = mlp_graph()
    g.metadata = {"pass_log": [{"pass": "fold", "removed": [3, 4], "note": None}], "author": "test", "ratio": 0.25}
    native.save(g, tmp_path / "g.gsg")
    h = native.load(tmp_path / "g.gsg")
    assert h.metadata == g.metadata
    assert h.name == g.name
    for a, b in zip(g.nodes, h.nodes, strict=True):
        assert (a.id, a.op, a.name, a.scope, a.source, a.provenance, a.spec, a.attrs) == (
            b.id, b.op, b.name, b.scope, b.source, b.provenance, b.spec, b.attrs)
        assert [i.id for i in a.inputs] == [i.id for i in b.inputs]
        assert [u.id for u in a.users] == [u.id for u in b.users]
        if a.op == "constant":
            assert b.value.dtype == a.value.dtype and np.array_equal(a.value, b.value)
            assert not b.value.flags.writeable


def test_attrs_of_every_kind_come_back_as_tuples(tmp_path, nested_attr_op):
    g = Graph("nested")
    x = g.placeholder("x", TensorSpec((2, 2), np.float32))
    attrs = {"pads": ((0, 1), (2, (3, 4))), "fill": None, "scale": -1.5e-7, "mode": "reflect", "flag": True}
    y = g.add_node(nested_attr_op, [x], attrs)
    z = g.add_node(nested_attr_op, [y], {"pads": [], "scale": float("inf")})
    g.set_outputs([z])
    native.save(g, tmp_path / "n.gsg")
    h = native.load(tmp_path / "n.gsg")
    assert str(h) == str(g)
    assert h.node(y.id).attrs == y.attrs
    assert h.node(y.id).attrs["pads"] == ((0, 1), (2, (3, 4)))
    assert h.node(z.id).attrs["scale"] == float("inf")
    assert isinstance(h.node(z.id).attrs["pads"], tuple)


def test_ids_with_gaps_and_next_id_are_kept(tmp_path):
    g = mlp_graph()
    x = g.inputs[0]
    dead = g.add_node("tanh", [x])
    extra = g.add_node("relu", [x])
    g.erase_node(dead)
    g.set_outputs([*g.outputs, extra])
    native.save(g, tmp_path / "g.gsg")
    h = native.load(tmp_path / "g.gsg")
    assert [n.id for n in h.nodes] == [n.id for n in g.nodes]
    assert dead.id not in {n.id for n in h.nodes}
    assert h.add_node("neg", [h.inputs[0]]).id == g.add_node("neg", [x]).id  # numbering resumes alike
    h.lint()


def test_provenance_survives(tmp_path):
    g = Graph("prov")
    x = g.placeholder("x", TensorSpec((3,), np.float32))
    y = g.add_node("exp", [x], provenance=(7, 9))
    g.set_outputs([y])
    native.save(g, tmp_path / "p.gsg")
    assert native.load(tmp_path / "p.gsg").node(y.id).provenance == (7, 9)


def test_traced_function_round_trip(tmp_path):
    @gs.function
    def f(x, w):
        with gs.name_scope("block"):
            h = np.tanh(x @ w)
        return h * 2.0

    x = np.ones((4, 3), np.float32)
    w = np.ones((3, 5), np.float32)
    g = f.get_graph(x, w)
    native.save(g, tmp_path / "f.gsg")
    h = native.load(tmp_path / "f.gsg")
    assert str(h) == str(g)
    assert any(n.scope == "block" for n in h.nodes)
    assert same_outputs(g, h)


def test_zero_d_and_empty_constants(tmp_path):
    g = Graph("edge")
    x = g.placeholder("x", TensorSpec((0, 3), np.float32))
    c = g.constant(np.zeros((0, 3), np.float32), name="empty")
    s = g.constant(np.float64(2.5), name="scalar")
    y = g.add_node("add", [x, c])
    z = g.add_node("mul", [y, s])
    g.set_outputs([z])
    native.save(g, tmp_path / "e.gsg")
    h = native.load(tmp_path / "e.gsg")
    assert str(h) == str(g)
    assert h.node("scalar").value.shape == ()


def test_saving_is_deterministic_and_readable_by_plain_tools(tmp_path):
    g = mlp_graph()
    native.save(g, tmp_path / "a.gsg")
    native.save(g, tmp_path / "b.gsg")
    assert (tmp_path / "a.gsg").read_bytes() == (tmp_path / "b.gsg").read_bytes()
    members = read_members(tmp_path / "a.gsg")
    assert {"manifest.json", "graph.json"} <= set(members)
    doc = json.loads(members["graph.json"])
    assert doc["format"] == "graphscope-graph" and doc["format_version"] == native.FORMAT_VERSION
    w1 = node_entry(doc, "layer1/w1")
    arr = np.load(io.BytesIO(members[w1["value"]]), allow_pickle=False)
    assert np.array_equal(arr, g.node("layer1/w1").value)


def test_saved_file_has_normal_permissions(tmp_path):
    native.save(mlp_graph(), tmp_path / "g.gsg")
    mode = stat.S_IMODE(os.stat(tmp_path / "g.gsg").st_mode)
    assert mode & 0o644 == 0o644 or os.name == "nt"  # not mkstemp's 0600


def test_non_topological_file_order_is_accepted(tmp_path):
    native.save(mlp_graph(), tmp_path / "g.gsg")
    edit_graph_json(tmp_path / "g.gsg", lambda doc: doc["nodes"].reverse())
    h = native.load(tmp_path / "g.gsg")
    assert str(h) == str(mlp_graph())


# -- atomic saving ---------------------------------------------------------------------------------


def _boom(*args, **kwargs):
    raise RuntimeError("disk on fire")


def test_crash_mid_write_leaves_no_file_and_no_litter(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "save", _boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        native.save(mlp_graph(), tmp_path / "g.gsg")
    assert list(tmp_path.iterdir()) == []


def test_crash_mid_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "g.gsg"
    native.save(mlp_graph(), path)
    before = path.read_bytes()
    monkeypatch.setattr(np, "save", _boom)
    with pytest.raises(RuntimeError):
        native.save(dtypes_graph(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.gsg"]


def test_unserializable_metadata_is_reported_and_writes_nothing(tmp_path):
    g = mlp_graph()
    g.metadata["callback"] = object()
    with pytest.raises(TypeError, match="metadata"):
        native.save(g, tmp_path / "g.gsg")
    assert list(tmp_path.iterdir()) == []


# -- bad files -----------------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.gsg"
    native.save(mlp_graph(), path)
    return path


def load_error(path) -> str:
    with pytest.raises(GraphFormatError) as info:
        native.load(path)
    message = str(info.value)
    assert message.startswith(f"cannot load '{path}': "), message
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    assert "no such file" in load_error(tmp_path / "absent.gsg")


def test_directory(tmp_path):
    assert "directory" in load_error(tmp_path)


def test_not_a_zip(tmp_path):
    path = tmp_path / "text.gsg"
    path.write_text("just some text\n")
    assert "not a zip" in load_error(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.gsg"
    path.write_bytes(b"")
    assert "empty file" in load_error(path)


def test_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    assert "truncated" in load_error(saved)


def test_flipped_bytes_are_detected(saved):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as zf:
        info = zf.getinfo("constants/2.npy")
    middle = info.header_offset + 30 + len(info.filename) + 200  # inside the stored array data
    data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])
    saved.write_bytes(bytes(data))
    assert "corrupted" in load_error(saved)


def test_checksum_mismatch_in_a_valid_zip(saved):
    members = read_members(saved)
    arr = np.load(io.BytesIO(members["constants/2.npy"]))
    buf = io.BytesIO()
    np.save(buf, arr + 1)
    members["constants/2.npy"] = buf.getvalue()
    write_members(saved, members, fix_checksums=False)
    message = load_error(saved)
    assert "constants/2.npy" in message and "checksum" in message


def test_missing_manifest(saved):
    members = read_members(saved)
    del members["manifest.json"]
    write_members(saved, members)
    assert "'manifest.json' is missing" in load_error(saved)


def test_member_listed_in_manifest_is_missing(saved):
    members = read_members(saved)
    del members["constants/2.npy"]
    write_members(saved, members, fix_checksums=False)
    assert "constants/2.npy" in load_error(saved)


@pytest.mark.parametrize("version, expect", [
    (2, "newer than this graphscope reads"), (99, "upgrade graphscope"), (0, "invalid format_version"),
    ("1", "must be an integer"),
])
def test_wrong_format_version(saved, version, expect):
    members = read_members(saved)
    manifest = json.loads(members["manifest.json"])
    manifest["format_version"] = version
    members["manifest.json"] = json.dumps(manifest).encode()
    write_members(saved, members, fix_checksums=False)
    assert expect in load_error(saved)


def test_graph_json_version_newer_than_manifest(saved):
    edit_graph_json(saved, lambda doc: doc.update(format_version=5))
    assert "newer" in load_error(saved)


def test_wrong_format_name(saved):
    edit_graph_json(saved, lambda doc: doc.update(format="something-else"))
    assert "something-else" in load_error(saved)


def test_invalid_json(saved):
    members = read_members(saved)
    members["graph.json"] = members["graph.json"][:-20]
    write_members(saved, members)
    assert "graph.json is not valid JSON" in load_error(saved)


def test_unknown_op(saved):
    edit_graph_json(saved, lambda doc: node_entry(doc, "layer1/act").update(op="frobnicate"))
    message = load_error(saved)
    assert "unknown op 'frobnicate'" in message and "'layer1/act'" in message


def test_edge_to_a_missing_node(saved):
    edit_graph_json(saved, lambda doc: node_entry(doc, "head/logits").update(inputs=[5, 77]))
    message = load_error(saved)
    assert "bad edge" in message and "%77" in message and "head/logits" in message


def test_cycle(saved):
    def edit(doc):
        act = node_entry(doc, "layer1/act")
        probs = node_entry(doc, "head/probs")
        act["inputs"] = [probs["id"]]  # act -> logits -> probs -> act

    edit_graph_json(saved, edit)
    message = load_error(saved)
    assert "cycle" in message and "layer1/act" in message and "head/probs" in message


def test_self_loop(saved):
    edit_graph_json(saved, lambda doc: node_entry(doc, "layer1/act").update(inputs=[node_entry(doc, "layer1/act")["id"]]))
    assert "cycle" in load_error(saved)


def test_declared_shape_disagrees_with_the_rule(saved):
    edit_graph_json(saved, lambda doc: node_entry(doc, "head/logits")["spec"].update(shape=[8, 5]))
    message = load_error(saved)
    assert "head/logits" in message and "f32[8,5]" in message and "f32[8,4]" in message


def test_declared_dtype_disagrees_with_the_rule(saved):
    edit_graph_json(saved, lambda doc: node_entry(doc, "layer1/act")["spec"].update(dtype="float64"))
    assert "layer1/act" in load_error(saved)


def test_unsupported_dtype(saved):
    edit_graph_json(saved, lambda doc: node_entry(doc, "layer1/act")["spec"].update(dtype="complex128"))
    assert "unsupported dtype 'complex128'" in load_error(saved)


def test_placeholder_shape_edit_is_caught_downstream(saved):
    def edit(doc):
        x = node_entry(doc, "x")
        x["spec"]["shape"] = [8, 17]
        x["attrs"]["shape"] = [8, 17]

    edit_graph_json(saved, edit)
    message = load_error(saved)
    assert "layer1/matmul" in message


def _replace_constant(path, name, array, *, allow_pickle=False):
    members = read_members(path)
    doc = json.loads(members["graph.json"])
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    members[node_entry(doc, name)["value"]] = buf.getvalue()
    write_members(path, members)


def test_constant_shape_differs_from_spec(saved):
    _replace_constant(saved, "layer1/b1", np.zeros((31,), np.float32))
    message = load_error(saved)
    assert "layer1/b1" in message and "f32[31]" in message and "f32[32]" in message


def test_constant_dtype_differs_from_spec(saved):
    _replace_constant(saved, "layer1/b1", np.zeros((32,), np.float64))
    assert "f64[32]" in load_error(saved)


def test_object_array_is_refused(saved):
    _replace_constant(saved, "layer1/b1", np.array([{"evil": 1}] * 32, dtype=object), allow_pickle=True)
    message = load_error(saved)
    assert "object array" in message and "pickle" in message


def test_big_endian_constant_is_accepted(saved):
    value = native.load(saved).node("layer1/b1").value
    _replace_constant(saved, "layer1/b1", value.astype(">f4"))
    loaded = native.load(saved).node("layer1/b1").value
    assert loaded.dtype == np.float32 and np.array_equal(loaded, value)


def test_garbage_npy(saved):
    members = read_members(saved)
    members["constants/2.npy"] = b"\x93NUMPY garbage"
    write_members(saved, members)
    assert "not a valid .npy" in load_error(saved)


def test_duplicate_node_ids(saved):
    edit_graph_json(saved, lambda doc: node_entry(doc, "layer1/act").update(id=node_entry(doc, "layer1/add")["id"]))
    assert "duplicate node id" in load_error(saved)


def test_duplicate_node_names(saved):
    edit_graph_json(saved, lambda doc: node_entry(doc, "layer1/act").update(name="layer1/add"))
    assert "duplicate node name 'layer1/add'" in load_error(saved)


@pytest.mark.parametrize("field", ["op", "id", "inputs", "spec", "name", "attrs"])
def test_node_missing_required_field(saved, field):
    edit_graph_json(saved, lambda doc: node_entry(doc, "layer1/act").pop(field))
    assert f"missing required field '{field}'" in load_error(saved)


@pytest.mark.parametrize("field", ["nodes", "inputs", "outputs", "name"])
def test_graph_missing_required_field(saved, field):
    edit_graph_json(saved, lambda doc: doc.pop(field))
    assert f"missing required field '{field}'" in load_error(saved)


def test_optional_fields_may_be_left_out(saved):
    def edit(doc):
        for key in ("metadata", "next_id"):
            doc.pop(key)
        for n in doc["nodes"]:
            for key in ("scope", "source", "provenance"):
                n.pop(key)

    edit_graph_json(saved, edit)
    g = native.load(saved)
    assert g.metadata == {} and all(n.scope == "" and n.source is None for n in g.nodes)
    assert same_outputs(g, mlp_graph())


def test_wrong_field_type(saved):
    edit_graph_json(saved, lambda doc: node_entry(doc, "layer1/act").update(inputs="5"))
    assert "field 'inputs' must be a list" in load_error(saved)


def test_unknown_attribute(saved):
    edit_graph_json(saved, lambda doc: node_entry(doc, "head/probs")["attrs"].update(temperature=2))
    message = load_error(saved)
    assert "temperature" in message and "head/probs" in message


def test_output_refers_to_missing_node(saved):
    edit_graph_json(saved, lambda doc: doc.update(outputs=[123]))
    assert "%123" in load_error(saved)


def test_input_that_is_not_a_placeholder(saved):
    edit_graph_json(saved, lambda doc: doc["inputs"].append(node_entry(doc, "layer1/act")["id"]))
    assert "not a placeholder" in load_error(saved)


def test_placeholder_not_listed_as_input(saved):
    edit_graph_json(saved, lambda doc: doc.update(inputs=[]))
    assert "placeholder" in load_error(saved)


def test_public_api_names():
    assert gs.save is not None and gs.load is not None
    g = mlp_graph()
    assert isinstance(g, Graph)
