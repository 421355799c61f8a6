"""Numerical diff of two runs: per node, how far one graph's values are from the other's.

    d = numerical_diff(g, opt, inputs)                  # level 0 vs level 2
    d = numerical_diff(g32, g64, inputs)                # float32 vs float64 (inputs cast to g64's dtypes)
    d = numerical_diff(g, g, inputs, backend_b="cupy")  # CPU vs GPU
    print(d); d.first_differing()                       # where the difference starts

Every value of both graphs is computed (nothing released: ``evaluate_all``). Nodes of ``b`` are
matched to nodes of ``a`` by provenance (an optimized node computes the value of the latest of its
original nodes with the same shape; a fused node is matched with its group's root), else by name.
Errors are computed in float64: ``max_abs`` is the largest |a - b|, ``max_rel`` that divided by the
largest |a| (relative to the reference's magnitude, so values near zero do not blow it up). A node
*differs* when ``np.allclose(a, b, rtol, atol)`` fails (NaN equal to NaN), with per-dtype default
tolerances (the looser of the two dtypes): fused and reordered float math differs in the last bits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphscope.ir.graph import Graph, Node

# (rtol, atol) per dtype.
TOLERANCES = {"float16": (1e-2, 1e-3), "float32": (1e-4, 1e-5), "float64": (1e-9, 1e-12)}
_DEFAULT_TOL = (1e-5, 1e-8)


@dataclass
class NodeDiff:
    node_id: int  # in b
    name: str
    op: str
    ref_id: int  # the matched node of a
    ref_name: str
    shape: tuple[int, ...]
    dtype_a: str
    dtype_b: str
    max_abs: float
    max_rel: float
    mismatched: int  # elements outside the tolerance
    close: bool
    source: str | None = None
    describe: str = ""  # b's node, as error messages name it
    ref_describe: str = ""


@dataclass
class NumericalDiff:
    label_a: str
    label_b: str
    nodes: list[NodeDiff]  # matched nodes, in b's topological order
    outputs: list[NodeDiff]  # output k of a vs output k of b
    unmatched: list[int] = field(default_factory=list)  # ids of b's nodes with no counterpart in a
    rtol: float | None = None
    atol: float | None = None

    def first_differing(self) -> NodeDiff | None:
        """The first node (topologically) whose values differ: where the difference starts."""
        return next((d for d in self.nodes if not d.close), None)

    def node(self, key: int | str) -> NodeDiff:
        for d in self.nodes:
            if d.node_id == key or d.name == key:
                return d
        raise KeyError(f"no compared node {key!r} in the diff of {self.label_a} vs {self.label_b}")

    def __str__(self) -> str:
        first = self.first_differing()
        lines = [f"numerical diff {self.label_a} -> {self.label_b}: {len(self.nodes)} nodes compared, "
                 f"{sum(not d.close for d in self.nodes)} differ"
                 + (f"; first: {first.describe} (max abs {first.max_abs:.3g}, rel {first.max_rel:.3g})" if first else "")]
        lines.append(f"  {'node':<44} {'op':<12} {'max abs':>10} {'max rel':>10}  differs")
        for d in self.nodes:
            if d.op in ("placeholder", "constant"):
                continue
            lines.append(f"  {('%' + str(d.node_id) + ' ' + d.name)[:44]:<44} {d.op[:12]:<12} {d.max_abs:>10.3g} "
                         f"{d.max_rel:>10.3g}  {'' if d.close else 'yes (' + str(d.mismatched) + ' elements)'}")
        for k, d in enumerate(self.outputs):
            lines.append(f"  output {k}: max abs {d.max_abs:.3g}, max rel {d.max_rel:.3g}" + ("" if d.close else "  DIFFERS"))
        return "\n".join(lines)


def tolerance(dtype_a: np.dtype, dtype_b: np.dtype, rtol: float | None = None, atol: float | None = None) -> tuple[float, float]:
    """(rtol, atol): the given ones, else the looser default of the two dtypes."""
    ra, aa = TOLERANCES.get(np.dtype(dtype_a).name, _DEFAULT_TOL)
    rb, ab = TOLERANCES.get(np.dtype(dtype_b).name, _DEFAULT_TOL)
    return (rtol if rtol is not None else max(ra, rb)), (atol if atol is not None else max(aa, ab))


def compare_values(a: Any, b: Any, rtol: float | None = None, atol: float | None = None) -> tuple[bool, float, float, int]:
    """(close, max abs error, max rel error, elements outside the tolerance) of two arrays.

    Integers and bools compare exactly; different shapes never match (infinite error).
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False, math.inf, math.inf, max(a.size, b.size)
    if a.size == 0:
        return True, 0.0, 0.0, 0
    a64, b64 = a.astype(np.float64, copy=False).reshape(-1), b.astype(np.float64, copy=False).reshape(-1)
    exact = a.dtype.kind not in "fc" and b.dtype.kind not in "fc"
    rt, at = (0.0, 0.0) if exact else tolerance(a.dtype, b.dtype, rtol, atol)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.isclose(a64, b64, rtol=rt, atol=at, equal_nan=True)
        diff = np.abs(a64 - b64)
        diff[(np.isnan(a64) & np.isnan(b64)) | (np.isinf(a64) & (a64 == b64))] = 0.0  # the same non-finite value
        diff[np.isnan(diff)] = math.inf  # NaN on one side only
        max_abs = float(diff.max())
        finite = np.abs(a64[np.isfinite(a64)])
        ref = float(finite.max()) if finite.size else 0.0
    bad = int(a.size - np.count_nonzero(ok))
    max_rel = max_abs / ref if ref > 0 else (0.0 if max_abs == 0 else math.inf)
    return bad == 0, max_abs, max_rel, bad


