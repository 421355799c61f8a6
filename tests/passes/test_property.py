"""Property: on random graphs from the op catalogue, every optimization level keeps the outputs, and
every pass keeps the graph's invariants (``lint()``).

The graphs (``random_graphs.py``) mix broadcasting, shared subexpressions, dead branches, constants,
algebraic no-ops, products and reductions. Each level's passes run one by one with ``lint()`` after
each; the optimized graph runs with its memory plan (arena and in-place reuse) and ``gs.verify``
compares its outputs with the unoptimized graph's. A graph that computes in float32 anywhere is
compared at float32 tolerances even where an output is float64 (a cast of float32 math).

The fused kernels run on the NumPy engine for many graphs (cheap) and on the default engine (numba,
one compile per new program) for fewer. Bugs these tests found and that are fixed: a value read twice
by one step of the NumPy engine had its buffer freed twice (``where(c, x, x)``: wrong results); the
memory plan let a fused node write over an input it reads along the columns of every row; pattern
fusion looked up graph outputs once, before its own rewrites made new ones.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from hypothesis import HealthCheck, given, settings

import graphscope as gs
from graphscope.backends import fused_kernels as fk
from graphscope.passes.pipeline import LEVELS, PASSES

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from random_graphs import graphs, random_graph  # noqa: E402

SETTINGS = {"deadline": None, "derandomize": True, "database": None,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}


def _tolerances(graph) -> dict:
    return {"rtol": 1e-4, "atol": 1e-5} if any(n.dtype.name == "float32" for n in graph.nodes) else {}


def check_every_level(graph, inputs, engine: str) -> None:
    for level in sorted(LEVELS):
        opt = graph.copy()
        for name in LEVELS[level]:
            opt = PASSES[name](opt).graph
            try:
                opt.lint()
            except Exception as exc:
                raise AssertionError(f"level {level}: pass '{name}' broke an invariant: {exc}\n{graph}") from exc
        with fk.use_engine(engine):
            try:
                gs.verify(graph, opt, inputs, **_tolerances(graph))
                if level >= 2:  # a second run reuses the arena: nothing of the first may leak into it
                    gs.verify(graph, opt, inputs, **_tolerances(graph))
            except AssertionError as exc:
                raise AssertionError(f"level {level} ({engine} engine): {exc}\n{graph}\n{opt}") from exc


@settings(max_examples=250, **SETTINGS)
@given(graphs())
def test_optimized_graphs_equal_the_original_numpy_engine(case):
    check_every_level(*case, engine="numpy")


@settings(max_examples=80, **SETTINGS)
@given(graphs())
def test_optimized_graphs_equal_the_original_default_engine(case):
    check_every_level(*case, engine="auto")


def test_the_generator_covers_what_the_passes_look_for():
    """The random graphs exercise every pass: over a fixed set of seeds, each pass changes something."""
    changed: dict[str, int] = {}
    ops: set[str] = set()
    for seed in range(60):
        g, inputs = random_graph(seed)
        ops |= set(g.op_counts())
        assert [x.shape for x in inputs] == [n.shape for n in g.inputs]
        assert all(np.all(np.isfinite(x)) and np.any(x != 0) for x in inputs if x.size)
        _, log = gs.optimize(g, level=3)
        for p in log.passes:
            changed[p.name] = changed.get(p.name, 0) + int(p.changed)
    for name in ("constant_folding", "algebraic_simplification", "common_subexpression_elimination",
                 "dead_code_elimination", "elementwise_fusion", "pattern_fusion"):
        assert changed.get(name, 0) >= 3, f"pass {name} changed only {changed.get(name, 0)} of 60 random graphs"
    assert {"matmul", "transpose", "reshape", "where", "cast", "softmax", "layer_norm", "sum", "constant"} <= ops


def test_seeded_graphs_are_reproducible():
    a, xa = random_graph(11)
    b, xb = random_graph(np.random.default_rng(11))
    assert str(a) == str(b) and all(np.array_equal(x, y) for x, y in zip(xa, xb))
