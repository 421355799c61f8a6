"""graphscope as an ONNX backend (``onnx.backend.base.Backend``), and a runner of ONNX's own node tests.

    from graphscope.formats.onnx_backend import GraphscopeBackend
    rep = GraphscopeBackend.prepare(model)          # import (graphscope.formats.onnx_import) + optimize
    outputs = rep.run([x])

``run_node_tests()`` runs the node test cases ONNX builds in memory
(``onnx.backend.test.loader.load_node_model_tests()``) and classifies each: passed, failed (wrong
values, shape or dtype), unsupported (the import refused it: an op, attribute or dtype graphscope
does not cover) or excluded (documented below, with the reason). ``benchmarks/onnx_conformance.py``
writes the per-op table; ``tests/onnx`` asserts that every test of a claimed op passes.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphscope.formats.onnx_common import UnsupportedOnnxError, numpy_dtype, require_onnx

onnx = require_onnx("the ONNX backend")
from onnx.backend.base import Backend, BackendRep  # noqa: E402


class GraphscopeRep(BackendRep):
    """A prepared model: the imported (and optionally optimized) graph, run by ``gs.run``.

    graphscope graphs have static shapes. A model whose shapes depend on the *values* of some
    inputs (a Reshape's target shape, Slice's starts, Pad's pads ... fed as graph inputs) is
    specialized at run time: those inputs are bound as constants and one graph is imported per
    distinct value (cached), as ``@gs.function`` retraces per input signature.
    """

    def __init__(self, model: Any, graph: Any, static_inputs: Sequence[str] = (), level: int = 0,
                 backend: str = "numpy", import_kwargs: dict[str, Any] | None = None) -> None:
        self.model = model
        self.graph = graph  # None when the graph depends on the values of ``static_inputs``
        self.static_inputs = list(static_inputs)
        self.level = level
        self.backend = backend
        self.import_kwargs = dict(import_kwargs or {})
        self.input_names = [vi.name for vi in model.graph.input
                            if vi.name not in {i.name for i in model.graph.initializer}]
        self._specialized: dict[bytes, Any] = {}

    def _graph_for(self, feeds: dict[str, np.ndarray]) -> Any:
        if self.graph is not None:
            return self.graph
        names = list(self.static_inputs)
        while True:
            key = b"".join(n.encode() + np.ascontiguousarray(feeds[n]).tobytes() + str(feeds[n].shape).encode()
                           for n in names)
            graph = self._specialized.get(key)
            if graph is not None:
                return graph
            try:
                graph = _import(self.model, self.level, constants={n: feeds[n] for n in names}, **self.import_kwargs)
            except UnsupportedOnnxError as exc:
                more = [n for n in exc.static_inputs if n not in names]
                if not more:
                    raise
                names += more
                continue
            self._specialized[key] = graph
            return graph

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        from graphscope.runtime.run import run

        if isinstance(inputs, dict):
            feeds = {k: np.asarray(v) for k, v in inputs.items()}
        else:
            values = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
            feeds = {k: np.asarray(v) for k, v in zip(self.input_names, values)}
        graph = self._graph_for(feeds)
        graph_feeds = {n.name: feeds[n.name] for n in graph.inputs}
        with np.errstate(all="ignore"):
            outputs = run(graph, graph_feeds, backend=self.backend).outputs
        return tuple(np.asarray(o) for o in outputs)


def _import(model: Any, level: int, **kwargs: Any) -> Any:
    from graphscope.formats.onnx_import import from_onnx
    from graphscope.passes.pipeline import optimize

    graph = from_onnx(model, **kwargs)
    if level:
        with np.errstate(all="ignore"):
            graph, _ = optimize(graph, level)
    return graph


class GraphscopeBackend(Backend):
    """ONNX backend API over graphscope (CPU, NumPy backend by default); ``level`` optimizes the graph."""

    @classmethod
    def prepare(cls, model: Any, device: str = "CPU", level: int = 0, backend: str = "numpy",
                **kwargs: Any) -> GraphscopeRep:
        try:
            graph = _import(model, level, **kwargs)
        except UnsupportedOnnxError as exc:
            if not exc.static_inputs:
                raise
            return GraphscopeRep(model, None, exc.static_inputs, level, backend, kwargs)
        return GraphscopeRep(model, graph, (), level, backend, kwargs)

    @classmethod
    def run_model(cls, model: Any, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.upper().startswith("CPU")


# ---------------------------------------------------------------------------------------------
# node tests

# Documented exclusions: (test name pattern, reason). A matched test is reported, not counted.
EXCLUSIONS: list[tuple[str, str]] = [
    (r"^test_cast(like)?_.*(BFLOAT16|FLOAT8|INT4|UINT4|FLOAT4|STRING|INT2|UINT2)",
     "casts to or from an element type graphscope does not carry"),
    (r"^test_dropout_random|^test_training_dropout(?!_zero_ratio)",
     "Dropout in training mode draws a random mask; graphscope imports inference graphs (Dropout is the identity)"),
    (r"^test_maxpool_with_argmax", "MaxPool's Indices output is not imported"),
    (r"^test_convtranspose_3d$", "ConvTranspose over 3 spatial dimensions (graphscope convolves 1-d and 2-d inputs)"),
    (r"^test_attention_4d_causal_fp16(_expanded)?$",
     "float16 precision: graphscope accumulates float16 matmul/softmax in float32, the reference rounds every step "
     "to float16; 2 of 192 values differ by 2 float16 ulps, just over rtol=1e-3"),
]

STATUSES = ("passed", "failed", "unsupported", "dtype", "excluded")


def exclusion_reason(name: str) -> str | None:
    for pattern, reason in EXCLUSIONS:
        if re.search(pattern, name):
            return reason
    return None


def claimed_ops() -> frozenset[str]:
    from graphscope.formats.onnx_import import SUPPORTED_OPS

    return SUPPORTED_OPS


def in_claimed_scope(op: str, ops: Sequence[str], claimed: frozenset[str] | None = None) -> bool:
    """A test graphscope vouches for: it tests a claimed op and every op in it (expanded tests) is claimed."""
    claimed = claimed_ops() if claimed is None else claimed
    return op in claimed and all(o in claimed for o in ops)


@dataclass
class NodeTestResult:
    name: str
    op: str  # the op under test (for an ``_expanded`` test: the op its function expands)
    expanded: bool
    ops: tuple[str, ...]  # every op type in the test's graph
    status: str  # passed | failed (wrong result or crash) | unsupported (refused at import) | dtype (an element
    # type graphscope does not carry: uint16/32/64, bfloat16, float8, strings, sequences) | excluded (EXCLUSIONS)
    detail: str = ""
    seconds: float = 0.0


@dataclass
class NodeTestCase:
    name: str
    op: str
    expanded: bool
    ops: tuple[str, ...]
    model: Any
    data_sets: list[tuple[list[Any], list[Any]]] = field(repr=False)
    rtol: float = 1e-3
    atol: float = 1e-7


def _base_name(name: str) -> str:
    return re.sub(r"_expanded(_ver\d+)?$", "", name)


def load_node_tests() -> list[NodeTestCase]:
    """ONNX's node test cases, built in memory, each labelled with the op it tests."""
    import warnings

    from onnx.backend.test.loader import load_node_model_tests

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        raw = load_node_model_tests()
    op_of = {c.name: c.model.graph.node[0].op_type for c in raw if "_expanded" not in c.name and c.model.graph.node}
    cases = []
    for c in raw:
        ops = tuple(sorted({n.op_type for n in c.model.graph.node}))
        expanded = "_expanded" in c.name
        op = op_of.get(_base_name(c.name), ops[0] if ops else "?")
        cases.append(NodeTestCase(c.name, op, expanded, ops, c.model, c.data_sets, c.rtol, c.atol))
    return cases


def _as_array(value: Any) -> Any:
    if isinstance(value, onnx.TensorProto):
        from onnx import numpy_helper

        return numpy_helper.to_array(value)
    return value


def _type_problem(case: NodeTestCase) -> str | None:
    """A reason when an input or output uses a type graphscope does not carry (not a tensor, bf16, uint32 ...)."""
    g = case.model.graph
    for vi in list(g.input) + list(g.output):
        if not vi.type.HasField("tensor_type"):
            return f"'{vi.name}' is not a tensor (sequence, map or optional)"
        if numpy_dtype(vi.type.tensor_type.elem_type) is None:
            from graphscope.formats.onnx_common import onnx_type_name

            return f"'{vi.name}' has element type {onnx_type_name(vi.type.tensor_type.elem_type)}"
    return None


def run_case(case: NodeTestCase, level: int = 0) -> NodeTestResult:
    t0 = time.perf_counter()

    def result(status: str, detail: str = "") -> NodeTestResult:
        return NodeTestResult(case.name, case.op, case.expanded, case.ops, status, detail, time.perf_counter() - t0)

    reason = exclusion_reason(case.name)
    if reason:
        return result("excluded", reason)
    problem = _type_problem(case)
    if problem:
        return result("dtype", problem)
    try:
        rep = GraphscopeBackend.prepare(case.model, level=level)
    except UnsupportedOnnxError as exc:
        return result("unsupported", str(exc).split(": ", 1)[-1][:300])
    except Exception as exc:  # noqa: BLE001 - any import failure of a supported op is a failure
        return result("failed", f"import: {type(exc).__name__}: {str(exc)[:300]}")
    for inputs, expected in case.data_sets:
        try:
            got = rep.run([_as_array(v) for v in inputs])
        except UnsupportedOnnxError as exc:
            return result("unsupported", str(exc).split(": ", 1)[-1][:300])
        except Exception as exc:  # noqa: BLE001
            return result("failed", f"run: {type(exc).__name__}: {str(exc)[:300]}")
        expected = [_as_array(v) for v in expected]
        problem = compare_outputs(got, expected, case.rtol, case.atol)
        if problem:
            return result("failed", problem)
    return result("passed")


def compare_outputs(got: Sequence[np.ndarray], expected: Sequence[np.ndarray], rtol: float, atol: float) -> str | None:
    """ONNX's runner's checks (count, shape, dtype, allclose), as a message or None."""
    if len(got) != len(expected):
        return f"{len(got)} outputs, expected {len(expected)}"
    for k, (g, e) in enumerate(zip(got, expected)):
        e = np.asarray(e)
        if g.shape != e.shape:
            return f"output {k}: shape {g.shape}, expected {e.shape}"
        if g.dtype != e.dtype:
            return f"output {k}: dtype {g.dtype}, expected {e.dtype}"
        try:
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)
        except AssertionError as exc:
            lines = [ln for ln in str(exc).splitlines() if ln.strip()][:4]
            return f"output {k}: values differ: {' | '.join(lines)}"
    return None


def run_node_tests(cases: Iterable[NodeTestCase] | None = None, level: int = 0) -> list[NodeTestResult]:
    cases = load_node_tests() if cases is None else cases
    out = []
    for case in cases:
        try:
            out.append(run_case(case, level))
        except Exception:  # noqa: BLE001 - keep going; the table shows it
            out.append(NodeTestResult(case.name, case.op, case.expanded, case.ops, "failed", traceback.format_exc(limit=2)))
    return out


__all__ = [
    "EXCLUSIONS", "STATUSES", "GraphscopeBackend", "GraphscopeRep", "NodeTestCase", "NodeTestResult", "claimed_ops",
    "compare_outputs", "exclusion_reason", "in_claimed_scope", "load_node_tests", "run_case", "run_node_tests",
]
