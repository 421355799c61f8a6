"""``@gs.function``: trace once per input signature, then run the cached graph.

Array arguments (NumPy arrays and scalars) become graph inputs and are part of the signature by
shape and dtype; every other argument (Python numbers, strings, None, ...) is static: its *value*
is part of the signature and is baked into the graph. Python control flow runs once, at trace
time. Lists, tuples and dicts of arguments are walked, so ``f(params)`` with a dict of weights works.

Retracing is explained: each retrace records which argument changed and how, and after
``retrace_warning_after`` retraces a RetracingWarning names the argument and suggests a fix.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphscope.errors import TracingError
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec
from graphscope.trace.context import tracing
from graphscope.trace.tensor import Tensor


class RetracingWarning(UserWarning):
    """A traced function was traced again for many new signatures."""


# -- a tiny pytree: leaves are arrays (graph inputs) or static values ---------------------------

_ARRAY = "array"
_STATIC = "static"


def _flatten(value: Any, path: str, leaves: list[tuple[str, Any]], key: list) -> Any:
    """Walk ``value``; append array leaves; return a hashable signature entry."""
    if isinstance(value, (np.ndarray, np.generic)):
        leaves.append((path, value))
        return (_ARRAY, value.shape, value.dtype.name)
    if isinstance(value, Tensor):
        raise TracingError(f"argument '{path}' is a traced tensor from another trace; call the function with arrays")
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_flatten(v, f"{path}[{i}]", leaves, key) for i, v in enumerate(value)))
    if isinstance(value, dict):
        return ("dict", tuple((k, _flatten(value[k], f"{path}[{k!r}]", leaves, key)) for k in sorted(value, key=repr)))
    try:
        hash(value)
    except TypeError:
        raise TracingError(
            f"argument '{path}' of type {type(value).__name__} is neither an array nor a hashable static value"
        ) from None
    return (_STATIC, type(value).__name__, value)


def _rebuild(value: Any, path: str, make_leaf: Callable[[str, Any], Any]) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):
        return make_leaf(path, value)
    if isinstance(value, (list, tuple)):
        return type(value)(_rebuild(v, f"{path}[{i}]", make_leaf) for i, v in enumerate(value))
    if isinstance(value, dict):
        return {k: _rebuild(v, f"{path}[{k!r}]", make_leaf) for k, v in value.items()}
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
            changes.append(ArgumentChange(path, "value", x[2], y[2]))
    return tuple(changes)


_ADVICE = {
    "value": "it is a Python value, so each new value is baked into a new graph: pass it as a NumPy array "
             "(e.g. np.float32({path})) to make it a graph input",
    "shape": "each new shape is a new graph: pad or bucket it to a few fixed shapes (e.g. batch sizes "
             "rounded up to a power of two)",
    "dtype": "cast it to one dtype before the call (e.g. .astype(np.float32))",
    "kind": "pass it consistently as an array or as a Python value",
    "structure": "pass the same nested structure (lists/dicts of the same keys) on every call",
}


# -- the traced function ------------------------------------------------------------------------


@dataclass
class ConcreteFunction:
    """One traced graph for one signature, with how to map arguments and outputs."""

    graph: Graph
    signature: Signature
    input_paths: list[str]
    output_tree: Any  # the function's return structure, with ints (output index) at tensor leaves
    static_outputs: dict[int, Any] = field(default_factory=dict)


class Function:
    """A Python function traced into graphs. Call it like the function; it runs the graph."""

    def __init__(self, fn: Callable, *, retrace_warning_after: int | None = None, backend: str = "numpy",
                 name: str | None = None) -> None:
        functools.update_wrapper(self, fn)
        self.python_function = fn
        self.name = name or fn.__name__
        self._sig = inspect.signature(fn)
        self._cache: dict[Signature, ConcreteFunction] = {}
        self.retraces: list[RetraceRecord] = []
        self._warned = False
        self.retrace_warning_after = retrace_warning_after
        self.backend = backend

    # -- signatures ---------------------------------------------------------------------------
    def _bind(self, args: tuple, kwargs: dict) -> inspect.BoundArguments:
        try:
            bound = self._sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}(): {exc}") from None
        bound.apply_defaults()
        return bound

    def _signature(self, bound: inspect.BoundArguments) -> tuple[Signature, list[tuple[str, Any]]]:
        leaves: list[tuple[str, Any]] = []
        names, entries = [], []
        for name, value in bound.arguments.items():
            param = self._sig.parameters[name]
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                value = tuple(value)
            elif param.kind is inspect.Parameter.VAR_KEYWORD:
                value = dict(value)
            names.append(name)
            entries.append(_flatten(value, name, leaves, []))
        return Signature(tuple(names), tuple(entries)), leaves

    def signatures(self) -> list[Signature]:
        """The input signatures traced so far, oldest first."""
        return list(self._cache)

    # -- tracing ------------------------------------------------------------------------------
    def get_concrete_function(self, *args: Any, **kwargs: Any) -> ConcreteFunction:
        bound = self._bind(args, kwargs)
        sig, _ = self._signature(bound)
        return self._lookup_or_trace(sig, bound)

    def get_graph(self, *args: Any, **kwargs: Any) -> Graph:
        """The graph traced for these arguments (traced now if it is not cached yet)."""
        return self.get_concrete_function(*args, **kwargs).graph

    def _lookup_or_trace(self, sig: Signature, bound: inspect.BoundArguments) -> ConcreteFunction:
        cf = self._cache.get(sig)
        if cf is None:
            if self._cache:
                self._record_retrace(sig)
            cf = self._cache[sig] = self._trace(sig, bound)
        return cf

    def _record_retrace(self, sig: Signature) -> None:
        # Explain against the earlier signature with the fewest differences.
        best = min((diff_signatures(old, sig) for old in self._cache), key=len)
        self.retraces.append(RetraceRecord(sig, best))
        from graphscope.config import config

        limit = self.retrace_warning_after if self.retrace_warning_after is not None else config.retrace_warning_after
        if len(self.retraces) >= limit and not self._warned:
            self._warned = True
            counts: dict[tuple[str, str], int] = {}
            for r in self.retraces:
                for c in r.changes:
                    counts[(c.path, c.kind)] = counts.get((c.path, c.kind), 0) + 1
            (path, kind), n = max(counts.items(), key=lambda kv: kv[1])
            warnings.warn(
                f"{self.name} was traced {len(self._cache) + 1} times; argument '{path}' changed {kind} in {n} of "
                f"{len(self.retraces)} retraces (last: {best[0] if best else 'no change'}). Fix: "
                + _ADVICE[kind].format(path=path),
                RetracingWarning,
                stacklevel=4,
            )

    def _trace(self, sig: Signature, bound: inspect.BoundArguments) -> ConcreteFunction:
        graph = Graph(self.name)
        input_paths: list[str] = []

        def make_input(path: str, value: Any) -> Tensor:
            arr = np.asarray(value)
            node = graph.placeholder(path, TensorSpec(arr.shape, arr.dtype))
            input_paths.append(path)
            return Tensor(node, graph)

        call_args, call_kwargs = [], {}
        with tracing(graph):
            for name, value in bound.arguments.items():
                param = self._sig.parameters[name]
                if param.kind is inspect.Parameter.VAR_POSITIONAL:
                    call_args.extend(_rebuild(tuple(value), name, make_input))
                elif param.kind is inspect.Parameter.VAR_KEYWORD:
                    call_kwargs.update(_rebuild(dict(value), name, make_input))
                elif param.kind is inspect.Parameter.KEYWORD_ONLY:
                    call_kwargs[name] = _rebuild(value, name, make_input)
                else:
                    call_args.append(_rebuild(value, name, make_input))
            result = self.python_function(*call_args, **call_kwargs)
            outputs: list = []
            static: dict[int, Any] = {}
            tree = _output_tree(result, graph, outputs, static)
        graph.set_outputs(outputs)
        graph.__dict__.pop("_trace_constants", None)
        graph.lint()
        return ConcreteFunction(graph, sig, input_paths, tree, static)

    # -- calling ------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from graphscope.runtime.run import run

        bound = self._bind(args, kwargs)
        sig, leaves = self._signature(bound)
        cf = self._lookup_or_trace(sig, bound)
        result = run(cf.graph, [v for _, v in leaves], backend=self.backend)
        return _fill_tree(cf.output_tree, result.outputs)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        # As a method: bind ``self`` as a static argument (it must be hashable).
        return self if obj is None else functools.partial(self, obj)

    def __repr__(self) -> str:
        return f"<graphscope.function {self.name}: {len(self._cache)} traced signature(s)>"


def _output_tree(value: Any, graph: Graph, outputs: list, static: dict) -> Any:
    if isinstance(value, Tensor):
        if value.graph is not graph:
            raise TracingError(f"the function returned {value!r}, a tensor from another trace")
        outputs.append(value.node)
        return ("out", len(outputs) - 1)
    if isinstance(value, (np.ndarray, np.generic)):
        outputs.append(graph.constant(value, name="output_const"))
        return ("out", len(outputs) - 1)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_output_tree(v, graph, outputs, static) for v in value])
    if isinstance(value, dict):
        return ("dict", {k: _output_tree(v, graph, outputs, static) for k, v in value.items()})
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
    return tuple(items) if kind == "tuple" else items


def function(fn: Callable | None = None, **options: Any) -> Any:
    """Decorator: ``@gs.function`` or ``@gs.function(retrace_warning_after=3)``."""
    if fn is None:
        return lambda f: Function(f, **options)
    return Function(fn, **options)
