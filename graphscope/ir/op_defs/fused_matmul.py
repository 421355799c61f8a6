"""The ``fused_matmul`` op: a matrix product with transposed operands and an in-place epilogue.

    fused_matmul(a, b, *extras) {transpose_a, transpose_b, epilogue}

* ``transpose_a`` / ``transpose_b``: the operand's last two axes are swapped first (``a.mT``). The
  kernels pass the swapped *view* to the product (BLAS reads it transposed, no copy; results equal
  ``matmul`` on a transposed copy bit for bit), so a ``transpose`` node feeding a product costs nothing;
* ``epilogue``: a program of elementwise steps (and last-axis reductions) in the format of the ``fused``
  op (``graphscope/ir/op_defs/fused.py``) over the values ``0`` = the product, ``1..`` = ``extras``
  (bias, residual ...), applied to the product *in place*: its result has the product's spec, and every
  value of the program broadcasts to the product's shape, so the kernels overwrite the product's buffer
  element by element (no temporaries). An empty epilogue is the plain product.

Made by the simplification pass (a transpose of the last two axes folded into the product) and by
the pattern fusion pass (``matmul`` + bias + activation, residual adds, scaled-softmax scores). The
reference below evaluates it with catalogue ops only, and ``decompose`` rewrites a node into
``transpose``, ``matmul`` and ``fused`` nodes (for exporters and backends that lack the op).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from graphscope.errors import ShapeError
from graphscope.ir.op_defs.fused import program_specs
from graphscope.ir.ops import OpDef, get_op, register_op
from graphscope.ir.spec import TensorSpec

if TYPE_CHECKING:
    from graphscope.ir.graph import Graph, Node

ATTRS = {"transpose_a": False, "transpose_b": False, "epilogue": ()}


def swapped(spec: TensorSpec) -> TensorSpec:
    """The spec of ``x.mT`` (the last two axes swapped)."""
    if spec.ndim < 2:
        raise ShapeError(f"op 'fused_matmul': a transposed operand must be at least 2-d, got {spec.short()}")
    return TensorSpec(spec.shape[:-2] + (spec.shape[-1], spec.shape[-2]), spec.dtype)


def operand_specs(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> tuple[TensorSpec, TensorSpec]:
    a, b = specs[0], specs[1]
    return (swapped(a) if attrs["transpose_a"] else a), (swapped(b) if attrs["transpose_b"] else b)


def product_spec(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    """The spec of the product before the epilogue (the matmul rule on the possibly transposed operands)."""
    a, b = operand_specs(specs, attrs)
    try:
        return get_op("matmul").infer([a, b], {})
    except ShapeError as exc:
        raise ShapeError(str(exc).replace("op 'matmul'", "op 'fused_matmul'")) from None


def _infer(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    prod = product_spec(specs, attrs)
    epilogue, extras = attrs["epilogue"], tuple(specs[2:])
    if not epilogue:
        if extras:
            raise ShapeError(f"op 'fused_matmul': {len(extras)} extra input(s) but no epilogue reads them")
        return prod
    if prod.ndim < 1:
        raise ShapeError("op 'fused_matmul': an epilogue needs a product of at least one axis")
    all_specs = program_specs((prod,) + extras, epilogue)
    if all_specs[-1] != prod:
        raise ShapeError(f"op 'fused_matmul': the epilogue gives {all_specs[-1].short()}, but it runs in place on the "
                         f"product {prod.short()} and must keep its spec")
    try:
        domain = tuple(np.broadcast_shapes(*(s.shape for s in all_specs)))
    except ValueError:
        domain = ()
    if domain != prod.shape:
        raise ShapeError(f"op 'fused_matmul': epilogue values reach shape {list(domain)}, beyond the product "
                         f"{prod.short()} it overwrites")
    return prod


def _impl(xp, a, b, *extras, transpose_a: bool = False, transpose_b: bool = False, epilogue: tuple = ()):
    if transpose_a:
        a = xp.swapaxes(a, -1, -2)
    if transpose_b:
        b = xp.swapaxes(b, -1, -2)
    out = xp.matmul(a, b)
    if epilogue:
        out = get_op("fused").impl(xp, out, *extras, program=epilogue)
    return out


def _cost(specs: Sequence[TensorSpec], out: TensorSpec, attrs: Mapping[str, Any]) -> tuple[int, int, int]:
    """The product's FLOPs plus the epilogue's; bytes: the operands and extras read, the result written once."""
    a, b = operand_specs(specs, attrs)
    prod = product_spec(specs, attrs)
    flops = get_op("matmul").estimate_cost([a, b], prod, {})[0]
    if attrs["epilogue"]:
        flops += get_op("fused").estimate_cost([prod, *specs[2:]], out, {"program": attrs["epilogue"]})[0]
    return flops, sum(s.nbytes for s in specs), out.nbytes


register_op(OpDef(
    name="fused_matmul", arity=(2, None), infer=_infer, impl=_impl, attrs=dict(ATTRS), cost=_cost,
    doc="matmul(a or a.mT, b or b.mT), then an in-place epilogue program over (product, *extras) "
        "(bias, activation, residual ...): made by the simplification and pattern fusion passes",
))


def _swap_perm(ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim - 2)) + (ndim - 1, ndim - 2)


def decompose(graph: Graph, node: Node) -> Node:
    """Build ``node``'s value from catalogue ops (``transpose``, ``matmul``, ``fused``) in ``graph``; return the last.

    The new nodes carry ``node``'s scope, source and provenance; the caller replaces the uses of
    ``node`` with the returned node and erases it (``decompose_all`` does both for a whole graph).
    """
    a, b, *extras = node.inputs
    kw = {"scope": node.scope, "source": node.source, "provenance": node.provenance}
    base = node.name.rsplit("/", 1)[-1]
    if node.attrs["transpose_a"]:
        a = graph.add_node("transpose", [a], {"perm": _swap_perm(a.spec.ndim)}, name=f"{base}_transpose_a", **kw)
    if node.attrs["transpose_b"]:
        b = graph.add_node("transpose", [b], {"perm": _swap_perm(b.spec.ndim)}, name=f"{base}_transpose_b", **kw)
    out = graph.add_node("matmul", [a, b], name=f"{base}_matmul", **kw)
    if node.attrs["epilogue"]:
        out = graph.add_node("fused", [out, *extras], {"program": node.attrs["epilogue"]}, name=f"{base}_epilogue", **kw)
    return out


def decompose_all(graph: Graph) -> int:
    """Replace every ``fused_matmul`` node of ``graph`` (in place) by its decomposition; returns how many."""
    count = 0
    for node in [n for n in graph.nodes if n.op == "fused_matmul"]:
        graph.replace_all_uses(node, decompose(graph, node))
        graph.erase_node(node)
        count += 1
    return count
