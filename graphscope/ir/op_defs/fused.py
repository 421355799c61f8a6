"""The ``fused`` op: one node that evaluates a small program of elementwise ops and last-axis reductions.

``attrs["program"]`` is a tuple of steps ``(op, args, attrs)``:

* ``op``: a catalogue op of the ELEMENTWISE group, a reduction (``sum mean max min``), or ``"literal"``
  (a scalar constant folded into the program);
* ``args``: value references: ``0 .. n_inputs-1`` are the node's inputs, ``n_inputs + j`` is step ``j``;
* ``attrs``: the op's attributes as ``(key, value)`` pairs; a literal has ``value``, ``dtype`` and ``shape``.

The node's value is the last step's. The program is hashable and JSON-friendly (tuples become lists
in a file and come back as tuples), and every step is checked by its own op's shape rule, so a graph
with fused nodes still lints, saves, loads, and runs through the generic ``impl(xp, ...)`` (NumPy,
CuPy) one step at a time. Fast kernels (``graphscope/backends/fused_kernels.py``) compile the same
program into one pass over memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from graphscope.errors import ShapeError
from graphscope.ir.ops import ELEMENTWISE, REQUIRED, OpDef, get_op, register_op
from graphscope.ir.spec import TensorSpec, as_dtype

LITERAL = "literal"
REDUCTIONS = frozenset({"sum", "mean", "max", "min"})

Step = tuple[str, tuple[int, ...], tuple[tuple[str, Any], ...]]


def step_attrs(step: Step) -> dict[str, Any]:
    return dict(step[2])


def row_mapping(shape: Sequence[int], domain: Sequence[int]) -> tuple[str, int, str] | None:
    """How a row kernel over ``domain`` (rows = leading axes, columns = last axis) reads an operand.

    Returns (row mode, parameter, column mode): row mode ``id`` (row r), ``zero`` (row 0), ``mod``
    (row r % p: a block repeated along the leading axes) or ``div`` (row r // p: one row per block
    of p rows); column mode ``id`` or ``zero`` (a per-row column). None when none of these fits.
    """
    shape, domain = tuple(shape), tuple(domain)
    if len(shape) > len(domain):
        return None
    if not domain:
        return ("zero", 1, "zero")
    p = (1,) * (len(domain) - len(shape)) + shape
    lead, dlead = p[:-1], domain[:-1]
    if p[-1] == domain[-1]:
        cmode = "id"
    elif p[-1] == 1:
        cmode = "zero"
    else:
        return None
    if lead == dlead:
        return ("id", 1, cmode)
    if all(d == 1 for d in lead):
        return ("zero", 1, cmode)
    k = next(i for i, d in enumerate(lead) if d != 1)
    if lead[k:] == dlead[k:]:
        return ("mod", math.prod(dlead[k:]), cmode)
    k = max(i for i, d in enumerate(lead) if d != 1)
    if lead[:k + 1] == dlead[:k + 1] and all(d == 1 for d in lead[k + 1:]):
        return ("div", math.prod(dlead[k + 1:]), cmode)
    return None


def _check_op(op: str) -> OpDef:
    opdef = get_op(op)
    if not (opdef.has(ELEMENTWISE) or op in REDUCTIONS):
        raise ShapeError(f"op 'fused': step op '{op}' is neither elementwise nor a reduction ({', '.join(sorted(REDUCTIONS))})")
    return opdef


@lru_cache(maxsize=1024)
def program_specs(input_specs: tuple[TensorSpec, ...], program: tuple[Step, ...]) -> tuple[TensorSpec, ...]:
    """The spec of every value of the program: the inputs', then each step's (raises ShapeError)."""
    if not program:
        raise ShapeError("op 'fused': the program is empty")
    specs = list(input_specs)
    for j, step in enumerate(program):
        if len(step) != 3:
            raise ShapeError(f"op 'fused': step {j} is not (op, args, attrs): {step!r}")
        op, args, pairs = step
        attrs = dict(pairs)
        if any(not isinstance(a, int) or isinstance(a, bool) or not 0 <= a < len(specs) for a in args):
            raise ShapeError(f"op 'fused': step {j} ({op}) refers to {args}, but only values 0..{len(specs) - 1} exist before it")
        if op == LITERAL:
            if args or set(attrs) != {"value", "dtype", "shape"}:
                raise ShapeError(f"op 'fused': literal step {j} needs no args and attrs value, dtype, shape; got {step!r}")
            specs.append(TensorSpec(tuple(attrs["shape"]), as_dtype(attrs["dtype"])))
            continue
        opdef = _check_op(op)
        opdef.check_arity(len(args))
        try:
            specs.append(opdef.infer([specs[a] for a in args], opdef.normalize_attrs(attrs)))
        except ShapeError as exc:
            raise ShapeError(f"op 'fused': step {j}: {exc}") from None
    return tuple(specs)


def _infer(specs: Sequence[TensorSpec], attrs: Mapping[str, Any]) -> TensorSpec:
    return program_specs(tuple(specs), attrs["program"])[-1]


@lru_cache(maxsize=1024)
def _parsed(program: tuple[Step, ...], n_inputs: int) -> list[tuple[Any, tuple[int, ...], dict[str, Any], tuple[int, ...]]]:
    """(impl or literal, args, attrs, values that die after this step) per step."""
    last: dict[int, int] = {}
    for j, (_, args, _) in enumerate(program):
        for a in args:
            last[a] = j
    out = []
    for j, (op, args, pairs) in enumerate(program):
        dead = tuple(sorted({a for a in args if last[a] == j and a >= n_inputs}))
        if op == LITERAL:
            out.append((None, args, dict(pairs), dead))
        else:
            opdef = get_op(op)
            out.append((opdef.impl, args, opdef.normalize_attrs(dict(pairs)), dead))
    return out


def literal_array(xp: Any, attrs: Mapping[str, Any]) -> Any:
    return xp.asarray(np.array(attrs["value"], dtype=attrs["dtype"]).reshape(tuple(attrs["shape"])))


def _impl(xp, *arrays, program):
    """Reference evaluation: each step with its op's own implementation, dropping values after their last use."""
    values: dict[int, Any] = dict(enumerate(arrays))
    n = len(arrays)
    result = None
    for j, (impl, args, attrs, dead) in enumerate(_parsed(program, n)):
        if impl is None:
            result = literal_array(xp, attrs)
        else:
            result = impl(xp, *[values[a] for a in args], **attrs)
        values[n + j] = result
        for d in dead:
            del values[d]
    return result


