"""Every op of the catalogue against an independent NumPy reference, eagerly and through a graph.

Each case runs three ways: the op's implementation on NumPy arrays (eager ``apply_op``), its shape
rule (the inferred TensorSpec must equal the real output's shape and dtype), and a one-node graph
run on every backend (``BACKENDS``: the runtime's kernels; CuPy cases skip with the reason where no
CUDA device is usable). A new op without a case in ``op_cases.py`` fails ``test_every_op_has_a_case``.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import graphscope as gs
from graphscope.backends import get_backend
from graphscope.backends.cupy_backend import cupy_status
from graphscope.ir.graph import Graph
from graphscope.ir.ops import VIEW, all_ops, freeze, get_op
from graphscope.ir.spec import TensorSpec
from graphscope.trace.tensor import apply_op

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # op_cases.py (this file is also loaded by path)
from op_cases import CASES, NOT_TESTED_HERE, TOL, Case, assert_close  # noqa: E402

__all__ = ["CASES", "TOL"]  # tests/onnx reads the table through this module

_CUPY = cupy_status()
BACKENDS = [
    pytest.param("numpy", id="numpy"),
    pytest.param("cupy", id="cupy", marks=[pytest.mark.gpu, pytest.mark.skipif(_CUPY != "ok", reason=_CUPY)]),
]


def run_graph(graph: Graph, inputs: list, backend: str) -> list:
    """``gs.run`` on ``backend``; a backend that places and runs whole graphs itself (CuPy) is its executor."""
    be = get_backend(backend)
    if getattr(be, "executes_graphs", False):
        return gs.run(graph, inputs, executor=be).outputs
    return gs.run(graph, inputs, backend=be).outputs


# -- the tests ------------------------------------------------------------------------------------


def test_every_op_has_a_case():
    ops = set(all_ops()) - NOT_TESTED_HERE
    missing = sorted(ops - {c.op for c in CASES})
    assert not missing, f"ops without a test case in tests/ops/op_cases.py: {missing}"
    unknown = sorted({c.op for c in CASES} - ops)
    assert not unknown, f"cases for ops that are not in the catalogue: {unknown}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_op_matches_reference(c: Case, backend: str):
    opdef = get_op(c.op)
    want = np.asarray(c.ref(*c.inputs))
    dtype = np.dtype(c.dtype) if c.dtype else want.dtype

    # Eager: NumPy arrays in, the op's implementation runs at once.
    out = np.asarray(apply_op(c.op, c.inputs, c.attrs))
    assert out.dtype == dtype, f"{c.id}: eager dtype {out.dtype} != expected {dtype}"
    assert_close(out, want, dtype, c.tol, f"{c.id} eager")

    # The shape rule agrees with what the implementation produced.
    attrs = opdef.normalize_attrs(c.attrs)
    spec = opdef.infer([TensorSpec.of(a) for a in c.inputs], attrs)
    assert spec == TensorSpec(out.shape, out.dtype), f"{c.id}: inferred {spec.short()} but the output is {out.dtype}{out.shape}"

    # Attributes are JSON-friendly and survive a round trip.
    assert {k: freeze(v) for k, v in json.loads(json.dumps(attrs)).items()} == attrs

    # Through a graph: the runtime's kernel for the op.
    g = Graph(c.op)
    inputs = [g.placeholder(f"in{i}", TensorSpec.of(a)) for i, a in enumerate(c.inputs)]
    node = g.add_node(c.op, inputs, c.attrs)
    g.set_outputs([node])
    g.lint()
    assert node.spec == spec
    got = np.asarray(run_graph(g, c.inputs, backend)[0])
    assert TensorSpec(got.shape, got.dtype) == spec
    assert_close(got, want, dtype, c.tol, f"{c.id} graph on {backend}")


@pytest.mark.parametrize("c", [c for c in CASES if c.op != "identity"], ids=lambda c: c.id)
def test_view_group_matches_numpy(c: Case):
    """VIEW ops return views of their input; every other op returns new memory."""
    out = apply_op(c.op, c.inputs, c.attrs)
    if get_op(c.op).has(VIEW):
        assert np.shares_memory(out, c.inputs[0]) or out.size == 0 or c.inputs[0].size == 0
    else:
        assert not any(np.shares_memory(out, a) for a in c.inputs)
