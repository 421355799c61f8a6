"""Traced tensors and the one function every op goes through (``apply_op``).

Inside ``@gs.function`` the arguments become ``Tensor`` objects. Operators, methods and NumPy's
protocols (``__array_ufunc__``, ``__array_function__``) on a Tensor add nodes to the graph being
traced instead of computing. Outside a trace the same ops run at once on NumPy arrays (eager mode).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from graphscope.errors import ShapeError, TracingError
from graphscope.ir.graph import Graph, Node
from graphscope.ir.ops import get_op
from graphscope.trace.context import current_graph, current_scope
from graphscope.trace.source import user_source

_PY_SCALARS = (bool, int, float)

# Observers of eager op calls: fn(op, name_scope, output, start_ns, end_ns). The profiler subscribes.
eager_observers: list[Callable[[str, str, Any, int, int], None]] = []


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
    def name(self) -> str:
        return self.node.name

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d traced tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<traced {self.node.spec.short()} %{self.node.id} {self.node.op} '{self.node.name}'>"

    __hash__ = object.__hash__  # __eq__ builds a node, so hashing must stay identity-based

    # -- operators ----------------------------------------------------------------------------
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

    def __and__(self, other): return _logical("logical_and", self, other)
    def __rand__(self, other): return _logical("logical_and", other, self)
    def __or__(self, other): return _logical("logical_or", self, other)
    def __ror__(self, other): return _logical("logical_or", other, self)

    def __invert__(self):
        if self.dtype != np.bool_:
            raise _untraceable("~ (bitwise not) on a non-bool traced tensor")
        return apply_op("logical_not", [self])

    # -- conversions the tracer cannot follow ---------------------------------------------------
    def __bool__(self):
        raise _untraceable(
            "using a traced tensor as a Python bool (if/while/and/or/assert on a traced value); Python "
            "control flow runs once at trace time: use np.where / gs.ops.where for data-dependent choices"
        )

    def __float__(self):
        raise _untraceable("float() of a traced tensor (its value is not known while tracing)")

    def __int__(self):
        raise _untraceable("int() of a traced tensor (its value is not known while tracing)")

    def __index__(self):
        raise _untraceable("using a traced tensor as an index or size (its value is not known while tracing)")

    def __complex__(self):
        raise _untraceable("complex() of a traced tensor")

    def __array__(self, dtype=None, copy=None):
        raise _untraceable(
            "converting a traced tensor to a NumPy array (np.asarray/np.array, or a NumPy function graphscope "
            "does not trace); the value exists only when the graph runs"
        )

    def item(self):
        raise _untraceable(".item() of a traced tensor (its value is not known while tracing)")

    def tolist(self):
        raise _untraceable(".tolist() of a traced tensor (its value is not known while tracing)")

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d traced tensor")
        return (self[i] for i in range(self.shape[0]))  # static length: unrolled at trace time

    # -- NumPy protocols ------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from graphscope.trace.numpy_api import trace_ufunc

        return trace_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from graphscope.trace.numpy_api import trace_array_function

        return trace_array_function(func, args, kwargs)

    # -- methods mirroring ndarray's ------------------------------------------------------------
    @property
    def T(self) -> Tensor:
        return apply_op("transpose", [self], {"perm": None})

    def reshape(self, *shape, order="C"):
        _c_order_only("reshape", order)
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return apply_op("reshape", [self], {"shape": tuple(int(d) for d in shape)})

    def flatten(self, order="C"):
        return self.reshape(-1, order=order)

    ravel = flatten

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return apply_op("transpose", [self], {"perm": tuple(axes) if axes else None})

    def astype(self, dtype, copy=True):
        if np.dtype(dtype) == self.dtype and not copy:
            return self
        return apply_op("cast", [self], {"dtype": np.dtype(dtype).name})

    def _reduce(self, op, axis, keepdims, dtype=None, out=None, **extra):
        if out is not None:
            raise _untraceable(f"{op}(out=...) on a traced tensor (graphs do not write into caller arrays)")
        x = self.astype(dtype, copy=False) if dtype is not None else self
        return apply_op(op, [x], {"axis": axis, "keepdims": keepdims, **extra})

    def sum(self, axis=None, dtype=None, out=None, keepdims=False): return self._reduce("sum", axis, keepdims, dtype, out)
    def mean(self, axis=None, dtype=None, out=None, keepdims=False): return self._reduce("mean", axis, keepdims, dtype, out)
    def max(self, axis=None, out=None, keepdims=False): return self._reduce("max", axis, keepdims, None, out)
    def min(self, axis=None, out=None, keepdims=False): return self._reduce("min", axis, keepdims, None, out)
    def prod(self, axis=None, dtype=None, out=None, keepdims=False): return self._reduce("prod", axis, keepdims, dtype, out)
    def argmax(self, axis=None, out=None, keepdims=False): return self._reduce("argmax", axis, keepdims, None, out)
    def argmin(self, axis=None, out=None, keepdims=False): return self._reduce("argmin", axis, keepdims, None, out)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return self._reduce("var", axis, keepdims, dtype, out, ddof=ddof)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return self._reduce("std", axis, keepdims, dtype, out, ddof=ddof)

    def clip(self, min=None, max=None):  # noqa: A002
        from graphscope import ops

        return ops.clip(self, min, max)

    def squeeze(self, axis=None):
        from graphscope import ops

        return ops.squeeze(self, axis)

    def __getitem__(self, index):
        from graphscope import ops

        return ops.getitem(self, index)

    def __setitem__(self, index, value):
        raise _untraceable("item assignment on a traced tensor (graphs are functional: build a new value, "
                           "e.g. with np.where or np.concatenate)")


def _c_order_only(what: str, order: str) -> None:
    if order != "C":
        raise _untraceable(f"{what}(order={order!r}): only C order is traced")


def _untraceable(what: str) -> TracingError:
    where = user_source(3)
    return TracingError(f"cannot trace {what}" + (f" at {where}" if where else ""))


def _binary(op: str, a: Any, b: Any) -> Any:
    if not _is_operand(a) or not _is_operand(b):
        return NotImplemented
    return apply_op(op, [a, b])


def _logical(op: str, a: Any, b: Any) -> Any:
    for x in (a, b):
        dt = x.dtype if isinstance(x, (Tensor, np.ndarray, np.generic)) else np.dtype(type(x))
        if dt != np.bool_:
            raise _untraceable(f"bitwise '&'/'|' on {dt} operands (only bool tensors are traced as logical and/or)")
    return apply_op(op, [a, b])


def _is_operand(x: Any) -> bool:
    return isinstance(x, (Tensor, np.ndarray, np.generic) + _PY_SCALARS)


def is_traced(x: Any) -> bool:
    return isinstance(x, Tensor)


# ---------------------------------------------------------------------------------------------


def apply_op(op: str, inputs: Sequence[Any], attrs: Mapping[str, Any] | None = None, name: str | None = None) -> Any:
    """Apply ``op`` to ``inputs``: add a node when any input is traced, else compute eagerly."""
    graph = None
    for x in inputs:
        if isinstance(x, Tensor):
            graph = x.graph
            break
    if graph is None:
        return run_eager(op, inputs, attrs or {})
    if current_graph() is not graph:
        raise TracingError(
            f"a traced tensor ({inputs[0]!r}) was used outside the trace that made it (a leaked tracer: "
            f"return it from the function instead of keeping it in a global or attribute)"
        )
    source = user_source(2)
    tensor_dtypes = [x.dtype for x in inputs if isinstance(x, (Tensor, np.ndarray, np.generic))]
    nodes = [_as_node(graph, x, tensor_dtypes, source) for x in inputs]
    try:
        node = graph.add_node(op, nodes, attrs, name=name, scope=current_scope(), source=source)
    except ShapeError as exc:
        shapes = ", ".join(n.spec.short() for n in nodes)
        raise ShapeError(f"{exc} [operands: {shapes}]") from None
    return Tensor(node, graph)


def _as_node(graph: Graph, x: Any, tensor_dtypes: list[np.dtype], source: str | None) -> Node:
    if isinstance(x, Tensor):
        if x.graph is not graph:
            raise TracingError(f"{x!r} belongs to another trace (a leaked tracer)")
        return x.node
    if isinstance(x, _PY_SCALARS):
        # NEP 50: a Python scalar is "weak"; it takes the dtype of the array operands.
        dtype = np.result_type(*tensor_dtypes, x) if tensor_dtypes else np.asarray(x).dtype
        return _constant(graph, np.asarray(x, dtype=dtype), source)
    if isinstance(x, (np.ndarray, np.generic)):
        return _constant(graph, np.asarray(x), source)
    raise TracingError(f"cannot use a {type(x).__name__} as an operand in a traced graph" +
                       (f" at {source}" if source else ""))


def _constant(graph: Graph, value: np.ndarray, source: str | None) -> Node:
    # One node per distinct array object within a trace (weights read twice stay one constant).
    cache: dict[int, tuple[np.ndarray, Node]] = graph.__dict__.setdefault("_trace_constants", {})
    if value.ndim > 0:
        hit = cache.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
    node = graph.constant(value, name="const", scope=current_scope(), source=source)
    if value.ndim > 0:
        cache[id(value)] = (value, node)
    return node


def run_eager(op: str, inputs: Sequence[Any], attrs: Mapping[str, Any]) -> Any:
    """Eager mode: the op's NumPy implementation on NumPy inputs, at once."""
    opdef = get_op(op)
    attrs = opdef.normalize_attrs(attrs)
    arrays = [x if isinstance(x, _PY_SCALARS) else np.asarray(x) for x in inputs]
    t0 = time.perf_counter_ns()
    try:
        out = opdef.impl(np, *arrays, **attrs)
    except Exception as exc:
        from graphscope.ir.spec import TensorSpec

        # Prefer the op's own shape rule message (names both shapes and the op) to NumPy's.
        specs = [TensorSpec(np.shape(a), np.asarray(a).dtype) for a in arrays]
        try:
            opdef.check_arity(len(specs))
            opdef.infer(specs, attrs)
        except ShapeError as shape_exc:
            where = user_source(2)
            raise ShapeError(f"{shape_exc}" + (f" at {where}" if where else "")) from None
        raise exc
    if eager_observers:
        t1 = time.perf_counter_ns()
        for observer in eager_observers:
            observer(op, current_scope(), out, t0, t1)
    return out
