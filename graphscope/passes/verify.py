"""``gs.verify``: run a graph and its optimized version, compare, and name the first differing node."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphscope.errors import GraphscopeError
from graphscope.ir.graph import Graph, Node
from graphscope.runtime.run import evaluate_all

# (rtol, atol) per dtype: fused and reordered float math differs in the last bits.
TOLERANCES = {"float16": (1e-2, 1e-3), "float32": (1e-4, 1e-5), "float64": (1e-9, 1e-12)}


class VerificationError(GraphscopeError, AssertionError):
    """The optimized graph's outputs differ from the original's."""


def _close(a: np.ndarray, b: np.ndarray, rtol: float | None, atol: float | None) -> tuple[bool, float]:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False, float("inf")
    if a.dtype.kind not in "fc":
        return bool(np.array_equal(a, b)), float(np.sum(a != b))
    rt, at = TOLERANCES.get(a.dtype.name, (1e-5, 1e-8))
    rt, at = rtol if rtol is not None else rt, atol if atol is not None else at
    ok = np.allclose(a, b, rtol=rt, atol=at, equal_nan=True)
    with np.errstate(invalid="ignore"):
        err = float(np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
    return bool(ok), err


def _representative(node: Node, originals: dict[int, Node]) -> Node | None:
    """The original node whose value ``node`` computes: the latest of its provenance with its spec."""
    for nid in sorted(node.provenance, reverse=True):
        orig = originals.get(nid)
        if orig is not None and orig.spec == node.spec:
            return orig
    return None


def verify(original: Graph, optimized: Graph, inputs: Sequence[Any] | Mapping[str, Any],
           rtol: float | None = None, atol: float | None = None) -> list[float]:
    """Raise VerificationError naming the first differing node; return each output's max abs error."""
    ref = evaluate_all(original, inputs)
    got = evaluate_all(optimized, inputs)
    errors, failed = [], []
    for k, (a, b) in enumerate(zip(original.outputs, optimized.outputs)):
        ok, err = _close(ref[a.id], got[b.id], rtol, atol)
        errors.append(err)
        if not ok:
            failed.append((k, err))
    if not failed:
        return errors
    originals = {n.id: n for n in original.nodes}
    first = None
    for n in optimized.nodes:  # topological: the first mismatch is where the difference starts
        orig = _representative(n, originals)
        if orig is None or n.op in ("placeholder",):
            continue
        ok, err = _close(ref[orig.id], got[n.id], rtol, atol)
        if not ok:
            first = (n, orig, err)
            break
    outs = ", ".join(f"output {k} (max abs error {e:.3g})" for k, e in failed)
    msg = f"optimized graph '{optimized.name}' differs from the original: {outs}"
    if first:
        n, orig, err = first
        msg += (f"; first differing node: {n.describe()} computing original {orig.describe()}, "
                f"max abs error {err:.3g}")
    raise VerificationError(msg)
