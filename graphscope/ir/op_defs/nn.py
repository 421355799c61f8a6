"""Neural-network ops: softmax log_softmax layer_norm batch_norm conv2d max_pool2d avg_pool2d global_avg_pool.

Implementations are written against the array module ``xp`` (NumPy or CuPy) and use only functions
both provide. Layouts are NCHW as in ONNX. Integer inputs follow NumPy's own dtype rules: what
``np.exp`` gives for softmax-like ops, what ``np.mean`` gives for normalizations and averages;
float16 is computed in float32 and rounded once at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphscope.errors import ShapeError
from graphscope.ir.ops import REQUIRED, OpDef, normalize_axis, probe_dtype, register_op
from graphscope.ir.spec import TensorSpec

# -- dtype helpers ------------------------------------------------------------------------------


def exp_dtype(dtype: Any) -> np.dtype:
    """The dtype ``np.exp`` returns for this input dtype (the smallest float that holds it)."""
    dt = np.dtype(dtype)
    return dt if dt.kind == "f" else np.promote_types(dt, np.float16)


def mean_dtype(dtype: Any) -> np.dtype:
    """The dtype ``np.mean`` returns for this input dtype (float64 for ints and bools)."""
    dt = np.dtype(dtype)
    return dt if dt.kind == "f" else np.dtype(np.float64)


def compute_dtype(dtype: Any) -> np.dtype:
    """The dtype to compute in: float16 is widened to float32 for accuracy (and speed on CPUs)."""
    dt = np.dtype(dtype)
    return np.dtype(np.float32) if dt == np.float16 else dt


def _infer_same(name: str):
    def infer(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
        if "axis" in attrs and attrs["axis"] is not None:
            normalize_axis(name, attrs["axis"], specs[0].ndim)
        return TensorSpec(specs[0].shape, probe_dtype(name, specs, attrs))

    return infer


# -- softmax / log_softmax ----------------------------------------------------------------------


def _shifted(xp, x, axis):
    """x - max(x) along axis, as a new float array in the compute dtype."""
    out_dt = exp_dtype(x.dtype)
    x = x.astype(compute_dtype(out_dt), copy=False)  # before subtracting: unsigned ints would wrap
    return xp.subtract(x, xp.max(x, axis=axis, keepdims=True)), out_dt


def _softmax(xp, x, axis=-1):
    e, out_dt = _shifted(xp, x, axis)
    xp.exp(e, out=e)
    e /= xp.sum(e, axis=axis, keepdims=True)
    return e.astype(out_dt, copy=False)


register_op(OpDef(
    name="softmax", arity=1, infer=_infer_same("softmax"), impl=_softmax, attrs={"axis": -1},
    flops_per_element=5,
    cost=lambda specs, out, attrs: (5 * out.size, specs[0].nbytes, out.nbytes),
    doc="exp(x - max) / sum(exp(x - max)) along axis",
))


def _log_softmax(xp, x, axis=-1):
    s, out_dt = _shifted(xp, x, axis)
    s -= xp.log(xp.sum(xp.exp(s), axis=axis, keepdims=True))
    return s.astype(out_dt, copy=False)


register_op(OpDef(
    name="log_softmax", arity=1, infer=_infer_same("log_softmax"), impl=_log_softmax, attrs={"axis": -1},
    flops_per_element=6,
    cost=lambda specs, out, attrs: (6 * out.size, specs[0].nbytes, out.nbytes),
    doc="x - max - log(sum(exp(x - max))) along axis",
))


# -- layer_norm / batch_norm --------------------------------------------------------------------


def _norm_dtypes(xp, arrays) -> tuple[np.dtype, np.dtype]:
    out_dt = mean_dtype(xp.result_type(*arrays))
    return out_dt, compute_dtype(out_dt)


def _layer_norm(xp, x, *params, axis=-1, epsilon=1e-5):
    out_dt, dt = _norm_dtypes(xp, (x, *params))
    axes = tuple(range(axis % x.ndim if x.ndim else 0, x.ndim))
    xc = x.astype(dt, copy=False)
    d = xc - xp.mean(xc, axis=axes, keepdims=True)
    var = xp.mean(xp.square(d), axis=axes, keepdims=True)
    var += epsilon
    d *= xp.reciprocal(xp.sqrt(var, out=var), out=var)
    if len(params) >= 1:
        d *= params[0].astype(dt, copy=False)
    if len(params) == 2:
        d += params[1].astype(dt, copy=False)
    return d.astype(out_dt, copy=False)


def _infer_layer_norm(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    x = specs[0]
    if x.ndim == 0:
        raise ShapeError(f"op 'layer_norm': the input must be at least 1-d, got shape {x.shape}")
    axis = normalize_axis("layer_norm", attrs["axis"], x.ndim)
    inner = x.shape[axis:]
    if 0 in inner:
        raise ShapeError(f"op 'layer_norm': cannot normalize over the empty axes {inner} of {x.shape}")
    for label, p in zip(("gamma", "beta"), specs[1:]):
        fits = p.ndim <= len(inner) and all(d in (1, t) for d, t in zip(reversed(p.shape), reversed(inner)))
        if not fits:
            raise ShapeError(
                f"op 'layer_norm': {label} of shape {p.shape} does not broadcast to the normalized axes {inner} "
                f"of input {x.shape} (axis={attrs['axis']})"
            )
    return TensorSpec(x.shape, probe_dtype("layer_norm", specs, attrs))


register_op(OpDef(
    name="layer_norm", arity=(1, 3), infer=_infer_layer_norm, impl=_layer_norm, attrs={"axis": -1, "epsilon": 1e-5},
    flops_per_element=8,
    cost=lambda specs, out, attrs: (8 * out.size, sum(s.nbytes for s in specs), out.nbytes),
    doc="(x - mean) / sqrt(var + epsilon) * gamma + beta over axes axis..ndim-1 (ONNX LayerNormalization)",
))


def _batch_norm(xp, x, scale, bias, mean, var, epsilon=1e-5):
    out_dt, dt = _norm_dtypes(xp, (x, scale, bias, mean, var))
    # Fold into one per-channel affine map, computed in float64 (C values: negligible cost).
    a = scale.astype(np.float64) / xp.sqrt(var.astype(np.float64) + epsilon)
    b = bias.astype(np.float64) - mean.astype(np.float64) * a
    shape = (x.shape[1],) + (1,) * (x.ndim - 2)
    y = x.astype(dt, copy=False) * a.astype(dt).reshape(shape)
    y += b.astype(dt).reshape(shape)
    return y.astype(out_dt, copy=False)


def _infer_batch_norm(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    x = specs[0]
    if x.ndim < 2:
        raise ShapeError(f"op 'batch_norm': the input must be at least 2-d (N, C, ...), got shape {x.shape}")
    for label, p in zip(("scale", "bias", "mean", "var"), specs[1:]):
        if p.shape != (x.shape[1],):
            raise ShapeError(
                f"op 'batch_norm': {label} must have shape ({x.shape[1]},) for input {x.shape} (channel axis 1), got {p.shape}"
            )
    dt = mean_dtype(np.result_type(*(s.dtype for s in specs)))
    return TensorSpec(x.shape, dt)


register_op(OpDef(
    name="batch_norm", arity=5, infer=_infer_batch_norm, impl=_batch_norm, attrs={"epsilon": 1e-5},
    flops_per_element=2,
    cost=lambda specs, out, attrs: (2 * out.size + 4 * specs[1].size, sum(s.nbytes for s in specs), out.nbytes),
    doc="inference batch normalization over channel axis 1: (x - mean) / sqrt(var + epsilon) * scale + bias",
))


# -- convolution and pooling: attribute forms ---------------------------------------------------


def _ints(op: str, label: str, value: Any, n: int, minimum: int) -> tuple[int, ...]:
    vals = (value,) * n if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else None
    if vals is None or len(vals) != n or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in vals):
        raise ShapeError(f"op '{op}': {label} must be {n} ints >= {minimum} (or one int), got {value!r}")
    return vals


def _padding4(op: str, value: Any) -> tuple[int, int, int, int]:
    """Padding as (top, left, bottom, right), from an int, a (h, w) pair or the 4-tuple itself."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        value = (value[0], value[1], value[0], value[1])
    t, left, b, r = _ints(op, "padding (top, left, bottom, right)", value, 4, 0)
    return t, left, b, r


