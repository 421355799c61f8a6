"""``gs.verify``: run a graph and its optimized version, compare, and name the first differing node.

The comparison is the per-node numerical diff of ``graphscope.debug.diff`` (values matched by
provenance); the first node of the optimized graph, in topological order, whose value differs from
the original value it computes is where the difference starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphscope.debug.diff import TOLERANCES, numerical_diff
from graphscope.errors import GraphscopeError
from graphscope.ir.graph import Graph


class VerificationError(GraphscopeError, AssertionError):
    """The optimized graph's outputs differ from the original's."""


def verify(original: Graph, optimized: Graph, inputs: Sequence[Any] | Mapping[str, Any],
           rtol: float | None = None, atol: float | None = None) -> list[float]:
    """Raise VerificationError naming the first differing node; return each output's max abs error."""
    d = numerical_diff(original, optimized, inputs, inputs, rtol=rtol, atol=atol)
    errors, failed = [], []
    for k, o in enumerate(d.outputs):
        errors.append(o.max_abs)
        if not o.close or o.dtype_a != o.dtype_b:
            failed.append((k, o.max_abs))
    if not failed:
        return errors
    outs = ", ".join(f"output {k} (max abs error {e:.3g})" for k, e in failed)
    msg = f"optimized graph '{optimized.name}' differs from the original: {outs}"
    first = next((n for n in d.nodes if n.op != "placeholder" and (not n.close or n.dtype_a != n.dtype_b)), None)
    if first is not None:
        msg += (f"; first differing node: {first.describe} computing original {first.ref_describe}, "
                f"max abs error {first.max_abs:.3g}")
    raise VerificationError(msg)


__all__ = ["TOLERANCES", "VerificationError", "verify"]
