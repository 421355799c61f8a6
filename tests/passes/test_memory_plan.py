"""The memory plan: lifetimes, in-place reuse, greedy arena placement, the numbers it reports."""

import itertools

import numpy as np
import pytest

import graphscope as gs
from graphscope import samples
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec
from graphscope.passes.memory_plan import ALIGNMENT, memory_plan, plan_memory
from graphscope.passes.pipeline import LEVELS

F64 = "float64"
MIB = 1 << 20


def _chain():
    """x -> exp -> tanh -> mul(exp, tanh) -> sqrt -> out; every value 1 MiB."""
    g = Graph("chain")
    x = g.placeholder("x", TensorSpec((128, 1024), F64))
    a = g.add_node("exp", [x])
    b = g.add_node("tanh", [a])
    c = g.add_node("mul", [a, b])
    d = g.add_node("sqrt", [c])
    g.set_outputs([g.add_node("neg", [d])])
    return g, (x, a, b, c, d)


def _disjoint(s, t):
    return s.offset + s.nbytes <= t.offset or t.offset + t.nbytes <= s.offset


def _check_no_overlap(plan):
    """Two arena storages whose lifetimes overlap never share bytes; offsets are aligned."""
    arena = [s for s in plan.storages if s.kind == "arena"]
    for s in arena:
        assert s.offset % ALIGNMENT == 0 and s.offset + s.nbytes <= plan.arena_bytes
    for s, t in itertools.combinations(arena, 2):
        if s.first <= t.last and t.first <= s.last:
            assert _disjoint(s, t), (s, t)


def test_lifetimes_in_place_and_reuse():
    g, (x, a, b, c, d) = _chain()
    plan = plan_memory(g)
    st = {nid: plan.storages[k] for nid, k in plan.storage_of.items()}
    # the input is never written: exp gets a storage of its own
    assert x.id not in plan.storage_of
    # tanh cannot overwrite exp (exp is read again by mul); mul overwrites one of them, sqrt overwrites mul
    assert st[a.id] is not st[b.id]
    assert plan.in_place[c.id] in (a.id, b.id) and plan.in_place[d.id] == c.id
    # the output is allocated by its kernel (the caller keeps it), not placed in the arena
    out = st[g.outputs[0].id]
    assert out.kind == "heap" and out.offset == -1
    assert plan.arena_bytes == 2 * MIB  # exp and tanh live together; everything after reuses them
    assert plan.in_place_bound_bytes == 2 * MIB  # never more than two storages live at one step
    assert plan.lower_bound_bytes == 3 * MIB  # without in place: mul reads exp and tanh and writes a third
    assert plan.naive_bytes == 3 * MIB  # the in-place chain exp/mul/sqrt, tanh, the output
    assert plan.planned_peak_bytes == plan.arena_bytes + MIB  # the output comes on top of the arena
    _check_no_overlap(plan)


def test_views_keep_their_base_alive_and_outputs_pin_their_base():
    g = Graph("views")
    x = g.placeholder("x", TensorSpec((256, 512), F64))
    a = g.add_node("exp", [x])
    t = g.add_node("transpose", [a])  # a view of a: a lives until t's readers ran
    b = g.add_node("tanh", [x])
    c = g.add_node("add", [t, g.add_node("transpose", [b])])
    r = g.add_node("reshape", [g.add_node("exp", [c])], {"shape": (512 * 256,)})
    g.set_outputs([r])  # a view of exp(c): that exp must not be an arena value
    plan = plan_memory(g)
    sa = plan.storages[plan.storage_of[a.id]]
    assert plan.storage_of[t.id] == plan.storage_of[a.id]
    pos = {nid: k for k, nid in enumerate(plan.order)}
    assert sa.last >= pos[c.id]  # read through the view
    base = r.inputs[0]
    assert plan.storages[plan.storage_of[base.id]].kind == "heap"
    assert plan.offset(base.id) is None and plan.offset(a.id) is not None
    _check_no_overlap(plan)


