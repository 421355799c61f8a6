"""check_numerics: the first node whose output holds NaN or Inf, named with its op, scope and source line.

``gs.run(g, inputs, check_numerics=True)`` checks every float output right after its node runs
(one vectorized ``isfinite(...).all()`` per value; views, integer and bool values are skipped: a view
holds values already checked, the others cannot be non-finite) and raises :class:`NumericsError`
at the first bad one, with summaries of its inputs. Graph inputs and constants are checked first.

Inside a fused node (``fused``; ``fused_matmul``, a product with an elementwise epilogue) the check
sees only the node's output. When it is bad, the group is re-run unfused on the node's actual input
values to localize it: with a record of the original nodes the group replaced
(``graph.metadata["fused_members"]``, written by ``gs.optimize``; see
``graphscope/passes/fused_members.py``) they are re-run one by one and the first one with a non-finite
output is named, with its source line; without one, the node's program is re-run step by step (the
fused op's reference evaluation) and the step is named. An infinity that a fused program makes and
removes again (``exp(-inf) = 0``) is not reported at level 2 as it is at level 0, where every
intermediate is a node of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphscope.errors import GraphscopeError
from graphscope.ir.graph import Graph, Node
from graphscope.passes.fused_members import FUSED_OPS, MEMBERS_KEY, fusion_groups, group_record, record_members
from graphscope.profile.events import ValueSummary


class NumericsError(GraphscopeError, FloatingPointError):
    """A node produced NaN or Inf. ``node_id``, ``name``, ``op``, ``scope``, ``source`` describe the node at
    fault (inside a fused node: the original node, when known); ``fused`` the fused node that ran it."""

    def __init__(self, message: str, *, node_id: int | None, name: str, op: str, scope: str = "",
                 source: str | None = None, nan_count: int = 0, inf_count: int = 0,
                 inputs: list[tuple[str, ValueSummary]] | None = None, fused: FusedCulprit | None = None,
                 summary: ValueSummary | None = None) -> None:
        super().__init__(message)
        self.node_id, self.name, self.op, self.scope, self.source = node_id, name, op, scope, source
        self.nan_count, self.inf_count = nan_count, inf_count
        self.inputs = inputs or []
        self.fused = fused
        self.summary = summary


@dataclass
class FusedCulprit:
    """Where inside a fused node the bad value first appeared."""

    fused_id: int
    fused_name: str
    step: int  # index in the program
    step_text: str  # e.g. "v2 = log(in0)"
    step_op: str
    member: dict[str, Any] | None = None  # the original node: id, name, op, scope, source (None when unrecorded)
    inputs: list[tuple[str, ValueSummary]] = field(default_factory=list)
    nan_count: int = 0
    inf_count: int = 0


def is_finite(value: Any) -> bool:
    """Whether every element is finite (integers, bools and non-arrays always are)."""
    dt = getattr(value, "dtype", None)
    if dt is None or dt.kind not in "fc":
        return True
    mod = type(value).__module__.split(".")[0]
    if mod == "numpy":
        return bool(np.isfinite(value).all())
    import importlib

    xp = importlib.import_module(mod)  # cupy arrays: their own isfinite, one device sync
    return bool(xp.isfinite(value).all())


def counts(value: np.ndarray) -> tuple[int, int]:
    """(NaN count, Inf count) of a NumPy array."""
    a = np.asarray(value)
    if a.dtype.kind not in "fc":
        return 0, 0
    nan = int(np.count_nonzero(np.isnan(a)))
    return nan, int(np.count_nonzero(~np.isfinite(a))) - nan


def _bad_text(nan: int, inf: int) -> str:
    parts = [f"{nan} NaN"] if nan else []
    if inf:
        parts.append(f"{inf} Inf")
    return " and ".join(parts) or "non-finite values"


def _where(name: str, op: str, scope: str, source: str | None) -> str:
    bits = [op] + ([f"scope '{scope}'"] if scope else []) + ([source] if source else [])
    return f"'{name}' ({', '.join(bits)})"


def _inputs_text(inputs: list[tuple[str, ValueSummary]]) -> str:
    from graphscope.debug.summaries import format_summary

    return "".join(f"\n  input {label} {format_summary(s)}" for label, s in inputs)


def node_error(node: Node, value: Any, inputs: list[tuple[str, Any]], fused: FusedCulprit | None = None) -> NumericsError:
    """The NumericsError for ``node`` whose output ``value`` is not finite (``inputs``: (label, NumPy value))."""
    from graphscope.debug.summaries import format_summary, summarize

    summary = summarize(value)
    nan, inf = summary.nan_count, summary.inf_count
    spec = format_summary(summary).split(" ")[0]
    in_sums = [(label, summarize(v)) for label, v in inputs]
    head = f"node %{node.id} {_where(node.name, node.op, node.scope, node.source)} produced {_bad_text(nan, inf)} in {spec}"
    if fused is None:
        return NumericsError(head + _inputs_text(in_sums), node_id=node.id, name=node.name, op=node.op, scope=node.scope,
                             source=node.source, nan_count=nan, inf_count=inf, inputs=in_sums, summary=summary)
    m = fused.member
    what = _bad_text(fused.nan_count, fused.inf_count)
    if m is not None:
        head = (f"node %{m['id']} {_where(m['name'], m['op'], m.get('scope') or '', m.get('source'))} produced {what} "
                f"first, inside fused node %{node.id} '{node.name}' ({node.op}; found by re-running its group unfused); "
                f"the fused node's output has {_bad_text(nan, inf)} in {spec}")
        return NumericsError(head + _inputs_text(fused.inputs), node_id=m["id"], name=m["name"], op=m["op"],
                             scope=m.get("scope") or "", source=m.get("source"), nan_count=fused.nan_count,
                             inf_count=fused.inf_count, inputs=fused.inputs, fused=fused, summary=summary)
    head += (f"; re-run unfused, step {fused.step_text} produced {what} first (the graph does not record the original "
             f"nodes it replaced: graphscope.debug.record_fused_members(original, optimized) adds them)")
    return NumericsError(head + _inputs_text(fused.inputs), node_id=node.id, name=node.name, op=node.op,
                         scope=node.scope, source=node.source, nan_count=nan, inf_count=inf, inputs=fused.inputs,
                         fused=fused, summary=summary)


def value_error(node: Node, value: Any, what: str) -> NumericsError:
    """The NumericsError for a graph input or constant that already holds NaN/Inf."""
    from graphscope.debug.summaries import format_summary, summarize

    s = summarize(value)
    return NumericsError(
        f"{what} %{node.id} {_where(node.name, node.op, node.scope, node.source)} holds "
        f"{_bad_text(s.nan_count, s.inf_count)}: {format_summary(s)}",
        node_id=node.id, name=node.name, op=node.op, scope=node.scope, source=node.source, nan_count=s.nan_count,
        inf_count=s.inf_count, summary=s)


# -- inside a fused node -------------------------------------------------------------------------------
#
# A fused node (``fused``, or ``fused_matmul``: a product with an elementwise epilogue) replaced a group
# of original nodes. With a record of that group (``record_fused_members``) the group is re-run unfused,
# node by node with the ops' reference implementations, on the fused node's actual input values: the
# first original node with a non-finite output is named. Without one, the node's own program is re-run
# step by step (the fused op's reference evaluation), naming the step.



def localize_in_fused(graph: Graph, node: Node, inputs: list[np.ndarray]) -> FusedCulprit | None:
    """Where inside fused ``node`` (given its input values) the first non-finite value appeared; None if nowhere."""
    rec = (graph.metadata.get(MEMBERS_KEY) or {}).get(str(node.id))
    with np.errstate(all="ignore"):
        if isinstance(rec, dict):
            try:
                found = _rerun_members(node, rec, inputs)
            except Exception:  # noqa: BLE001 - a record this code cannot replay: fall back to the program
                found = None
            if found is not None:
                return found
        try:
            return _rerun_program(node, inputs)
        except Exception:  # noqa: BLE001 - an op whose attrs this code does not know how to step through
            return None


def _rerun_members(node: Node, rec: dict[str, Any], inputs: list[np.ndarray]) -> FusedCulprit | None:
    from graphscope.debug.summaries import summarize
    from graphscope.ir.ops import freeze, get_op

    values: dict[int, Any] = {int(i): v for i, v in zip(rec["inputs"], inputs)}
    for lid, (value, dtype, shape) in rec.get("literals", {}).items():
        values[int(lid)] = np.array(value, dtype=dtype).reshape(tuple(shape))
    labels = {int(i): f"%{int(i)}" for i in values}
    for k, m in enumerate(rec["members"]):
        opdef = get_op(m["op"])
        attrs = opdef.normalize_attrs({a: freeze(v) for a, v in (m.get("attrs") or {}).items()})
        args = [values[int(i)] for i in m["inputs"]]
        v = opdef.impl(np, *args, **attrs)
        values[int(m["id"])] = v
        labels[int(m["id"])] = f"%{m['id']} '{m['name']}'"
        if not is_finite(v):
            nan, inf = counts(v)
            text = f"%{m['id']} = {m['op']}({', '.join('%' + str(i) for i in m['inputs'])})"
            member = {key: m.get(key) for key in ("id", "name", "op", "scope", "source")}
            return FusedCulprit(node.id, node.name, k, text, m["op"], member,
                                [(labels[int(i)], summarize(values[int(i)])) for i in m["inputs"]], nan, inf)
    return None


def _rerun_program(node: Node, inputs: list[np.ndarray]) -> FusedCulprit | None:
    from graphscope.debug.summaries import summarize
    from graphscope.ir.op_defs.fused import _parsed, format_program, literal_array  # the fused op's own reference

    if node.op == "fused":
        program, values_in = node.attrs["program"], list(inputs)
    elif node.op == "fused_matmul":
        a, b, *extras = inputs
        if node.attrs.get("transpose_a"):
            a = np.swapaxes(a, -1, -2)
        if node.attrs.get("transpose_b"):
            b = np.swapaxes(b, -1, -2)
        product = np.matmul(a, b)
        if not is_finite(product):
            nan, inf = counts(product)
            return FusedCulprit(node.id, node.name, -1, "product = matmul(in0, in1)", "matmul", None,
                                [("in0", summarize(a)), ("in1", summarize(b))], nan, inf)
        program, values_in = node.attrs.get("epilogue") or (), [product, *extras]
    else:
        return None
    n = len(values_in)
    values: dict[int, Any] = dict(enumerate(values_in))
    lines = format_program(program, n).splitlines() if program else []
    if node.op == "fused_matmul":  # the epilogue's value 0 is the product, not an input
        lines = [ln.replace("in0", "product") for ln in lines]
    for j, (impl, args, attrs, _dead) in enumerate(_parsed(program, n) if program else []):
        v = literal_array(np, attrs) if impl is None else impl(np, *[values[a] for a in args], **attrs)
        values[n + j] = v
        if impl is None or is_finite(v):
            continue
        nan, inf = counts(v)

        def label(a: int) -> str:
            return ("product" if node.op == "fused_matmul" and a == 0 else f"in{a}") if a < n else f"v{a - n}"

        return FusedCulprit(node.id, node.name, j, lines[j], program[j][0], None,
                            [(label(a), summarize(values[a])) for a in args], nan, inf)
    return None


def record_fused_members(original: Graph, optimized: Graph) -> int:
    """Record in ``optimized.metadata["fused_members"]`` the original nodes each fused node replaced.

    ``gs.optimize`` writes this record itself; this call is for graphs optimized by a version that did
    not, or whose record was dropped. ``optimized`` must come from ``gs.optimize(original, level)``:
    the passes before the first fusing pass are re-run on ``original`` (they are deterministic, so
    node ids match). Returns the number of fused nodes recorded.
    """
    from graphscope.passes.pipeline import LEVELS, optimize

    level = optimized.metadata.get("optimization_level")
    log = optimized.metadata.get("pass_log") or []
    first, _ = fusion_groups(optimized)
    if first is None or level not in LEVELS or len(LEVELS[level]) != len(log):
        return 0
    pre, _ = optimize(original, passes=LEVELS[level][:first])
    return record_members(pre, optimized, first)


__all__ = ["FUSED_OPS", "FusedCulprit", "NumericsError", "group_record", "is_finite", "localize_in_fused", "record_fused_members"]
