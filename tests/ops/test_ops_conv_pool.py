"""conv2d and the pools in depth: scipy.signal as an independent reference, every stride / padding /
dilation / groups combination, both implementation paths, and a speed check against plain im2col."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from scipy import signal

import graphscope as gs
from graphscope import ops
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec

RNG = np.random.default_rng(3)


def conv_scipy(x, w, b=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1) -> np.ndarray:
    """Cross-correlation with scipy.signal.correlate2d per (image, output channel, input channel)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    t, left, bottom, r = padding
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (t, bottom), (left, r)))
    # A dilated kernel is the kernel with zeros between its taps.
    wdil = np.zeros((o, cg, dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1))
    wdil[:, :, ::dilation[0], ::dilation[1]] = w
    og = o // groups
    full = None
    for img in range(n):
        for oc in range(o):
            g = oc // og
            acc = sum(signal.correlate2d(xp[img, g * cg + ci], wdil[oc, ci], mode="valid") for ci in range(cg))
            if full is None:
                full = np.zeros((n, o) + acc.shape)
            full[img, oc] = acc
    out = full[:, :, ::stride[0], ::stride[1]]
    if b is not None:
        out = out + b[None, :, None, None]
    return out


def run_graph(op: str, arrays: list[np.ndarray], attrs: dict) -> np.ndarray:
    g = Graph(op)
    ins = [g.placeholder(f"x{i}", TensorSpec.of(a)) for i, a in enumerate(arrays)]
    node = g.add_node(op, ins, attrs)
    g.set_outputs([node])
    out = gs.run(g, arrays).outputs[0]
    assert node.spec == TensorSpec.of(out)
    return out


CONV_GRID = list(itertools.product(
    [(1, 1), (2, 2), (1, 3)],  # stride
    [(0, 0, 0, 0), (1, 1, 1, 1), (2, 0, 1, 3)],  # padding (top, left, bottom, right)
    [(1, 1), (2, 1), (2, 3)],  # dilation
    [(1, 4, 6), (2, 4, 6), (4, 4, 4), (4, 4, 8)],  # groups, C, O: grouped, depthwise, depthwise x2
))


@pytest.mark.parametrize(("stride", "padding", "dilation", "gco"), CONV_GRID,
                         ids=[f"s{s}-p{p}-d{d}-g{g[0]}c{g[1]}o{g[2]}" for s, p, d, g in CONV_GRID])
