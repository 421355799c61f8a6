"""gs.explain: eager vs graph per level, with the difference attributed (structure and signs, not timings)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphscope as gs
from graphscope import samples
from graphscope.debug.explain import reference_eager


@pytest.fixture(scope="module")
def transformer_explanation():
    fn, inputs = samples.model("transformer")
    return gs.explain(fn, *inputs, levels=(0, 2), repeat=3, parallel=False)


def test_transformer_graph_speedup_is_reported_and_attributed(transformer_explanation):
    ex = transformer_explanation
    assert ex.name == "transformer" and ex.eager_baseline == "python function"
    assert [r.level for r in ex.levels] == [0, 2] and ex.best_level == 2
    l0, l2 = ex.level(0), ex.level(2)
    # Fusion removes the slow x**3 of the GELU (about 2/3 of the eager time): a margin no noise closes.
    assert ex.speedup > 1 and l2.speedup == ex.speedup
    assert l2.compute_nodes < l0.compute_nodes and l2.fused_nodes > 0 and l2.nodes_fused > l2.fused_nodes
    assert l0.max_abs_error == 0.0 and 0 <= l2.max_abs_error < 1e-3  # the same values as eager
    a = ex.attribution
    assert a.level == 2 and a.fusion is not None
    assert a.fusion.groups == l2.fused_nodes and a.fusion.nodes_fused == l2.nodes_fused
    assert a.fusion.unfused_ns > a.fusion.fused_ns > 0 and a.fusion_ns == a.fusion.saved_ns > 0
    parts = a.dispatch_ns + a.cleanup_ns + a.fusion_ns + a.memory_ns + a.unexplained_ns
    assert parts == pytest.approx(a.total_ns, rel=1e-9, abs=1)  # the parts add up to the measured difference
    assert a.total_ns == pytest.approx(ex.eager_ns - l2.median_ns)
    assert a.eager_ops == l0.compute_nodes and a.graph_nodes == l2.compute_nodes
    assert a.per_node_ns > 0 and a.graph_dispatch_ns == pytest.approx(a.graph_nodes * a.per_node_ns)
    assert a.unexplained_ns == pytest.approx(a.graph_dispatch_ns - a.graph_outside_kernels_ns, abs=1)
    # Memory: the plan's arena and fewer allocations, from the profiles.
    assert l2.arena_bytes > 0 and l2.allocations < l0.allocations and l2.peak_bytes < l0.peak_bytes
    assert ex.eager_traced_peak_bytes > 0 and l0.traced_peak_bytes > 0
    assert ex.parallel is None


def test_explanation_text(transformer_explanation):
    text = str(transformer_explanation)
    assert text.startswith("gs.explain 'transformer': eager ")
    for word in ("dispatch", "cleanup", "fusion", "memory", "unexplained", "fused groups", "NumPy calls", "arena"):
        assert word in text, word
    assert "level 2 (" in text and "x faster" in text


def test_explain_a_graph_with_parallel_runs(rng):
    fn, inputs = samples.model("inception")
    g = fn.get_graph(*inputs)
    ex = gs.explain(g, inputs, levels=(0, 1), repeat=2)
    assert ex.eager_baseline == "node references" and ex.attribution.fusion is None
    assert ex.attribution.fusion_ns == 0 and ex.attribution.memory_ns == 0
    p = ex.parallel
    assert p is not None and p.level == ex.best_level and p.mode in ("parallel", "sequential") and p.lanes >= 1
    assert p.median_ns > 0 and p.sequential_ns > 0 and math.isfinite(p.overlap) and p.overlap > 0
    assert "parallel=True" in str(ex)


def test_reference_eager_equals_the_graph(mlp):
    out = reference_eager(mlp.graph)([mlp.x])
    np.testing.assert_allclose(out[0], gs.run(mlp.graph, [mlp.x]).outputs[0], rtol=1e-6, atol=1e-7)


def test_bad_arguments(mlp):
    with pytest.raises(ValueError, match="level 0"):
        gs.explain(mlp.fn, mlp.x, levels=(1, 2))
    with pytest.raises(ValueError, match="unknown optimization level"):
        gs.explain(mlp.fn, mlp.x, levels=(0, 9))
    with pytest.raises(TypeError, match="@gs.function or a Graph"):
        gs.explain(lambda x: x, mlp.x)
    with pytest.raises(TypeError, match="one list"):
        gs.explain(mlp.graph, mlp.x, mlp.x)
