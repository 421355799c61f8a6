"""Shape and data-movement ops: reshape transpose expand_dims squeeze broadcast_to getitem (views), concat
stack gather pad (copies).

Attributes are stored canonical (non-negative axes where the wrapper in ``graphscope.ops`` knows the
rank, tuples, ints), but every shape rule also accepts the looser forms NumPy accepts (negative axes,
an int for a 1-tuple), so a node made by hand with ``Graph.add_node`` behaves like NumPy too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphscope.errors import ShapeError
from graphscope.ir.ops import REQUIRED, VIEW, OpDef, normalize_axis, register_op
from graphscope.ir.spec import TensorSpec


def _move_cost(specs, out, attrs):
    """A copying op reads its inputs once and writes its output once."""
    return 0, sum(s.nbytes for s in specs), out.nbytes


def _view_cost(specs, out, attrs):
    return 0, 0, 0  # a view moves no data (a copy, when NumPy must make one, is rare here)


def _shapes(specs: Sequence[TensorSpec]) -> str:
    return " and ".join(str(s.shape) for s in specs)


# -- reshape / transpose ------------------------------------------------------------------------


def _reshape(xp, x, shape):
    return xp.reshape(x, shape)


def _infer_reshape(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    x, shape = specs[0], list(attrs["shape"])
    if shape.count(-1) > 1:
        raise ShapeError(f"op 'reshape': at most one -1 in {tuple(shape)}")
    known = 1
    for d in shape:
        if d != -1:
            if d < 0:
                raise ShapeError(f"op 'reshape': negative dimension in {tuple(shape)}")
            known *= d
    if -1 in shape:
        if known == 0 or x.size % known:
            raise ShapeError(f"op 'reshape': cannot reshape {x.shape} into {tuple(shape)}")
        shape[shape.index(-1)] = x.size // known
    elif known != x.size:
        raise ShapeError(f"op 'reshape': cannot reshape {x.shape} ({x.size} elements) into {tuple(shape)}")
    return TensorSpec(tuple(shape), x.dtype)


register_op(OpDef(
    name="reshape", arity=1, infer=_infer_reshape, impl=_reshape, attrs={"shape": REQUIRED},
    cost=_view_cost, groups=frozenset({VIEW}), doc="numpy.reshape(x, shape)",
))


def _transpose(xp, x, perm=None):
    return xp.transpose(x, perm)


def _infer_transpose(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    x, perm = specs[0], attrs["perm"]
    if perm is None:
        perm = tuple(reversed(range(x.ndim)))
    perm = tuple(normalize_axis("transpose", p, x.ndim) for p in perm)
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"op 'transpose': {attrs['perm']} is not a permutation of the axes of {x.shape}")
    return TensorSpec(tuple(x.shape[p] for p in perm), x.dtype)


register_op(OpDef(
    name="transpose", arity=1, infer=_infer_transpose, impl=_transpose, attrs={"perm": None},
    cost=_view_cost, groups=frozenset({VIEW}), doc="numpy.transpose(x, perm)",
))


# -- expand_dims / squeeze / broadcast_to -------------------------------------------------------


def _axes_tuple(op: str, axis: Any) -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise ShapeError(f"op '{op}': axis must be an int or a tuple of ints, got {axis!r}")
    return axes


def expand_dims_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """The sorted non-negative positions of the new axes in the output (raises ShapeError)."""
    axes = _axes_tuple("expand_dims", axis)
    out_ndim = ndim + len(axes)
    norm = sorted({normalize_axis("expand_dims", a, out_ndim) for a in axes})
    if len(norm) != len(axes):
        raise ShapeError(f"op 'expand_dims': repeated axis in {axis!r}")
    return tuple(norm)


def _expand_dims(xp, x, axis):
    return xp.expand_dims(x, axis)


def _infer_expand_dims(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    x = specs[0]
    new = expand_dims_axes(attrs["axis"], x.ndim)
    dims = iter(x.shape)
    shape = tuple(1 if i in new else next(dims) for i in range(x.ndim + len(new)))
    return TensorSpec(shape, x.dtype)


register_op(OpDef(
    name="expand_dims", arity=1, infer=_infer_expand_dims, impl=_expand_dims, attrs={"axis": REQUIRED},
    cost=_view_cost, groups=frozenset({VIEW}), doc="numpy.expand_dims(x, axis): insert size-1 axes",
))


def squeeze_axes(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """The sorted non-negative axes that squeeze removes (raises ShapeError on a non-1 axis)."""
    if axis is None:
        return tuple(i for i, d in enumerate(shape) if d == 1)
    axes = _axes_tuple("squeeze", axis)
    norm = sorted({normalize_axis("squeeze", a, len(shape)) for a in axes})
    if len(norm) != len(axes):
        raise ShapeError(f"op 'squeeze': repeated axis in {axis!r}")
    bad = [a for a in norm if shape[a] != 1]
    if bad:
        raise ShapeError(f"op 'squeeze': cannot squeeze axis {bad[0]} of shape {shape}: its size is {shape[bad[0]]}, not 1")
    return tuple(norm)


def _squeeze(xp, x, axis=None):
    return xp.squeeze(x, axis)


def _infer_squeeze(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    x = specs[0]
    gone = squeeze_axes(x.shape, attrs["axis"])
    return TensorSpec(tuple(d for i, d in enumerate(x.shape) if i not in gone), x.dtype)


register_op(OpDef(
    name="squeeze", arity=1, infer=_infer_squeeze, impl=_squeeze, attrs={"axis": None},
    cost=_view_cost, groups=frozenset({VIEW}), doc="numpy.squeeze(x, axis): remove size-1 axes",
))


def _broadcast_to(xp, x, shape):
    return xp.broadcast_to(x, shape)


def _infer_broadcast_to(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    x, shape = specs[0], attrs["shape"]
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(not isinstance(d, int) or d < 0 for d in shape):
        raise ShapeError(f"op 'broadcast_to': shape {shape} must be non-negative ints")
    ok = len(shape) >= x.ndim and all(d in (1, t) for d, t in zip(reversed(x.shape), reversed(shape)))
    if not ok:
        raise ShapeError(f"op 'broadcast_to': cannot broadcast shape {x.shape} to {shape}")
    return TensorSpec(shape, x.dtype)


register_op(OpDef(
    name="broadcast_to", arity=1, infer=_infer_broadcast_to, impl=_broadcast_to, attrs={"shape": REQUIRED},
    cost=_view_cost, groups=frozenset({VIEW}), doc="numpy.broadcast_to(x, shape) (a read-only view)",
))


# -- getitem (basic indexing) -------------------------------------------------------------------
#
# The index is stored as a tuple whose items are: an int (select one position, drop the axis),
# ("slice", start, stop, step) with None allowed as in Python, or None (np.newaxis). Ellipsis is
# expanded by graphscope.ops.getitem, so a stored index never holds one.


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def getitem_shape(op: str, shape: tuple[int, ...], index: Any) -> tuple[int, ...]:
    if not isinstance(index, tuple):
        raise ShapeError(f"op '{op}': index must be a tuple of ints, ('slice', start, stop, step) and None, got {index!r}")
    used = sum(1 for item in index if item is not None)
    if used > len(shape):
        raise ShapeError(f"op '{op}': too many indices ({used}) for shape {shape}")
    out: list[int] = []
    axis = 0
    for item in index:
        if item is None:
            out.append(1)
            continue
        dim = shape[axis]
        if _is_int(item):
            if not -dim <= item < dim:
                raise ShapeError(f"op '{op}': index {item} is out of bounds for axis {axis} of size {dim} (shape {shape})")
        elif isinstance(item, tuple) and len(item) == 4 and item[0] == "slice":
            parts = item[1:]
            if not all(p is None or _is_int(p) for p in parts):
                raise ShapeError(f"op '{op}': slice bounds must be ints or None, got {item!r}")
            if parts[2] == 0:
                raise ShapeError(f"op '{op}': slice step cannot be zero ({item!r})")
            out.append(len(range(*slice(*parts).indices(dim))))
        else:
            raise ShapeError(f"op '{op}': unsupported index item {item!r} (basic indexing only: int, slice, None)")
        axis += 1
    return tuple(out) + tuple(shape[axis:])


def index_to_python(index: tuple) -> tuple:
    """The stored index as a Python index (slices back to ``slice`` objects)."""
    return tuple(slice(*item[1:]) if isinstance(item, tuple) else item for item in index)


def _getitem(xp, x, index):
    # The trailing Ellipsis makes NumPy return a 0-d array (not a scalar) when every axis is indexed.
    return x[index_to_python(index) + (Ellipsis,)]


def _infer_getitem(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    x = specs[0]
    return TensorSpec(getitem_shape("getitem", x.shape, attrs["index"]), x.dtype)


register_op(OpDef(
    name="getitem", arity=1, infer=_infer_getitem, impl=_getitem, attrs={"index": REQUIRED},
    cost=_view_cost, groups=frozenset({VIEW}),
    doc="x[index] with NumPy basic indexing (ints, slices, newaxis)",
))


# -- concat / stack -----------------------------------------------------------------------------


def _result_dtype(op: str, specs: Sequence[TensorSpec]) -> np.dtype:
    try:
        return np.result_type(*(s.dtype for s in specs))
    except TypeError as exc:  # pragma: no cover - every supported dtype pair promotes
        raise ShapeError(f"op '{op}': dtypes {[s.dtype.name for s in specs]} do not promote: {exc}") from None


def _concat(xp, *arrays, axis=0):
    return xp.concatenate(arrays, axis=axis)


def _infer_concat(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    first = specs[0]
    if first.ndim == 0:
        raise ShapeError("op 'concat': zero-dimensional operands cannot be concatenated")
    axis = normalize_axis("concat", attrs["axis"], first.ndim)
    total = 0
    for s in specs:
        if s.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(s.shape, first.shape)) if i != axis):
            raise ShapeError(
                f"op 'concat': shapes {first.shape} and {s.shape} differ outside the concatenation axis {axis}"
            )
        total += s.shape[axis]
    shape = first.shape[:axis] + (total,) + first.shape[axis + 1:]
    return TensorSpec(shape, _result_dtype("concat", specs))


register_op(OpDef(
    name="concat", arity=(1, None), infer=_infer_concat, impl=_concat, attrs={"axis": 0},
    cost=_move_cost, doc="numpy.concatenate(inputs, axis)",
))


def _stack(xp, *arrays, axis=0):
    return xp.stack(arrays, axis=axis)


def _infer_stack(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    first = specs[0]
    for s in specs:
        if s.shape != first.shape:
            raise ShapeError(f"op 'stack': all inputs must have the same shape, got {first.shape} and {s.shape}")
    axis = normalize_axis("stack", attrs["axis"], first.ndim + 1)
    shape = first.shape[:axis] + (len(specs),) + first.shape[axis:]
    return TensorSpec(shape, _result_dtype("stack", specs))


register_op(OpDef(
    name="stack", arity=(1, None), infer=_infer_stack, impl=_stack, attrs={"axis": 0},
    cost=_move_cost, doc="numpy.stack(inputs, axis): join along a new axis",
))


# -- gather -------------------------------------------------------------------------------------


def _gather(xp, x, indices, axis=0):
    return xp.take(x, indices, axis=axis)


def _infer_gather(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    x, idx = specs
    if idx.dtype.kind not in "iu":
        raise ShapeError(f"op 'gather': indices must be integers, got {idx.dtype.name} (indices shape {idx.shape})")
    if x.ndim == 0:
        raise ShapeError(f"op 'gather': cannot gather from a 0-d operand {x.shape} with indices {idx.shape}")
    axis = normalize_axis("gather", attrs["axis"], x.ndim)
    if x.shape[axis] == 0 and idx.size:
        raise ShapeError(f"op 'gather': cannot take indices {idx.shape} from the empty axis {axis} of {x.shape}")
    return TensorSpec(x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype)


def _gather_cost(specs, out, attrs):
    return 0, specs[1].nbytes + out.nbytes, out.nbytes  # reads only the gathered rows


register_op(OpDef(
    name="gather", arity=2, infer=_infer_gather, impl=_gather, attrs={"axis": 0},
    cost=_gather_cost, doc="numpy.take(x, indices, axis)",
))


# -- pad ----------------------------------------------------------------------------------------

PAD_MODES = ("constant", "edge", "reflect")


def _pad(xp, x, pad_width, mode="constant", constant_value=0.0):
    if mode == "constant":
        return xp.pad(x, pad_width, mode="constant", constant_values=constant_value)
    return xp.pad(x, pad_width, mode=mode)


def _infer_pad(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    x, pw, mode = specs[0], attrs["pad_width"], attrs["mode"]
    if mode not in PAD_MODES:
        raise ShapeError(f"op 'pad': mode must be one of {PAD_MODES}, got {mode!r}")
    ok = isinstance(pw, tuple) and len(pw) == x.ndim and all(
        isinstance(p, tuple) and len(p) == 2 and all(_is_int(v) and v >= 0 for v in p) for p in pw
    )
    if not ok:
        raise ShapeError(
            f"op 'pad': pad_width must hold one (before, after) pair of non-negative ints per axis of {x.shape}, got {pw!r}"
        )
    for axis, ((before, after), dim) in enumerate(zip(pw, x.shape)):
        if mode != "constant" and dim == 0 and (before or after):
            raise ShapeError(f"op 'pad': cannot pad the empty axis {axis} of {x.shape} with mode '{mode}'")
    return TensorSpec(tuple(d + b + a for d, (b, a) in zip(x.shape, pw)), x.dtype)


register_op(OpDef(
    name="pad", arity=1, infer=_infer_pad, impl=_pad,
    attrs={"pad_width": REQUIRED, "mode": "constant", "constant_value": 0.0},
    cost=_move_cost, doc="numpy.pad(x, pad_width, mode) with mode constant, edge or reflect",
))
