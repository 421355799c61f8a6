"""``@gs.function``: trace once per input signature, then run the cached graph.

Array arguments (NumPy arrays and NumPy scalars) become graph inputs and are part of the signature
by shape and dtype; every other argument (Python numbers, strings, None, objects ...) is static:
its *value* is part of the signature and is baked into the graph. Python control flow runs once, at
trace time. Lists, tuples, namedtuples and dicts of arguments are walked, so ``f(params)`` with a
dict of weights works. Arrays read from closures or attributes are constants of the graph, copied at
trace time (a later edit of such an array is not seen by the cached graph).

Retracing is explained: each retrace records which argument changed and how, and after
``retrace_warning_after`` retraces a RetracingWarning names the argument and suggests a fix.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphscope.errors import TracingError
from graphscope.ir.graph import Graph
from graphscope.ir.spec import SUPPORTED_DTYPES, TensorSpec
from graphscope.trace.context import current_graph, tracing
from graphscope.trace.tensor import Tensor


class RetracingWarning(UserWarning):
    """A traced function was traced again for many new signatures."""


# -- a tiny pytree: leaves are arrays (graph inputs) or static values ---------------------------

_ARRAY = "array"
_STATIC = "static"


class _Static:
    """A static argument in a signature: equal by type and value (floats by bit pattern, so NaN
    matches NaN and 0.0 differs from -0.0), or by identity for a method's ``self``."""

    __slots__ = ("value", "_key")

    def __init__(self, value: Any, identity: bool = False) -> None:
        self.value = value
        if identity:
            self._key: Any = ("id", id(value))
        elif isinstance(value, float):
            self._key = (type(value), value.hex())
        else:
            self._key = (type(value), value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Static):
            return NotImplemented
        if self._key[0] == "id" or other._key[0] == "id":
            return self.value is other.value
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return repr(self.value)


def _is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


def _flatten(value: Any, path: str, leaves: list[tuple[str, Any]]) -> Any:
    """Walk ``value``; append array leaves in a fixed order; return a hashable signature entry."""
    if isinstance(value, (np.ndarray, np.generic)):
        if value.dtype.name not in SUPPORTED_DTYPES:
            raise TracingError(f"argument '{path}' has dtype {value.dtype}, which graphs cannot carry (supported: "
                               f"{', '.join(SUPPORTED_DTYPES)})")
        leaves.append((path, value))
        return (_ARRAY, value.shape, value.dtype.name)
    if isinstance(value, Tensor):
        raise TracingError(f"argument '{path}' is a traced tensor of another trace (a leaked tracer); call the "
                           f"function with arrays")
    if isinstance(value, (list, tuple)):
        kind = type(value) if _is_namedtuple(value) else type(value).__name__
        return (kind, tuple(_flatten(v, f"{path}[{i}]", leaves) for i, v in enumerate(value)))
    if isinstance(value, dict):
        return ("dict", tuple((k, _flatten(value[k], f"{path}[{k!r}]", leaves)) for k in sorted(value, key=repr)))
    try:
        hash(value)
    except TypeError:
        raise TracingError(
            f"argument '{path}' of type {type(value).__name__} is neither an array nor a hashable static value; "
            f"pass arrays, or Python values that can be compared for retracing"
        ) from None
    return (_STATIC, type(value).__name__, _Static(value))


def _rebuild(value: Any, path: str, inputs: dict[str, Tensor]) -> Any:
    """``value`` with each array leaf replaced by the placeholder made for its path."""
    if isinstance(value, (np.ndarray, np.generic)):
        return inputs[path]
    if isinstance(value, (list, tuple)):
        items = [_rebuild(v, f"{path}[{i}]", inputs) for i, v in enumerate(value)]
        return type(value)(*items) if _is_namedtuple(value) else type(value)(items)
    if isinstance(value, dict):
        return {k: _rebuild(v, f"{path}[{k!r}]", inputs) for k, v in value.items()}
    return value


