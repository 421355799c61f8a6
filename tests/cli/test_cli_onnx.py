"""ONNX files on the command line: `graphscope export ... --onnx`, and `.onnx` wherever a graph file is accepted."""

from __future__ import annotations

import os

import numpy as np
import pytest
from cli_graphs import model_graph
from test_cli import assert_one_line_error, run_cli

import graphscope as gs
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec

onnx = pytest.importorskip("onnx", reason="the ONNX tests need the [onnx] extra")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime (the [dev] extra) checks exports")


def _inputs(graph: Graph) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    out = []
    for n in graph.inputs:
        if n.dtype == np.bool_:
            out.append(rng.random(n.shape) < 0.5)
        elif n.dtype.kind in "iu":
            out.append(rng.integers(1, 9, n.shape).astype(n.dtype))
        else:
            out.append(rng.standard_normal(n.shape).astype(n.dtype))
    return out


def _ort_outputs(path, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return sess.run(None, {n.name: v for n, v in zip(graph.inputs, inputs)})


def test_export_gsg_to_onnx_runs_in_onnx_runtime(capsys, model_file, tmp_path):
    out_path = tmp_path / "model.onnx"
    code, out, err = run_cli(capsys, "export", model_file, "--onnx", out_path)
    assert code == 0 and err == "", err
    assert f"wrote ONNX model to {out_path}" in out
    onnx.checker.check_model(str(out_path), full_check=True)
    graph = model_graph()
    xs = _inputs(graph)
    want = gs.run(graph, xs).outputs[0]
    np.testing.assert_allclose(_ort_outputs(out_path, graph, xs)[0], want, rtol=1e-5, atol=1e-6)
    # names and scopes travel: the ONNX node computing enc/proj is /enc/proj
    assert "/enc/proj" in {n.name for n in onnx.load(str(out_path)).graph.node}


def test_export_optimized_with_opset_and_external_data(capsys, tmp_path):
    from graphscope import samples

    graph, xs = samples.build("transformer")
    src = tmp_path / "t.gsg"
    gs.save(graph, src)
    out_path = tmp_path / "t.onnx"
    code, out, err = run_cli(capsys, "export", src, "--level", "2", "--opset", "20", "--external-data", "--onnx", out_path)
    assert code == 0 and err == "", err
    assert "optimized 'transformer' at level 2" in out
    model = onnx.load(str(out_path), load_external_data=False)
    assert model.opset_import[0].version == 20
    data = tmp_path / "t.onnx.data"
    assert data.stat().st_size > 10 * out_path.stat().st_size
    np.testing.assert_allclose(_ort_outputs(out_path, graph, xs)[0], gs.run(graph, xs).outputs[0], rtol=1e-4, atol=1e-5)


def test_export_onnx_back_to_gsg(capsys, model_file, tmp_path):
    onnx_path, back = tmp_path / "m.onnx", tmp_path / "back.gsg"
    assert run_cli(capsys, "export", model_file, "--onnx", onnx_path)[0] == 0
    code, out, err = run_cli(capsys, "export", onnx_path, "--gsg", back)
    assert code == 0 and err == "" and f"wrote graphscope graph to {back}" in out
    graph, again = model_graph(), gs.load(back)
    xs = _inputs(graph)
    np.testing.assert_allclose(gs.run(again, xs).outputs[0], gs.run(graph, xs).outputs[0], rtol=1e-6, atol=1e-7)


def test_export_errors_are_one_line_and_write_nothing(capsys, model_file, tmp_path):
    target = tmp_path / "x.onnx"
    cases = [
        (("export", model_file), ("nothing to write", "--onnx OUT.onnx")),
        (("export", model_file, "--onnx", tmp_path / "x.bin"), ("--onnx writes ONNX model files (.onnx)",)),
        (("export", tmp_path / "missing.gsg", "--onnx", target), ("missing.gsg", "no such file")),
        (("export", model_file, "--onnx", tmp_path / "no" / "x.onnx"), ("does not exist",)),
        (("export", model_file, "--onnx", target, "--opset", "11"), ("opset must be an int from 13",)),
    ]
    for argv, fragments in cases:
        code, out, err = run_cli(capsys, *argv)
        assert code == 2, (argv, err)
        assert_one_line_error(err, *fragments)
    assert not target.exists()
    assert sorted(os.listdir(tmp_path)) == ["model.gsg"]  # no partial or temporary file left anywhere


def test_export_names_every_node_that_needs_a_newer_opset(capsys, tmp_path):
    g = Graph("norms")
    x = g.placeholder("x", TensorSpec((2, 8), "float32"))
    g.set_outputs([g.add_node("layer_norm", [g.add_node("layer_norm", [x], {}, name="ln1")], {}, name="ln2")])
    src, target = tmp_path / "n.gsg", tmp_path / "n.onnx"
    gs.save(g, src)
    target.write_bytes(b"previous")
    code, _, err = run_cli(capsys, "export", src, "--onnx", target, "--opset", "16")
    assert code == 2
    assert_one_line_error(err, "2 node(s) need a newer opset", "'ln1'", "'ln2'", "opset=17")
    assert target.read_bytes() == b"previous"  # a failed export leaves the old file alone
    assert run_cli(capsys, "export", src, "--onnx", target, "--opset", "17")[0] == 0


def test_a_corrupt_onnx_file_is_a_one_line_error(capsys, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07this is not protobuf\xff\xff")
    for argv in (("info", bad), ("profile", bad, "--repeat", "1"), ("export", bad, "--gsg", tmp_path / "x.gsg")):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2, argv
        assert_one_line_error(err, "bad.onnx", "not an ONNX model")


@pytest.fixture
def onnx_model(tmp_path):
    """A real ONNX model that was not written by graphscope: SqueezeNet 1.1 from the onnx wheel's light models."""
    path = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_squeezenet.onnx")
    if not os.path.exists(path):
        pytest.skip("the onnx wheel ships no light models")
    return path


def test_profile_and_info_accept_onnx(capsys, onnx_model, tmp_path):
    prof = tmp_path / "run.gsprof"
    code, out, err = run_cli(capsys, "profile", onnx_model, "--level", "2", "--repeat", "2", "--warmup", "0",
                             "--save-profile", prof, "--json", tmp_path / "r.json")
    assert code == 0, err
    assert "conv2d" in out and prof.exists() and (tmp_path / "r.json").exists()
    from graphscope.formats import load_any

    profile = load_any(prof)
    assert profile.metadata["graph_file"] == os.path.abspath(onnx_model)
    assert any(n.op == "conv2d" for n in profile.nodes.values()) and profile.iterations
    code, out, _ = run_cli(capsys, "info", onnx_model)
    assert code == 0 and "light_squeezenet.onnx" in out and "conv2d" in out


def test_render_accepts_onnx(capsys, onnx_model, tmp_path):
    svg = tmp_path / "squeezenet.svg"
    code, out, err = run_cli(capsys, "render", onnx_model, "-o", svg)
    assert code == 0, err
    text = svg.read_text()
    assert text.lstrip().startswith(("<?xml", "<svg")) and "conv2d" in text
    assert f"wrote {svg}" in out
