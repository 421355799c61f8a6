"""Debugging graphs: numerics checks, captured values, value summaries, numerical diffs, eager-vs-graph.

    run = gs.run(g, inputs, check_numerics=True)         # NumericsError names node, op, scope, line
    run = gs.run(g, inputs, capture="encoder/layer0/*")  # run.captured: {node name: array}
    run = gs.run(g, inputs, value_summaries=True)        # run.value_summaries: {node id: ValueSummary}
    d = gs.debug.numerical_diff(g, opt, inputs)          # per-node max abs/rel error, first differing node
    print(gs.explain(f, *args))                          # eager vs graph, level by level, and why

One module per job: ``numerics`` (NaN/Inf checks, NumericsError, localisation inside fused nodes),
``capture`` (selectors, dumps), ``summaries`` (ValueSummary of an array), ``diff`` (per-node
numerical diff), ``explain`` (``gs.explain``), ``observe`` (the observed run ``gs.run`` makes).
"""

from graphscope.debug.capture import dump_captured, load_dump, select_nodes
from graphscope.debug.diff import NodeDiff, NumericalDiff, numerical_diff
from graphscope.debug.explain import Explanation, explain
from graphscope.debug.numerics import NumericsError, record_fused_members
from graphscope.debug.summaries import format_summary, summarize

__all__ = [
    "Explanation", "NodeDiff", "NumericalDiff", "NumericsError", "dump_captured", "explain", "format_summary",
    "load_dump", "numerical_diff", "record_fused_members", "select_nodes", "summarize",
]