def _out_size(size: int, before: int, after: int, k: int, stride: int, dilation: int = 1) -> int:
    return (size + before + after - dilation * (k - 1) - 1) // stride + 1


def _windows(xp, xpad, i: int, j: int, ho: int, wo: int, stride, dilation=(1, 1)):
    """The (N, C, ho, wo) strided view of the padded input under kernel position (i, j)."""
    sh, sw = stride
    h0, w0 = i * dilation[0], j * dilation[1]
    return xpad[:, :, h0:h0 + sh * (ho - 1) + 1:sh, w0:w0 + sw * (wo - 1) + 1:sw]


def _pad_hw(xp, x, padding, value):
    t, left, b, r = padding
    if not (t or left or b or r):
        return x
    return xp.pad(x, ((0, 0), (0, 0), (t, b), (left, r)), mode="constant", constant_values=value)


# -- conv2d -------------------------------------------------------------------------------------


def _conv_geometry(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]):
    x, w = specs[0], specs[1]
    if x.ndim != 4 or w.ndim != 4:
        raise ShapeError(
            f"op 'conv2d': input must be NCHW (4-d) and weight (O, C/groups, kH, kW) (4-d), got {x.shape} and {w.shape}"
        )
    stride = _ints("conv2d", "stride", attrs["stride"], 2, 1)
    dilation = _ints("conv2d", "dilation", attrs["dilation"], 2, 1)
    padding = _padding4("conv2d", attrs["padding"])
    groups = attrs["groups"]
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ShapeError(f"op 'conv2d': groups must be a positive int, got {groups!r}")
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if c % groups or o % groups or cg * groups != c:
        raise ShapeError(
            f"op 'conv2d': input {x.shape} has {c} channels but weight {w.shape} expects {cg} per group x {groups} "
            f"group(s), and its {o} output channels must divide by groups"
        )
    if len(specs) == 3 and specs[2].shape != (o,):
        raise ShapeError(f"op 'conv2d': bias must have shape ({o},) for weight {w.shape}, got {specs[2].shape}")
    ho = _out_size(h, padding[0], padding[2], kh, stride[0], dilation[0])
    wo = _out_size(wd, padding[1], padding[3], kw, stride[1], dilation[1])
    if ho < 1 or wo < 1:
        raise ShapeError(
            f"op 'conv2d': kernel {w.shape[2:]} (dilation {dilation}) is larger than input {x.shape} padded by {padding}"
        )
    return (n, c, h, wd), (o, cg, kh, kw), stride, padding, dilation, groups, (ho, wo)


