"""Helpers of the ONNX tests: the light model-zoo models shipped in the onnx wheel, ONNX Runtime sessions."""

from __future__ import annotations

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the ONNX tests need the [onnx] extra")

LIGHT_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
LIGHT_MODELS = sorted(f[len("light_"):-len(".onnx")] for f in os.listdir(LIGHT_DIR) if f.endswith(".onnx")) \
    if os.path.isdir(LIGHT_DIR) else []


def ort_session(model):
    """An ONNX Runtime CPU session for a ModelProto or path (skips the test where onnxruntime is missing)."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (the [dev] extra) checks exports")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # no warnings about unused initializers
    source = model if isinstance(model, (str, os.PathLike)) else model.SerializeToString()
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def light_input(graph) -> np.ndarray:
    """What ONNX's own runner feeds a light model: arange(n).reshape(shape) / n as float32."""
    x = graph.inputs[0]
    n = x.spec.size
    return (np.arange(n).reshape(x.shape) / n).astype(np.float32)