def test_parallel_ancestors_keep_concurrent_values_apart():
    # Two independent branches: with a parallel schedule (no order between them) nothing is shared.
    g = Graph("branches")
    x = g.placeholder("x", TensorSpec((64, 1024), F64))
    left = g.add_node("exp", [x])
    left2 = g.add_node("tanh", [left])
    right = g.add_node("sin", [x])
    right2 = g.add_node("cos", [right])
    g.set_outputs([g.add_node("add", [left2, right2])])
    order = [left, right, left2, right2, g.outputs[0]]
    seq = plan_memory(g, order)
    # Sequentially: exp dies at tanh (in place), sin at cos (in place): 2 storages at once.
    assert seq.arena_bytes == 2 * 64 * 1024 * 8
    # In parallel: left(0) -> left2(2); right(1) -> right2(3); add(4) after both.
    anc = [0b0, 0b0, 0b01, 0b10, 0b1111]
    par = plan_memory(g, order, ancestors=anc)
    assert par.in_place  # in place along each branch is still fine
    storages = [s for s in par.storages if s.kind == "arena"]
    for s, t in itertools.combinations(storages, 2):
        assert _disjoint(s, t)


@pytest.mark.parametrize("name", samples.names())
def test_placement_is_valid_and_near_the_lower_bound(name):
    fn, inputs = samples.model(name)
    g, _ = gs.optimize(fn.get_graph(*inputs), level=1)
    plan = plan_memory(g)
    _check_no_overlap(plan)
    arena = [s for s in plan.storages if s.kind == "arena"]
    live_arena_peak = max(
        (sum(s.nbytes for s in arena if s.first <= k <= s.last) for k in range(len(plan.order))), default=0)
    assert live_arena_peak <= plan.arena_bytes <= 1.25 * live_arena_peak + ALIGNMENT * len(arena)
    assert plan.in_place_bound_bytes <= plan.planned_peak_bytes <= plan.naive_bytes
    assert plan.in_place_bound_bytes <= plan.lower_bound_bytes


def test_transformer_meets_the_memory_targets():
    from graphscope.backends import get_backend
    from graphscope.runtime.run import get_plan

    fn, inputs = samples.model("transformer")
    g = fn.get_graph(*inputs)
    naive = plan_memory(g).naive_bytes  # the traced graph, every intermediate kept
    opt, _ = gs.optimize(g, level=2)
    plan = get_plan(opt, get_backend("numpy")).memory  # the runtime's plan, with the backend's kernels
    # The bound of the graph as elementwise fusion leaves it (every fused value its own buffer): pattern fusion
    # then runs the products' epilogues in place, which lowers the bound of its own graph to 12 MiB, below what
    # any plan with a persistent arena and a fresh output can reach here (the output, 2 MiB, is made while the
    # FFN's 8 MiB and the residual are live: arena 12 MiB + the output).
    unfused, _ = gs.optimize(g, passes=[p for p in LEVELS[2] if p != "pattern_fusion"])
    assert plan.planned_peak_bytes <= 1.15 * plan_memory(unfused).lower_bound_bytes
    assert plan.planned_peak_bytes <= 0.5 * naive
    # the arena holds exactly the in-place bound; only the output (kept by the caller) comes on top
    out_bytes = sum(o.spec.nbytes for o in opt.outputs)
    assert plan.arena_bytes == plan.in_place_bound_bytes
    assert plan.planned_peak_bytes == plan.in_place_bound_bytes + out_bytes
    assert plan.planned_peak_bytes <= plan.lower_bound_bytes + out_bytes


def test_the_pass_marks_the_graph_and_logs_an_estimate():
    g, _ = _chain()
    result = memory_plan(g.copy())
    meta = result.graph.metadata["memory_plan"]
    assert meta["arena"] is True and meta["estimate"]["arena_bytes"] == 2 * MIB
    assert not result.log.changed  # the graph's structure is untouched
    assert "lower bound" in result.log.notes[0]
    assert "memory_plan" in LEVELS[2] and "memory_plan" in LEVELS[3] and "memory_plan" not in LEVELS[1]
    assert LEVELS[2][-1] == "memory_plan"  # it plans the graph the other passes leave
    opt, log = gs.optimize(g, passes=["memory_plan"])
    assert opt.metadata["memory_plan"]["arena"] and log.passes[-1].name == "memory_plan"
    xv = np.random.default_rng(0).standard_normal((128, 1024))
    np.testing.assert_array_equal(gs.run(opt, [xv]).outputs[0], gs.run(g, [xv]).outputs[0])
