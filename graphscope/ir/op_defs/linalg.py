"""Matrix products: matmul (batched, broadcast, 1-d operands as in NumPy) and einsum."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphscope.errors import ShapeError
from graphscope.ir.ops import REQUIRED, OpDef, probe_dtype, register_op
from graphscope.ir.spec import TensorSpec


def _matmul(xp, a, b):
    return xp.matmul(a, b)


def _matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[tuple[int, ...], int, int, int, tuple[int, ...]]:
    """(out shape, M, K, N, batch shape) following numpy.matmul's rules."""
    if not a or not b:
        raise ShapeError(f"op 'matmul': operands must be at least 1-d, got shapes {a} and {b}")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    m, k = a2[-2:]
    k2, n = b2[-2:]
    if k != k2:
        raise ShapeError(f"op 'matmul': inner dimensions differ: {a} @ {b} ({k} != {k2})")
    try:
        batch = tuple(np.broadcast_shapes(a2[:-2], b2[:-2]))
    except ValueError:
        raise ShapeError(f"op 'matmul': batch dimensions of {a} and {b} do not broadcast") from None
    out = batch + ((m,) if len(a) > 1 else ()) + ((n,) if len(b) > 1 else ())
    return out, m, k, n, batch


def _infer_matmul(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    out, *_ = _matmul_shape(specs[0].shape, specs[1].shape)
    return TensorSpec(out, probe_dtype("matmul", specs, attrs))


def _cost_matmul(specs, out, attrs):
    _, m, k, n, batch = _matmul_shape(specs[0].shape, specs[1].shape)
    nb = int(np.prod(batch)) if batch else 1
    return 2 * nb * m * k * n, specs[0].nbytes + specs[1].nbytes, out.nbytes


register_op(OpDef(
    name="matmul", arity=2, infer=_infer_matmul, impl=_matmul, cost=_cost_matmul,
    doc="numpy.matmul: batched and broadcast matrix product",
))


def _einsum(xp, *operands, equation: str):
    out = xp.einsum(equation, *operands, optimize=True)
    if len(operands) == 1 and xp.may_share_memory(out, operands[0]):
        out = out.copy()  # a pure transposition comes back as a view; einsum is not a VIEW op
    return out


def _infer_einsum(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    eq = attrs["equation"]
    try:
        out_shape = _einsum_out_shape(eq, [s.shape for s in specs])
    except ValueError as exc:
        shapes = ", ".join(str(s.shape) for s in specs)
        raise ShapeError(f"op 'einsum': equation {eq!r} does not fit shapes {shapes}: {exc}") from None
    return TensorSpec(out_shape, np.result_type(*[s.dtype for s in specs]))


def _einsum_out_shape(eq: str, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    eq = eq.replace(" ", "")
    lhs, _, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"{len(terms)} operands in the equation, {len(shapes)} given")
    sizes: dict[str, int] = {}
    ell: tuple[int, ...] = ()
    for term, shape in zip(terms, shapes):
        if "..." in term:
            pre, post = term.split("...")
            n_ell = len(shape) - len(pre) - len(post)
            ell_shape = shape[len(pre):len(pre) + n_ell]
            ell = tuple(np.broadcast_shapes(ell, ell_shape))
            letters = list(pre) + list(post)
            dims = shape[:len(pre)] + shape[len(pre) + n_ell:]
        else:
            letters, dims = list(term), shape
            if len(letters) != len(dims):
                raise ValueError(f"term {term!r} has {len(letters)} labels for a {len(dims)}-d operand")
        for c, d in zip(letters, dims):
            if c in sizes and sizes[c] != d and 1 not in (sizes[c], d):
                raise ValueError(f"label {c!r} is {sizes[c]} in one operand and {d} in another")
            sizes[c] = max(sizes.get(c, d), d)
    if "->" not in eq:
        counts = {c: lhs.count(c) for c in sizes}
        rhs = "".join(sorted(c for c, k in counts.items() if k == 1))
        if "..." in lhs:
            rhs = "..." + rhs
    if "..." in rhs:
        pre, post = rhs.split("...")
        return tuple(sizes[c] for c in pre) + ell + tuple(sizes[c] for c in post)
    return tuple(sizes[c] for c in rhs)


def _cost_einsum(specs, out, attrs):
    # Naive contraction cost: one multiply-add per point of the joint index space.
    lhs = attrs["equation"].replace(" ", "").split("->")[0]
    sizes: dict[str, int] = {}
    for term, s in zip(lhs.split(","), specs):
        if "..." not in term:
            sizes.update(zip(term, s.shape))
    return 2 * int(np.prod(list(sizes.values()) or [1])), sum(s.nbytes for s in specs), out.nbytes


register_op(OpDef(
    name="einsum", arity=(1, None), infer=_infer_einsum, impl=_einsum, attrs={"equation": REQUIRED},
    cost=_cost_einsum, doc="numpy.einsum(equation, *operands)",
))
