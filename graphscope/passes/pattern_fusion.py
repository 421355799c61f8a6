"""Pattern fusion: a matrix product and the elementwise work on its result become one ``fused_matmul`` node.

    matmul(x, w) -> add(., b) -> gelu        ==>  fused_matmul(x, w, b) {epilogue: add, gelu steps}
    matmul(q, k.mT) -> fused(scale, softmax)  ==>  fused_matmul(q, k, transpose_b) {epilogue: scale, softmax}

It runs after elementwise fusion, so it sees the *lowered* programs of the ``fused`` nodes: the
pattern does not depend on how the user spelled the math (``gs.ops.gelu`` or the tanh formula,
``x @ w + b`` or ``b + x @ w``, a softmax op or its NumPy spelling). A product is extended while its
result has exactly one reader, that reader is a ``fused`` node or an elementwise op, and the
reader's result can overwrite the product in place (same spec, every other operand broadcasting to
the product's shape). The epilogue then runs in place on the product's buffer (``out=`` of the
product, then the epilogue's kernel writing over it): one buffer instead of two, no temporaries.

Measured (``benchmarks/bench_fusion.py --only-techniques``, times relative to the product alone): on
the MLP layer (256x1024x1024 f32, bias + relu) a separate fused node into a new buffer costs 1.08x,
the in-place epilogue 1.00x on one thread and 1.04x on two (BLAS's workers still spin right after the
product, so light epilogues stay on one thread); on the FFN (1024x512x2048, bias + GELU) 1.10x
separate, 1.09x in place on two threads, and the buffer saved is 8 MiB. A single elementwise op on a
small product is left alone (``size below the threshold``): the epilogue's compiled call costs more
than the one NumPy call it replaces.

Attention ``softmax(q @ k.mT * scale [+ mask]) @ v`` becomes ``fused_matmul(q, k) {transpose_b,
epilogue: scale, mask, softmax}`` followed by the ``p @ v`` product: the softmax runs in place on the
scores. A dedicated attention node looping over heads so each head's scores stay in cache was
measured and does not pay here (8 batches x 8 heads of 128x64: 1.02x on one lane, 1.06x on two,
against 1.00x for the batched products): BLAS is as fast on the batched scores, and two lanes of
small multi-threaded GEMMs oversubscribe the cores.

Blocked chains are logged with the rule that stopped them (the first words of the reason):
``consumer outside the group`` (the product is read by several nodes or is a graph output),
``not fusible`` (its reader is not elementwise), ``shape the kernel cannot broadcast`` (the result
cannot overwrite the product), ``size below the threshold``.
"""

from __future__ import annotations

import time
from typing import Any

from graphscope.errors import ShapeError
from graphscope.ir.graph import Graph, Node
from graphscope.ir.op_defs.fused import LITERAL, Step, row_mapping
from graphscope.ir.ops import ELEMENTWISE, IMPURE, get_op
from graphscope.passes.base import PassLog, PassResult
from graphscope.passes.fusion import (
    BELOW_THRESHOLD,
    CONSUMER_OUTSIDE,
    NOT_FUSIBLE,
    SHAPE,
    ProgramBuilder,
    _is_literal,
    _lower_checked,
)

PRODUCTS = ("matmul", "fused_matmul")
# A lone elementwise op joins a product's epilogue only from this many output bytes on: below, one
# NumPy call (about 1 us) beats the compiled epilogue's call (about 2 us) and the buffer saved is small.
MIN_SINGLE_OP_BYTES = 64 << 10
# Commutative ops whose operands are put in a canonical order (exact in IEEE arithmetic: a + b == b + a,
# a * b == b * a, NaN and signed zeros included; maximum/minimum are not, for signed zeros).
_CANONICAL = frozenset({"add", "mul"})


