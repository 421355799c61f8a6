"""The public ops: ``gs.ops.softmax(x, axis=-1)`` and friends.

Each works on NumPy arrays (eager: computed at once) and on traced tensors (a node is added).
One function per catalogue op is generated from its OpDef: inputs come first, then the op's
attributes, by position in their declared order or by keyword. Ops whose Python signature differs
from that rule (lists of inputs, NumPy-style indexing) are written out below the generator.
"""

from __future__ import annotations

import builtins  # the generated ops shadow sum, min, max, abs in this module
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphscope.errors import ShapeError
from graphscope.ir.op_defs.shape import PAD_MODES, expand_dims_axes, squeeze_axes
from graphscope.ir.ops import OpDef, all_ops, get_op, normalize_axis
from graphscope.trace.tensor import Tensor, apply_op


def _make(opdef: OpDef) -> Callable[..., Any]:
    n_in = opdef.arity if isinstance(opdef.arity, int) else None
    attr_names = list(opdef.attrs)

    def op_function(*args: Any, name: str | None = None, **attrs: Any) -> Any:
        inputs, extra = (args[:n_in], args[n_in:]) if n_in is not None else (args, ())
        if len(extra) > len(attr_names):
            raise TypeError(f"{opdef.name}() takes {n_in} inputs and attributes {attr_names}, got {len(args)} arguments")
        for key, value in zip(attr_names, extra):
            if key in attrs:
                raise TypeError(f"{opdef.name}() got attribute '{key}' twice")
            attrs[key] = value
        return apply_op(opdef.name, inputs, attrs, name=name)

    op_function.__name__ = op_function.__qualname__ = opdef.name
    attrs_doc = ", ".join(f"{k}={v!r}" for k, v in opdef.attrs.items())
    op_function.__doc__ = f"{opdef.doc}\n\nInputs: {opdef.arity}; attributes: {attrs_doc or 'none'}."
    return op_function


for _name, _opdef in all_ops().items():
    if _opdef.arity != 0:  # placeholder/constant are made by tracing, not called
        globals()[_name] = _make(_opdef)


def op(name: str, *args: Any, **attrs: Any) -> Any:
    """Apply any catalogue op by name: ``gs.ops.op("gelu", x, approximate="tanh")``."""
    return _make(get_op(name))(*args, **attrs)


# ---------------------------------------------------------------------------------------------
# Hand-written wrappers: NumPy-style arguments, normalized to the canonical attributes the nodes
# store (tuples, non-negative axes, explicit strides and paddings). They replace the generated
# functions of the same name.


def _is_tensor(x: Any) -> bool:
    return isinstance(x, Tensor)


def _operand(x: Any) -> Any:
    """Traced tensors and NumPy arrays pass through; anything else array-like becomes an array."""
    return x if isinstance(x, (Tensor, np.ndarray)) else np.asarray(x)