def _entries(sig_entry: Any, path: str, out: dict[str, Any]) -> None:
    """Flatten a signature entry into {argument path: leaf description} for diffs."""
    kind = sig_entry[0]
    if kind in (_ARRAY, _STATIC):
        out[path] = sig_entry
    elif kind == "dict":
        for k, v in sig_entry[1]:
            _entries(v, f"{path}[{k!r}]", out)
    else:
        for i, v in enumerate(sig_entry[1]):
            _entries(v, f"{path}[{i}]", out)


# -- signatures and retrace records ---------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    names: tuple[str, ...]
    entries: tuple[Any, ...]

    def leaves(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, entry in zip(self.names, self.entries):
            _entries(entry, name, out)
        return out

    def __str__(self) -> str:
        parts = []
        for path, leaf in self.leaves().items():
            if leaf[0] == _ARRAY:
                parts.append(f"{path}: {TensorSpec(leaf[1], leaf[2]).short()}")
            else:
                parts.append(f"{path}={leaf[2]!r}")
        return "(" + ", ".join(parts) + ")"


@dataclass(frozen=True)
class ArgumentChange:
    path: str
    kind: str  # "shape", "dtype", "value", "kind" (array <-> static) or "structure"
    before: Any
    after: Any

    def __str__(self) -> str:
        return f"{self.path}: {self.kind} {self.before!r} -> {self.after!r}"


@dataclass(frozen=True)
class RetraceRecord:
    signature: Signature
    changes: tuple[ArgumentChange, ...]  # relative to the closest earlier signature

    def __str__(self) -> str:
        return "; ".join(map(str, self.changes)) or "first trace"


def diff_signatures(old: Signature, new: Signature) -> tuple[ArgumentChange, ...]:
    a, b = old.leaves(), new.leaves()
    changes = []
    for path in list(a) + [p for p in b if p not in a]:
        if path not in a or path not in b:
            changes.append(ArgumentChange(path, "structure", "absent" if path not in a else "present",
                                          "absent" if path not in b else "present"))
            continue
        x, y = a[path], b[path]
        if x == y:
            continue
        if x[0] != y[0]:
            changes.append(ArgumentChange(path, "kind", x[0], y[0]))
        elif x[0] == _ARRAY:
            if x[1] != y[1]:
                changes.append(ArgumentChange(path, "shape", x[1], y[1]))
            if x[2] != y[2]:
                changes.append(ArgumentChange(path, "dtype", x[2], y[2]))
        else:
            changes.append(ArgumentChange(path, "value", x[2].value, y[2].value))
    return tuple(changes)


_ADVICE = {
    "value": "'{path}' is a Python value, so each new value is baked into a new graph: pass it as a NumPy array "
             "(e.g. np.float32({path})) to make it a graph input",
    "shape": "each new shape of '{path}' is a new graph: pad or bucket it to a few fixed shapes (e.g. batch sizes "
             "rounded up to a power of two)",
    "dtype": "cast '{path}' to one dtype before the call (e.g. .astype(np.float32))",
    "kind": "pass '{path}' consistently as an array or as a Python value",
    "structure": "pass the same nested structure (lists/dicts with the same keys) on every call",
    "instance": "each object the method is called on is traced separately (its attributes are baked in as "
                "constants): reuse one object, or pass what differs between objects as array arguments",
}

# Reroutes calls of traced functions made outside a trace (set by ``strategy.scope()`` in
# graphscope.distribute): ``call_hook(function, args, kwargs, bound_self)`` returns the call's result,
# or NotImplemented to run the call here as usual.
call_hook: Callable[[Function, tuple, dict, bool], Any] | None = None

_TRACE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning issued by our caller at the user's line."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_TRACE_DIR):
        frame = frame.f_back
        level += 1
    return level


# -- the traced function ------------------------------------------------------------------------


@dataclass
class ConcreteFunction:
    """One traced graph for one signature, with how to map arguments and outputs."""

    graph: Graph
    signature: Signature
    input_paths: list[str]  # placeholder order == the order of the signature's array leaves
    output_tree: Any  # the function's return structure, with ("out", k) at tensor leaves
    # Outputs computed from constants only: the runtime hands out the graph's own read-only arrays
    # for these, so each call returns a fresh copy (as eager NumPy would return a new array).
    constant_outputs: tuple[int, ...] = ()


class Function:
    """A Python function traced into graphs. Call it like the function; it runs the graph.

    ``f.get_graph(*args)`` is the graph for those arguments, ``f.signatures()`` the signatures
    traced so far, ``f.retraces`` why each retrace happened, ``f.python_function`` the original.
    """

    def __init__(self, fn: Callable, *, retrace_warning_after: int | None = None, backend: str | None = None,
                 name: str | None = None) -> None:
        if isinstance(fn, Function):
            fn = fn.python_function
        functools.update_wrapper(self, fn)
        self.python_function = fn
        self.name = name or getattr(fn, "__name__", "function")
        self._sig = inspect.signature(fn)
        self._cache: dict[Signature, ConcreteFunction] = {}
        self.retraces: list[RetraceRecord] = []
        self._warned = False
        self.retrace_warning_after = retrace_warning_after
        self.backend = backend

    # -- signatures ---------------------------------------------------------------------------
    def _bind(self, args: tuple, kwargs: dict) -> tuple[inspect.BoundArguments, frozenset[str]]:
        """The arguments with defaults filled in (so f(x) and f(x, s=1.0) share a signature), and the
        names the caller gave (only those, and defaults holding arrays, are passed when tracing)."""
        try:
            bound = self._sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}(): {exc}") from None
        given = frozenset(bound.arguments)
        bound.apply_defaults()
        return bound, given

    def _signature(self, bound: inspect.BoundArguments, bound_self: bool = False
                   ) -> tuple[Signature, list[tuple[str, Any]]]:
        leaves: list[tuple[str, Any]] = []
        names, entries = [], []
        for k, (name, value) in enumerate(bound.arguments.items()):
            kind = self._sig.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                for key in sorted(value):
                    names.append(key)
                    entries.append(_flatten(value[key], key, leaves))
                continue
            names.append(name)
            if k == 0 and bound_self and kind is not inspect.Parameter.VAR_POSITIONAL:
                entries.append((_STATIC, type(value).__name__, _Static(value, identity=True)))
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                entries.append(_flatten(tuple(value), name, leaves))
            else:
                entries.append(_flatten(value, name, leaves))
        return Signature(tuple(names), tuple(entries)), leaves

    def signatures(self) -> list[Signature]:
        """The input signatures traced so far, oldest first."""
        return list(self._cache)

    # -- tracing ------------------------------------------------------------------------------
    def get_concrete_function(self, *args: Any, **kwargs: Any) -> ConcreteFunction:
        return self._concrete(args, kwargs)[0]

    def get_graph(self, *args: Any, **kwargs: Any) -> Graph:
        """The graph traced for these arguments (traced now if it is not cached yet)."""
        return self._concrete(args, kwargs)[0].graph

    def _concrete(self, args: tuple, kwargs: dict, bound_self: bool = False
                  ) -> tuple[ConcreteFunction, list[tuple[str, Any]]]:
        bound, given = self._bind(args, kwargs)
        sig, leaves = self._signature(bound, bound_self)
        cf = self._cache.get(sig)
        if cf is None:
            cf = self._trace(sig, bound, given, leaves)
            if self._cache:
                self._record_retrace(sig)
            self._cache[sig] = cf
        return cf, leaves

    def _record_retrace(self, sig: Signature) -> None:
        # Explain against the earlier signature with the fewest differences (the latest on a tie).
        best = min((diff_signatures(old, sig) for old in reversed(list(self._cache))), key=len)
        self.retraces.append(RetraceRecord(sig, best))
        from graphscope.config import config

        limit = self.retrace_warning_after if self.retrace_warning_after is not None else config.retrace_warning_after
        if len(self.retraces) < limit or self._warned:
            return
        self._warned = True
        counts: dict[tuple[str, str], int] = {}
        for r in self.retraces:
            for c in r.changes:
                kind = "instance" if c.kind == "value" and self._is_self_path(c.path) else c.kind
                counts[(c.path, kind)] = counts.get((c.path, kind), 0) + 1
        if counts:
            (path, kind), n = max(counts.items(), key=lambda kv: kv[1])
        else:
            (path, kind), n = ("?", "structure"), 0
        last = "; ".join(map(str, best)) or "no change"
        warnings.warn(
            f"{self.name} was traced {len(self._cache) + 1} times ({len(self.retraces)} retraces); argument '{path}' "
            f"changed {'object' if kind == 'instance' else kind} in {n} of them (last retrace: {last}). Fix: "
            + _ADVICE[kind].format(path=path),
            RetracingWarning,
            stacklevel=_user_stacklevel(),
        )

    def _is_self_path(self, path: str) -> bool:
        params = list(self._sig.parameters)
        return bool(params) and path == params[0] and params[0] == "self"

    def _trace(self, sig: Signature, bound: inspect.BoundArguments, given: frozenset[str],
               leaves: list[tuple[str, Any]]) -> ConcreteFunction:
        graph = Graph(self.name)
        with tracing(graph):
            inputs: dict[str, Tensor] = {}
            for path, value in leaves:
                node = graph.placeholder(path, TensorSpec(value.shape, value.dtype))
                inputs[path] = Tensor(node, graph)
            call_args, call_kwargs = self._call_arguments(bound, given, inputs)
            result = self.python_function(*call_args, **call_kwargs)
            outputs: list = []
            tree = _output_tree(result, graph, outputs)
        graph.set_outputs(outputs)
        fixed = tuple(k for k, node in enumerate(outputs) if _constant_only(node))
        return ConcreteFunction(graph, sig, [p for p, _ in leaves], tree, fixed)

    def _call_arguments(self, bound: inspect.BoundArguments, given: frozenset[str], inputs: dict[str, Tensor]
                        ) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments for tracing, arrays replaced by placeholders. Defaults the
        caller left out are left to the function (a ufunc-like signature may reject them spelled out),
        unless they hold arrays, which are graph inputs like any other."""
        P = inspect.Parameter
        items = list(bound.arguments.items())
        kinds = [self._sig.parameters[name].kind for name, _ in items]
        needed = [name in given or _holds_array(value) for name, value in items]
        last_positional = max((k for k, (kind, need) in enumerate(zip(kinds, needed))
                               if need and kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD, P.VAR_POSITIONAL)),
                              default=-1)
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for k, ((name, value), kind) in enumerate(zip(items, kinds)):
            if kind is P.VAR_POSITIONAL:
                args.extend(_rebuild(tuple(value), name, inputs))
            elif kind is P.VAR_KEYWORD:
                kwargs.update({key: _rebuild(v, key, inputs) for key, v in value.items()})
            elif kind is P.KEYWORD_ONLY:
                if needed[k]:
                    kwargs[name] = _rebuild(value, name, inputs)
            elif k <= last_positional:
                args.append(_rebuild(value, name, inputs))
        return args, kwargs

    # -- calling ------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(args, kwargs)

    def _call(self, args: tuple, kwargs: dict, bound_self: bool = False) -> Any:
        if current_graph() is not None and _holds_tensor((args, kwargs)):
            # Called from inside another trace on its tensors: inline (the outer graph gets the ops).
            return self.python_function(*args, **kwargs)
        if call_hook is not None and current_graph() is None:
            result = call_hook(self, args, kwargs, bound_self)
            if result is not NotImplemented:
                return result
        from graphscope.config import config
        from graphscope.runtime.run import run

        cf, leaves = self._concrete(args, kwargs, bound_self)
        outputs = run(cf.graph, [v for _, v in leaves], backend=self.backend or config.backend).outputs
        for k in cf.constant_outputs:
            outputs[k] = np.array(outputs[k], copy=True)
        return _fill_tree(cf.output_tree, outputs)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        # As a method: ``self`` is a static argument keyed by identity (one trace per object).
        return self if obj is None else BoundFunction(self, obj)

    def __repr__(self) -> str:
        return f"<graphscope.function {self.name}: {len(self._cache)} traced signature(s)>"


class BoundFunction:
    """``obj.method`` for a ``@gs.function`` method: calls, graphs and signatures with ``obj`` bound."""

    def __init__(self, function: Function, obj: Any) -> None:
        self.function = function
        self.obj = obj

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function._call((self.obj,) + args, kwargs, bound_self=True)

    def get_concrete_function(self, *args: Any, **kwargs: Any) -> ConcreteFunction:
        return self.function._concrete((self.obj,) + args, kwargs, bound_self=True)[0]

    def get_graph(self, *args: Any, **kwargs: Any) -> Graph:
        return self.get_concrete_function(*args, **kwargs).graph

    def signatures(self) -> list[Signature]:
        return self.function.signatures()

    @property
    def retraces(self) -> list[RetraceRecord]:
        return self.function.retraces

    @property
    def python_function(self) -> Callable:
        return functools.partial(self.function.python_function, self.obj)

    def __repr__(self) -> str:
        return f"<bound {self.function!r} of {self.obj!r}>"


def _holds_tensor(value: Any) -> bool:
    if isinstance(value, Tensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_tensor(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_tensor(v) for v in value.values())
    return False


def _constant_only(node: Any) -> bool:
    """True when no graph input reaches ``node``."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n.op == "placeholder":
            return False
        for i in n.inputs:
            if i.id not in seen:
                seen.add(i.id)
                stack.append(i)
    return True