def _single_op_program(node: Node, product: Node) -> tuple[tuple[Step, ...], list[Node], list[Node]]:
    """``node`` (an elementwise op reading ``product``) lowered as the fusion pass lowers it.

    Returns (program, inputs, scalar constants folded into it as literals); ``product`` is input 0.
    """
    b = ProgramBuilder()
    b.input(product)
    literals: list[Node] = []
    args = []
    for i in node.inputs:
        if i is not product and _is_literal(i):
            args.append(b.literal(i.value.reshape(-1)[0].item(), i.dtype, i.shape))
            if i not in literals:
                literals.append(i)
        else:
            args.append(b.input(i))
    program, inputs = b.finish(_lower_checked(b, node, args))
    if not inputs or inputs[0] is not product:  # the builder drops unread inputs: keep the product first
        raise ShapeError(f"{node.describe()} does not read the product")
    return program, inputs, literals


def compose(first: tuple[Step, ...], first_inputs: list[Node], second: tuple[Step, ...], second_inputs: list[Node],
            reads: Node) -> tuple[tuple[Step, ...], list[Node]]:
    """The program computing ``second`` where its input ``reads`` is ``first``'s result (or ``first``'s input 0).

    Inputs of the result: ``first``'s, then ``second``'s other inputs not already among them. An empty
    ``first`` means ``reads`` is input 0 itself.
    """
    inputs = list(first_inputs)
    index = {n.id: k for k, n in enumerate(inputs)}
    for n in second_inputs:
        if n is not reads and n.id not in index:
            index[n.id] = len(inputs)
            inputs.append(n)
    n_new = len(inputs)
    n1 = len(first_inputs)
    steps: list[Step] = []
    for op, args, pairs in first:
        steps.append((op, tuple(a if a < n1 else n_new + a - n1 for a in args), pairs))
    result = n_new + len(first) - 1 if first else 0
    n2 = len(second_inputs)
    base = n_new + len(first)
    for op, args, pairs in second:
        new_args = []
        for a in args:
            if a < n2:
                new_args.append(result if second_inputs[a] is reads else index[second_inputs[a].id])
            else:
                new_args.append(base + a - n2)
        steps.append((op, tuple(new_args), pairs))
    return canonical(tuple(steps)), inputs


def canonical(program: tuple[Step, ...]) -> tuple[Step, ...]:
    """Operands of add and mul in ascending order: ``x @ w + b`` and ``b + x @ w`` give one program."""
    return tuple((op, tuple(sorted(args)) if op in _CANONICAL else args, pairs) for op, args, pairs in program)


def describe_epilogue(program: tuple[Step, ...]) -> str:
    """A short account of an epilogue for the log, e.g. ``add, maximum (2 steps)``."""
    ops = [op for op, _, _ in program if op != LITERAL]
    names: list[str] = []
    for op in ops:
        if op not in names:
            names.append(op)
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return f"{shown} ({len(ops)} step{'s' if len(ops) != 1 else ''})"


class _Extension:
    """One product grown by its reader: the new node's inputs, attributes, and the scalar constants it absorbs."""

    def __init__(self, reader: Node, inputs: list[Node], attrs: dict[str, Any], literals: list[Node]) -> None:
        self.reader, self.inputs, self.attrs, self.literals = reader, inputs, attrs, literals