def _infer_conv2d(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    (n, *_), (o, *_), *_, (ho, wo) = _conv_geometry(specs, attrs)
    dt = np.result_type(*(s.dtype for s in specs))
    if dt == np.bool_:
        raise ShapeError(f"op 'conv2d' does not accept bool operands ({', '.join(str(s.shape) for s in specs)})")
    return TensorSpec((n, o, ho, wo), dt)


def _conv2d(xp, x, w, bias=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    specs = [TensorSpec(a.shape, a.dtype) for a in (x, w) + (() if bias is None else (bias,))]
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    (n, c, h, wd), (o, cg, kh, kw), stride, padding, dilation, g, (ho, wo) = _conv_geometry(specs, attrs)
    out_dt = xp.result_type(*(a.dtype for a in (x, w) + (() if bias is None else (bias,))))
    dt = compute_dtype(out_dt)
    x = x.astype(dt, copy=False)
    w = w.astype(dt, copy=False)
    if g == 1:
        out = _conv_im2col(xp, x, w, stride, padding, dilation, ho, wo)
    else:
        out = _conv_kernel_loop(xp, x, w, stride, padding, dilation, g, ho, wo)
    if bias is not None:
        out += bias.astype(dt, copy=False).reshape(1, o, 1, 1)
    return out.astype(out_dt, copy=False)


def _conv_kernel_loop(xp, x, w, stride, padding, dilation, g, ho, wo):
    """Grouped convolution: accumulate over kernel positions, (G, O/G, C/G) @ (G, C/G, N*Ho*Wo) each.

    The input is copied once to a padded (C, N, H, W) layout so that each kernel position's window
    flattens to one wide matrix per group. Depthwise convolutions (C/G == 1) need no matrix product.
    """
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og, m = o // g, n * ho * wo
    t, left, b, r = padding
    xt = xp.zeros((c, n, h + t + b, wd + left + r), dtype=x.dtype)
    xt[:, :, t:t + h, left:left + wd] = x.transpose(1, 0, 2, 3)
    wg = w.reshape(g, og, cg, kh, kw)
    acc = xp.zeros((g, og, m), dtype=x.dtype)
    tmp = None if cg == 1 else xp.empty_like(acc)
    for i in range(kh):
        for j in range(kw):
            xs = _windows(xp, xt, i, j, ho, wo, stride, dilation).reshape(g, cg, m)
            if cg == 1:  # depthwise: a broadcast multiply-add, no matrix product needed
                acc += xs * wg[:, :, 0, i, j].reshape(g, og, 1)
            else:
                acc += xp.matmul(wg[:, :, :, i, j], xs, out=tmp)
    return xp.ascontiguousarray(acc.reshape(o, n, ho, wo).transpose(1, 0, 2, 3))


IM2COL_CHUNK_BYTES = 64 << 20  # cap on the gathered columns of one matrix product (images are chunked)


def _conv_im2col(xp, x, w, stride, padding, dilation, ho, wo):
    """Ungrouped convolution as a few large matrix products: (images*Ho*Wo, kH*kW*C) @ (kH*kW*C, O).

    The columns are gathered from a padded NHWC copy of the input (contiguous runs of C), a chunk of
    images at a time so that the gathered columns stay under IM2COL_CHUNK_BYTES. One large product
    per chunk keeps BLAS efficient and its calls few (many small calls stall when cores are busy).
    """
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    t, left, b, r = padding
    k = kh * kw * c
    xh = xp.zeros((n, h + t + b, wd + left + r, c), dtype=x.dtype)
    xh[:, t:t + h, left:left + wd, :] = x.transpose(0, 2, 3, 1)
    s0, s1, s2, s3 = xh.strides
    windows = xp.lib.stride_tricks.as_strided(
        xh, (n, ho, wo, kh, kw, c),
        (s0, s1 * stride[0], s2 * stride[1], s1 * dilation[0], s2 * dilation[1], s3),
    )
    wm = w.transpose(2, 3, 1, 0).reshape(k, o)
    out = xp.empty((n, ho, wo, o), dtype=x.dtype)
    step = max(1, IM2COL_CHUNK_BYTES // max(1, ho * wo * k * x.dtype.itemsize))
    for i in range(0, n, step):
        cols = windows[i:i + step].reshape(-1, k)  # the gather (a copy)
        xp.matmul(cols, wm, out=out[i:i + step].reshape(-1, o))
    return xp.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _cost_conv2d(specs, out, attrs):
    n, o, ho, wo = out.shape
    _, cg, kh, kw = specs[1].shape
    flops = 2 * n * o * ho * wo * cg * kh * kw + (out.size if len(specs) == 3 else 0)
    return flops, sum(s.nbytes for s in specs), out.nbytes


register_op(OpDef(
    name="conv2d", arity=(2, 3), infer=_infer_conv2d, impl=_conv2d,
    attrs={"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1},
    cost=_cost_conv2d,
    doc="2-d convolution (cross-correlation), x NCHW, w (O, C/groups, kH, kW), optional bias (O,); "
        "padding (top, left, bottom, right)",
))


# -- pooling ------------------------------------------------------------------------------------


def _pool_geometry(op: str, x: TensorSpec, attrs: Mapping[str, Any]):
    if x.ndim != 4:
        raise ShapeError(f"op '{op}': input must be NCHW (4-d), got shape {x.shape}")
    kernel = _ints(op, "kernel_size", attrs["kernel_size"], 2, 1)
    stride = kernel if attrs["stride"] is None else _ints(op, "stride", attrs["stride"], 2, 1)
    padding = _padding4(op, attrs["padding"])
    if any(p >= kernel[k % 2] for k, p in enumerate(padding)):
        raise ShapeError(f"op '{op}': padding {padding} must be smaller than the kernel {kernel} on each side")
    ho = _out_size(x.shape[2], padding[0], padding[2], kernel[0], stride[0])
    wo = _out_size(x.shape[3], padding[1], padding[3], kernel[1], stride[1])
    if ho < 1 or wo < 1:
        raise ShapeError(f"op '{op}': kernel {kernel} is larger than input {x.shape} padded by {padding}")
    return kernel, stride, padding, (ho, wo)


def _lowest(dtype: np.dtype) -> Any:
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind == "b":
        return False
    return np.iinfo(dtype).min


def _max_pool2d(xp, x, kernel_size, stride=None, padding=(0, 0, 0, 0)):
    (kh, kw), stride, padding, (ho, wo) = _pool_geometry("max_pool2d", TensorSpec(x.shape, x.dtype), {
        "kernel_size": kernel_size, "stride": stride, "padding": padding})
    xpad = _pad_hw(xp, x, padding, _lowest(x.dtype))
    out = None
    for i in range(kh):
        for j in range(kw):
            xs = _windows(xp, xpad, i, j, ho, wo, stride)
            out = xs.copy() if out is None else xp.maximum(out, xs, out=out)
    return out


def _avg_pool2d(xp, x, kernel_size, stride=None, padding=(0, 0, 0, 0)):
    (kh, kw), stride, padding, (ho, wo) = _pool_geometry("avg_pool2d", TensorSpec(x.shape, x.dtype), {
        "kernel_size": kernel_size, "stride": stride, "padding": padding})
    out_dt = mean_dtype(x.dtype)
    xpad = _pad_hw(xp, x.astype(compute_dtype(out_dt), copy=False), padding, 0)
    out = None
    for i in range(kh):
        for j in range(kw):
            xs = _windows(xp, xpad, i, j, ho, wo, stride)
            out = xs.copy() if out is None else xp.add(out, xs, out=out)
    t, left, _, _ = padding
    if any(padding):  # count_include_pad=False: divide by the number of real cells under each window
        h, w = x.shape[2:]
        hs = xp.arange(ho) * stride[0] - t
        ws = xp.arange(wo) * stride[1] - left
        rows = xp.minimum(hs + kh, h) - xp.maximum(hs, 0)
        cols = xp.minimum(ws + kw, w) - xp.maximum(ws, 0)
        out /= (rows[:, None] * cols[None, :]).astype(out.dtype)
    else:
        out /= kh * kw
    return out.astype(out_dt, copy=False)


def _pool_infer(op: str, dtype_rule):
    def infer(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
        x = specs[0]
        _, _, _, (ho, wo) = _pool_geometry(op, x, attrs)
        return TensorSpec((x.shape[0], x.shape[1], ho, wo), dtype_rule(x.dtype))

    return infer


def _pool_cost(extra: int):
    def cost(specs, out, attrs):
        kh, kw = _ints("pool", "kernel_size", attrs["kernel_size"], 2, 1)
        return out.size * (kh * kw - 1 + extra), specs[0].nbytes, out.nbytes

    return cost


_POOL_ATTRS = {"kernel_size": REQUIRED, "stride": None, "padding": (0, 0, 0, 0)}

register_op(OpDef(
    name="max_pool2d", arity=1, infer=_pool_infer("max_pool2d", np.dtype), impl=_max_pool2d, attrs=_POOL_ATTRS,
    cost=_pool_cost(0), doc="2-d max pooling over NCHW windows; padded cells are -inf",
))
register_op(OpDef(
    name="avg_pool2d", arity=1, infer=_pool_infer("avg_pool2d", mean_dtype), impl=_avg_pool2d, attrs=_POOL_ATTRS,
    cost=_pool_cost(1), doc="2-d average pooling over NCHW windows; padded cells are not counted (count_include_pad=False)",
))


def _global_avg_pool(xp, x):
    _infer_global_avg_pool([TensorSpec(x.shape, x.dtype)], {})  # a 2-d input would silently average nothing
    out_dt = mean_dtype(x.dtype)
    return xp.mean(x, axis=tuple(range(2, x.ndim)), keepdims=True, dtype=compute_dtype(out_dt)).astype(out_dt, copy=False)


def _infer_global_avg_pool(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    x = specs[0]
    if x.ndim < 3 or 0 in x.shape[2:]:
        raise ShapeError(f"op 'global_avg_pool': input must be (N, C, H, W, ...) with non-empty spatial axes, got {x.shape}")
    return TensorSpec(x.shape[:2] + (1,) * (x.ndim - 2), mean_dtype(x.dtype))


register_op(OpDef(
    name="global_avg_pool", arity=1, infer=_infer_global_avg_pool, impl=_global_avg_pool,
    cost=lambda specs, out, attrs: (specs[0].size, specs[0].nbytes, out.nbytes),
    doc="mean over the spatial axes: (N, C, H, W) -> (N, C, 1, 1)",
))
