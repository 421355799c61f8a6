"""Sample graphs: golden printed IR, outputs equal to the same code run eagerly, file round trips."""

import os

import numpy as np
import pytest

import graphscope as gs
from graphscope import samples
from graphscope.backends import get_backend
from graphscope.backends.cupy_backend import cupy_status

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")
UPDATE = os.environ.get("GRAPHSCOPE_UPDATE_GOLDEN") == "1"
_CUPY = cupy_status()
BACKENDS = [
    pytest.param("numpy", id="numpy"),
    pytest.param("cupy", id="cupy", marks=[pytest.mark.gpu, pytest.mark.skipif(_CUPY != "ok", reason=_CUPY)]),
]


def run_on(backend: str, graph, inputs):
    """``gs.run`` on ``backend`` (a backend that places and runs whole graphs itself is the executor)."""
    be = get_backend(backend)
    if getattr(be, "executes_graphs", False):
        return gs.run(graph, inputs, executor=be)
    return gs.run(graph, inputs, backend=be)


@pytest.fixture(scope="module", params=samples.names())
def sample(request):
    fn, inputs = samples.model(request.param)
    return request.param, fn, fn.get_graph(*inputs), inputs


def test_printed_graph_matches_golden(sample):
    """The printed IR is the oracle: a change in tracing or naming shows up as a readable diff.

    Regenerate after an intended change with GRAPHSCOPE_UPDATE_GOLDEN=1 and review the diff.
    """
    name, _, graph, _ = sample
    text = str(graph) + "\n"
    path = os.path.join(GOLDEN, f"{name}.txt")
    if UPDATE or not os.path.exists(path):
        with open(path, "w") as f:
            f.write(text)
        if not UPDATE:
            pytest.fail(f"golden file {path} was missing and has been written: review and commit it")
    with open(path) as f:
        assert text == f.read()


@pytest.mark.parametrize("backend", BACKENDS)
def test_graph_equals_eager_numpy(sample, backend):
    name, fn, graph, inputs = sample
    graph.lint()
    expected = fn.python_function(*inputs)  # the same model code, run eagerly in NumPy
    (got,) = run_on(backend, graph, inputs).outputs
    assert got.dtype == expected.dtype == np.float32
    if backend == "numpy":
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    else:  # other kernels (cuBLAS, CUDA math) round differently: the float32 bound of test_float64_reference
        assert np.abs(got - expected).max() / np.abs(expected).max() < 1e-4
    assert np.isfinite(got).all() and np.std(got) > 0  # realistic weights: no degenerate output


def test_float64_reference(sample):
    """float32 graph vs the same model on float64 inputs (NumPy promotes): bounded relative error."""
    name, fn, graph, inputs = sample
    ref = fn.python_function(*[x.astype(np.float64) for x in inputs])
    (got,) = gs.run(graph, inputs).outputs
    scale = np.abs(ref).max()
    assert np.abs(got - ref).max() / scale < 1e-4


def test_save_load_round_trip(sample, tmp_path):
    name, _, graph, inputs = sample
    path = tmp_path / f"{name}.gsg"
    gs.save(graph, str(path))
    loaded = gs.load(str(path))
    assert str(loaded) == str(graph)
    (a,) = gs.run(graph, inputs).outputs
    (b,) = gs.run(loaded, inputs).outputs
    np.testing.assert_array_equal(a, b)


def test_redundant_sample_has_the_planted_work():
    graph, _ = samples.build("redundant")
    ops = [n.op for n in graph.nodes]
    assert ops.count("matmul") == 2  # one duplicated matmul (+ add + tanh) chain
    assert [n.name for n in graph.nodes if n.scope == "dead" and n.op != "constant"] == ["dead/exp", "dead/mul", "dead/sub"]
    dead = graph.node("dead/sub")
    assert not dead.users and dead not in graph.outputs
    const_ops = [n for n in graph.nodes if n.scope == "const" and n.op != "constant"]
    assert [n.op for n in const_ops] == ["mul", "add", "div", "sqrt"]
    assert all(i.op == "constant" or i in const_ops for n in const_ops for i in n.inputs)
    assert [n.op for n in graph.nodes if n.scope == "algebra" and n.op != "constant"] == [
        "mul", "add", "transpose", "transpose", "reshape", "reshape"]


def test_samples_are_sized_as_specified():
    graph, (x,) = samples.build("transformer")
    assert x.shape == (8, 128, 512)
    mm = [n for n in graph.nodes if n.op == "matmul"]
    assert sorted({n.spec.shape for n in mm}) == [(8, 8, 128, 64), (8, 8, 128, 128), (8, 128, 512), (8, 128, 2048)]
    assert sum(n.op == "tanh" for n in graph.nodes) == 1  # GELU (tanh form)
    graph, (x,) = samples.build("mlp")
    assert x.shape == (256, 784)
    assert [n.spec.shape for n in graph.nodes if n.op == "constant" and len(n.spec.shape) == 2] == [
        (784, 1024), (1024, 1024), (1024, 1024), (1024, 10)]
    graph, (x,) = samples.build("elementwise")
    assert x.shape == (4096, 1024)
    graph, _ = samples.build("inception")
    concat = [n for n in graph.nodes if n.op == "concat"]
    assert len(concat) == 1 and len(concat[0].inputs) == 4
