"""Constant folding: nodes whose inputs are all constants are computed once, at optimize time.

A fold whose result would exceed ``max_bytes`` is skipped and logged as blocked (folding
``broadcast_to`` of a scalar into a 1 GiB constant would trade compute for memory badly).
"""

from __future__ import annotations

import time

import numpy as np

from graphscope.ir.graph import Graph
from graphscope.ir.ops import IMPURE, SOURCE, get_op
from graphscope.passes.base import PassLog, PassResult

DEFAULT_MAX_BYTES = 16 * 2**20


def constant_folding(graph: Graph, max_bytes: int = DEFAULT_MAX_BYTES) -> PassResult:
    t0 = time.perf_counter()
    log = PassLog("constant_folding", nodes_before=len(graph))
    origin: dict[int, list[int]] = {}  # new constant id -> original node ids it stands for
    for node in list(graph.nodes):
        opdef = get_op(node.op)
        if opdef.has(SOURCE) or opdef.has(IMPURE) or not node.inputs:
            continue
        if not all(i.op == "constant" for i in node.inputs):
            continue
        if node.spec.nbytes > max_bytes:
            log.blocked.append(([node.id], f"result of {node.spec.nbytes} bytes exceeds the fold cap of {max_bytes}"))
            continue
        value = np.asarray(opdef.impl(np, *[i.value for i in node.inputs], **node.attrs))
        value = value.astype(node.spec.dtype, copy=False).reshape(node.spec.shape)
        base = node.name.rsplit("/", 1)[-1]
        const = graph.constant(value, name=f"{base}_folded", scope=node.scope, source=node.source)
        const.provenance = node.provenance
        graph.replace_all_uses(node, const)
        graph.erase_node(node)
        origin[const.id] = [node.id] + [k for i in node.inputs for k in origin.get(i.id, [])]
        for i in node.inputs:  # constants that only fed this fold are dropped now
            if not i.users and i in graph and i not in graph.outputs:
                graph.erase_node(i)
                log.removed.append(i.id)
    present = {n.id for n in graph.nodes}
    for cid, ids in origin.items():
        if cid in present:
            log.folded.append((sorted(ids), cid))
    log.nodes_after, log.seconds = len(graph), time.perf_counter() - t0
    return PassResult(graph, log)
