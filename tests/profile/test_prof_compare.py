"""compare(): a planted slowdown is found; optimized nodes are matched by provenance."""

import json

import numpy as np
import pytest

import graphscope as gs
from graphscope.backends import get_backend
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec
from graphscope.profile.compare import compare
from graphscope.profile.text import format_comparison
from graphscope.runtime.run import get_plan

F32 = np.float32


def _model(rng):
    w = rng.standard_normal((128, 128), dtype=F32) * F32(0.1)

    @gs.function
    def model(x):
        h = x @ w
        with gs.name_scope("act"):
            h = np.tanh(h)
            h = h + 1.0
        return (h @ w).sum(axis=0)

    return model, rng.standard_normal((128, 128), dtype=F32)


def test_compare_finds_a_planted_slowdown(rng):
    model, x = _model(rng)
    graph = model.get_graph(x)
    before = gs.run(graph, [x], profile=True, repeat=5, warmup=1).profile

    # Plant the slowdown: the tanh kernel now does its work 30 times.
    plan = get_plan(graph, get_backend("numpy"))
    target = next(n for n in graph.nodes if n.op == "tanh")
    k = next(i for i, s in enumerate(plan.steps) if s.node is target)
    fn, args, out, frees = plan.fast_steps[k]

    def slow(*a, fn=fn):
        for _ in range(29):
            fn(*a)
        return fn(*a)

    plan.fast_steps[k] = (slow, args, out, frees)
    after = gs.run(graph, [x], profile=True, repeat=5, warmup=1).profile

    c = compare(before, after)
    worst = c.nodes[0]
    assert worst.after_ids == [target.id] and worst.name == "act/tanh" and worst.match == "name"
    assert worst.delta_ns > 0 and worst.change_pct > 500
    assert c.slowdowns(min_pct=500)[0] is worst
    assert c.by_op[0].op == "tanh" and c.by_op[0].delta_ns == pytest.approx(worst.delta_ns)
    assert c.speedup < 1.0 and c.after_ns > c.before_ns
    assert c.only_before == [] and c.only_after == []
    assert len(c.nodes) == len([n for n in graph.nodes if n.op not in ("placeholder", "constant")])
    json.dumps(c.to_dict(), allow_nan=False)
    text = format_comparison(c)
    assert "act/tanh" in text and "slower" in text


def test_compare_matches_optimized_nodes_by_provenance():
    x = np.ones((64, 64), F32)
    g1 = Graph("before")
    p = g1.placeholder("x", TensorSpec((64, 64), "float32"))
    a = g1.add_node("exp", [p], name="exp")
    b = g1.add_node("tanh", [a], name="tanh")
    g1.set_outputs([g1.add_node("sum", [b], {"axis": 0}, name="total")])

    g2 = g1.copy()  # what a fusion pass does: the new node remembers the nodes it replaced
    g2.name = "after"
    fused = g2.add_node("sigmoid", [g2.inputs[0]], name="fused", provenance=(a.id, b.id))
    g2.replace_all_uses(g2.node(b.id), fused)
    g2.erase_node(g2.node(b.id))
    g2.erase_node(g2.node(a.id))
    g2.set_outputs(g2.outputs + [g2.add_node("neg", [fused], name="extra")])

    before = gs.run(g1, [x], profile=True, repeat=3).profile
    after = gs.run(g2, [x], profile=True, repeat=3).profile
    c = compare(before, after)
    by_name = {d.name: d for d in c.nodes}
    assert by_name["total"].match == "name"
    assert by_name["fused"].match == "provenance" and by_name["fused"].before_ids == [a.id, b.id]
    assert [r.name for r in c.only_after] == ["extra"] and c.only_before == []
    assert {d.op for d in c.by_op} == {"exp", "tanh", "sigmoid", "neg", "sum"}
    neg = next(d for d in c.by_op if d.op == "neg")
    assert neg.before_count == 0 and neg.after_count == 1 and neg.change_pct is None
