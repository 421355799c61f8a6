"""Batch-polymorphic rebuild: the same graph for another batch size.

Graphs are traced for static shapes, so a replica that gets ``b`` of the ``B`` samples needs a graph
for batch ``b``. ``rebatch(graph, input_axes, b)`` rebuilds ``graph`` node by node (ids, names, scopes,
sources and provenance kept, so profiles of the replica graphs map onto the original), with the batch
dimension of the split inputs set to ``b``, attributes that spell the batch size out rewritten, and
every shape rule run again.

Each node's *batch axis* is tracked: it is the one axis whose size changed from ``B`` to ``b``
(a merged axis, as in ``reshape(B, S, D) -> (B*S, D)``, changes from ``B*k`` to ``b*k``). The rebuild
refuses, with a RebatchError naming the node, every node that would mix samples:

* a softmax / layer norm / log-softmax, concat, stack, gather, slice, pad or index along the batch axis;
* a reshape that splits the batch axis or merges it with the axes before it (merging it with the axes
  after it, and undoing that, is fine);
* a conv/pool/batch-norm whose batch axis is not axis 0 (NCHW);
* a node that removes the batch axis (a reduction or contraction over it), unless it is a ``sum``
  or ``mean`` that is itself a graph output: replicas then combine it by ``sum`` / size-weighted ``mean``;
* a shape rule that fails for batch ``b`` (e.g. a constant that has the batch size in its shape).

For such graphs trace the ``@gs.function`` under ``strategy.scope()`` instead: the strategy then
re-traces the function on each replica's inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphscope.distribute.errors import RebatchError
from graphscope.errors import GraphscopeError
from graphscope.ir.graph import Graph, Node
from graphscope.ir.ops import ELEMENTWISE, get_op
from graphscope.ir.spec import TensorSpec

# Ops that never mix samples when the batch axis is none of their "axis" attributes.
_AXIS_ATTR_OPS = {"softmax": "axis", "log_softmax": "axis", "layer_norm": "axis", "concat": "axis", "stack": "axis"}
# Ops on NCHW images: per sample only when the batch axis of the image (input 0) is axis 0.
_NCHW_OPS = frozenset({"conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool", "batch_norm"})
# Reductions whose per-replica results combine into the full-batch result.
COMBINABLE_REDUCTIONS = {"sum": "sum", "mean": "mean"}


@dataclass(frozen=True)
class OutputBatch:
    """How one graph output relates to the batch: ``axis`` (concatenate along it), or ``reduced``
    (a sum/mean over the batch: combine with that), or neither: the same value on every replica, or
    (``varies``) a batch-dependent value of unknown kind that needs a declared sum/mean."""

    axis: int | None
    reduced: str | None = None
    varies: bool = False


def batch_size(graph: Graph, input_axes: Sequence[int | None]) -> int:
    sizes = {node.spec.shape[a] for node, a in zip(graph.inputs, input_axes) if a is not None}
    if len(sizes) != 1:
        raise RebatchError(f"graph '{graph.name}': split inputs must share one batch size, got {sorted(sizes)}")
    return sizes.pop()


def rebatch(graph: Graph, input_axes: Sequence[int | None], new_batch: int) -> tuple[Graph, list[OutputBatch]]:
    """``graph`` rebuilt for batch ``new_batch`` along ``input_axes`` (one per input, None = broadcast),
    and how each output relates to the batch. ``new_batch`` must differ from the graph's batch size."""
    if len(input_axes) != len(graph.inputs):
        raise RebatchError(f"graph '{graph.name}' has {len(graph.inputs)} inputs, got {len(input_axes)} batch axes")
    old = batch_size(graph, input_axes)
    if new_batch == old or new_batch < 1:
        raise ValueError(f"rebatch: new batch {new_batch} must be positive and differ from the graph's {old}")
    b = new_batch
    axis_in = {n.id: a for n, a in zip(graph.inputs, input_axes)}
    axis: dict[int, int | None] = {}
    reduced: dict[int, str] = {}
    out = Graph(graph.name)
    out.metadata = dict(graph.metadata)
    out.metadata["rebatched"] = {"from": old, "to": b}
    new: dict[int, Node] = {}
    outputs = {o.id for o in graph.outputs}

    for n in graph.nodes:
        ins = [new[i.id] for i in n.inputs]
        in_axes = [axis[i.id] for i in n.inputs]
        common = {"name": n.name, "scope": n.scope, "source": n.source, "provenance": n.provenance,
                  "node_id": n.id, "exact_name": True}
        if n.op == "placeholder":
            a = axis_in[n.id]
            shape = list(n.spec.shape)
            if a is not None:
                shape[a] = b
            m = out.add_node("placeholder", (), {"shape": tuple(shape), "dtype": n.spec.dtype.name}, **common)
            new[n.id], axis[n.id] = m, a
            continue
        if n.op == "constant":
            new[n.id] = out.add_node("constant", (), dict(n.attrs), value=n.value, **common)
            axis[n.id] = None
            continue
        attrs = _rewrite_attrs(n, in_axes, old, b) if any(a is not None for a in in_axes) else dict(n.attrs)
        try:
            m = out.add_node(n.op, ins, attrs, **common)
        except GraphscopeError as exc:
            raise _refuse(graph, n, b, f"its shape rule fails: {exc}") from None
        new[n.id] = m
        axis[n.id] = _output_axis(graph, n, m.spec, old, b)
        if axis[n.id] is None and any(a is not None for a in in_axes):
            if n.op in COMBINABLE_REDUCTIONS and n.id in outputs and not n.users:
                reduced[n.id] = COMBINABLE_REDUCTIONS[n.op]
            else:
                raise _refuse(graph, n, b, "it reduces or contracts over the batch axis (only a sum or mean that is a "
                                           "graph output can be combined across replicas)")

    out.inputs = [new[n.id] for n in graph.inputs]
    out.set_outputs([new[o.id] for o in graph.outputs])
    out._next_id = graph._next_id
    batch = []
    for o in graph.outputs:
        if o.id in reduced:
            batch.append(OutputBatch(None, reduced[o.id]))
        else:
            batch.append(OutputBatch(axis[o.id]))
    return out, batch


