"""Splitting inputs along their batch axes and combining replica outputs.

Batch axes are declared per input: an int for all inputs (default 0), a list in input order, or a dict
by input name (names not listed get the default 0). ``None`` means "no batch axis": the input is
broadcast, the same array to every replica. 0-d inputs are always broadcast.

Outputs combine by ``"concat"`` (along the output's batch axis, found by the rebuild), ``"sum"`` or
``"mean"`` (weighted by each replica's batch size, so uneven splits give the full-batch mean), declared
as one string for all outputs, a list in output order, or a dict by output index or output node name.
An output that is a sum/mean over the batch is combined that way without a declaration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphscope.distribute.errors import BatchSplitError
from graphscope.distribute.rebatch import OutputBatch

BatchAxes = int | None | Sequence[int | None] | Mapping[str, int | None]
Reduce = str | Sequence[str] | Mapping[int | str, str]
REDUCTIONS = ("concat", "sum", "mean")


def input_axes(names: Sequence[str], shapes: Sequence[tuple[int, ...]], batch_axis: BatchAxes) -> list[int | None]:
    """One batch axis (or None) per input, normalized to non-negative ints."""
    if batch_axis is None or isinstance(batch_axis, int):
        raw: list[int | None] = [batch_axis] * len(names)
    elif isinstance(batch_axis, Mapping):
        unknown = set(batch_axis) - set(names)
        if unknown:
            raise BatchSplitError(f"batch_axis names unknown input(s) {sorted(unknown)}; inputs: {list(names)}")
        raw = [batch_axis.get(n, 0) for n in names]
    else:
        raw = list(batch_axis)
        if len(raw) != len(names):
            raise BatchSplitError(f"batch_axis lists {len(raw)} axes for {len(names)} inputs {list(names)}")
    out: list[int | None] = []
    for name, shape, a in zip(names, shapes, raw):
        if a is None or len(shape) == 0:
            out.append(None)
            continue
        if not -len(shape) <= a < len(shape):
            raise BatchSplitError(f"batch axis {a} of input '{name}' is out of range for its shape {tuple(shape)}")
        out.append(a % len(shape))
    if all(a is None for a in out):
        raise BatchSplitError("no input has a batch axis: nothing to split across replicas (declare batch_axis)")
    sizes = {name: shape[a] for name, shape, a in zip(names, shapes, out) if a is not None}
    if len(set(sizes.values())) != 1:
        raise BatchSplitError(f"inputs split along their batch axes must share one batch size, got {sizes}")
    return out


def split_sizes(batch: int, replicas: int) -> list[int]:
    """Sizes of the replicas' shares: as even as possible, larger shares first; no empty share."""
    n = min(batch, replicas)
    if n < 1:
        raise BatchSplitError("cannot split an empty batch")
    return [batch // n + (k < batch % n) for k in range(n)]


def split(values: Sequence[Any], axes: Sequence[int | None], sizes: Sequence[int]) -> list[list[Any]]:
    """Per replica, its inputs: views along the batch axes, broadcast inputs shared."""
    bounds = np.cumsum([0, *sizes])
    shards: list[list[Any]] = [[] for _ in sizes]
    for v, a in zip(values, axes):
        for r in range(len(sizes)):
            if a is None:
                shards[r].append(v)
            else:
                index = [slice(None)] * np.ndim(v)
                index[a] = slice(int(bounds[r]), int(bounds[r + 1]))
                shards[r].append(np.ascontiguousarray(v[tuple(index)]))
    return shards


def output_rules(names: Sequence[str], batch: Sequence[OutputBatch], reduce: Reduce) -> list[tuple[str, int | None]]:
    """Per output: (how to combine, concat axis)."""
    if isinstance(reduce, str):
        declared: list[str | None] = [None if reduce == "concat" else reduce] * len(names)
    elif isinstance(reduce, Mapping):
        declared = [None] * len(names)
        for key, how in reduce.items():
            if isinstance(key, int) and 0 <= key < len(names):
                declared[key] = how
            elif key in names:
                for k, n in enumerate(names):
                    if n == key:
                        declared[k] = how
            else:
                raise BatchSplitError(f"reduce names unknown output {key!r}; outputs: {list(names)}")
    else:
        declared = list(reduce)
        if len(declared) != len(names):
            raise BatchSplitError(f"reduce lists {len(declared)} rules for {len(names)} outputs")
    rules = []
    for name, ob, how in zip(names, batch, declared):
        if how is not None and how not in REDUCTIONS:
            raise BatchSplitError(f"unknown reduction {how!r} for output '{name}' (use one of {', '.join(REDUCTIONS)})")
        if ob.reduced is not None:
            if how not in (None, ob.reduced):
                raise BatchSplitError(f"output '{name}' is a {ob.reduced} over the batch; it cannot be combined by {how!r}")
            rules.append((ob.reduced, None))
        elif ob.axis is None:
            if ob.varies and how in (None, "concat"):
                raise BatchSplitError(f"output '{name}' depends on the batch but has no batch axis in the replicas' "
                                      f"graphs: declare how to combine it, e.g. reduce={{'{name}': 'mean'}} (or 'sum')")
            rules.append(("first", None) if how in (None, "concat") else (how, None))
        else:
            rules.append((how or "concat", ob.axis))
    return rules


def combine(per_replica: Sequence[Sequence[Any]], rules: Sequence[tuple[str, int | None]], sizes: Sequence[int]) -> list[Any]:
    """The full-batch outputs from each replica's outputs."""
    total = sum(sizes)
    out = []
    for k, (how, axis) in enumerate(rules):
        parts = [np.asarray(r[k]) for r in per_replica]
        if how == "first" or len(parts) == 1:
            out.append(parts[0])
        elif how == "concat":
            out.append(np.concatenate(parts, axis=axis))
        elif how == "sum":
            acc = parts[0].copy()
            for p in parts[1:]:
                acc += p
            out.append(acc)
        else:  # size-weighted mean: the mean of the whole batch for uneven shares too
            dt = parts[0].dtype
            acc = sum(p.astype(np.float64) * (n / total) for p, n in zip(parts, sizes))
            out.append(np.asarray(acc).astype(dt))
    return out
