"""Round trips of the optimizer's property-test graphs: the random broadcasting programs of tests/passes/test_fusion.py
(``_random_program``, reused, not copied), plain and optimized at level 2 (fused nodes), export to ONNX, pass the
full checker, run in ONNX Runtime with graphscope's outputs, and import back to a graph with the same outputs."""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest
from onnx_helpers import ort_session

import graphscope as gs
from graphscope.formats.onnx_export import to_onnx
from graphscope.formats.onnx_import import from_onnx

onnx = pytest.importorskip("onnx")


def _fusion_tests():
    path = os.path.join(os.path.dirname(__file__), "..", "passes", "test_fusion.py")
    spec = importlib.util.spec_from_file_location("onnx_fusion_property_cases", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


FUSION = _fusion_tests()
SEEDS = range(12)  # the property test's own seeds (test_random_chains_with_broadcasting)


@pytest.mark.parametrize("level", [0, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", SEEDS)
def test_random_program_round_trips(seed, dtype, level):
    graph, xs = FUSION._random_program(seed, dtype)
    if level:
        graph, _ = gs.optimize(graph, level)
        assert "fused" in graph.op_counts()
    want = gs.run(graph, xs).outputs[0]
    model = to_onnx(graph, opset=17)  # full checker with strict shape inference
    feeds = {n.name: x for n, x in zip(graph.inputs, xs)}
    got = ort_session(model).run(None, feeds)[0]
    back = gs.run(from_onnx(model), xs).outputs[0]
    rtol, atol = FUSION.TOL[dtype]
    for value, what in ((got, "ONNX Runtime"), (back, "import(export(g))")):
        assert value.dtype == want.dtype and value.shape == want.shape, what
        np.testing.assert_allclose(value, want, rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=f"random program {seed} ({dtype}, level {level}): {what}")