def _int(value: Any, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or _is_tensor(value):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an int, got {value!r}") from None


def _axis(op_name: str, axis: Any, ndim: int) -> int:
    return normalize_axis(op_name, _int(axis, f"{op_name}(): axis"), ndim)


def _ints(value: Any, n: int, what: str) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints, as an ``n``-tuple."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ShapeError(f"{what} must be one int or {n} ints, got {tuple(value)!r}")
        return tuple(_int(v, what) for v in value)
    return (_int(value, what),) * n


def _padding4(value: Any, what: str) -> tuple[int, ...]:
    """int, (h, w) or (top, left, bottom, right) as (top, left, bottom, right)."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        ph, pw = _ints(value, 2, what)
        return (ph, pw, ph, pw)
    return _ints(value, 4, what)


def conv2d(x: Any, w: Any, bias: Any = None, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
           name: str | None = None) -> Any:
    """2-d convolution of NCHW ``x`` with ``w`` of shape (O, C/groups, kH, kW), plus an optional bias (O,).

    ``stride`` and ``dilation``: an int or (h, w); ``padding``: an int, (h, w) or (top, left, bottom, right).
    """
    inputs = [_operand(x), _operand(w)] + ([] if bias is None else [_operand(bias)])
    attrs = {
        "stride": _ints(stride, 2, "conv2d(): stride"), "padding": _padding4(padding, "conv2d(): padding"),
        "dilation": _ints(dilation, 2, "conv2d(): dilation"), "groups": _int(groups, "conv2d(): groups"),
    }
    return apply_op("conv2d", inputs, attrs, name=name)


def _pool(op_name: str, x: Any, kernel_size: Any, stride: Any, padding: Any, name: str | None) -> Any:
    kernel = _ints(kernel_size, 2, f"{op_name}(): kernel_size")
    attrs = {
        "kernel_size": kernel,
        "stride": kernel if stride is None else _ints(stride, 2, f"{op_name}(): stride"),
        "padding": _padding4(padding, f"{op_name}(): padding"),
    }
    return apply_op(op_name, [_operand(x)], attrs, name=name)


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, *, name: str | None = None) -> Any:
    """Max pooling of NCHW ``x``; ``stride`` defaults to ``kernel_size``; padded cells count as -inf."""
    return _pool("max_pool2d", x, kernel_size, stride, padding, name)


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, *, name: str | None = None) -> Any:
    """Average pooling of NCHW ``x``; padded cells are left out of each window's divisor (ONNX default)."""
    return _pool("avg_pool2d", x, kernel_size, stride, padding, name)


def layer_norm(x: Any, gamma: Any = None, beta: Any = None, *, axis: int = -1, epsilon: float = 1e-5,
               name: str | None = None) -> Any:
    """Normalize over axes ``axis``..ndim-1, then scale by ``gamma`` and shift by ``beta`` (both optional)."""
    x = _operand(x)
    ax = _axis("layer_norm", axis, x.ndim)
    if beta is not None and gamma is None:
        gamma = np.ones(x.shape[ax:], dtype=x.dtype if x.dtype.kind == "f" else np.float64)
    inputs = [x] + [_operand(p) for p in (gamma, beta) if p is not None]
    return apply_op("layer_norm", inputs, {"axis": ax, "epsilon": float(epsilon)}, name=name)


def batch_norm(x: Any, scale: Any, bias: Any, mean: Any, var: Any, *, epsilon: float = 1e-5, name: str | None = None) -> Any:
    """Inference batch normalization over channel axis 1 with running ``mean`` and ``var``."""
    inputs = [_operand(v) for v in (x, scale, bias, mean, var)]
    return apply_op("batch_norm", inputs, {"epsilon": float(epsilon)}, name=name)


def _operands(op_name: str, xs: Any) -> list[Any]:
    if _is_tensor(xs) or isinstance(xs, np.ndarray):
        raise TypeError(f"{op_name}() takes a sequence of arrays (e.g. a list), not one array")
    xs = [_operand(x) for x in xs]
    if not xs:
        raise ShapeError(f"op '{op_name}': needs at least one array")
    return xs


def concat(xs: Sequence[Any], axis: int = 0, *, name: str | None = None) -> Any:
    """numpy.concatenate(xs, axis)."""
    xs = _operands("concat", xs)
    return apply_op("concat", xs, {"axis": _axis("concat", axis, xs[0].ndim)}, name=name)


def stack(xs: Sequence[Any], axis: int = 0, *, name: str | None = None) -> Any:
    """numpy.stack(xs, axis): join along a new axis."""
    xs = _operands("stack", xs)
    return apply_op("stack", xs, {"axis": _axis("stack", axis, xs[0].ndim + 1)}, name=name)


def split(x: Any, indices_or_sections: Any, axis: int = 0, *, name: str | None = None) -> list[Any]:
    """numpy.split: a list of slices of ``x`` along ``axis`` (one getitem node each when traced).

    An int asks for that many equal sections (an error if the axis does not divide); a sequence
    gives the split points.
    """
    x = _operand(x)
    ax = _axis("split", axis, x.ndim)
    n = x.shape[ax]
    if isinstance(indices_or_sections, (list, tuple, np.ndarray)):
        points = [_int(i, "split(): split index") for i in indices_or_sections]
    else:
        sections = _int(indices_or_sections, "split(): number of sections")
        if sections <= 0:
            raise ShapeError(f"op 'split': the number of sections must be positive, got {sections}")
        if n % sections:
            raise ShapeError(f"op 'split': axis {ax} of shape {tuple(x.shape)} has length {n}, which does not divide "
                             f"into {sections} equal sections")
        points = [k * (n // sections) for k in range(1, sections)]
    bounds = [0, *points, n]
    pieces = []
    for k, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        index = (slice(None),) * ax + (slice(start, stop),)
        pieces.append(getitem(x, index, name=None if name is None else f"{name}_{k}"))
    return pieces


def _canonical_slice(s: slice, dim: int) -> tuple:
    """A slice as ("slice", start, stop, step) with concrete bounds, one spelling per selection."""
    step = 1 if s.step is None else _int(s.step, "slice step")
    if step == 0:
        raise ShapeError("op 'getitem': slice step cannot be zero")
    start, stop, step = slice(
        None if s.start is None else _int(s.start, "slice start"), None if s.stop is None else _int(s.stop, "slice stop"), step,
    ).indices(dim)
    count = len(range(start, stop, step))
    if count == 0:
        return ("slice", 0, 0, 1)
    if count == 1:
        step = 1
    stop = builtins.min(start + count * step, dim) if step > 0 else start + count * step
    return ("slice", start, None if stop < 0 else stop, step)


_ADVANCED = (
    "only NumPy basic indexing is supported (ints, slices, None/np.newaxis, Ellipsis); advanced indexing with "
    "arrays, lists, bool masks or traced tensors is not: use gs.ops.gather(x, indices, axis) to select by an index array"
)


def canonical_index(shape: tuple[int, ...], index: Any) -> tuple:
    """Any NumPy basic index as the canonical stored form (see graphscope/ir/op_defs/shape.py)."""
    items = index if isinstance(index, tuple) else (index,)
    for item in items:
        is_int0d = isinstance(item, np.ndarray) and item.ndim == 0 and item.dtype.kind in "iu"
        if item is None or item is Ellipsis or isinstance(item, slice) or is_int0d:
            continue
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
            raise TypeError(f"gs.ops.getitem: index {item!r} of type {type(item).__name__}: {_ADVANCED}")
    if builtins.sum(item is Ellipsis for item in items) > 1:
        raise ShapeError("op 'getitem': an index can only have a single ellipsis ('...')")
    used = builtins.sum(item is not None and item is not Ellipsis for item in items)
    if used > len(shape):
        raise ShapeError(f"op 'getitem': too many indices ({used}) for shape {tuple(shape)}")
    if any(item is Ellipsis for item in items):
        at = next(k for k, i in enumerate(items) if i is Ellipsis)
        items = items[:at] + (slice(None),) * (len(shape) - used) + items[at + 1:]
    out: list[Any] = []
    axis = 0
    for item in items:
        if item is None:
            out.append(None)
            continue
        dim = shape[axis]
        if isinstance(item, slice):
            out.append(_canonical_slice(item, dim))
        else:
            i = _int(item, "index")
            if not -dim <= i < dim:
                raise ShapeError(f"op 'getitem': index {i} is out of bounds for axis {axis} of size {dim} "
                                 f"(shape {tuple(shape)})")
            out.append(i % dim)
        axis += 1
    while out and out[-1] is not None and out[-1] == ("slice", 0, shape[axis - 1], 1):
        out.pop()  # trailing full slices select nothing: x[0, :] is x[0]
        axis -= 1
    return tuple(out)


def getitem(x: Any, index: Any, *, name: str | None = None) -> Any:
    """x[index] for a NumPy basic index (ints, slices with any step, None, Ellipsis, tuples of them)."""
    if _is_tensor(index) or (isinstance(index, tuple) and any(_is_tensor(i) for i in index)):
        raise TypeError(f"gs.ops.getitem: a traced tensor as index: {_ADVANCED}")
    if isinstance(index, (list, np.ndarray)) and not (isinstance(index, np.ndarray) and index.ndim == 0):
        raise TypeError(f"gs.ops.getitem: index of type {type(index).__name__}: {_ADVANCED}")
    x = _operand(x)
    return apply_op("getitem", [x], {"index": canonical_index(tuple(x.shape), index)}, name=name)


def gather(x: Any, indices: Any, axis: int = 0, *, name: str | None = None) -> Any:
    """numpy.take(x, indices, axis): select along ``axis`` by an integer index array."""
    x, indices = _operand(x), _operand(indices)
    if x.ndim == 0:
        raise ShapeError(f"op 'gather': cannot gather from a 0-d operand with indices {tuple(indices.shape)}")
    return apply_op("gather", [x, indices], {"axis": _axis("gather", axis, x.ndim)}, name=name)


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_value: float = 0.0, *, name: str | None = None) -> Any:
    """numpy.pad with mode "constant" (``constant_value``), "edge" or "reflect".

    ``pad_width`` takes NumPy's forms: n, (n,), (before, after), ((before, after),) or one pair per axis.
    """
    x = _operand(x)
    if _is_tensor(pad_width):
        raise TypeError("pad(): pad_width must be static ints, not a traced tensor")
    try:
        widths = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2))
    except ValueError:
        raise ShapeError(f"op 'pad': pad_width {pad_width!r} does not fit an operand of shape {tuple(x.shape)}: give n, "
                         f"(before, after) or one (before, after) pair per axis") from None
    if widths.dtype.kind not in "iu":
        raise TypeError(f"pad(): pad_width must be ints, got {pad_width!r}")
    if (widths < 0).any():
        raise ShapeError(f"op 'pad': pad_width {pad_width!r} has a negative width")
    if mode not in PAD_MODES:
        raise ShapeError(f"op 'pad': mode must be one of {PAD_MODES}, got {mode!r}")
    if mode != "constant" and constant_value != 0:
        raise ShapeError(f"op 'pad': constant_value applies to mode 'constant' only, not {mode!r}")
    attrs = {
        "pad_width": tuple((int(b), int(a)) for b, a in widths), "mode": mode,
        "constant_value": float(constant_value) if mode == "constant" else 0.0,
    }
    return apply_op("pad", [x], attrs, name=name)


