"""ONNX's own backend node tests against graphscope (the ONNX backend in graphscope/formats/onnx_backend.py).

Every op graphscope claims (``SUPPORTED_OPS``) must pass each of its node tests, and each ``_expanded``
test made only of claimed ops, except the documented exclusions and tests whose element types
graphscope does not carry (uint16/32/64, bfloat16, float8, strings ...). benchmarks/onnx_conformance.py
writes the full per-op table (benchmarks/ONNX-CONFORMANCE.md).
"""

from __future__ import annotations

import re

import pytest

from graphscope.formats.onnx_backend import EXCLUSIONS, in_claimed_scope, run_case
from graphscope.formats.onnx_import import HANDLERS, SUPPORTED_OPS

CLAIMED = sorted(SUPPORTED_OPS)

# The minimum: CNN and transformer families.
REQUIRED = {
    "Conv", "ConvTranspose", "BatchNormalization", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm", "MatMul",
    "Relu", "Sigmoid", "Tanh", "Gelu", "Erf", "Softmax", "LayerNormalization", "Concat", "Reshape", "Transpose",
    "Flatten", "Squeeze", "Unsqueeze", "Slice", "Gather", "Shape", "Constant", "ConstantOfShape", "Cast", "Where",
    "Expand", "Pad", "Clip", "Dropout", "Identity", "LRN", "ReduceMean", "ReduceSum", "ReduceMax", "Sqrt", "Pow", "Div",
    "Split", "Add", "Sub", "Mul",
}


@pytest.fixture(scope="module")
def results(node_tests):
    """Each in-scope node test run once: {op: [result, ...]}."""
    out: dict[str, list] = {}
    for case in node_tests:
        if in_claimed_scope(case.op, case.ops, SUPPORTED_OPS):
            out.setdefault(case.op, []).append(run_case(case))
    return out


def test_required_ops_are_claimed():
    assert REQUIRED <= set(HANDLERS), sorted(REQUIRED - set(HANDLERS))


@pytest.mark.parametrize("op", CLAIMED)
def test_claimed_op_passes_its_node_tests(op, results):
    mine = results.get(op, [])
    assert mine, f"no ONNX node test exercises {op}"
    bad = [f"{r.name}: {r.status}: {r.detail}" for r in mine if r.status not in ("passed", "excluded", "dtype")]
    assert not bad, f"{op}: {len(bad)} of {len(mine)} node tests fail:\n" + "\n".join(bad)
    assert any(r.status == "passed" for r in mine), f"{op}: no node test passes (all excluded or of unsupported types)"


def test_every_exclusion_matches_a_test(node_tests):
    names = [c.name for c in node_tests]
    for pattern, reason in EXCLUSIONS:
        assert any(re.search(pattern, n) for n in names), f"stale exclusion {pattern!r} ({reason})"


def test_level2_optimized_graphs_pass_a_sample_of_node_tests(node_tests):
    """The optimizer (fusion, memory plan) on imported graphs: every 7th claimed test, at level 2."""
    sample = [c for c in node_tests if in_claimed_scope(c.op, c.ops, SUPPORTED_OPS)][::7]
    bad = [f"{r.name}: {r.detail}" for r in (run_case(c, level=2) for c in sample) if r.status == "failed"]
    assert not bad, "\n".join(bad)


def test_conformance_file_matches_the_claimed_ops():
    """benchmarks/ONNX-CONFORMANCE.md (written by benchmarks/onnx_conformance.py) lists the ops claimed now: a new
    claimed op needs the file regenerated, so the tracked per-op table never lags behind the code."""
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "ONNX-CONFORMANCE.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    count = re.search(r"^\| claimed ops \| (\d+) \|$", text, re.M)
    assert count and int(count.group(1)) == len(SUPPORTED_OPS), "rerun benchmarks/onnx_conformance.py"
    listed = set(re.findall(r"^\| (\w+) \| yes \|", text, re.M))
    assert listed == set(SUPPORTED_OPS), sorted(listed ^ set(SUPPORTED_OPS))
    assert "## Failures of claimed ops\n\nNone." in text