def _cost(specs: Sequence[TensorSpec], out: TensorSpec, attrs: Mapping[str, Any]) -> tuple[int, int, int]:
    """FLOPs of every step; bytes: the inputs read once and the output written once (one pass over memory)."""
    program = attrs["program"]
    all_specs = program_specs(tuple(specs), program)
    flops = 0
    for j, (op, args, pairs) in enumerate(program):
        if op != LITERAL:
            opdef = get_op(op)
            flops += opdef.estimate_cost([all_specs[a] for a in args], all_specs[len(specs) + j],
                                         opdef.normalize_attrs(dict(pairs)))[0]
    return flops, sum(s.nbytes for s in specs), out.nbytes


def format_program(program: Sequence[Step], n_inputs: int) -> str:
    """One line per step, e.g. ``v3 = mul(in0, v2)``; for reports and debugging."""

    def ref(a: int) -> str:
        return f"in{a}" if a < n_inputs else f"v{a - n_inputs}"

    lines = []
    for j, (op, args, pairs) in enumerate(program):
        if op == LITERAL:
            attrs = dict(pairs)
            lines.append(f"v{j} = {attrs['value']!r}:{attrs['dtype']}")
        else:
            extra = "".join(f", {k}={v!r}" for k, v in pairs)
            lines.append(f"v{j} = {op}({', '.join(ref(a) for a in args)}{extra})")
    return "\n".join(lines)


register_op(OpDef(
    name="fused", arity=(1, None), infer=_infer, impl=_impl, attrs={"program": REQUIRED}, cost=_cost,
    doc="a fused group of elementwise ops and last-axis reductions, evaluated as one program "
        "(attrs['program']: steps (op, args, attrs); args index the inputs, then earlier steps)",
))