def _shape_arg(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (list, tuple)):
        return tuple(_int(d, "shape entry") for d in shape)
    return (_int(shape, "shape"),)


def broadcast_to(x: Any, shape: Any, *, name: str | None = None) -> Any:
    """numpy.broadcast_to(x, shape) (a read-only view when run eagerly)."""
    return apply_op("broadcast_to", [_operand(x)], {"shape": _shape_arg(shape)}, name=name)


def expand_dims(x: Any, axis: Any, *, name: str | None = None) -> Any:
    """numpy.expand_dims(x, axis) with an int or a tuple of axes."""
    x = _operand(x)
    axes = _ints(axis, len(axis), "expand_dims(): axis") if isinstance(axis, (list, tuple)) else _int(axis, "expand_dims(): axis")
    new = expand_dims_axes(axes, x.ndim)
    return apply_op("expand_dims", [x], {"axis": new[0] if isinstance(axes, int) else new}, name=name)


def squeeze(x: Any, axis: Any = None, *, name: str | None = None) -> Any:
    """numpy.squeeze(x, axis): remove size-1 axes (all of them when ``axis`` is None)."""
    x = _operand(x)
    if axis is None:
        canonical: Any = None
    elif isinstance(axis, (list, tuple)):
        canonical = squeeze_axes(tuple(x.shape), tuple(_int(a, "squeeze(): axis") for a in axis))
    else:
        canonical = squeeze_axes(tuple(x.shape), _int(axis, "squeeze(): axis"))[0]
    return apply_op("squeeze", [x], {"axis": canonical}, name=name)


