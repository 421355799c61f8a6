"""Dead code elimination: remove nodes whose results reach no graph output."""

from __future__ import annotations

import time

from graphscope.ir.graph import Graph
from graphscope.passes.base import PassLog, PassResult


def dead_code_elimination(graph: Graph) -> PassResult:
    t0 = time.perf_counter()
    log = PassLog("dead_code_elimination", nodes_before=len(graph))
    live: set[int] = set()
    stack = list(graph.outputs)
    while stack:
        n = stack.pop()
        if n.id not in live:
            live.add(n.id)
            stack.extend(n.inputs)
    for n in reversed(graph.nodes):  # users before producers, so each erased node has no users left
        if n.id not in live and n.op != "placeholder":  # inputs stay: they are the graph's signature
            graph.erase_node(n)
            log.removed.append(n.id)
    log.removed.reverse()
    log.nodes_after, log.seconds = len(graph), time.perf_counter() - t0
    return PassResult(graph, log)
