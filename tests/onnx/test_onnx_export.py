"""ONNX export: every catalogue op, every sample graph (plain and optimized), round trips, opsets, external data."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import warnings

import numpy as np
import pytest
from onnx_helpers import ort_session

import graphscope as gs
from graphscope import samples
from graphscope.formats.onnx_common import OnnxExportError
from graphscope.formats.onnx_export import DEFAULT_OPSET, EXPORTERS, MIN_OPSET, to_onnx
from graphscope.formats.onnx_import import from_onnx
from graphscope.ir.graph import Graph
from graphscope.ir.ops import all_ops
from graphscope.ir.spec import TensorSpec

onnx = pytest.importorskip("onnx")

# Kernels ONNX Runtime's CPU provider lacks (the ONNX files are valid; onnx.reference runs them).
ORT_MISSING = ("NOT_IMPLEMENTED", "Could not find an implementation")


def _catalogue_cases():
    path = os.path.join(os.path.dirname(__file__), "..", "ops", "test_ops_catalogue.py")
    spec = importlib.util.spec_from_file_location("onnx_catalogue_cases", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.CASES, module.TOL


CASES, TOL = _catalogue_cases()


def _feeds(graph: Graph, inputs) -> dict:
    return {n.name: v for n, v in zip(graph.inputs, inputs)}


def _close(got, want, what: str, scale: float = 10.0) -> None:
    got = np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape, f"{what}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}"
    if want.dtype.kind == "f":
        rtol, atol = TOL[want.dtype.name]
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol * scale, atol=atol * scale,
                                   err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def test_every_catalogue_op_has_an_exporter():
    missing = sorted(set(all_ops()) - set(EXPORTERS) - {"placeholder", "constant"})
    assert not missing, f"ops without an ONNX exporter in graphscope/formats/onnx_export.py: {missing}"


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_catalogue_op_exports_checks_and_runs(c):
    """One-node graph per catalogue case: full checker, then ONNX Runtime (or onnx.reference where ORT lacks the
    kernel) and import(export(g)) agree with graphscope."""
    g = Graph(c.op)
    ins = [g.placeholder(f"in{i}", TensorSpec.of(a)) for i, a in enumerate(c.inputs)]
    g.set_outputs([g.add_node(c.op, ins, c.attrs)])
    with np.errstate(all="ignore"):
        want = gs.run(g, c.inputs).outputs[0]
    try:
        model = to_onnx(g)  # the default opset; runs onnx.checker.check_model(full_check=True)
    except OnnxExportError as exc:  # an op ONNX added later (CumProd: opset 26): the error names the opset to use
        needed = re.search(r"Export with opset=(\d+) or newer", str(exc))
        assert needed and f"'{g.outputs[0].name}'" in str(exc), str(exc)
        assert int(needed.group(1)) > DEFAULT_OPSET
        model = to_onnx(g, opset=int(needed.group(1)))
    feeds = _feeds(g, c.inputs)
    try:
        got = ort_session(model).run(None, feeds)[0]
    except Exception as exc:  # noqa: BLE001 - only missing ORT kernels are tolerated, and then the reference decides
        if not any(m in str(exc) for m in ORT_MISSING):
            raise
        from onnx.reference import ReferenceEvaluator

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            got = ReferenceEvaluator(model).run(None, feeds)[0]
    _close(got, want, f"{c.id} ONNX", scale=10 * c.tol)
    with np.errstate(all="ignore"):
        back = gs.run(from_onnx(model), c.inputs).outputs[0]
    _close(back, want, f"{c.id} import(export(g))", scale=10 * c.tol)


@pytest.mark.parametrize("level", [0, 2])
@pytest.mark.parametrize("name", samples.names())
def test_sample_graph_round_trips(name, level, tmp_path):
    graph, inputs = samples.build(name)
    if level:
        graph, _ = gs.optimize(graph, level)
    want = gs.run(graph, inputs).outputs
    path = tmp_path / f"{name}.onnx"
    model = to_onnx(graph, path, opset=17)
    onnx.checker.check_model(str(path), full_check=True)
    got = ort_session(str(path)).run(None, _feeds(graph, inputs))
    back = from_onnx(path)
    again = gs.run(back, inputs).outputs
    for w, g_ort, g_back in zip(want, got, again):
        np.testing.assert_allclose(g_ort, w, rtol=1e-4, atol=1e-5, err_msg=f"{name} level {level}: ONNX Runtime")
        np.testing.assert_allclose(g_back, w, rtol=1e-4, atol=1e-5, err_msg=f"{name} level {level}: import(export(g))")
    # Names, scopes and source lines of computing nodes survive the trip. Not kept as nodes: dead nodes (no output
    # reads them: the 'redundant' sample has some before optimization), which are written but dropped by the
    # import, as ONNX runtimes do, and counted in its metadata; and nodes over constants only, which the import
    # folds (the last of such a chain comes back as a constant under its own name).
    kept = {(n.name, n.scope, n.source) for n in back.nodes if n.op != "placeholder"}
    live, varying = _live(graph), _varying(graph)
    for n in graph.nodes:
        if n.op not in ("placeholder", "constant") and n.id in live and n.id in varying:
            assert (n.name, n.scope, n.source) in kept, f"{n.describe()} lost its name, scope or source"
    dead = [n for n in graph.nodes if n.id not in live and n.op != "placeholder"]
    assert back.metadata["onnx"]["dead_nodes_removed"] >= len(dead)
    assert model.producer_name == "graphscope"


def _live(graph: Graph) -> set[int]:
    """Ids of the nodes some graph output depends on."""
    seen, stack = set(), list(graph.outputs)
    while stack:
        n = stack.pop()
        if n.id not in seen:
            seen.add(n.id)
            stack.extend(n.inputs)
    return seen


def _varying(graph: Graph) -> set[int]:
    """Ids of the nodes that depend on a graph input (the rest is computable at import time)."""
    out: set[int] = set()
    for n in graph.nodes:  # topological order
        if n.op == "placeholder" or any(i.id in out for i in n.inputs):
            out.add(n.id)
    return out


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_fused_programs_use_standard_ops_for_known_patterns(approximate):
    """A fused softmax becomes ONNX Softmax; a fused layer_norm LayerNormalization (17+); a fused gelu Gelu (20+),
    with its approximation, so none of the GELU's steps (Erf or Tanh) remains."""
    from graphscope.passes.fusion import elementwise_fusion

    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16)).astype(np.float32)

    @gs.function
    def f(x):
        h = gs.ops.layer_norm(x, epsilon=1e-5)
        h = gs.ops.gelu(h, approximate=approximate)
        return gs.ops.softmax(h * 2.0, axis=-1)

    g = f.get_graph(x)
    fused = elementwise_fusion(g.copy(), threshold=False).graph
    assert fused.op_counts().get("fused") == 1 and len(fused.nodes) == 2
    want = gs.run(fused, [x]).outputs[0]
    step = "Erf" if approximate == "none" else "Tanh"
    for opset, expect in ((17, {"Softmax", "LayerNormalization", step}), (20, {"Softmax", "LayerNormalization", "Gelu"})):
        model = to_onnx(fused, opset=opset)
        types = {n.op_type for n in model.graph.node}
        assert expect <= types, (opset, sorted(types))
        gelus = [n for n in model.graph.node if n.op_type == "Gelu"]
        assert opset < 20 or (step not in types and [a.s.decode() for a in gelus[0].attribute] == [approximate])
        got = ort_session(model).run(None, {"x": x})[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("opset", [MIN_OPSET, 17, 18, 20, "newest"])
def test_opsets(opset):
    newest = onnx.defs.onnx_opset_version()
    opset = newest if opset == "newest" else opset
    graph, inputs = samples.build("transformer")
    model = to_onnx(graph, opset=opset)
    assert model.opset_import[0].version == opset
    got = ort_session(model).run(None, _feeds(graph, inputs))[0]  # ONNX Runtime 1.32 runs opsets up to 28
    np.testing.assert_allclose(got, gs.run(graph, inputs).outputs[0], rtol=1e-4, atol=1e-5)


def test_opset_out_of_range_is_a_clear_error():
    graph, _ = samples.build("mlp")
    with pytest.raises(OnnxExportError, match=r"opset must be an int from 13"):
        to_onnx(graph, opset=11)
    with pytest.raises(OnnxExportError, match=r"knows up to"):
        to_onnx(graph, opset=onnx.defs.onnx_opset_version() + 1)


def test_op_needing_a_newer_opset_lists_every_node():
    g = Graph("needs17")
    x = g.placeholder("x", TensorSpec((2, 8), "float32"))
    a = g.add_node("layer_norm", [x], {}, name="ln_a")
    b = g.add_node("layer_norm", [a], {}, name="ln_b")
    g.set_outputs([b])
    with pytest.raises(OnnxExportError) as info:
        to_onnx(g, opset=16)
    msg = str(info.value)
    assert "2 node(s) need a newer opset" in msg and "'ln_a'" in msg and "'ln_b'" in msg and "opset=17" in msg
    to_onnx(g, opset=17)


def test_gelu_below_opset_20_is_decomposed_exactly():
    g = Graph("gelu")
    x = g.placeholder("x", TensorSpec((3, 5), "float32"))
    g.set_outputs([g.add_node("gelu", [x], {"approximate": "tanh"}), g.add_node("gelu", [x], {})])
    xv = np.linspace(-4, 4, 15, dtype=np.float32).reshape(3, 5)
    want = gs.run(g, [xv]).outputs
    for opset in (17, 20):
        model = to_onnx(g, opset=opset)
        assert ("Gelu" in {n.op_type for n in model.graph.node}) == (opset >= 20)
        for w, got in zip(want, ort_session(model).run(None, {"x": xv})):
            np.testing.assert_allclose(got, w, rtol=1e-6, atol=1e-6)


def test_outputs_that_are_inputs_constants_or_repeated_get_their_own_names():
    g = Graph("odd_outputs")
    x = g.placeholder("x", TensorSpec((2,), "float32"))
    c = g.constant(np.array([1.0, 2.0], dtype=np.float32), name="c")
    y = g.add_node("add", [x, c])
    g.set_outputs([y, x, c, y])
    model = to_onnx(g)
    assert len({o.name for o in model.graph.output}) == 4
    xv = np.array([3.0, 4.0], dtype=np.float32)
    got = ort_session(model).run(None, {"x": xv})
    for a, b in zip(got, gs.run(g, [xv]).outputs):
        np.testing.assert_array_equal(a, b)


def test_external_data(tmp_path):
    graph, inputs = samples.build("mlp")
    weights = sum(n.value.nbytes for n in graph.nodes if n.op == "constant" and n.value.nbytes >= 1024)
    assert weights > 10 << 20  # the sample's 11 MiB of weights
    path = tmp_path / "mlp.onnx"
    to_onnx(graph, path, external_data=True)
    data = tmp_path / "mlp.onnx.data"
    size = data.stat().st_size
    # every tensor of 1 KiB or more goes to the data file (onnx aligns each one, hence the slack)
    assert weights <= size < weights + 64 * 4096 and path.stat().st_size < 100_000
    back = from_onnx(path)
    np.testing.assert_array_equal(gs.run(back, inputs).outputs[0], gs.run(graph, inputs).outputs[0])
    got = ort_session(str(path)).run(None, _feeds(graph, inputs))[0]
    np.testing.assert_allclose(got, gs.run(graph, inputs).outputs[0], rtol=1e-5, atol=1e-6)
    to_onnx(graph, path, external_data=True)  # writing again replaces the data file, not appends to it
    assert data.stat().st_size == size
    assert sorted(os.listdir(tmp_path)) == ["mlp.onnx", "mlp.onnx.data"]  # no staging directory left behind
    assert data.stat().st_mode & 0o777 == path.stat().st_mode & 0o777  # not onnx's 0600
    with pytest.raises(OnnxExportError, match="pass a path"):
        to_onnx(graph, external_data=True)


def test_registry_and_save_any(tmp_path):
    from graphscope.formats import get_format, load_any, save_any

    fmt = get_format("onnx")
    assert fmt.suffix == ".onnx" and fmt.load and fmt.save
    graph, inputs = samples.build("cnn")
    save_any(graph, tmp_path / "cnn.onnx")
    back = load_any(tmp_path / "cnn.onnx")
    np.testing.assert_array_equal(gs.run(back, inputs).outputs[0], gs.run(graph, inputs).outputs[0])


def test_metadata_survives(tmp_path):
    graph, _ = samples.build("redundant")
    opt, _ = gs.optimize(graph, 2)
    back = from_onnx(to_onnx(opt))
    assert back.name == "redundant"
    assert back.metadata["optimization_level"] == 2 and back.metadata["pass_log"]
    assert back.metadata["onnx"]["producer"].startswith("graphscope")
