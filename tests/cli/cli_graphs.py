"""Graph files for the CLI tests, built with the IR directly (no sample files). A module of its own
(not conftest.py) so test modules can import it whatever other conftest.py pytest loaded first."""

from __future__ import annotations

import numpy as np

from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec


def model_graph() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("tiny_model")
    x = g.placeholder("x", TensorSpec((16, 32), np.float32), source="model.py:10")
    ids = g.placeholder("ids[0]", TensorSpec((16, 8), np.int64), source="model.py:11")  # brackets: not rich markup
    mask = g.placeholder("mask", TensorSpec((16, 8), np.bool_), source="model.py:12")
    w = g.constant(rng.standard_normal((32, 8)).astype(np.float32), name="w", scope="enc", source="model.py:14")
    h = g.add_node("matmul", [x, w], name="proj", scope="enc", source="model.py:15")
    h = g.add_node("tanh", [h], name="act", scope="enc", source="model.py:16")
    f = g.add_node("cast", [ids], {"dtype": "float32"}, name="ids_f", scope="enc", source="model.py:17")
    h = g.add_node("mul", [h, f], name="scale", scope="enc/inner", source="model.py:18")
    z = g.add_node("where", [mask, h, f], name="select", scope="head", source="model.py:20")
    p = g.add_node("softmax", [z], {"axis": -1}, name="probs", scope="head", source="model.py:21")
    g.set_outputs([p])
    return g


def failing_graph() -> Graph:
    """Valid by every shape rule, but integers to a negative power raise when it runs."""
    g = Graph("fails")
    x = g.placeholder("x", TensorSpec((4,), np.int32))
    k = g.constant(np.int32(-1), name="minus_one")
    y = g.add_node("pow", [x, k], name="inverse", source="bad.py:7")
    g.set_outputs([y])
    return g
