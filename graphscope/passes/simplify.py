"""Algebraic simplification: rewrites that remove work without changing any result.

At the default level only rewrites that are exact in floating point (NaN, inf and signed zeros
included) are made: ``x*1``, ``x/1``, ``x-(+0)``, ``x+(-0)``, ``x**1``, ``-(-x)``, identity, casts
to the same dtype, transpose chains (composed; removed when they cancel), reshape chains, and a
transpose of the last two axes folded into the matrix product that reads it (``a @ b.mT`` becomes
``fused_matmul(a, b) {transpose_b}``): the product's kernel hands the swapped *view* to BLAS, which
reads it transposed without a copy (measured here: as fast as a contiguous operand, bit-identical
results, while copying the transpose first costs a pass over it), so the node goes away exactly.
``x + 0.0`` is *not* exact (``-0.0 + 0.0`` is ``+0.0``): it is rewritten only with
``exact=False`` (optimization level 3), and logged as blocked otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from graphscope.ir.graph import Graph, Node
from graphscope.passes.base import PassLog, PassResult

Rewrite = tuple[Node, str] | None


def _const_all(node: Node, value: float, *, negative_zero: bool | None = None) -> bool:
    """True when ``node`` is a constant whose every element equals ``value`` (and zero sign, if asked)."""
    if node.op != "constant" or node.value.size == 0:
        return False
    v = node.value
    if not np.all(v == value):
        return False
    if negative_zero is not None and v.dtype.kind == "f":
        return bool(np.all(np.signbit(v) == negative_zero))
    return True


def _operand_and_constant(node: Node) -> tuple[Node, Node] | None:
    a, b = node.inputs
    if b.op == "constant":
        return a, b
    if a.op == "constant" and node.op in ("mul", "add"):
        return b, a
    return None


class _Simplifier:
    def __init__(self, graph: Graph, exact: bool, log: PassLog) -> None:
        self.graph, self.exact, self.log = graph, exact, log

    def rule(self, node: Node) -> Rewrite:
        fn: Callable[[Node], Rewrite] | None = getattr(self, f"_{node.op}", None)
        return fn(node) if fn else None

    def _mul(self, node: Node) -> Rewrite:
        pair = _operand_and_constant(node)
        if pair and _const_all(pair[1], 1) and pair[0].spec == node.spec:
            return pair[0], "x*1 -> x"
        return None

    def _div(self, node: Node) -> Rewrite:
        x, c = node.inputs
        if _const_all(c, 1) and x.spec == node.spec:
            return x, "x/1 -> x"
        return None

    def _pow(self, node: Node) -> Rewrite:
        x, c = node.inputs
        if _const_all(c, 1) and x.spec == node.spec:
            return x, "x**1 -> x"
        return None

    def _sub(self, node: Node) -> Rewrite:
        x, c = node.inputs
        if x.spec == node.spec and (_const_all(c, 0, negative_zero=False) or
                                    (_const_all(c, 0) and node.spec.dtype.kind != "f")):
            return x, "x-0 -> x"
        return None

    def _add(self, node: Node) -> Rewrite:
        pair = _operand_and_constant(node)
        if not pair or pair[0].spec != node.spec or not _const_all(pair[1], 0):
            return None
        x, c = pair
        if node.spec.dtype.kind != "f" or _const_all(c, 0, negative_zero=True) or not self.exact:
            return x, "x+0 -> x"
        self.log.blocked.append(([node.id], "x + 0.0 -> x is not exact for x = -0.0 (gives +0.0); made at level 3"))
        return None

    def _neg(self, node: Node) -> Rewrite:
        (x,) = node.inputs
        if x.op == "neg":
            return x.inputs[0], "-(-x) -> x"
        return None

    def _identity(self, node: Node) -> Rewrite:
        return node.inputs[0], "identity -> x"

    def _cast(self, node: Node) -> Rewrite:
        (x,) = node.inputs
        if x.spec.dtype == node.spec.dtype:
            return x, "cast to the same dtype -> x"
        return None

    def _transpose(self, node: Node) -> Rewrite:
        (x,) = node.inputs
        nd = node.spec.ndim
        perm = node.attrs["perm"] or tuple(reversed(range(nd)))
        if tuple(perm) == tuple(range(nd)):
            return x, "identity transpose -> x"
        if x.op != "transpose" or self._folds_into_products(node):
            return None  # a swap that only products read folds into them instead (one node fewer either way)
        inner = x.attrs["perm"] or tuple(reversed(range(nd)))
        composed = tuple(inner[p] for p in perm)
        src = x.inputs[0]
        if composed == tuple(range(nd)):
            return src, "transpose(transpose(x)) -> x"
        new = self.graph.add_node("transpose", [src], {"perm": composed}, name="transpose", scope=node.scope,
                                  source=node.source, provenance=node.provenance + x.provenance)
        return new, "transpose(transpose(x)) -> transpose(x)"

    # -- transposes folded into matrix products ---------------------------------------------------
    def _folds_into_products(self, t: Node) -> bool:
        """``t`` swaps the last two axes and is read only as an operand of products (so it dies when folded)."""
        nd = t.spec.ndim
        if t.op != "transpose" or nd < 2 or not t.users or t in self.graph.outputs:
            return False
        perm = tuple(t.attrs["perm"] or reversed(range(nd)))
        if perm != tuple(range(nd - 2)) + (nd - 1, nd - 2):
            return False
        return all(u.op in ("matmul", "fused_matmul") and t not in u.inputs[2:] for u in t.users)

    def _fold_transposes(self, node: Node, attrs: dict) -> Rewrite:
        inputs = list(node.inputs)
        folded: list[Node] = []
        keys: list[str] = []
        for k, key in ((0, "transpose_a"), (1, "transpose_b")):
            t = inputs[k]
            if self._folds_into_products(t):
                inputs[k] = t.inputs[0]
                attrs[key] = not attrs[key]
                folded.append(t)
                keys.append(key)
        if not folded:
            return None
        prov = tuple(sorted(set(node.provenance).union(*(t.provenance for t in folded))))
        new = self.graph.add_node("fused_matmul", inputs, attrs, name=node.name.rsplit("/", 1)[-1], scope=node.scope,
                                  source=node.source, provenance=prov)
        return new, f"{node.op} of a transposed operand -> fused_matmul, last-two-axes transpose folded ({', '.join(keys)})"

    def _matmul(self, node: Node) -> Rewrite:
        if node.inputs[0].spec.ndim < 2 or node.inputs[1].spec.ndim < 2:
            return None
        return self._fold_transposes(node, {"transpose_a": False, "transpose_b": False, "epilogue": ()})

    def _fused_matmul(self, node: Node) -> Rewrite:
        return self._fold_transposes(node, dict(node.attrs))

    def _reshape(self, node: Node) -> Rewrite:
        (x,) = node.inputs
        if x.spec.shape == node.spec.shape:
            return x, "reshape to the same shape -> x"
        if x.op == "reshape":
            src = x.inputs[0]
            if src.spec.shape == node.spec.shape:
                return src, "reshape(reshape(x)) -> x"
            new = self.graph.add_node("reshape", [src], {"shape": node.spec.shape}, name="reshape", scope=node.scope,
                                      source=node.source, provenance=node.provenance + x.provenance)
            return new, "reshape(reshape(x)) -> reshape(x)"
        return None


def algebraic_simplification(graph: Graph, exact: bool = True, max_rounds: int = 8) -> PassResult:
    t0 = time.perf_counter()
    log = PassLog("algebraic_simplification", nodes_before=len(graph))
    simp = _Simplifier(graph, exact, log)
    for _ in range(max_rounds):
        changed = False
        for node in list(graph.nodes):
            if node not in graph:
                continue
            rewrite = simp.rule(node)
            if rewrite is None:
                continue
            new, rule = rewrite
            graph.replace_all_uses(node, new)
            log.rewritten.append(([node.id], new.id, rule))
            changed = True
            # Drop the rewritten node and any producers it alone kept alive.
            stack = [node]
            while stack:
                n = stack.pop()
                if n in graph and not n.users and n not in graph.outputs and n.op != "placeholder":
                    graph.erase_node(n)
                    log.removed.append(n.id)
                    stack.extend(n.inputs)
        if not changed:
            break
    # A blocked rewrite is logged once per round it was seen; keep one entry per node.
    seen: set[tuple[int, ...]] = set()
    log.blocked = [b for b in log.blocked if not (tuple(b[0]) in seen or seen.add(tuple(b[0])))]
    log.nodes_after, log.seconds = len(graph), time.perf_counter() - t0
    return PassResult(graph, log)
