"""The optimization pipeline: levels of passes, run on a copy, with ``lint()`` after every pass.

    opt, log = gs.optimize(graph, level=2)
    print(log)          # per pass: what it removed, folded, merged, rewrote, fused, and what it could not

Levels: 0 = none; 1 = exact graph cleanups (constant folding, algebraic simplification, CSE,
dead code elimination, transposes folded into products); 2 = level 1 plus the passes that change
how the graph runs (elementwise fusion, pattern fusion of products with their epilogues, the memory
plan); 3 = level 2 plus rewrites that are not bit-exact (``x + 0.0``).
Adding a pass is one file in this package plus one entry in ``PASSES`` and the level lists.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from graphscope.ir.graph import Graph
from graphscope.passes.base import PassLog, PassResult
from graphscope.passes.constant_folding import constant_folding
from graphscope.passes.cse import common_subexpression_elimination
from graphscope.passes.dce import dead_code_elimination
from graphscope.passes.fused_members import FUSING_PASSES, MEMBERS_KEY, record_members
from graphscope.passes.fusion import elementwise_fusion
from graphscope.passes.memory_plan import memory_plan
from graphscope.passes.pattern_fusion import pattern_fusion
from graphscope.passes.simplify import algebraic_simplification

Pass = Callable[[Graph], PassResult]

PASSES: dict[str, Pass] = {
    "constant_folding": constant_folding,
    "algebraic_simplification": algebraic_simplification,
    "algebraic_simplification_unsafe": functools.partial(algebraic_simplification, exact=False),
    "common_subexpression_elimination": common_subexpression_elimination,
    "dead_code_elimination": dead_code_elimination,
    "elementwise_fusion": elementwise_fusion,
    "pattern_fusion": pattern_fusion,
    "memory_plan": memory_plan,
}

_CLEANUP = ["constant_folding", "algebraic_simplification", "common_subexpression_elimination", "dead_code_elimination"]
LEVELS: dict[int, list[str]] = {
    0: [],
    1: _CLEANUP,
    2: _CLEANUP + ["elementwise_fusion", "pattern_fusion", "memory_plan"],
    3: ["constant_folding", "algebraic_simplification_unsafe", "common_subexpression_elimination",
        "dead_code_elimination", "elementwise_fusion", "pattern_fusion", "memory_plan"],
}


@dataclass
class OptimizationLog:
    level: int
    passes: list[PassLog] = field(default_factory=list)
    nodes_before: int = 0
    nodes_after: int = 0

    def __str__(self) -> str:
        lines = [f"optimize level {self.level}: {self.nodes_before} -> {self.nodes_after} nodes"]
        for p in self.passes:
            lines.append("  " + p.summary())
            for rule_from, into, rule in p.rewritten:
                lines.append(f"    rewrote %{','.join(map(str, rule_from))} -> %{into}: {rule}")
            for dup, kept in p.merged:
                lines.append(f"    merged %{dup} into %{kept}")
            for ids, into in p.folded:
                lines.append(f"    folded {['%' + str(i) for i in ids]} into constant %{into}")
            for ids, into in p.fused:
                lines.append(f"    fused {['%' + str(i) for i in ids]} into %{into}")
            if p.removed:
                lines.append(f"    removed {['%' + str(i) for i in p.removed]}")
            for ids, why in p.blocked:
                lines.append(f"    not changed {['%' + str(i) for i in ids]}: {why}")
        return "\n".join(lines)

    def to_list(self) -> list[dict]:
        return [p.to_dict() for p in self.passes]

    def total(self, what: str) -> int:
        return sum(len(getattr(p, what)) for p in self.passes)


def optimize(graph: Graph, level: int = 2, passes: Sequence[str] | None = None) -> tuple[Graph, OptimizationLog]:
    """An optimized copy of ``graph`` and the log of every change. ``graph`` itself is not modified."""
    if passes is None:
        if level not in LEVELS:
            raise ValueError(f"optimization level must be one of {sorted(LEVELS)}, got {level}")
        passes = LEVELS[level]
    unknown = [p for p in passes if p not in PASSES]
    if unknown:
        raise ValueError(f"unknown pass(es) {unknown}; known: {sorted(PASSES)}")
    opt = graph.copy()
    log = OptimizationLog(level, nodes_before=len(graph))
    pre_fusion: tuple[Graph, int] | None = None  # the graph before the first fusing pass (for fused_members)
    for k, name in enumerate(passes):
        if pre_fusion is None and name in FUSING_PASSES:
            pre_fusion = (opt.copy(), k)
        t0 = time.perf_counter()
        result = PASSES[name](opt)
        opt = result.graph
        result.log.seconds = time.perf_counter() - t0
        try:
            opt.lint()
        except Exception as exc:
            raise AssertionError(f"pass '{name}' broke a graph invariant: {exc}") from exc
        log.passes.append(result.log)
    log.nodes_after = len(opt)
    opt.metadata["pass_log"] = log.to_list()
    opt.metadata["optimization_level"] = level
    opt.metadata.pop(MEMBERS_KEY, None)  # records of an earlier optimization name ids of another graph
    if pre_fusion is not None:
        record_members(pre_fusion[0], opt, pre_fusion[1])
    return opt, log