def _scalar_bound(value: Any) -> bool:
    return value is None or isinstance(value, (int, float, np.generic)) or (isinstance(value, np.ndarray) and value.ndim == 0)


def clip(x: Any, min: Any = None, max: Any = None, *, name: str | None = None) -> Any:  # noqa: A002 - NumPy's names
    """numpy.clip(x, min, max). Scalar bounds make one clip node; array bounds become maximum/minimum."""
    x = _operand(x)
    if _scalar_bound(min) and _scalar_bound(max):
        lo = None if min is None else np.asarray(min).item()
        hi = None if max is None else np.asarray(max).item()
        return apply_op("clip", [x], {"min": lo, "max": hi}, name=name)
    out = x if min is None else apply_op("maximum", [x, _operand(min)])
    return out if max is None else apply_op("minimum", [out, _operand(max)], name=name)


def einsum(equation: str, *operands: Any, name: str | None = None) -> Any:
    """numpy.einsum(equation, *operands) with a string equation."""
    if not isinstance(equation, str):
        raise TypeError("einsum(): the first argument must be the equation string (the interleaved form is not supported)")
    return apply_op("einsum", [_operand(o) for o in operands], {"equation": equation.replace(" ", "")}, name=name)


_NOT_OPS = {
    "annotations", "Any", "Callable", "OpDef", "Sequence", "all_ops", "get_op", "apply_op", "np", "operator", "builtins",
    "ShapeError",
    "Tensor", "normalize_axis", "PAD_MODES", "expand_dims_axes", "squeeze_axes", "canonical_index",
}
__all__ = sorted(n for n in globals() if not n.startswith("_") and n not in _NOT_OPS)