def _refuse(graph: Graph, node: Node, b: int, why: str) -> RebatchError:
    return RebatchError(
        f"cannot rebuild graph '{graph.name}' for a batch of {b}: {node.describe()}: {why}. Call the @gs.function "
        f"under strategy.scope() so that each replica's batch is traced, or declare the batch axes so that this node "
        f"does not mix samples"
    )


def _output_axis(graph: Graph, n: Node, new_spec: TensorSpec, old: int, b: int) -> int | None:
    before, after = n.spec.shape, new_spec.shape
    if len(before) != len(after):
        raise _refuse(graph, n, b, f"its rank changed ({n.spec.short()} -> {new_spec.short()})")
    diff = [k for k, (x, y) in enumerate(zip(before, after)) if x != y]
    if not diff:
        return None
    k = diff[0]
    if len(diff) > 1 or before[k] % old or after[k] != before[k] // old * b:
        raise _refuse(graph, n, b, f"its shape {n.spec.short()} -> {new_spec.short()} does not scale along one batch axis")
    return k


def _rewrite_attrs(n: Node, in_axes: list[int | None], old: int, b: int) -> dict[str, Any]:
    """The node's attributes for batch ``b``; raises RebatchError for nodes that would mix samples."""
    attrs = dict(n.attrs)
    a = in_axes[0] if in_axes else None
    x = n.inputs[0].spec if n.inputs else None
    op = n.op

    def refuse(why: str) -> RebatchError:
        return RebatchError(f"cannot split the batch of {n.describe()}: {why}. Call the @gs.function under "
                            f"strategy.scope() or change the batch axes")

    if op in _AXIS_ATTR_OPS:
        key = _AXIS_ATTR_OPS[op]
        if op == "concat":
            ax = attrs[key] % max(x.ndim, 1)
            if any(ia == ax for ia in in_axes if ia is not None):
                raise refuse(f"it joins its inputs along their batch axis {ax}")
        elif op == "stack":
            pass  # a new axis: samples stay apart
        elif a is not None and attrs[key] % x.ndim == a:
            raise refuse(f"it normalizes over the batch axis {a}")
    elif op in _NCHW_OPS:
        if a not in (None, 0) or any(ia is not None for ia in in_axes[1:]):
            raise refuse("an NCHW op needs the batch on axis 0 of its image and none on its parameters")
    elif op == "gather":
        if a is not None and attrs["axis"] % x.ndim == a:
            raise refuse(f"it gathers along the batch axis {a}")
    elif op == "pad":
        if a is not None and tuple(attrs["pad_width"][a]) != (0, 0):
            raise refuse(f"it pads the batch axis {a}")
    elif op == "getitem":
        attrs["index"] = _rewrite_index(attrs["index"], a, old, refuse)
    elif op == "squeeze":
        gone = tuple(k for k, d in enumerate(x.shape) if d == 1) if attrs["axis"] is None else attrs["axis"]
        if a is not None and a in tuple(g % x.ndim for g in gone):
            raise refuse("it squeezes the batch axis (batch size 1)")
        attrs["axis"] = gone
    elif op == "reshape":
        attrs["shape"] = _rewrite_reshape(tuple(attrs["shape"]), x.shape, a, old, b, refuse)
    elif op == "broadcast_to":
        shape = list(attrs["shape"])
        if a is not None:
            k = a + len(shape) - x.ndim
            shape[k] = b
        attrs["shape"] = tuple(shape)
    elif op == "fused":
        for ia, i in zip(in_axes, n.inputs):
            if ia is not None and ia == i.spec.ndim - 1:
                raise refuse("its program may reduce over the last axis, which is the batch axis of an input")
    elif op == "matmul":
        for side, (ia, i) in enumerate(zip(in_axes, n.inputs)):
            contracted = i.spec.ndim - 1 if side == 0 else max(i.spec.ndim - 2, 0)
            if ia is not None and ia == contracted:
                raise refuse("it contracts over the batch axis")
    elif op == "fused_matmul":
        ta, tb = attrs.get("transpose_a", False), attrs.get("transpose_b", False)
        (ia, xa), (ib, xb) = zip(in_axes[:2], (i.spec for i in n.inputs[:2]))
        if (ia is not None and ia == (xa.ndim - 2 if ta else xa.ndim - 1)) or \
                (ib is not None and ib == (xb.ndim - 1 if tb else max(xb.ndim - 2, 0))):
            raise refuse("it contracts over the batch axis")
        # Its epilogue may reduce over the product's last axis (softmax of scores): the product's columns
        # come from b's column axis, and the extras broadcast to the product.
        columns_batched = ib is not None and xb.ndim >= 2 and ib == (xb.ndim - 2 if tb else xb.ndim - 1)
        extras_batched = any(e is not None and e == i.spec.ndim - 1 for e, i in zip(in_axes[2:], n.inputs[2:]))
        if attrs.get("epilogue") and (columns_batched or extras_batched):
            raise refuse("its epilogue may reduce over the last axis, which is the batch axis")
    elif op == "einsum" or get_op(op).has(ELEMENTWISE) or op in ("transpose", "expand_dims", "identity", "cast"):
        pass  # per-element or pure axis moves; a contraction over the batch is caught by the axis tracking
    elif get_op(op).has("reduction"):
        pass  # over other axes: fine; over the batch axis: the axis disappears and the tracking decides
    else:
        raise refuse(f"graphscope.distribute does not know whether op '{op}' keeps samples apart")
    return attrs


