"""Common subexpression elimination: one node per (op, attributes, inputs); equal constants merged.

Commutative ops are keyed with their inputs sorted, so ``a + b`` and ``b + a`` merge. The kept node
inherits the provenance of the ones merged into it, so their cost maps back to every source line.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np

from graphscope.ir.graph import Graph, Node
from graphscope.ir.ops import COMMUTATIVE, IMPURE, get_op
from graphscope.passes.base import PassLog, PassResult


def _key(node: Node) -> Any:
    if node.op == "constant":
        v = node.value
        digest = hashlib.blake2b(np.ascontiguousarray(v).tobytes(), digest_size=16).hexdigest()
        return ("constant", v.dtype.str, v.shape, digest)
    ids = [i.id for i in node.inputs]
    if get_op(node.op).has(COMMUTATIVE):
        ids.sort()
    return (node.op, tuple(ids), tuple(sorted(node.attrs.items())))


def common_subexpression_elimination(graph: Graph) -> PassResult:
    t0 = time.perf_counter()
    log = PassLog("common_subexpression_elimination", nodes_before=len(graph))
    seen: dict[Any, Node] = {}
    for node in list(graph.nodes):
        if node.op == "placeholder" or get_op(node.op).has(IMPURE):
            continue
        key = _key(node)
        kept = seen.get(key)
        if kept is None or (node.op == "constant" and not np.array_equal(kept.value, node.value, equal_nan=True)):
            seen[key] = node
            continue
        graph.replace_all_uses(node, kept)
        kept.provenance = tuple(sorted(set(kept.provenance) | set(node.provenance)))
        graph.erase_node(node)
        log.merged.append((node.id, kept.id))
    log.nodes_after, log.seconds = len(graph), time.perf_counter() - t0
    return PassResult(graph, log)
