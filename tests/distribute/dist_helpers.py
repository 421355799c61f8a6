"""Small graphs and comparisons shared by the distribution tests."""

from __future__ import annotations

import numpy as np

from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec


def assert_outputs_close(got, want, rtol=1e-4, atol=1e-5):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol * max(1.0, float(np.abs(w).max(initial=0))))


def loss_graph(batch: int = 10, d: int = 6, seed: int = 0) -> tuple[Graph, list[np.ndarray]]:
    """x[B,d] -> y = tanh(x @ w) (per sample), and its sum and mean over the batch (three outputs)."""
    rng = np.random.default_rng(seed)
    g = Graph("loss")
    x = g.placeholder("x", TensorSpec((batch, d), "float32"))
    w = g.constant(rng.standard_normal((d, 3)).astype(np.float32), name="w")
    y = g.add_node("tanh", [g.add_node("matmul", [x, w])], name="y")
    total = g.add_node("sum", [y], {"axis": 0}, name="total")
    mean = g.add_node("mean", [y], {"axis": 0}, name="mean")
    g.set_outputs([y, total, mean])
    return g, [rng.standard_normal((batch, d)).astype(np.float32)]


def chain_graph(n: int = 8, d: int = 64, seed: int = 0) -> tuple[Graph, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    g = Graph("chain")
    h = g.placeholder("x", TensorSpec((d, d), "float32"))
    w = g.constant((rng.standard_normal((d, d)) / np.sqrt(d)).astype(np.float32), name="w")
    for _ in range(n):
        h = g.add_node("tanh", [g.add_node("matmul", [h, w])])
    g.set_outputs([h])
    return g, [rng.standard_normal((d, d)).astype(np.float32)]


def wide_graph(branches: int = 6, d: int = 256, depth: int = 4, seed: int = 0) -> tuple[Graph, list[np.ndarray]]:
    """Independent heavy branches from one input, summed at the end: work for several workers."""
    rng = np.random.default_rng(seed)
    g = Graph("wide")
    x = g.placeholder("x", TensorSpec((d, d), "float32"))
    ends = []
    for b in range(branches):
        w = g.constant((rng.standard_normal((d, d)) / np.sqrt(d)).astype(np.float32), name=f"w{b}")
        h = x
        for _ in range(depth):
            h = g.add_node("tanh", [g.add_node("matmul", [h, w], scope=f"b{b}")], scope=f"b{b}")
        ends.append(h)
    acc = ends[0]
    for e in ends[1:]:
        acc = g.add_node("add", [acc, e])
    g.set_outputs([acc])
    return g, [rng.standard_normal((d, d)).astype(np.float32)]
