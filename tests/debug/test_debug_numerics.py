"""check_numerics: planted NaN/Inf found at the right node and source line, at level 0 and inside fused nodes."""

from __future__ import annotations

import numpy as np
import pytest
from debug_models import epilogue_model, log_inputs, log_model, norm_inputs, norm_model, source_of

import graphscope as gs
from graphscope.debug import record_fused_members


def _raise(graph, inputs, **kw) -> gs.NumericsError:
    with pytest.raises(gs.NumericsError) as info:
        gs.run(graph, inputs, check_numerics=True, **kw)
    return info.value


def _optimized(fn, inputs, level=2, record=True):
    g = fn.get_graph(*inputs)
    opt, _ = gs.optimize(g, level)
    assert opt.metadata.get("fused_members")  # gs.optimize records the members of its fused nodes
    if not record:
        del opt.metadata["fused_members"]  # as a graph optimized elsewhere, without the record, would be
    return g, opt


def test_log_of_a_negative_at_level_0(rng):
    inputs = log_inputs(rng)
    g = log_model.get_graph(*inputs)
    err = _raise(g, inputs)
    h = inputs[0] @ inputs[1]
    assert err.name == "enc/log" and err.op == "log" and err.scope == "enc"
    assert err.source == source_of("PLANT-LOG")
    assert err.nan_count == int(np.count_nonzero(h < 0)) > 0 and err.inf_count == 0
    assert err.fused is None
    (label, s), = err.inputs  # the log's input: the product, summarized
    assert "enc/matmul" in label and s.shape == h.shape
    assert s.min == pytest.approx(float(h.min()), rel=1e-6) and s.max == pytest.approx(float(h.max()), rel=1e-6)
    text = str(err)
    assert "'enc/log' (log, scope 'enc'" in text and f"produced {err.nan_count} NaN" in text and "debug_models.py:" in text
    assert isinstance(err, FloatingPointError) and isinstance(err, gs.GraphscopeError)


def test_log_of_a_negative_inside_a_fused_node(rng):
    inputs = log_inputs(rng)
    g, opt = _optimized(log_model, inputs)
    (fused,) = [n for n in opt.nodes if n.op == "fused"]
    assert not any(n.name == "enc/log" for n in opt.nodes)  # the log is inside the fused node
    err = _raise(opt, inputs)
    plain = _raise(g, inputs)
    assert (err.name, err.op, err.source, err.node_id) == (plain.name, plain.op, plain.source, plain.node_id)
    assert err.nan_count == plain.nan_count
    assert err.fused is not None and err.fused.fused_id == fused.id and err.fused.member["name"] == "enc/log"
    assert f"inside fused node %{fused.id}" in str(err) and "re-running its group unfused" in str(err)


def test_zero_over_zero_at_level_0_and_inside_a_fused_group(rng):
    inputs = norm_inputs(rng, zero_row=3)
    g, opt = _optimized(norm_model, inputs)
    for graph in (g, opt):
        err = _raise(graph, inputs)
        assert err.name == "norm/div" and err.op == "div" and err.source == source_of("PLANT-DIV")
        assert err.nan_count == 64 and err.inf_count == 0  # the zero row: 0/0 in each of its 64 columns
    assert err.fused is not None and err.fused.fused_name.endswith("_fused")
    labels = [label for label, _ in err.inputs]
    assert any("norm/abs" in x for x in labels) and any("norm/sum" in x for x in labels)
    sums = dict(err.inputs)
    s = next(v for k, v in sums.items() if "norm/sum" in k)
    assert s.min == 0.0 and s.shape == (8, 1)  # the zero denominator is visible in the summary


def test_inside_a_matmul_epilogue_at_level_2(rng):
    x = rng.standard_normal((32, 48)).astype(np.float32)
    w = rng.standard_normal((48, 64)).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    g, opt = _optimized(epilogue_model, [x, w, b])
    (fm,) = [n for n in opt.nodes if n.op == "fused_matmul"]
    err = _raise(opt, [x, w, b])
    assert err.name == "proj/log" and err.source == source_of("PLANT-EPILOGUE")
    assert err.fused.fused_id == fm.id
    assert err.nan_count == int(np.count_nonzero(x @ w + b < 0))


def test_unrecorded_fused_node_names_the_step(rng):
    inputs = log_inputs(rng)
    _, opt = _optimized(log_model, inputs, record=False)
    err = _raise(opt, inputs)
    assert err.op == "fused" and err.fused is not None and err.fused.member is None
    assert err.fused.step_op == "log" and "log(in0)" in err.fused.step_text
    assert "record_fused_members" in str(err)
    assert record_fused_members(log_model.get_graph(*inputs), opt) >= 1  # adds the record back
    assert _raise(opt, inputs).name == "enc/log"


def test_record_survives_save_and_load(rng, tmp_path):
    inputs = norm_inputs(rng)
    _, opt = _optimized(norm_model, inputs)
    gs.save(opt, tmp_path / "opt.gsg")
    err = _raise(gs.load(tmp_path / "opt.gsg"), inputs)
    assert err.name == "norm/div" and err.source == source_of("PLANT-DIV")


def test_every_level_and_parallel(rng):
    inputs = log_inputs(rng)
    g = log_model.get_graph(*inputs)
    for level in (1, 3):
        opt, _ = gs.optimize(g, level)
        assert _raise(opt, inputs).name == "enc/log"
    assert _raise(g, inputs, parallel=True).name == "enc/log"  # observed sequentially
    assert _raise(g, inputs, profile=True, repeat=3).name == "enc/log"


def test_inputs_and_constants_are_checked(rng):
    inputs = log_inputs(rng)
    inputs[1][2, 3] = np.inf
    err = _raise(log_model.get_graph(*inputs), inputs)
    assert err.op == "placeholder" and err.name == "w" and err.inf_count == 1 and "graph input" in str(err)

    bad = np.full(4, np.nan, np.float32)

    @gs.function
    def with_constant(x):
        return x * gs.constant(bad, name="weights")

    x = np.ones(4, np.float32)
    err = _raise(with_constant.get_graph(x), [x])
    assert err.op == "constant" and err.nan_count == 4 and "constant" in str(err)


def test_finite_runs_pass_and_outputs_are_unchanged(rng):
    x = np.abs(rng.standard_normal((16, 32))).astype(np.float32) + 0.5
    w = np.abs(rng.standard_normal((32, 24))).astype(np.float32)
    for level in (0, 2):
        g, _ = log_model.get_graph(x, w), None
        graph = g if level == 0 else gs.optimize(g, level)[0]
        plain = gs.run(graph, [x, w]).outputs[0]
        checked = gs.run(graph, [x, w], check_numerics=True).outputs[0]
        np.testing.assert_array_equal(checked, plain)
        expect = np.tanh(np.log(x @ w) * 2 + 1).sum(axis=-1)
        np.testing.assert_allclose(plain, expect, rtol=1e-5)


def test_infinity_is_reported_like_nan(rng):
    @gs.function
    def recip(x):
        with gs.name_scope("r"):
            return 1.0 / x  # PLANT-INF

    x = rng.standard_normal(10).astype(np.float32)
    x[[2, 7]] = 0.0
    err = _raise(recip.get_graph(x), [x])
    assert err.inf_count == 2 and err.nan_count == 0 and "2 Inf" in str(err)