def match_nodes(a: Graph, b: Graph) -> dict[int, Node]:
    """b node id -> the node of ``a`` whose value it computes: by provenance, else by name (shapes must agree)."""
    a_by_id = {n.id: n for n in a.nodes}
    a_by_name = {n.name: n for n in a.nodes}
    out: dict[int, Node] = {}
    for n in b.nodes:
        # The latest of its originals with its shape (a fused node computes its group's root, the latest member).
        hit = next((a_by_id[p] for p in sorted(n.provenance, reverse=True)
                    if p in a_by_id and a_by_id[p].spec.shape == n.spec.shape), None)
        if hit is None:
            cand = a_by_name.get(n.name)
            hit = cand if cand is not None and cand.spec.shape == n.spec.shape else None
        if hit is not None:
            out[n.id] = hit
    return out


def _cast_inputs(graph: Graph, inputs: Sequence[Any] | Mapping[str, Any]) -> Any:
    """``inputs`` cast to ``graph``'s declared dtypes (float32 inputs for a float64 graph, ...)."""
    return [np.asarray(v).astype(n.spec.dtype) for v, n in zip(graph.input_values(inputs), graph.inputs)]


def numerical_diff(a: Graph, b: Graph, inputs: Sequence[Any] | Mapping[str, Any],
                   inputs_b: Sequence[Any] | Mapping[str, Any] | None = None, *, backend_a: str = "numpy",
                   backend_b: str = "numpy", rtol: float | None = None, atol: float | None = None,
                   label_a: str | None = None, label_b: str | None = None) -> NumericalDiff:
    """Per-node max absolute/relative error of ``b``'s values against ``a``'s (see the module doc).

    ``inputs_b`` defaults to ``inputs`` cast to ``b``'s input dtypes.
    """
    from graphscope.runtime.run import evaluate_all

    ref = evaluate_all(a, inputs, backend_a)
    got = evaluate_all(b, inputs_b if inputs_b is not None else _cast_inputs(b, inputs), backend_b)
    matches = match_nodes(a, b)
    rows, unmatched = [], []

    def row(nb: Node, na: Node) -> NodeDiff:
        close, mabs, mrel, bad = compare_values(ref[na.id], got[nb.id], rtol, atol)
        return NodeDiff(nb.id, nb.name, nb.op, na.id, na.name, nb.spec.shape, na.dtype.name, nb.dtype.name, mabs, mrel,
                        bad, close, nb.source, nb.describe(), na.describe())

    for nb in b.nodes:
        na = matches.get(nb.id)
        if na is None:
            unmatched.append(nb.id)
            continue
        rows.append(row(nb, na))
    outputs = [row(ob, oa) for oa, ob in zip(a.outputs, b.outputs)]
    la = label_a or _label(a, backend_a)
    lb = label_b or _label(b, backend_b)
    if la == lb:
        la, lb = f"{la} (a)", f"{lb} (b)"
    return NumericalDiff(la, lb, rows, outputs, unmatched, rtol, atol)


def _label(g: Graph, backend: str) -> str:
    level = g.metadata.get("optimization_level")
    dtypes = sorted({n.dtype.name for n in g.inputs if n.dtype.kind == "f"})
    bits = [f"'{g.name}'"] + ([f"level {level}"] if level is not None else []) + dtypes
    bits += [backend] if backend != "numpy" else []
    return " ".join(bits)


__all__ = ["NodeDiff", "NumericalDiff", "TOLERANCES", "compare_values", "match_nodes", "numerical_diff", "tolerance"]
