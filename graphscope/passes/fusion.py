"""Elementwise fusion: maximal groups of elementwise ops and last-axis reductions become one ``fused`` node.

A group grows from its last node (the *root*, whose value is the group's one output) towards the
producers: a producer joins when it is fusible and every one of its readers is already in the group.
Fusible are the ELEMENTWISE ops, the reductions ``sum mean max min var std`` over the last axis, and
``softmax``, ``log_softmax`` and ``layer_norm`` over the last axis. Scalar constants become literals of
the program; every other value read by the group is an input of the fused node, broadcast the ways a
row kernel can (same shape, a row vector, a per-row column, a scalar, or a block repeated along the
leading axes).

Members are *lowered* to a canonical program of primitives, so the result does not depend on how the
math was spelled: ``var(x)`` and ``mean(d*d)``, ``x**3`` and ``x*x*x``, ``gs.ops.softmax`` and its
NumPy spelling, ``gs.ops.gelu`` and the tanh formula all give the same steps (and the same compiled
kernel). Identical steps are merged (CSE inside the program).

Every elementwise chain left unfused is logged as blocked with the rule that stopped it; the rule is
the first words of the reason:

* ``consumer outside the group``: a value is also read outside the group (or is a graph output); a
  node has one output, so the group ends there and the value becomes its own group's output;
* ``shape the kernel cannot broadcast``: an input broadcasts in a way a row kernel cannot index;
* ``not fusible``: an op next to a group that cannot join it (a reduction over another axis, a
  softmax over float16 ...);
* ``program length cap``: the program would exceed ``max_steps`` (JIT compile time grows faster
  than linearly with program length), so the chain continues in another fused node;
* ``single op``: nothing to fuse with;
* ``size below the threshold``: the estimated time saved (fewer calls, fewer passes over memory)
  does not cover the cost of a fused call.

The fused node keeps the union of its members' provenance and its name and scope from the root.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphscope.ir.graph import Graph, Node
from graphscope.ir.op_defs.fused import LITERAL, Step, program_specs, row_mapping
from graphscope.ir.ops import COMMUTATIVE, ELEMENTWISE, IMPURE, get_op, normalize_axes, normalize_axis
from graphscope.ir.spec import TensorSpec
from graphscope.passes.base import PassLog, PassResult

# The rules (each blocked entry's reason starts with one of these).
CONSUMER_OUTSIDE = "consumer outside the group"
SHAPE = "shape the kernel cannot broadcast"
NOT_FUSIBLE = "not fusible"
LENGTH_CAP = "program length cap"
SINGLE_OP = "single op"
BELOW_THRESHOLD = "size below the threshold"

DEFAULT_MAX_STEPS = 128
# Cost model of the threshold (measured on a 2-core x86 machine, see benchmarks/bench_fusion.py):
# an unfused step costs one interpreter step plus one NumPy call (0.66 us on tiny arrays) and one
# pass over its operands; a fused node costs one kernel call (1.8 us on tiny arrays: argument
# reshapes, output allocation, JIT dispatch) plus one pass over its inputs and output. So two tiny
# ops do not pay; three and more do, and so does any group whose intermediates exceed a few KiB.
STEP_CALL_S = 0.7e-6
FUSED_CALL_S = 2.0e-6
BYTES_PER_S = 10e9

_ROW_REDUCTIONS = frozenset({"sum", "mean", "max", "min", "var", "std"})
_ROW_OPS = frozenset({"softmax", "log_softmax", "layer_norm"})
_FLOAT = frozenset({"float32", "float64"})
# Steps an op lowers to (for the program length cap).
_STEP_WEIGHT = {"gelu": 9, "layer_norm": 9, "softmax": 5, "log_softmax": 6, "var": 4, "std": 5, "sigmoid": 4}


# -- what can join a group ----------------------------------------------------------------------


def _last_axis_only(node: Node, axis: Any) -> bool:
    x = node.inputs[0].spec
    if x.ndim == 0:
        return False
    return normalize_axes(node.op, axis, x.ndim) == (x.ndim - 1,)


def unfusible_reason(node: Node) -> str | None:
    """None when ``node`` can be a member of a fused group, else why not (for the log)."""
    opdef = get_op(node.op)
    if opdef.has(IMPURE):
        return "impure op"
    if opdef.has(ELEMENTWISE):
        return None
    if node.op in _ROW_REDUCTIONS:
        if not _last_axis_only(node, node.attrs["axis"]):
            return (f"{NOT_FUSIBLE}: {node.op} over axis {node.attrs['axis']} of {node.inputs[0].spec.short()} "
                    f"(only reductions over the last axis fuse into row kernels)")
        if node.op in ("var", "std") and node.inputs[0].dtype.name not in _FLOAT:
            return f"{NOT_FUSIBLE}: {node.op} of {node.inputs[0].dtype.name} is only lowered for float32/float64"
        return None
    if node.op in _ROW_OPS:
        x = node.inputs[0].spec
        if x.ndim == 0 or normalize_axis(node.op, node.attrs["axis"], x.ndim) != x.ndim - 1:
            return f"{NOT_FUSIBLE}: {node.op} over axis {node.attrs['axis']} of {x.short()} (only the last axis fuses)"
        dtypes = {i.dtype.name for i in node.inputs} | {node.dtype.name}
        if len(dtypes) != 1 or not dtypes <= _FLOAT:
            return f"{NOT_FUSIBLE}: {node.op} on {sorted(dtypes)} (lowered only when all operands are float32 or all float64)"
        return None
    return "not elementwise"


def _is_literal(node: Node) -> bool:
    return node.op == "constant" and node.spec.size == 1


def _domain(root: Node) -> tuple[int, ...]:
    if root.op in _ROW_REDUCTIONS:
        return root.inputs[0].shape
    return root.shape


# -- program building (lowering to canonical primitives) -------------------------------------------


class ProgramBuilder:
    """Builds a fused program. Refs: inputs are -1, -2, ... (in order of first use), steps 0, 1, ..."""

    def __init__(self) -> None:
        self.inputs: list[Node] = []
        self._input_ref: dict[int, int] = {}
        self.steps: list[tuple[str, tuple[int, ...], tuple[tuple[str, Any], ...]]] = []
        self.specs: dict[int, TensorSpec] = {}
        self._cse: dict[Any, int] = {}
        self.literal_nodes: list[Node] = []

    def spec(self, ref: int) -> TensorSpec:
        return self.specs[ref]

    def input(self, node: Node) -> int:
        ref = self._input_ref.get(node.id)
        if ref is None:
            self.inputs.append(node)
            ref = self._input_ref[node.id] = -len(self.inputs)
            self.specs[ref] = node.spec
        return ref

    def literal(self, value: Any, dtype: Any, shape: tuple[int, ...] = ()) -> int:
        dt = np.dtype(dtype)
        value = np.array(value, dtype=dt).item()
        key = (LITERAL, repr(value), dt.name, tuple(shape))
        if key not in self._cse:
            self._cse[key] = self._append(
                LITERAL, (), (("value", value), ("dtype", dt.name), ("shape", tuple(shape))), TensorSpec(shape, dt))
        return self._cse[key]

    def op(self, name: str, args: Sequence[int], attrs: dict[str, Any] | None = None) -> int:
        opdef = get_op(name)
        norm = opdef.normalize_attrs(attrs or {})
        key_args = tuple(sorted(args)) if opdef.has(COMMUTATIVE) else tuple(args)
        key = (name, key_args, tuple(sorted(norm.items())))
        if key not in self._cse:
            spec = opdef.infer([self.specs[a] for a in args], norm)
            self._cse[key] = self._append(name, tuple(args), tuple(norm.items()), spec)
        return self._cse[key]

    def _append(self, op: str, args: tuple[int, ...], pairs: tuple, spec: TensorSpec) -> int:
        self.steps.append((op, args, pairs))
        ref = len(self.steps) - 1
        self.specs[ref] = spec
        return ref

    def finish(self, result: int) -> tuple[tuple[Step, ...], list[Node]]:
        """The program computing ``result`` (dead steps dropped), and the inputs it reads in order."""
        live: set[int] = set()
        stack = [result]
        while stack:
            r = stack.pop()
            if r >= 0 and r not in live:
                live.add(r)
                stack.extend(self.steps[r][1])
        used_inputs = sorted({a for r in live for a in self.steps[r][1] if a < 0}, reverse=True)  # -1, -2, ...
        inputs = [self.inputs[-a - 1] for a in used_inputs]
        in_index = {a: k for k, a in enumerate(used_inputs)}
        n = len(inputs)
        step_index: dict[int, int] = {}
        program: list[Step] = []
        for r in sorted(live):
            op, args, pairs = self.steps[r]
            new_args = tuple(in_index[a] if a < 0 else n + step_index[a] for a in args)
            step_index[r] = len(program)
            program.append((op, new_args, pairs))
        return tuple(program), inputs

    def n_primitive_steps(self, result: int) -> int:
        program, _ = self.finish(result)
        return sum(1 for op, _, _ in program if op != LITERAL)


def _scalar_exponent(node: Node) -> float | None:
    c = node.inputs[1]
    if not _is_literal(c) or c.dtype.kind not in "fiu":
        return None
    return float(c.value.reshape(-1)[0])


_POW_RULES = {2.0: "x*x", 3.0: "x*x*x", 4.0: "(x*x)*(x*x)", 0.5: "sqrt", -1.0: "reciprocal", -0.5: "1/sqrt", -2.0: "1/(x*x)"}


def _lower_pow(b: ProgramBuilder, node: Node, x: int, c: int) -> int:
    e = _scalar_exponent(node)
    if e is None or node.dtype.kind != "f" or b.spec(x) != node.spec or e not in _POW_RULES:
        return b.op("pow", [x, c])
    if e in (2.0, 3.0, 4.0, -2.0):
        sq = b.op("mul", [x, x])
        if e == 3.0:
            return b.op("mul", [sq, x])
        if e == 4.0:
            return b.op("mul", [sq, sq])
        return b.op("reciprocal", [sq]) if e == -2.0 else sq
    if e == 0.5:
        return b.op("sqrt", [x])
    if e == -1.0:
        return b.op("reciprocal", [x])
    return b.op("reciprocal", [b.op("sqrt", [x])])


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _lower_gelu(b: ProgramBuilder, x: int, approximate: str) -> int:
    dt = b.spec(x).dtype
    if approximate == "tanh":  # the same operation order as the op's reference implementation
        t = b.op("mul", [x, x])
        t = b.op("mul", [t, b.op("mul", [b.literal(0.044715, dt), x])])
        t = b.op("add", [t, x])
        t = b.op("tanh", [b.op("mul", [t, b.literal(_SQRT_2_OVER_PI, dt)])])
    else:
        t = b.op("erf", [b.op("mul", [x, b.literal(1 / math.sqrt(2.0), dt)])])
    t = b.op("add", [t, b.literal(1, dt)])
    return b.op("mul", [b.op("mul", [t, x]), b.literal(0.5, dt)])


def _reduce(b: ProgramBuilder, op: str, x: int, keepdims: bool = True) -> int:
    return b.op(op, [x], {"axis": -1, "keepdims": keepdims})


def _lower_var(b: ProgramBuilder, x: int, keepdims: bool, ddof: int) -> int:
    # numpy.var's own sequence: mean, x - mean, square by multiplication, sum / (n - ddof)
    d = b.op("sub", [x, _reduce(b, "mean", x)])
    sq = b.op("mul", [d, d])
    if ddof == 0:
        return _reduce(b, "mean", sq, keepdims)
    n = b.spec(x).shape[-1]
    return b.op("div", [_reduce(b, "sum", sq, keepdims), b.literal(max(n - ddof, 0), b.spec(x).dtype)])


def _lower(b: ProgramBuilder, node: Node, args: list[int]) -> int:
    """The canonical primitive steps for ``node`` (args are refs of its inputs); returns its ref."""
    op, attrs = node.op, node.attrs
    flt = node.dtype.kind == "f" and all(b.spec(a).dtype == node.dtype for a in args[:1])
    if op == "pow":
        return _lower_pow(b, node, *args)
    if op == "square":
        return b.op("mul", [args[0], args[0]])
    if op == "relu":
        return b.op("maximum", [args[0], b.literal(0, b.spec(args[0]).dtype)])
    if op == "rsqrt" and flt:
        return b.op("reciprocal", [b.op("sqrt", args)])
    if op == "sigmoid" and flt:
        t = b.op("exp", [b.op("neg", args)])
        return b.op("reciprocal", [b.op("add", [t, b.literal(1, node.dtype)])])
    if op == "gelu" and flt:
        return _lower_gelu(b, args[0], attrs["approximate"])
    if op in ("sum", "mean", "max", "min"):
        return _reduce(b, op, args[0], attrs["keepdims"])
    if op in ("var", "std"):
        v = _lower_var(b, args[0], attrs["keepdims"], attrs["ddof"])
        return b.op("sqrt", [v]) if op == "std" else v
    if op in ("softmax", "log_softmax"):
        x = args[0]
        d = b.op("sub", [x, _reduce(b, "max", x)])
        e = b.op("exp", [d])
        s = _reduce(b, "sum", e)
        return b.op("div", [e, s]) if op == "softmax" else b.op("sub", [d, b.op("log", [s])])
    if op == "layer_norm":
        x, params = args[0], args[1:]
        d = b.op("sub", [x, _reduce(b, "mean", x)])
        var = _reduce(b, "mean", b.op("mul", [d, d]))
        var = b.op("add", [var, b.literal(attrs["epsilon"], node.dtype)])
        y = b.op("mul", [d, b.op("reciprocal", [b.op("sqrt", [var])])])
        if params:
            y = b.op("mul", [y, params[0]])
        if len(params) == 2:
            y = b.op("add", [y, params[1]])
        return y
    return b.op(op, args, dict(attrs))


def _lower_checked(b: ProgramBuilder, node: Node, args: list[int]) -> int:
    ref = _lower(b, node, args)
    if b.spec(ref) != node.spec:  # a lowering that would change the spec: keep the op itself
        if not get_op(node.op).has(ELEMENTWISE) and node.op not in ("sum", "mean", "max", "min"):
            raise AssertionError(f"fusion: lowering {node.describe()} gave {b.spec(ref).short()}, expected {node.spec.short()}")
        ref = b.op(node.op, args, dict(node.attrs))
    return ref


# -- the pass ---------------------------------------------------------------------------------------


class _Group:
    def __init__(self, root: Node, domain: tuple[int, ...]) -> None:
        self.root = root
        self.domain = domain
        self.members: dict[int, Node] = {root.id: root}
        self.builder: ProgramBuilder | None = None
        self.result = 0


def _push_inputs(node: Node, heap: list[tuple[int, int]], queued: set[int], index: dict[int, int]) -> None:
    for i in node.inputs:
        if i.id not in queued:
            queued.add(i.id)
            heapq.heappush(heap, (-index[i.id], i.id))


def _ids(nodes: Sequence[Node]) -> str:
    return ", ".join(f"%{n.id} ({n.op})" for n in nodes)


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us"


def elementwise_fusion(graph: Graph, max_steps: int = DEFAULT_MAX_STEPS, threshold: bool = True) -> PassResult:
    """Fuse groups of elementwise ops (and last-axis reductions) into ``fused`` nodes; see the module doc."""
    t0 = time.perf_counter()
    log = PassLog("elementwise_fusion", nodes_before=len(graph))
    order = graph.nodes
    index = {n.id: k for k, n in enumerate(order)}
    outputs = {o.id for o in graph.outputs}
    reasons = {n.id: unfusible_reason(n) for n in order}
    group_of: dict[int, _Group] = {}
    groups: list[_Group] = []
    blocked: dict[tuple[str, int], tuple[list[int], str]] = {}

    def block(rule_key: str, node: Node, ids: list[int], reason: str) -> None:
        blocked.setdefault((rule_key, node.id), (ids, reason))

    def inputs_fit(node: Node, domain: tuple[int, ...]) -> Node | None:
        for i in node.inputs:
            if not _is_literal(i) and row_mapping(i.shape, domain) is None:
                return i
        return None

    for root in reversed(order):
        if reasons[root.id] is not None or root.id in group_of:
            continue
        domain = _domain(root)
        bad = inputs_fit(root, domain)
        if bad is not None:
            block(SHAPE, root, [root.id, bad.id], f"{SHAPE}: input %{bad.id} {bad.spec.short()} of %{root.id} "
                  f"({root.op}) broadcasts to {list(domain)} along middle axes")
            group_of[root.id] = _Group(root, domain)  # not fused: a group of its own
            continue
        group = _Group(root, domain)
        groups.append(group)
        group_of[root.id] = group
        row = domain[:-1] + (1,) if domain else None
        b = group.builder = ProgramBuilder()
        steps_so_far = _STEP_WEIGHT.get(root.op, 1)
        heap: list[tuple[int, int]] = []
        queued: set[int] = set()
        _push_inputs(root, heap, queued, index)
        while heap:  # producers, latest first: all readers of a node are decided before it
            _, pid = heapq.heappop(heap)
            p = graph.node(pid)
            if reasons[pid] is not None or pid in group_of:
                continue
            if pid in outputs or any(u.id not in group.members for u in p.users):
                continue  # logged below, once the groups are known
            if p.shape != domain and p.shape != row:
                continue
            if p.op in _ROW_REDUCTIONS and p.inputs[0].shape != domain:
                continue
            bad = inputs_fit(p, domain)
            if bad is not None:
                block(SHAPE, p, [p.id, bad.id], f"{SHAPE}: input %{bad.id} {bad.spec.short()} of %{p.id} ({p.op}) "
                      f"broadcasts to {list(domain)} along middle axes")
                continue
            weight = _STEP_WEIGHT.get(p.op, 1)
            if steps_so_far + weight > max_steps:
                block(LENGTH_CAP, p, [p.id] + [u.id for u in p.users],
                      f"{LENGTH_CAP}: the program of %{root.id} reached {steps_so_far} of {max_steps} steps; "
                      f"%{p.id} ({p.op}) ends another fused node")
                continue
            group.members[pid] = p
            group_of[pid] = group
            steps_so_far += weight
            _push_inputs(p, heap, queued, index)

    # Lower each group to its program and decide whether it pays.
    fused_groups = []
    for group in groups:
        b = group.builder
        assert b is not None
        ref: dict[int, int] = {}
        for m in sorted(group.members.values(), key=lambda n: index[n.id]):
            args = []
            for i in m.inputs:
                if i.id in group.members:
                    args.append(ref[i.id])
                elif _is_literal(i):
                    args.append(b.literal(i.value.reshape(-1)[0].item(), i.dtype, i.shape))
                    if i not in b.literal_nodes:
                        b.literal_nodes.append(i)
                else:
                    args.append(b.input(i))
            ref[m.id] = _lower_checked(b, m, args)
        group.result = ref[group.root.id]
        program, inputs = b.finish(group.result)
        n_steps = sum(1 for op, _, _ in program if op != LITERAL)
        members = sorted(group.members.values(), key=lambda n: index[n.id])
        if group.result < 0 or n_steps <= 1 and len(members) == 1:
            neighbours = [i for i in group.root.inputs if not _is_literal(i)] + list(group.root.users)
            products = [i for i in group.root.inputs if i.op in ("matmul", "fused_matmul")]
            block(SINGLE_OP, group.root, [group.root.id],
                  f"{SINGLE_OP}: %{group.root.id} ({group.root.op}) has no fusible neighbour"
                  + (f" (reads/feeds {_ids(neighbours[:4])})" if neighbours else "")
                  + (f"; pattern fusion may take it into the product %{products[0].id}" if products else ""))
            continue
        saving = _estimated_saving(program, inputs, group.root.spec)
        if threshold and saving <= 0:
            block(BELOW_THRESHOLD, group.root, [m.id for m in members],
                  f"{BELOW_THRESHOLD}: {len(members)} ops on {group.root.spec.short()} would save "
                  f"{_fmt_s(saving + FUSED_CALL_S)}, less than a fused call ({_fmt_s(FUSED_CALL_S)})")
            continue
        fused_groups.append((group, program, inputs, members))

    # Chains split because a value is read outside its group (or is a graph output).
    for n in order:
        g = group_of.get(n.id)
        if g is None or g.root is not n:
            continue
        readers_in_groups = [u for u in n.users if u.id in group_of and group_of[u.id] is not g]
        reader_groups = {id(group_of.get(u.id)) for u in n.users}
        if readers_in_groups and (len(reader_groups) > 1 or n.id in outputs):
            others = [u for u in n.users if u not in readers_in_groups]
            what = _ids(readers_in_groups) + (f" and {_ids(others)}" if others else "") + \
                (" and is a graph output" if n.id in outputs else "")
            block(CONSUMER_OUTSIDE, n, [n.id] + [u.id for u in n.users],
                  f"{CONSUMER_OUTSIDE}: %{n.id} ({n.op}) is read by {what}; a node has one output, so its "
                  f"group ends at %{n.id}")
    # Ops next to a group that cannot join it (reductions over other axes, ...).
    for n in order:
        why = reasons[n.id]
        if why is None or not why.startswith(NOT_FUSIBLE):
            continue
        if any(i.id in group_of for i in n.inputs) or any(u.id in group_of for u in n.users):
            block(NOT_FUSIBLE, n, [n.id], why)

    # Rewrite.
    for group, program, inputs, members in fused_groups:
        root = group.root
        literals = group.builder.literal_nodes if group.builder else []
        prov = sorted({p for m in members for p in m.provenance} | {p for c in literals for p in c.provenance})
        base = root.name.rsplit("/", 1)[-1]
        fused = graph.add_node("fused", inputs, {"program": program}, name=f"{base}_fused", scope=root.scope,
                               source=root.source, provenance=prov)
        graph.replace_all_uses(root, fused)
        for m in reversed(members):
            graph.erase_node(m)
        erased = []
        for c in literals:
            if c in graph and not c.users and c.id not in outputs:
                graph.erase_node(c)
                erased.append(c.id)
        log.fused.append((sorted([m.id for m in members] + erased), fused.id))
        log.removed.extend(erased)

    log.blocked = sorted(blocked.values(), key=lambda e: (index.get(e[0][0], 0), e[1]))
    log.nodes_after, log.seconds = len(graph), time.perf_counter() - t0
    return PassResult(graph, log)


def _estimated_saving(program: tuple[Step, ...], inputs: list[Node], out: TensorSpec) -> float:
    """Seconds saved per run by fusing, by the cost model above (negative: fusion does not pay)."""
    specs = program_specs(tuple(i.spec for i in inputs), program)
    n = len(inputs)
    unfused = 0.0
    for j, (op, args, _) in enumerate(program):
        if op != LITERAL:
            unfused += STEP_CALL_S + (sum(specs[a].nbytes for a in args) + specs[n + j].nbytes) / BYTES_PER_S
    fused = FUSED_CALL_S + (sum(i.spec.nbytes for i in inputs) + out.nbytes) / BYTES_PER_S
    return unfused - fused
