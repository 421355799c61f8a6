"""The per-node numerical diff: it names a planted differing node, matches optimized nodes to originals, and
measures float32 against float64; gs.verify names the same node."""

from __future__ import annotations

import numpy as np
import pytest

import graphscope as gs
from graphscope import samples
from graphscope.debug import numerical_diff
from graphscope.debug.diff import compare_values


def test_level_0_vs_level_2_agree_everywhere():
    g, inputs = samples.build("transformer")
    opt, _ = gs.optimize(g, 2)
    d = numerical_diff(g, opt, inputs)
    assert d.first_differing() is None
    assert len(d.nodes) == len(opt) and not d.unmatched  # every optimized node computes an original value
    fused = [r for r in d.nodes if r.op in ("fused", "fused_matmul")]
    assert fused and all(0 <= r.max_abs < 1e-3 for r in fused)
    assert any(r.max_abs > 0 for r in fused)  # fused float32 math differs in the last bits, and the diff sees it
    assert d.outputs[0].close and d.outputs[0].max_rel < 1e-5
    assert "0 differ" in str(d) and "level 2" in d.label_b


def test_the_planted_differing_node_is_named():
    g, inputs = samples.build("redundant")
    opt, _ = gs.optimize(g, level=1)
    tanh = next(n for n in opt.nodes if n.op == "tanh")
    tanh.op = "sin"  # a wrong kernel with the same spec
    opt.version += 1
    d = numerical_diff(g, opt, inputs)
    first = d.first_differing()
    assert first is not None and first.node_id == tanh.id and first.name == "cse/tanh"
    assert first.max_abs > 0.01 and first.mismatched > 0
    order = [r.node_id for r in d.nodes]
    before = d.nodes[:order.index(tanh.id)]
    assert before and all(r.close and r.max_abs == 0 for r in before)  # upstream of the plant: bit-equal
    assert not d.outputs[0].close
    with pytest.raises(gs.VerificationError, match=rf"first differing node: node %{tanh.id} 'cse/tanh'"):
        gs.verify(g, opt, inputs)


def test_float32_against_float64():
    fn, (x,) = samples.model("mlp")
    g32 = fn.get_graph(x)
    g64 = fn.get_graph(x.astype(np.float64))  # the same code traced for float64 inputs
    assert g64.inputs[0].dtype == np.float64
    d = numerical_diff(g64, g32, [x.astype(np.float64)], [x])
    assert not d.unmatched and d.first_differing() is None  # float32's tolerance
    mm = [r for r in d.nodes if r.op == "matmul"]
    assert mm and all(0 < r.max_rel < 1e-5 for r in mm) and {r.dtype_a for r in mm} == {"float64"}
    # With a float64 tolerance the first float32 rounding is where they part.
    strict = numerical_diff(g64, g32, [x.astype(np.float64)], [x], rtol=1e-12, atol=0)
    first = strict.first_differing()
    assert first is not None and first.op in ("matmul", "placeholder", "constant")


def test_compare_values():
    a = np.array([1.0, np.nan, np.inf, 2.0])
    assert compare_values(a, a.copy())[:2] == (True, 0.0)
    close, mabs, mrel, bad = compare_values(a, np.array([1.0, 0.0, np.inf, 2.5]))
    assert not close and mabs == np.inf and bad == 2
    close, mabs, mrel, bad = compare_values(np.array([1, 2, 3]), np.array([1, 2, 4]))
    assert (close, mabs, bad) == (False, 1.0, 1) and mrel == pytest.approx(1 / 3)
    assert compare_values(np.zeros(3), np.zeros(4))[0] is False