def _holds_array(value: Any) -> bool:
    if isinstance(value, (np.ndarray, np.generic)):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_array(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_array(v) for v in value.values())
    return False


def _output_tree(value: Any, graph: Graph, outputs: list) -> Any:
    if isinstance(value, Tensor):
        if value.graph is not graph:
            raise TracingError(f"the function returned {value!r}, a tensor of another trace")
        outputs.append(value.node)
        return ("out", len(outputs) - 1)
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.name in SUPPORTED_DTYPES:
        outputs.append(graph.constant(value, name="output_const"))
        return ("out", len(outputs) - 1)
    if isinstance(value, (list, tuple)):
        kind = type(value) if _is_namedtuple(value) or type(value) not in (list, tuple) else type(value).__name__
        return (kind, [_output_tree(v, graph, outputs) for v in value])
    if isinstance(value, dict):
        return ("dict", {k: _output_tree(v, graph, outputs) for k, v in value.items()})
    return ("static", value)


def _fill_tree(tree: Any, outputs: list) -> Any:
    kind, payload = tree
    if kind == "out":
        return outputs[payload]
    if kind == "static":
        return payload
    if kind == "dict":
        return {k: _fill_tree(v, outputs) for k, v in payload.items()}
    items = [_fill_tree(v, outputs) for v in payload]
    if kind == "tuple":
        return tuple(items)
    if kind == "list":
        return items
    return kind(*items) if _is_namedtuple_type(kind) else kind(items)


def _is_namedtuple_type(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, tuple) and hasattr(t, "_fields")


def function(fn: Callable | None = None, **options: Any) -> Any:
    """Decorator: ``@gs.function`` or ``@gs.function(retrace_warning_after=3, backend="numpy", name=...)``."""
    if fn is None:
        return lambda f: Function(f, **options)
    return Function(fn, **options)