def _rewrite_index(index: tuple, a: int | None, old: int, refuse: Any) -> tuple:
    if a is None:
        return index
    items = list(index)
    axis = 0
    for k, item in enumerate(items):
        if item is None:
            continue
        if axis == a:
            full = isinstance(item, tuple) and len(range(*slice(*item[1:]).indices(old))) == old and item[3] in (None, 1)
            if not full:
                raise refuse(f"it indexes the batch axis with {item!r} (only a full slice keeps every sample)")
            items[k] = ("slice", None, None, None)
        axis += 1
    return tuple(items)


def _rewrite_reshape(shape: tuple[int, ...], in_shape: tuple[int, ...], a: int | None, old: int, b: int,
                     refuse: Any) -> tuple[int, ...]:
    if a is None:
        return shape
    total = math.prod(in_shape)
    resolved = list(shape)
    if -1 in resolved:
        known = math.prod(d for d in resolved if d != -1)
        resolved[resolved.index(-1)] = total // known if known else 0
    # In C order the values before the batch axis form blocks of ``before`` elements, and each sample is a
    # contiguous run inside its block. Output axis k keeps samples apart when the axes before it hold the
    # same blocks and its length is a multiple of the batch (each sample then covers whole slices of it).
    before = math.prod(in_shape[:a])
    prefix = 1
    for k, d in enumerate(resolved):
        if prefix == before and d > 0 and d % old == 0:
            out = list(shape)
            if out[k] != -1:
                out[k] = d // old * b
            return tuple(out)
        prefix *= d
        if prefix > before:
            break
    raise refuse(f"reshape {in_shape} -> {tuple(shape)} splits the batch axis {a} or merges it with the axes before it")