def _extension(graph: Graph, p: Node) -> _Extension | str:
    """How ``p`` (a product) absorbs its one reader, or why it cannot (a blocked reason)."""
    users = {u.id: u for u in p.users}
    if any(o is p for o in graph.outputs):  # looked up each time: a node made by this pass may be an output
        return f"{CONSUMER_OUTSIDE}: product %{p.id} ({p.op}) is a graph output"
    if len(users) != 1:
        readers = ", ".join(f"%{u.id} ({u.op})" for u in users.values())
        return f"{CONSUMER_OUTSIDE}: product %{p.id} ({p.op}) is read by {len(users)} nodes ({readers})"
    (u,) = users.values()
    opdef = get_op(u.op)
    if opdef.has(IMPURE) or not (u.op == "fused" or opdef.has(ELEMENTWISE)):
        return f"{NOT_FUSIBLE}: product %{p.id} ({p.op}) is read by %{u.id} ({u.op}), which is not elementwise"
    if p.op == "fused_matmul":
        attrs = dict(p.attrs)
        first: tuple[Step, ...] = attrs["epilogue"]
        first_inputs = [p] + p.inputs[2:] if first else [p]
    else:
        attrs = {"transpose_a": False, "transpose_b": False, "epilogue": ()}
        first, first_inputs = (), [p]
    literals: list[Node] = []
    if u.op == "fused":
        second, second_inputs = u.attrs["program"], list(u.inputs)
    else:
        if not first and p.spec.nbytes < MIN_SINGLE_OP_BYTES:  # (an existing epilogue takes one more op for free)
            return (f"{BELOW_THRESHOLD}: %{u.id} ({u.op}) alone on the {p.spec.short()} product of %{p.id}: one NumPy "
                    f"call costs less than an epilogue call below {MIN_SINGLE_OP_BYTES >> 10} KiB")
        for i in u.inputs:
            if i is not p and not _is_literal(i) and row_mapping(i.shape, p.shape) is None:
                return f"{SHAPE}: input %{i.id} {i.spec.short()} of %{u.id} ({u.op}) broadcasts along middle axes"
        try:
            second, second_inputs, literals = _single_op_program(u, p)
        except (ShapeError, AssertionError) as exc:
            return f"{NOT_FUSIBLE}: %{u.id} ({u.op}) does not lower to an epilogue ({exc})"
    program, inputs = compose(first, first_inputs, second, second_inputs, p)
    # The product itself is input 0 of the epilogue; the node's inputs are the operands, then the extras.
    extras = inputs[1:]
    attrs["epilogue"] = program
    try:
        spec = get_op("fused_matmul").infer([i.spec for i in p.inputs[:2]] + [e.spec for e in extras],
                                            get_op("fused_matmul").normalize_attrs(attrs))
    except ShapeError as exc:
        return f"{SHAPE}: %{u.id} ({u.op}) cannot overwrite the product %{p.id} {p.spec.short()} in place ({exc})"
    if spec != u.spec:
        return f"{SHAPE}: %{u.id} ({u.op}) gives {u.spec.short()}, not the product's {spec.short()}"
    return _Extension(u, list(p.inputs[:2]) + extras, attrs, literals)


def pattern_fusion(graph: Graph) -> PassResult:
    """Grow every matrix product by the elementwise work on its result (see the module doc)."""
    t0 = time.perf_counter()
    log = PassLog("pattern_fusion", nodes_before=len(graph))
    absorbed: dict[int, list[int]] = {}  # new node id -> original node ids it absorbed
    for node in list(graph.nodes):
        if node not in graph or node.op not in PRODUCTS:
            continue
        p = node
        while True:
            ext = _extension(graph, p)
            if isinstance(ext, str):
                # Logged where elementwise work next to the product stays outside it (a reader that is
                # not elementwise, a reshape say, is no missed fusion).
                if any(u.op == "fused" or get_op(u.op).has(ELEMENTWISE) for u in p.users):
                    log.blocked.append(([p.id] + sorted({u.id for u in p.users}), ext))
                break
            u = ext.reader
            prov = sorted(set(p.provenance) | set(u.provenance) | {q for c in ext.literals for q in c.provenance})
            base = p.name.rsplit("/", 1)[-1].removesuffix("_fused")
            new = graph.add_node("fused_matmul", ext.inputs, ext.attrs, name=f"{base}_fused", scope=u.scope,
                                 source=p.source, provenance=prov)
            graph.replace_all_uses(u, new)
            graph.erase_node(u)
            graph.erase_node(p)
            # The nodes absorbed, by their ids at this stage and, for an elementwise group, the original ids
            # of its members, so a before/after view can map the new node to the user's ops.
            ids = absorbed.pop(p.id, [p.id]) + [u.id] + list(u.provenance)
            for c in ext.literals:
                if c in graph and not c.users and all(o is not c for o in graph.outputs):
                    graph.erase_node(c)
                    log.removed.append(c.id)
                    ids.append(c.id)
            absorbed[new.id] = ids
            p = new
    present = {n.id for n in graph.nodes}
    for nid, ids in absorbed.items():
        if nid in present:
            log.fused.append((sorted(set(ids)), nid))
            log.notes.append(f"%{nid}: {graph.node(nid).name} = product + in-place epilogue "
                             f"{describe_epilogue(graph.node(nid).attrs['epilogue'])}")
    log.nodes_after, log.seconds = len(graph), time.perf_counter() - t0
    return PassResult(graph, log)
