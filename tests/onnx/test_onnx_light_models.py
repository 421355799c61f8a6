"""The nine "light" model-zoo models shipped in the onnx wheel: import, optimize at every level, run.

Weights are ConstantOfShape (0.02 everywhere), the input is what ONNX's runner feeds
(arange(n).reshape(shape) / n); outputs must match the shipped reference output and ONNX Runtime.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from onnx_helpers import LIGHT_DIR, LIGHT_MODELS, light_input, ort_session

import graphscope as gs
from graphscope.formats.onnx_import import from_onnx

onnx = pytest.importorskip("onnx")

RTOL, ATOL = 1e-3, 1e-5  # ONNX's runner uses rtol=1e-3 for these models


def test_all_nine_light_models_are_shipped():
    assert len(LIGHT_MODELS) == 9, LIGHT_MODELS


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_model_imports_optimizes_and_runs(name):
    path = os.path.join(LIGHT_DIR, f"light_{name}.onnx")
    from onnx import numpy_helper

    expected = numpy_helper.to_array(onnx.load_tensor(os.path.join(LIGHT_DIR, f"light_{name}_output_0.pb")))
    graph = from_onnx(path)
    assert graph.metadata["onnx"]["opset"] >= 1
    assert not any(n.op in ("placeholder",) and n not in graph.inputs for n in graph.nodes)
    x = light_input(graph)
    ort_out = ort_session(path).run(None, {graph.inputs[0].name: x})[0]
    np.testing.assert_allclose(ort_out, expected, rtol=RTOL, atol=ATOL)  # the reference itself
    for level in (0, 1, 2, 3):
        g = gs.optimize(graph, level)[0] if level else graph
        out = gs.run(g, [x]).outputs[0]
        assert out.shape == expected.shape and out.dtype == expected.dtype, f"level {level}"
        np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL, err_msg=f"{name} level {level} vs reference")
        np.testing.assert_allclose(out, ort_out, rtol=RTOL, atol=ATOL, err_msg=f"{name} level {level} vs ONNX Runtime")
