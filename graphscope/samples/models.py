"""Sample models, written as ordinary NumPy code and traced by graphscope.

Weights are realistic random values from a fixed seed (He/Xavier scaled) and are closed over, so
they become constants of the graph; only the data batch is a graph input. Each builder returns
``(traced function, example inputs)``: ``fn.get_graph(*inputs)`` is the graph and
``fn.python_function(*inputs)`` runs the same code eagerly in NumPy (the benchmarks' baseline).
"""

from __future__ import annotations

import math

import numpy as np

import graphscope as gs

F32 = np.float32


def _dense(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    w = rng.standard_normal((n_in, n_out), dtype=F32) * F32(np.sqrt(2.0 / n_in))
    b = rng.standard_normal(n_out, dtype=F32) * F32(0.01)
    return w, b


def _conv(rng: np.random.Generator, c_in: int, c_out: int, k: int) -> np.ndarray:
    return rng.standard_normal((c_out, c_in, k, k), dtype=F32) * F32(np.sqrt(2.0 / (c_in * k * k)))


def _bn(rng: np.random.Generator, c: int) -> tuple[np.ndarray, ...]:
    scale = (1.0 + 0.1 * rng.standard_normal(c)).astype(F32)
    bias = (0.1 * rng.standard_normal(c)).astype(F32)
    mean = (0.1 * rng.standard_normal(c)).astype(F32)
    var = (1.0 + 0.1 * rng.random(c)).astype(F32)
    return scale, bias, mean, var


# -- MLP: batch 256, 784-1024-1024-1024-10 ----------------------------------------------------------


def mlp(seed: int = 0, batch: int = 256) -> tuple[gs.Function, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    sizes = [784, 1024, 1024, 1024, 10]
    layers = [_dense(rng, a, b) for a, b in zip(sizes[:-1], sizes[1:])]

    @gs.function(name="mlp")
    def model(x):
        h = x
        for i, (w, b) in enumerate(layers[:-1]):
            with gs.name_scope(f"layer{i + 1}"):
                h = np.maximum(h @ w + b, 0)
        with gs.name_scope("head"):
            w, b = layers[-1]
            return gs.ops.softmax(h @ w + b, axis=-1)

    x = rng.standard_normal((batch, 784), dtype=F32)
    return model, [x]


# -- small CNN: conv/bn/relu/pool blocks -------------------------------------------------------------


def cnn(seed: int = 0, batch: int = 8) -> tuple[gs.Function, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    chans = [3, 16, 32, 64]
    convs = [(_conv(rng, a, b, 3), _bn(rng, b)) for a, b in zip(chans[:-1], chans[1:])]
    w_fc, b_fc = _dense(rng, 64, 10)

    @gs.function(name="cnn")
    def model(x):
        h = x
        for i, (w, bn) in enumerate(convs):
            with gs.name_scope(f"block{i + 1}"):
                h = gs.ops.conv2d(h, w, padding=1)
                h = gs.ops.batch_norm(h, *bn)
                h = np.maximum(h, 0)
                if i < len(convs) - 1:
                    h = gs.ops.max_pool2d(h, 2)
        with gs.name_scope("head"):
            h = gs.ops.global_avg_pool(h).reshape(h.shape[0], -1)
            return h @ w_fc + b_fc

    x = rng.standard_normal((batch, 3, 32, 32), dtype=F32)
    return model, [x]


# -- transformer encoder block: batch 8, seq 128, d_model 512, 8 heads, FFN 2048 ---------------------


def _layer_norm(x, gamma, beta, eps=1e-5):
    # Spelled out in NumPy, as users write it (the optimizer must recognize this spelling).
    mu = x.mean(axis=-1, keepdims=True)
    d = x - mu
    var = (d * d).mean(axis=-1, keepdims=True)
    return d / np.sqrt(var + eps) * gamma + beta


def _gelu_tanh(x):
    # math.sqrt, not np.sqrt: a NumPy float64 scalar would promote the float32 graph to float64 (NEP 50)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def transformer(seed: int = 0, batch: int = 8, seq: int = 128, d_model: int = 512, heads: int = 8,
                d_ff: int = 2048) -> tuple[gs.Function, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    dh = d_model // heads
    wq, bq = _dense(rng, d_model, d_model)
    wk, bk = _dense(rng, d_model, d_model)
    wv, bv = _dense(rng, d_model, d_model)
    wo, bo = _dense(rng, d_model, d_model)
    w1, b1 = _dense(rng, d_model, d_ff)
    w2, b2 = _dense(rng, d_ff, d_model)
    g1, be1 = (1 + 0.1 * rng.standard_normal(d_model)).astype(F32), (0.1 * rng.standard_normal(d_model)).astype(F32)
    g2, be2 = (1 + 0.1 * rng.standard_normal(d_model)).astype(F32), (0.1 * rng.standard_normal(d_model)).astype(F32)
    scale = F32(1.0 / np.sqrt(dh))

    def split_heads(t):
        return t.reshape(batch, seq, heads, dh).transpose(0, 2, 1, 3)

    @gs.function(name="transformer")
    def model(x):
        with gs.name_scope("attn"):
            with gs.name_scope("ln1"):
                h = _layer_norm(x, g1, be1)
            with gs.name_scope("qkv"):
                q = split_heads(h @ wq + bq)
                k = split_heads(h @ wk + bk)
                v = split_heads(h @ wv + bv)
            with gs.name_scope("scores"):
                s = (q @ k.transpose(0, 1, 3, 2)) * scale
                p = gs.ops.softmax(s, axis=-1)
            with gs.name_scope("context"):
                ctx = (p @ v).transpose(0, 2, 1, 3).reshape(batch, seq, d_model)
                x = x + (ctx @ wo + bo)
        with gs.name_scope("ffn"):
            with gs.name_scope("ln2"):
                h = _layer_norm(x, g2, be2)
            with gs.name_scope("up"):
                h = _gelu_tanh(h @ w1 + b1)
            with gs.name_scope("down"):
                return x + (h @ w2 + b2)

    x = rng.standard_normal((batch, seq, d_model), dtype=F32)
    return model, [x]


# -- elementwise-heavy block: layer_norm(gelu(x * w + b)) on 4096x1024 --------------------------------


def elementwise(seed: int = 0, rows: int = 4096, cols: int = 1024) -> tuple[gs.Function, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    w = (1 + 0.1 * rng.standard_normal(cols)).astype(F32)
    b = (0.1 * rng.standard_normal(cols)).astype(F32)
    gamma = (1 + 0.1 * rng.standard_normal(cols)).astype(F32)
    beta = (0.1 * rng.standard_normal(cols)).astype(F32)

    @gs.function(name="elementwise")
    def model(x):
        with gs.name_scope("affine"):
            h = x * w + b
        with gs.name_scope("gelu"):
            h = _gelu_tanh(h)
        with gs.name_scope("layer_norm"):
            return _layer_norm(h, gamma, beta)

    x = rng.standard_normal((rows, cols), dtype=F32)
    return model, [x]


# -- Inception-like block: four parallel branches joined by a concat ----------------------------------


def inception(seed: int = 0, batch: int = 8, c_in: int = 64, size: int = 28) -> tuple[gs.Function, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    w1 = _conv(rng, c_in, 32, 1)
    w2a, w2b = _conv(rng, c_in, 48, 1), _conv(rng, 48, 64, 3)
    w3a, w3b = _conv(rng, c_in, 8, 1), _conv(rng, 8, 16, 5)
    w4 = _conv(rng, c_in, 16, 1)

    @gs.function(name="inception")
    def model(x):
        with gs.name_scope("branch1x1"):
            a = np.maximum(gs.ops.conv2d(x, w1), 0)
        with gs.name_scope("branch3x3"):
            b = np.maximum(gs.ops.conv2d(x, w2a), 0)
            b = np.maximum(gs.ops.conv2d(b, w2b, padding=1), 0)
        with gs.name_scope("branch5x5"):
            c = np.maximum(gs.ops.conv2d(x, w3a), 0)
            c = np.maximum(gs.ops.conv2d(c, w3b, padding=2), 0)
        with gs.name_scope("branch_pool"):
            d = gs.ops.max_pool2d(x, 3, stride=1, padding=1)
            d = np.maximum(gs.ops.conv2d(d, w4), 0)
        return np.concatenate([a, b, c, d], axis=1)

    x = rng.standard_normal((batch, c_in, size, size), dtype=F32)
    return model, [x]


# -- planted redundancy: work an optimizer should find --------------------------------------------------


def redundant(seed: int = 0, batch: int = 64, d: int = 256) -> tuple[gs.Function, list[np.ndarray]]:
    """Repeated subexpressions, dead branches, constant subgraphs and algebraic no-ops.

    Planted (for the optimizer's tests to count): 2 duplicated matmul+add chains (CSE), 1 dead branch
    of 3 nodes (DCE), a constant subgraph of 4 ops over constants only (folding), and x*1, x+0, a
    double transpose and a reshape chain (simplification).
    """
    rng = np.random.default_rng(seed)
    w, b = _dense(rng, d, d)
    base = (1 + 0.1 * rng.standard_normal(d)).astype(F32)

    @gs.function(name="redundant")
    def model(x):
        with gs.name_scope("cse"):
            h1 = np.tanh(x @ w + b)
            h2 = np.tanh(x @ w + b)  # the same subexpression again
            h = h1 + h2
        with gs.name_scope("dead"):
            unused = np.exp(h) * 2.0 - 1.0  # computed, never used  # noqa: F841
        with gs.name_scope("const"):
            scale = (gs.constant(base, name="base") * 2.0 + 1.0) / 3.0  # depends on constants only
            scale = np.sqrt(scale)
        with gs.name_scope("algebra"):
            h = h * 1.0 + 0.0
            h = h.T.T
            h = h.reshape(batch, d // 2, 2).reshape(batch, d)
        return h * scale

    x = rng.standard_normal((batch, d), dtype=F32)
    return model, [x]
