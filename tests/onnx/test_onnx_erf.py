"""The float64 erf of the ONNX export (graphscope/formats/onnx_erf.py): ONNX Runtime has no double Erf kernel,
so the exporter writes a piecewise polynomial of standard ops. It must stay within a few ulp of libm's erf."""

from __future__ import annotations

import math

import numpy as np
import pytest
from onnx_helpers import ort_session

import graphscope as gs
from graphscope.formats.onnx_erf import LIMIT, evaluate
from graphscope.formats.onnx_export import to_onnx
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec

onnx = pytest.importorskip("onnx")

MAX_ULP = 3


def _points() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([
        np.linspace(-7, 7, 20001),
        rng.standard_normal(20000) * 2,
        10.0 ** rng.uniform(-300, 0.7, 4000) * rng.choice([-1, 1], 4000),  # tiny to about 5: relative accuracy near 0
        np.arange(PIECE_EDGES) / 4.0, -np.arange(PIECE_EDGES) / 4.0,  # the piece edges themselves
        np.nextafter(np.arange(1, PIECE_EDGES) / 4.0, 0),
        [0.0, -0.0, 5e-324, LIMIT, np.nextafter(LIMIT, 0), 1e300, np.inf, -np.inf],
    ])


PIECE_EDGES = int(LIMIT * 4) + 1


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.abs(got - want) / np.spacing(np.abs(want).astype(np.float64) + 5e-324)


def test_float64_erf_runs_in_onnx_runtime_within_a_few_ulp():
    x = _points()
    g = Graph("erf64")
    xi = g.placeholder("x", TensorSpec(x.shape, "float64"))
    g.set_outputs([g.add_node("erf", [xi])])
    model = to_onnx(g)
    assert "Erf" not in {n.op_type for n in model.graph.node}
    got = ort_session(model).run(None, {"x": x})[0]
    want = np.array([math.erf(v) for v in x])
    ulps = _ulps(got, want)
    assert ulps.max() <= MAX_ULP, f"{ulps.max()} ulp at x={x[np.argmax(ulps)]!r}"
    np.testing.assert_array_equal(got, evaluate(x))  # the NumPy mirror computes the same thing
    # graphscope's own erf (SciPy's, itself within 2 ulp of libm's) agrees as well, and NaN passes through
    assert _ulps(got, gs.run(g, [x]).outputs[0]).max() <= MAX_ULP + 2
    nan = ort_session(model).run(None, {"x": np.full(x.shape, np.nan)})[0]
    assert np.isnan(nan).all()


def test_float32_and_float16_erf_stay_the_erf_op():
    for dt in ("float32", "float16"):
        g = Graph("erf")
        x = g.placeholder("x", TensorSpec((8,), dt))
        g.set_outputs([g.add_node("erf", [x])])
        assert "Erf" in {n.op_type for n in to_onnx(g).graph.node}


def test_float64_gelu_at_opset_20_is_written_out():
    """ONNX Runtime's Gelu has no double kernel either: float64 GELU is x/2 (1 + erf(x/sqrt 2)) in standard ops."""
    g = Graph("gelu64")
    x = g.placeholder("x", TensorSpec((4, 25), "float64"))
    g.set_outputs([g.add_node("gelu", [x]), g.add_node("gelu", [x], {"approximate": "tanh"})])
    xv = np.linspace(-8, 8, 100).reshape(4, 25)
    model = to_onnx(g, opset=20)
    assert not {"Gelu", "Erf"} & {n.op_type for n in model.graph.node}
    # 1 + erf(x/sqrt 2) cancels for x << 0 in any implementation: an absolute error of a few |x| ulp(1) is the floor
    for got, want in zip(ort_session(model).run(None, {"x": xv}), gs.run(g, [xv]).outputs):
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=8 * 8 * np.finfo(np.float64).eps)