def test_conv2d_against_scipy(stride, padding, dilation, gco):
    groups, c, o = gco
    x = RNG.standard_normal((2, c, 9, 11))
    w = RNG.standard_normal((o, c // groups, 3, 2))
    b = RNG.standard_normal(o)
    want = conv_scipy(x, w, b, stride, padding, dilation, groups)
    got = ops.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    np.testing.assert_allclose(run_graph("conv2d", [x, w, b], attrs), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("c", "groups"), [(3, 1), (20, 1), (32, 4), (16, 16)])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_conv2d_paths_and_dtypes(c, groups, dtype):
    """groups == 1 takes the im2col path, other groups the kernel-position loop, C/groups == 1 the depthwise one."""
    x = RNG.standard_normal((2, c, 10, 10)).astype(dtype)
    w = (RNG.standard_normal((8 if groups == 1 else c, c // groups, 3, 3)) / np.sqrt(9 * c // groups)).astype(dtype)
    kwargs = dict(stride=(2, 1), padding=(1, 2, 0, 1), dilation=(1, 2), groups=groups)
    got = ops.conv2d(x, w, **kwargs)
    assert got.dtype == dtype and got.flags.c_contiguous
    tol = {"float16": 5e-3, "float32": 2e-5, "float64": 1e-11}[dtype]
    np.testing.assert_allclose(got.astype(np.float64), conv_scipy(x, w, **kwargs), rtol=tol, atol=tol)


def test_conv2d_im2col_chunks_images(monkeypatch):
    from graphscope.ir.op_defs import nn

    x = RNG.standard_normal((5, 3, 8, 8))
    w = RNG.standard_normal((4, 3, 3, 3))
    want = conv_scipy(x, w, stride=(2, 1), padding=(1, 1, 1, 1))
    for budget in (1, 2 * 4 * 8 * 27 * 8, 1 << 30):  # one image per product, two, all at once
        monkeypatch.setattr(nn, "IM2COL_CHUNK_BYTES", budget)
        np.testing.assert_allclose(ops.conv2d(x, w, stride=(2, 1), padding=1), want, rtol=1e-12, atol=1e-12)


def test_conv2d_1x1_and_whole_image_kernels():
    x = RNG.standard_normal((2, 5, 6, 7)).astype(np.float32)
    w = RNG.standard_normal((3, 5, 1, 1)).astype(np.float32)
    np.testing.assert_allclose(ops.conv2d(x, w), np.einsum("nchw,oc->nohw", x, w[:, :, 0, 0]), rtol=1e-5, atol=1e-5)
    w = RNG.standard_normal((4, 5, 6, 7)).astype(np.float32)  # a dense layer over the whole image
    np.testing.assert_allclose(ops.conv2d(x, w)[:, :, 0, 0], x.reshape(2, -1) @ w.reshape(4, -1).T, rtol=1e-4, atol=1e-4)


def test_conv2d_mixed_dtypes_promote_like_numpy():
    x = RNG.standard_normal((1, 2, 5, 5)).astype(np.float16)
    w = RNG.standard_normal((3, 2, 3, 3)).astype(np.float32)
    assert ops.conv2d(x, w).dtype == np.float32
    assert ops.conv2d(x, w.astype(np.float16), np.zeros(3)).dtype == np.float64


def _straightforward_im2col(x, w, padding):
    """The plain formulation the kernel is measured against: sliding windows, one reshape, one matmul."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    ho, wo = win.shape[2:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
    out = cols @ w.reshape(o, -1).T
    return np.ascontiguousarray(out.reshape(n, ho, wo, o).transpose(0, 3, 1, 2))


def _best_times(fns, repeat: int = 5) -> list[float]:
    """Best wall time of each function, measured interleaved so that both see the same machine load."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


@pytest.mark.slow
def test_conv2d_speed_is_within_3x_of_plain_im2col():
    x = RNG.standard_normal((4, 64, 28, 28)).astype(np.float32)
    w = RNG.standard_normal((64, 64, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(ops.conv2d(x, w, padding=1), _straightforward_im2col(x, w, 1), rtol=1e-3, atol=1e-3)
    ours, plain = _best_times([lambda: ops.conv2d(x, w, padding=1), lambda: _straightforward_im2col(x, w, 1)])
    assert ours < 3 * plain, f"conv2d {ours * 1e3:.1f} ms vs plain im2col {plain * 1e3:.1f} ms"


# -- pools ----------------------------------------------------------------------------------------


def pool_windows(x, kernel, stride, padding, kind):
    """Reference via explicit index arithmetic: for each output cell, the list of real input cells."""
    n, c, h, w = x.shape
    t, left, b, r = padding
    ho = (h + t + b - kernel[0]) // stride[0] + 1
    wo = (w + left + r - kernel[1]) // stride[1] + 1
    out = np.empty((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            cells = [(hh, ww) for hh in range(i * stride[0] - t, i * stride[0] - t + kernel[0])
                     for ww in range(j * stride[1] - left, j * stride[1] - left + kernel[1]) if 0 <= hh < h and 0 <= ww < w]
            vals = np.stack([x[:, :, hh, ww].astype(np.float64) for hh, ww in cells])
            out[:, :, i, j] = vals.max(axis=0) if kind == "max" else vals.sum(axis=0) / len(cells)
    return out


POOL_GRID = list(itertools.product(
    [(2, 2), (3, 3), (3, 2)],
    [None, (1, 1), (2, 3)],
    [(0, 0, 0, 0), (1, 1, 1, 1), (1, 0, 0, 1), (0, 1, 2, 0)],
))


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize(("kernel", "stride", "padding"), POOL_GRID, ids=[f"k{k}-s{s}-p{p}" for k, s, p in POOL_GRID])
def test_pools_with_padding(op, kernel, stride, padding):
    if any(p >= kernel[i % 2] for i, p in enumerate(padding)):
        pytest.skip("padding must be smaller than the kernel")
    x = RNG.standard_normal((2, 3, 7, 8))
    want = pool_windows(x, kernel, stride or kernel, padding, op[:3])
    got = getattr(ops, op)(x, kernel, stride, padding)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    attrs = {"kernel_size": kernel, "stride": stride or kernel, "padding": padding}
    np.testing.assert_allclose(run_graph(op, [x], attrs), want, rtol=1e-12, atol=1e-12)


def test_max_pool_padding_never_wins():
    for dtype in ("float16", "int8", "uint8", "int64"):
        x = (RNG.integers(0, 50, (1, 2, 4, 4)) - (0 if dtype == "uint8" else 100)).astype(dtype)
        got = ops.max_pool2d(x, 3, 2, 1)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, pool_windows(x, (3, 3), (2, 2), (1, 1, 1, 1), "max").astype(dtype))


def test_avg_pool_excludes_padding_from_the_divisor():
    x = np.ones((1, 1, 4, 4), np.float32) * 5
    np.testing.assert_array_equal(ops.avg_pool2d(x, 3, 1, 1), np.full((1, 1, 4, 4), 5, np.float32))
    assert ops.avg_pool2d(x.astype(np.int32), 2).dtype == np.float64  # like np.mean of ints


def test_global_avg_pool_matches_mean():
    x = RNG.standard_normal((3, 4, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(ops.global_avg_pool(x), x.mean(axis=(2, 3), keepdims=True), rtol=1e-6)
    x16 = (RNG.standard_normal((1, 2, 64, 64)) + 100).astype(np.float16)  # would lose digits summed in float16
    want = x16.astype(np.float64).mean(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(ops.global_avg_pool(x16).astype(np.float64), want, rtol=1e-3)
