"""Traced tensors and the one function every op goes through (``apply_op``).

Inside ``@gs.function`` the arguments become ``Tensor`` objects. Operators, methods and NumPy's
protocols (``__array_ufunc__``, ``__array_function__``) on a Tensor add nodes to the graph being
traced instead of computing. Outside a trace the same ops run at once on NumPy arrays (eager mode).

Anything the tracer cannot follow (``if`` on a traced value, ``float(t)``, ``np.asarray(t)``, item
assignment, an ndarray method graphscope has no op for) raises a TracingError that names the
user's file and line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from graphscope.errors import GraphscopeError, ShapeError, TracingError
from graphscope.ir.graph import Graph, Node
from graphscope.ir.ops import get_op
from graphscope.trace import device as _device
from graphscope.trace.context import Trace, _state, current_scope
from graphscope.trace.source import user_source

_PY_SCALARS = (bool, int, float)
_ARRAYS = (np.ndarray, np.generic)
# Comparisons accept Python ints outside the other operand's range (np.int8(1) < 1000 is True).
_COMPARISONS = frozenset({"equal", "not_equal", "less", "less_equal", "greater", "greater_equal"})

# Observers of eager op calls: fn(op, name_scope, output, start_ns, end_ns, inputs, attrs).
# The embedded profiler subscribes.
eager_observers: list[Callable[..., None]] = []


class UnsupportedAttributeError(TracingError, AttributeError):
    """An ndarray attribute or method that traced tensors do not have (also an AttributeError)."""


class Tensor:
    """A symbolic value in a graph being traced. Shapes and dtypes are static and known."""

    __slots__ = ("node", "graph")
    __array_priority__ = 1000  # NumPy defers binary operators to us

    def __init__(self, node: Node, graph: Graph) -> None:
        self.node = node
        self.graph = graph

    # -- static facts -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.node.spec.shape

    @property
    def dtype(self) -> np.dtype:
        return self.node.spec.dtype

    @property
    def ndim(self) -> int:
        return len(self.node.spec.shape)

    @property
    def size(self) -> int:
        return self.node.spec.size

    @property
    def itemsize(self) -> int:
        return self.node.spec.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.node.spec.nbytes

    @property
    def name(self) -> str:
        return self.node.name

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d traced tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<traced {self.node.spec.short()} %{self.node.id} {self.node.op} '{self.node.name}'>"

    __hash__ = object.__hash__  # __eq__ builds a node, so hashing must stay identity-based

    def __format__(self, spec: str) -> str:
        if spec:
            raise _untraceable(f"formatting the value of a traced tensor (format spec {spec!r}): its value is not "
                               "known while tracing; print(t) shows its shape and dtype")
        return repr(self)

    def __copy__(self) -> Tensor:
        return self  # traced values are immutable

    def __deepcopy__(self, memo: dict) -> Tensor:
        return self

    # -- operators ----------------------------------------------------------------------------
    # There is no __iadd__ & co: ``x += 1`` rebinds x to the functional ``x + 1``, as for tuples.
    def __add__(self, other): return _binary("add", self, other)
    def __radd__(self, other): return _binary("add", other, self)
    def __sub__(self, other): return _binary("sub", self, other)
    def __rsub__(self, other): return _binary("sub", other, self)
    def __mul__(self, other): return _binary("mul", self, other)
    def __rmul__(self, other): return _binary("mul", other, self)
    def __truediv__(self, other): return _binary("div", self, other)
    def __rtruediv__(self, other): return _binary("div", other, self)
    def __floordiv__(self, other): return _binary("floordiv", self, other)
    def __rfloordiv__(self, other): return _binary("floordiv", other, self)
    def __mod__(self, other): return _binary("mod", self, other)
    def __rmod__(self, other): return _binary("mod", other, self)
    def __pow__(self, other): return _binary("pow", self, other)
    def __rpow__(self, other): return _binary("pow", other, self)
    def __matmul__(self, other): return _binary("matmul", self, other)
    def __rmatmul__(self, other): return _binary("matmul", other, self)
    def __neg__(self): return apply_op("neg", [self])
    def __pos__(self): return self
    def __abs__(self): return apply_op("abs", [self])
    def __lt__(self, other): return _binary("less", self, other)
    def __le__(self, other): return _binary("less_equal", self, other)
    def __gt__(self, other): return _binary("greater", self, other)
    def __ge__(self, other): return _binary("greater_equal", self, other)
    def __eq__(self, other): return _binary("equal", self, other)  # type: ignore[override]
    def __ne__(self, other): return _binary("not_equal", self, other)  # type: ignore[override]

    def __and__(self, other): return _logical("logical_and", "&", self, other)
    def __rand__(self, other): return _logical("logical_and", "&", other, self)
    def __or__(self, other): return _logical("logical_or", "|", self, other)
    def __ror__(self, other): return _logical("logical_or", "|", other, self)
    def __xor__(self, other): return _logical("not_equal", "^", self, other)
    def __rxor__(self, other): return _logical("not_equal", "^", other, self)

    def __invert__(self):
        if self.dtype != np.bool_:
            raise _untraceable(f"~ (bitwise not) on a {self.dtype} traced tensor: only bool tensors are traced (as "
                               "logical not)")
        return apply_op("logical_not", [self])

    # -- conversions the tracer cannot follow ---------------------------------------------------
    def __bool__(self):
        raise _untraceable(
            "using a traced tensor as a Python bool (if/while/and/or/not/assert on a traced value): Python "
            "control flow runs once, at trace time; use np.where(cond, a, b) for a data-dependent choice"
        )

    def __float__(self):
        raise _untraceable("float() of a traced tensor: its value is not known while tracing")

    def __int__(self):
        raise _untraceable("int() of a traced tensor: its value is not known while tracing")

    def __index__(self):
        raise _untraceable("using a traced tensor as a Python int (an index, size or range bound): its value is "
                           "not known while tracing")

    def __complex__(self):
        raise _untraceable("complex() of a traced tensor")

    def __array__(self, dtype=None, copy=None):
        raise _untraceable(
            "np.asarray()/np.array() of a traced tensor (or a NumPy call that converts its arguments): the value "
            "exists only when the graph runs; to combine tensors use np.stack/np.concatenate"
        )

    def item(self, *args):
        raise _untraceable(".item() of a traced tensor: its value is not known while tracing")

    def tolist(self):
        raise _untraceable(".tolist() of a traced tensor: its value is not known while tracing")

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d traced tensor")
        return (self[i] for i in range(self.shape[0]))  # static length: unrolled at trace time

    def __contains__(self, value):
        raise _untraceable("'in' on a traced tensor: its values are not known while tracing")

    def __setitem__(self, index, value):
        raise _untraceable(
            "item assignment on a traced tensor (t[...] = v or t[...] += v): graphs are functional; build a new "
            "value instead, e.g. with np.where(mask, v, t) or np.concatenate"
        )

    def __getattr__(self, name: str):
        # Only reached for attributes Tensor lacks. NumPy probes dunders (__array_interface__ ...)
        # and expects AttributeError for them.
        if not name.startswith("_") and hasattr(np.ndarray, name):
            raise UnsupportedAttributeError(
                f"cannot trace ndarray.{name} on a traced tensor (graphscope has no op for it)"
                + _at(user_source(2))
            )
        raise AttributeError(f"'Tensor' object has no attribute '{name}'")

    # -- NumPy protocols ------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from graphscope.trace.numpy_api import trace_ufunc

        return trace_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from graphscope.trace.numpy_api import trace_array_function

        return trace_array_function(func, args, kwargs)

    # -- methods mirroring ndarray's (the same code as the NumPy functions) ---------------------
    @property
    def T(self) -> Tensor:
        return apply_op("transpose", [self], {"perm": None})

    @property
    def mT(self) -> Tensor:
        if self.ndim < 2:
            raise _untraceable(f".mT of a {self.ndim}-d traced tensor (needs at least 2 dimensions)")
        return _nf().swapaxes(self, -1, -2)

    def reshape(self, *shape, order="C", copy=None):
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = shape[0]
        return _nf().reshape(self, shape, order=order)

    def flatten(self, order="C"):
        return _nf().reshape(self, -1, order=order)

    def ravel(self, order="C"):
        return _nf().reshape(self, -1, order=order)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return _nf().transpose(self, axes or None)

    def swapaxes(self, axis1, axis2):
        return _nf().swapaxes(self, axis1, axis2)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        return _nf().astype(self, dtype)

    def copy(self, order="C"):
        return self  # traced values are immutable: a copy is the value itself

    def sum(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
        return _nf().sum_(self, axis, dtype, out, keepdims, **kw)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
        return _nf().mean(self, axis, dtype, out, keepdims, **kw)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
        return _nf().prod(self, axis, dtype, out, keepdims, **kw)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
        return _nf().var(self, axis, dtype, out, ddof, keepdims, **kw)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
        return _nf().std(self, axis, dtype, out, ddof, keepdims, **kw)

    def max(self, axis=None, out=None, keepdims=False, **kw):
        return _nf().max_(self, axis, out, keepdims, **kw)

    def min(self, axis=None, out=None, keepdims=False, **kw):
        return _nf().min_(self, axis, out, keepdims, **kw)

    def argmax(self, axis=None, out=None, *, keepdims=False):
        return _nf().argmax(self, axis, out, keepdims=keepdims)

    def argmin(self, axis=None, out=None, *, keepdims=False):
        return _nf().argmin(self, axis, out, keepdims=keepdims)

    def all(self, axis=None, out=None, keepdims=False, **kw):
        return _nf().all_(self, axis, out, keepdims, **kw)

    def any(self, axis=None, out=None, keepdims=False, **kw):
        return _nf().any_(self, axis, out, keepdims, **kw)

    def clip(self, min=None, max=None, out=None, **kw):  # noqa: A002 - NumPy's own names
        return _nf().clip(self, min, max, out, **kw)

    def squeeze(self, axis=None):
        return _nf().squeeze(self, axis)

    def dot(self, b, out=None):
        return _nf().dot(self, b, out)

    def take(self, indices, axis=None, out=None, mode="raise"):
        return _nf().take(self, indices, axis, out, mode)

    def __getitem__(self, index):
        return _nf().getitem(self, index)


def _nf():
    from graphscope.trace import numpy_functions

    return numpy_functions


# ---------------------------------------------------------------------------------------------


def _at(where: str | None) -> str:
    return f" at {where}" if where else ""


def _untraceable(what: str) -> TracingError:
    return TracingError(f"cannot trace {what}" + _at(user_source(2)))


def _binary(op: str, a: Any, b: Any) -> Any:
    if not _is_operand(a) or not _is_operand(b):
        return NotImplemented
    return apply_op(op, [a, b])


def _logical(op: str, symbol: str, a: Any, b: Any) -> Any:
    if not _is_operand(a) or not _is_operand(b):
        return NotImplemented
    for x in (a, b):
        dt = x.dtype if isinstance(x, (Tensor,) + _ARRAYS) else np.dtype(type(x))
        if dt != np.bool_:
            raise _untraceable(f"'{symbol}' on a {dt} operand: only bool tensors are traced (as logical and/or/xor)")
    return apply_op(op, [a, b])


def _is_operand(x: Any) -> bool:
    return isinstance(x, (Tensor, np.ndarray, np.generic) + _PY_SCALARS)


def is_traced(x: Any) -> bool:
    return isinstance(x, Tensor)


# ---------------------------------------------------------------------------------------------


def apply_op(op: str, inputs: Sequence[Any], attrs: Mapping[str, Any] | None = None, name: str | None = None) -> Any:
    """Apply ``op`` to ``inputs``: add a node when any input is traced, else compute eagerly.

    Non-traced inputs of a traced op become constants: NumPy arrays by value (one node per array
    object), Python scalars as NEP 50 "weak" scalars that take the dtype of the array operands.
    """
    graph = None
    for x in inputs:
        if isinstance(x, Tensor):
            graph = x.graph
            break
    if graph is None:
        return run_eager(op, inputs, attrs or {})
    traces = _state.traces
    trace = traces[-1] if traces else None
    if trace is None or trace.graph is not graph:
        raise TracingError(
            f"a traced tensor ({x!r}) was used outside the trace that made it (a leaked tracer: return it from "
            f"the function instead of keeping it in a global or an attribute)" + _at(user_source(2))
        )
    source = user_source(2)
    nodes: list[Any] = []
    mixed = False
    for x in inputs:
        if isinstance(x, Tensor):
            if x.graph is not graph:
                raise TracingError(f"{x!r} belongs to another trace (a leaked tracer)" + _at(source))
            nodes.append(x.node)
        else:
            nodes.append(None)
            mixed = True
    if mixed:
        # A where() condition takes no part in promotion: np.where(c, f16, 0.5) is f16 whatever c is.
        operands = inputs[1:] if op == "where" else inputs
        dtypes = [x.dtype for x in operands if isinstance(x, (Tensor,) + _ARRAYS)]
        for i, x in enumerate(inputs):
            if nodes[i] is None:
                nodes[i] = _as_node(trace, op, x, dtypes, source)
    try:
        node = graph.add_node(op, nodes, attrs, name=name, scope=_state.scope, source=source)
    except ShapeError as exc:
        shapes = ", ".join(n.spec.short() for n in nodes)
        raise ShapeError(f"{exc} [operands: {shapes}]") from None
    except GraphscopeError:
        raise
    except (TypeError, ValueError) as exc:  # e.g. an unsupported dtype, a malformed attribute
        shapes = ", ".join(n.spec.short() for n in nodes)
        raise TracingError(f"cannot trace op '{op}' on ({shapes}) with {dict(attrs or {})}: {exc}" + _at(source)) from None
    _device.record(graph, node)  # gs.device placement
    return Tensor(node, graph)


def _as_node(trace: Trace, op: str, x: Any, dtypes: list[np.dtype], source: str | None) -> Node:
    if isinstance(x, _ARRAYS):
        arr = np.asarray(x)
    elif isinstance(x, _PY_SCALARS):
        # NEP 50: a Python scalar is "weak"; it takes the dtype of the array operands.
        try:
            arr = np.asarray(x, dtype=np.result_type(*dtypes, x)) if dtypes else np.asarray(x)
        except OverflowError as exc:
            if op not in _COMPARISONS:
                raise OverflowError(f"{exc} (op '{op}'{_at(source)})") from None
            arr = np.asarray(x)  # compared exactly, as NumPy does
    elif isinstance(x, (list, tuple)):
        try:
            arr = np.asarray(x)
        except TracingError:
            raise TracingError(f"op '{op}': a list/tuple operand holds traced tensors; combine them with "
                               f"np.stack or np.concatenate" + _at(source)) from None
    else:
        raise TracingError(f"cannot use a {type(x).__name__} as an operand of '{op}' in a traced graph" + _at(source))
    if arr.dtype.kind not in "biuf":
        raise TracingError(f"cannot use an array of dtype {arr.dtype} as an operand of '{op}' in a traced graph"
                           + _at(source))
    return constant_node(trace, arr, source, array=x if isinstance(x, np.ndarray) else None)


def constant_node(trace: Trace, value: np.ndarray, source: str | None, array: Any = None, name: str = "const") -> Node:
    """The constant node for ``value`` in ``trace``: 0-d values are shared by (dtype, value, scope),
    an array object read several times stays one node."""
    scope = _state.scope
    if value.ndim == 0:
        key = (value.dtype, value.tobytes(), scope)
        node = trace.scalars.get(key)
        if node is None:
            node = trace.scalars[key] = trace.graph.constant(value, name=name, scope=scope, source=source)
        return node
    if array is not None:
        hit = trace.arrays.get(id(array))
        if hit is not None and hit[0] is array:
            return hit[1]
    node = trace.graph.constant(value, name=name, scope=scope, source=source)
    if array is not None:
        trace.arrays[id(array)] = (array, node)  # keeps the array alive, so its id stays unique
    return node


def constant_tensor(graph: Graph, value: Any, name: str = "const") -> Tensor:
    """A constant of the trace building ``graph`` as a Tensor (``np.zeros_like(t)`` and friends)."""
    traces = _state.traces
    if not traces or traces[-1].graph is not graph:
        raise TracingError("a traced tensor was used outside the trace that made it (a leaked tracer)"
                           + _at(user_source(2)))
    node = constant_node(traces[-1], np.asarray(value), user_source(2), name=name)
    return Tensor(node, graph)


def run_eager(op: str, inputs: Sequence[Any], attrs: Mapping[str, Any]) -> Any:
    """Eager mode: the op's NumPy implementation on NumPy inputs, at once."""
    opdef = get_op(op)
    attrs = opdef.normalize_attrs(attrs)
    arrays = [x if isinstance(x, _PY_SCALARS) else np.asarray(x) for x in inputs]
    # The op's shape rule runs first, as it does when tracing: eager mode accepts exactly what a
    # graph accepts, and errors name the op and both shapes rather than NumPy's internals.
    from graphscope.ir.spec import TensorSpec

    array_dtypes = [a.dtype for a in arrays if not isinstance(a, _PY_SCALARS)]
    specs = [
        TensorSpec((), np.result_type(*array_dtypes, a) if array_dtypes else np.asarray(a).dtype)
        if isinstance(a, _PY_SCALARS) else TensorSpec(a.shape, a.dtype)
        for a in arrays
    ]
    try:
        opdef.check_arity(len(specs))
        opdef.infer(specs, attrs)
    except ShapeError as exc:
        raise ShapeError(f"{exc}" + _at(user_source(2))) from None
    t0 = time.perf_counter_ns()
    out = opdef.impl(np, *arrays, **attrs)
    if eager_observers:
        t1 = time.perf_counter_ns()
        scope = current_scope()
        for observer in eager_observers:
            observer(op, scope, out, t0, t1, arrays, attrs)
    return out
