"""Graphviz renderings of graphs: DOT text, before/after views of an optimization, SVG/PNG output.

    r = to_dot(graph, profile=prof, color="time", collapse_depth=1)   # -> Rendering (DOT source)
    save_rendering(r, "graph.svg")                                     # .svg / .png / .dot
    r = diff_dot(graph, optimized, pass_log=log)                        # before | after, changes marked
    for name, r in stage_renderings(graph, level=2): ...                # one per pass of the level

What a rendering shows
----------------------
* Nodes sit in nested clusters by name scope (``encoder/layer0/attn``). A node's label holds its
  short name, its op and output spec (``matmul f32[8,128,512]``) and, with a profile, its median
  time and share of the node time (``color="time"``) or the bytes it allocated and their share of
  the peak (``color="memory"``); the fill colour darkens with the share (relative to the largest).
  Inputs are ellipses, constants small grey boxes, graph outputs have a double border.
* ``collapse_depth=d`` draws every scope at depth ``d`` (``attn`` is depth 1, ``attn/qkv`` depth 2)
  as one box holding its node count and summed time; edges between boxes are merged (thicker when
  they stand for several). With ``max_nodes``, a rendering with more boxes than that collapses
  scopes automatically (the deepest depth that fits), then merges linear chains of boxes; so a
  graph of thousands of nodes still lays out in a second or two (Graphviz's ``dot`` grows
  super-linearly: about 3 s for 2,000 nodes, 100 s for 10,000).
* ``diff_dot`` draws the graph before and after optimization side by side. From the pass log and
  the nodes' provenance it marks, on the left, nodes removed (red, dashed), merged into a duplicate
  (grey, dashed), folded into a constant (blue) or rewritten (orange), and on the right the nodes
  the passes made (green: new, blue: folded constant, orange: rewrite); each fused group has its own
  colour on both sides, with the fused node drawn thick.

Layouts are cached: the output of ``render_bytes`` is stored under the graphscope cache directory
(``$GRAPHSCOPE_CACHE_DIR/graphviz``) keyed by a hash of the DOT text and format, so the same
rendering (a dashboard page reloaded, a report regenerated) is not laid out twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import statistics
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphscope.errors import GraphscopeError
from graphscope.ir.spec import format_spec
from graphscope.profile.analysis import format_bytes, format_ns

COLORS = ("time", "memory", "none")
DEFAULT_MAX_NODES = 600  # boxes above which renderings collapse automatically (dot takes ~0.5 s here)
_FILL = ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026")
_GROUP_COLORS = ("#9467bd", "#17becf", "#e377c2", "#bcbd22", "#8c564b", "#1f77b4", "#2ca02c", "#ff7f0e")
MARK_STYLE = {  # kind -> (border colour, extra style, legend text)
    "removed": ("#d62728", "dashed", "removed"),
    "merged": ("#7f7f7f", "dashed", "merged into a duplicate (CSE)"),
    "folded": ("#1f77b4", "", "folded into a constant"),
    "rewritten": ("#ff7f0e", "", "rewritten"),
    "fused": ("", "", "fused (one colour per group)"),
    "new": ("#2ca02c", "", "made by a pass"),
}
_FONT = "Helvetica,Arial,sans-serif"


class GraphvizError(GraphscopeError):
    """Graphviz is missing or failed to lay out a graph."""


# ---------------------------------------------------------------------------------------------
# A uniform view of a graph: from an ir Graph or from a RunProfile's node descriptions


@dataclass(frozen=True)
class VNode:
    id: int
    name: str
    op: str
    scope: str
    shape: tuple[int, ...]
    dtype: str
    inputs: tuple[int, ...]
    source: str | None = None
    provenance: tuple[int, ...] = ()
    is_output: bool = False


@dataclass
class VGraph:
    name: str
    nodes: list[VNode]
    pass_log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def by_id(self) -> dict[int, VNode]:
        return {n.id: n for n in self.nodes}


def view(obj: Any) -> VGraph:
    """A VGraph of an ir ``Graph``, a ``RunProfile`` (its node descriptions) or a VGraph."""
    if isinstance(obj, VGraph):
        return obj
    from graphscope.profile.events import RunProfile

    if isinstance(obj, RunProfile):
        outs = set(obj.outputs)
        nodes = [VNode(n.id, n.name, n.op, n.scope, tuple(n.shape), str(n.dtype), tuple(n.inputs), n.source,
                       tuple(n.provenance), n.id in outs) for n in obj.nodes.values()]
        return VGraph(obj.graph_name, nodes, _log_dicts(obj.pass_log))
    from graphscope.ir.graph import Graph

    if isinstance(obj, Graph):
        outs = {n.id for n in obj.outputs}
        nodes = [VNode(n.id, n.name, n.op, n.scope, tuple(n.spec.shape), n.spec.dtype.name, tuple(i.id for i in n.inputs),
                       n.source, tuple(n.provenance), n.id in outs) for n in obj.nodes]
        return VGraph(obj.name, nodes, _log_dicts(obj.metadata.get("pass_log")))
    raise TypeError(f"cannot render a {type(obj).__name__}: expected a Graph or a RunProfile")


def _log_dicts(log: Any) -> list[dict[str, Any]]:
    """Pass log entries as dicts (PassLog.to_dict form), from an OptimizationLog, PassLogs or dicts."""
    if log is None:
        return []
    if hasattr(log, "passes"):
        log = log.passes
    return [p.to_dict() if hasattr(p, "to_dict") else dict(p) for p in log]


# ---------------------------------------------------------------------------------------------
# Weights from a profile: what colours the nodes


@dataclass
class Weights:
    """Per-node numbers from a profile, matched to a graph's nodes by id (same name) or by name."""

    metric: str  # "time" (median ns) or "memory" (bytes allocated)
    by_id: dict[int, float]
    by_name: dict[str, float]
    names: dict[int, str]
    total: float  # the denominator of shares: node time, or the peak bytes

    def get(self, node: VNode) -> float | None:
        if node.id in self.by_id and self.names.get(node.id) == node.name:
            return self.by_id[node.id]
        return self.by_name.get(node.name)

    def describe(self, value: float) -> str:
        share = 100.0 * value / self.total if self.total > 0 else 0.0
        if self.metric == "time":
            return f"{format_ns(value)} · {share:.1f}%"
        return f"{format_bytes(value)} · {share:.1f}% of peak"


def weights(profile: Any, metric: str = "time") -> Weights:
    """Median node times (``"time"``) or bytes allocated per node (``"memory"``) from a RunProfile."""
    if metric not in ("time", "memory"):
        raise ValueError(f"metric must be 'time' or 'memory', got {metric!r}")
    values: dict[int, float] = {}
    if metric == "time":
        for nid, ts in profile.node_times_ns().items():
            values[nid] = float(statistics.median(ts))
        total = sum(values.values())
    else:
        for e in profile.iterations[-1] if profile.iterations else []:  # memory is the same in every iteration
            values[e.node_id] = values.get(e.node_id, 0.0) + e.bytes_allocated
        total = float(profile.peak_bytes or sum(values.values()))
    names = {nid: n.name for nid, n in profile.nodes.items()}
    by_name = {names[nid]: v for nid, v in values.items() if nid in names}
    return Weights(metric, values, by_name, names, total)


# ---------------------------------------------------------------------------------------------
# Marks: what an optimization did to each node, from pass logs and provenance


@dataclass
class Marks:
    before: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (kind, note)
    after: dict[int, tuple[str, str]] = field(default_factory=dict)
    group_color: dict[tuple[str, int], str] = field(default_factory=dict)  # ("b"|"a", id) -> fused group colour

    def counts(self) -> Counter:
        return Counter(k for k, _ in list(self.before.values()) + list(self.after.values()))


def diff_marks(before: VGraph, after: VGraph, pass_log: Sequence[dict[str, Any]] = ()) -> Marks:
    """Classify the nodes only one side has, using the pass log (and provenance where it is silent)."""
    b_ids, a_ids = {n.id for n in before.nodes}, {n.id for n in after.nodes}
    gone: dict[int, tuple[str, str]] = {}
    made: dict[int, tuple[str, str]] = {}
    groups: list[tuple[list[int], int]] = []
    for p in pass_log:
        for dup, kept in p.get("merged", []):
            gone.setdefault(dup, ("merged", f"merged into %{kept}"))
        for f in p.get("folded", []):
            for i in f["from"]:
                gone.setdefault(i, ("folded", f"folded into %{f['into']}"))
            made.setdefault(f["into"], ("folded", f"constant folded from {len(f['from'])} nodes"))
        for f in p.get("rewritten", []):
            for i in f["from"]:
                if i != f["into"]:
                    gone.setdefault(i, ("rewritten", f"rewritten into %{f['into']}"))
            made.setdefault(f["into"], ("rewritten", str(f.get("rule", "rewrite"))))
        for f in p.get("fused", []):
            groups.append((list(f["from"]), f["into"]))
            for i in f["from"]:
                gone.setdefault(i, ("fused", f"fused into %{f['into']}"))
            made.setdefault(f["into"], ("fused", f"fused {len(f['from'])} ops"))
        for i in p.get("removed", []):
            gone.setdefault(i, ("removed", "removed"))
    groups = _compose_groups(groups)
    final = {i: into for members, into in groups for i in members}
    for i, (kind, _) in list(gone.items()):
        if kind == "fused" and i in final:  # a group fused again later (e.g. into a product): name the last one
            gone[i] = ("fused", f"fused into %{final[i]}")
    marks = Marks()
    for n in before.nodes:
        if n.id not in a_ids:
            marks.before[n.id] = gone.get(n.id, ("removed", "removed"))
    for n in after.nodes:
        if n.id in b_ids:
            continue
        if n.id in made:
            marks.after[n.id] = made[n.id]
        else:
            origin = [i for i in n.provenance if i in b_ids]
            marks.after[n.id] = ("new", f"from %{','.join(map(str, origin[:6]))}" if origin else "new")
    # Fused groups: from the log, else an after-node whose provenance covers several removed before-nodes.
    if not groups:
        for n in after.nodes:
            if n.id not in b_ids and n.op == "fused":
                groups.append(([i for i in n.provenance if i in b_ids], n.id))
    for k, (members, into) in enumerate(g for g in groups if g[1] in a_ids):
        color = _GROUP_COLORS[k % len(_GROUP_COLORS)]
        marks.group_color[("a", into)] = color
        marks.after[into] = ("fused", f"fused {len(members)} ops")
        for i in members:
            if i in b_ids and i not in a_ids:
                marks.group_color[("b", i)] = color
                marks.before[i] = ("fused", f"fused into %{into}")
    return marks


def _compose_groups(groups: list[tuple[list[int], int]]) -> list[tuple[list[int], int]]:
    """Groups whose node was fused again by a later pass merge into the later group (members of both)."""
    absorbed_by = {m: k for k, (members, _) in enumerate(groups) for m in members}
    out: dict[int, list[int]] = {}
    for k, (members, _) in enumerate(groups):
        j = k
        seen = {k}
        while groups[j][1] in absorbed_by and absorbed_by[groups[j][1]] not in seen:
            j = absorbed_by[groups[j][1]]
            seen.add(j)
        last = groups[j][1]
        acc = out.setdefault(last, [])
        acc.extend(m for m in members if m not in acc)
    return [(members, into) for into, members in out.items()]


# ---------------------------------------------------------------------------------------------
# Building DOT text


@dataclass
class Rendering:
    """DOT text and what it shows; ``save_rendering`` turns it into .svg/.png/.dot."""

    source: str
    graph_name: str
    nodes_total: int  # nodes of the graph(s)
    boxes: int  # drawn boxes (nodes, collapsed scopes, chains)
    collapse_depth: int | None  # the depth used (given or automatic); None: nothing collapsed by scope
    chains_merged: bool = False
    notes: list[str] = field(default_factory=list)
    summary: str = ""  # one line: what is drawn (for the CLI)
    # DOT id -> what it draws, for viewers that map a click on the SVG back to the graph (the dashboard):
    # {"kind": "node", "side": "" | "b" | "a", "id": node id} | {"kind": "scope", "side", "path", "ids"}
    # (a collapsed scope's box) | {"kind": "chain", "side", "ids"} | {"kind": "cluster", "side", "path"}
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.source


def _q(text: Any) -> str:
    s = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "")
    return f'"{s}"'


def _fill(value: float | None, top: float) -> tuple[str, str]:
    """(fill colour, font colour) for a weight on the YlOrRd scale, relative to the largest (sqrt scale)."""
    if value is None or top <= 0:
        return "#ffffff", "#000000"
    k = min(int(math.sqrt(max(value, 0.0) / top) * (len(_FILL) - 1) + 0.5), len(_FILL) - 1)
    return _FILL[k], "#ffffff" if k >= 6 else "#000000"


def _scope_parts(scope: str) -> tuple[str, ...]:
    return tuple(p for p in scope.split("/") if p)


def _short_name(n: VNode) -> str:
    if n.scope and n.name.startswith(n.scope + "/"):
        return n.name[len(n.scope) + 1:]
    return n.name


@dataclass
class _Box:
    key: tuple
    members: list[VNode]
    cluster: tuple[str, ...]
    label_scope: str = ""  # for a collapsed scope: its path


def _box_count(nodes: list[VNode], depth: int | None) -> int:
    singles = 0
    scopes = set()
    for n in nodes:
        parts = _scope_parts(n.scope)
        if depth is not None and len(parts) >= depth:
            scopes.add(parts[:depth])
        else:
            singles += 1
    return singles + len(scopes)


def choose_depth(nodes: list[VNode], max_nodes: int | None, depth: int | None = None) -> int | None:
    """The given depth, or (with none given) the deepest scope depth whose rendering has at most
    ``max_nodes`` boxes; None when the graph fits uncollapsed or no depth fits."""
    if depth is not None or not max_nodes or len(nodes) <= max_nodes:
        return depth
    deepest = max((len(_scope_parts(n.scope)) for n in nodes), default=0)
    for d in range(deepest, 0, -1):
        if _box_count(nodes, d) <= max_nodes:
            return d
    return 1 if deepest else None


def scope_paths(obj: Any) -> list[str]:
    """Every name scope of a graph (``"attn"``, ``"attn/qkv"``, ...), parents before children."""
    paths: set[str] = set()
    for n in view(obj).nodes:
        parts = _scope_parts(n.scope)
        for k in range(1, len(parts) + 1):
            paths.add("/".join(parts[:k]))
    return sorted(paths, key=lambda p: (p.count("/"), p))


def expanded_for_depth(obj: Any, depth: int | None) -> set[str]:
    """The ``expanded`` set that draws like ``collapse_depth=depth``: every scope above that depth
    (None: every scope, nothing collapsed)."""
    return {p for p in scope_paths(obj) if depth is None or p.count("/") + 1 < depth}


def _collapsed_prefix(parts: tuple[str, ...], expanded: Collection[str]) -> int:
    """How many leading parts name the outermost scope not in ``expanded`` (0: all are expanded)."""
    for k in range(1, len(parts) + 1):
        if "/".join(parts[:k]) not in expanded:
            return k
    return 0


class _Side:
    """The boxes, clusters and edges of one graph, with DOT ids under ``prefix``."""

    def __init__(self, g: VGraph, prefix: str, *, weights: Weights | None, marks: dict[int, tuple[str, str]],
                 group_color: dict[int, str], depth: int | None, max_nodes: int | None, show_constants: bool,
                 expanded: Collection[str] | None = None) -> None:
        self.g = g
        self.prefix = prefix
        self.weights = weights
        self.marks = marks
        self.group_color = group_color
        nodes = [n for n in g.nodes if show_constants or n.op != "constant"]
        self.nodes = nodes
        # ``expanded``: scopes drawn open, one by one; any other scope is one box (outermost first)
        self.depth = None if expanded is not None else choose_depth(nodes, max_nodes, depth)
        self.boxes: dict[tuple, _Box] = {}
        self.box_of: dict[int, tuple] = {}
        self.cluster_paths: dict[str, str] = {}  # DOT cluster name -> scope path (filled by emit)
        for n in nodes:
            parts = _scope_parts(n.scope)
            cut = (_collapsed_prefix(parts, expanded) if expanded is not None
                   else self.depth if self.depth is not None and len(parts) >= self.depth else 0)
            if cut:
                key = ("s", parts[:cut])
                box = self.boxes.get(key)
                if box is None:
                    box = self.boxes[key] = _Box(key, [], parts[: cut - 1], "/".join(parts[:cut]))
                box.members.append(n)
            else:
                key = ("n", n.id)
                self.boxes[key] = _Box(key, [n], parts)
            self.box_of[n.id] = key
        self.chains_merged = False
        if max_nodes and len(self.boxes) > max_nodes:
            self._merge_chains()

    def edges(self) -> Counter:
        edges: Counter = Counter()
        for n in self.nodes:
            dst = self.box_of[n.id]
            for i in n.inputs:
                src = self.box_of.get(i)
                if src is not None and src != dst:
                    edges[(src, dst)] += 1
        return edges

    def _merge_chains(self) -> None:
        """Merge linear chains of boxes (one reader, one producer, same cluster) into one box each."""
        edges = self.edges()
        succ: dict[tuple, set] = {}
        pred: dict[tuple, set] = {}
        for s, d in edges:
            succ.setdefault(s, set()).add(d)
            pred.setdefault(d, set()).add(s)

        def joins(a: tuple, b: tuple) -> bool:  # b continues a's chain
            return (succ.get(a) == {b} and pred.get(b) == {a} and self.boxes[a].cluster == self.boxes[b].cluster
                    and a[0] != "s" and b[0] != "s")

        merged: dict[tuple, _Box] = {}
        seen: set = set()
        for key in list(self.boxes):
            if key in seen:
                continue
            preds = pred.get(key, set())
            if len(preds) == 1 and joins(next(iter(preds)), key):
                continue  # not the head of its chain
            chain = [key]
            while True:
                nxt = succ.get(chain[-1], set())
                if len(nxt) == 1 and joins(chain[-1], next(iter(nxt))) and next(iter(nxt)) not in seen:
                    chain.append(next(iter(nxt)))
                else:
                    break
            seen.update(chain)
            if len(chain) == 1:
                merged[key] = self.boxes[key]
                continue
            members = [m for k in chain for m in self.boxes[k].members]
            ckey = ("c", members[0].id)
            merged[ckey] = _Box(ckey, members, self.boxes[key].cluster)
            for m in members:
                self.box_of[m.id] = ckey
            self.chains_merged = True
        for key in self.boxes:  # boxes in cycles of the chain walk (cannot happen in a DAG) are kept
            if key not in seen:
                merged[key] = self.boxes[key]
        self.boxes = merged

    # -- emission ------------------------------------------------------------------------------
    def _id(self, key: tuple) -> str:
        kind, val = key
        if kind == "s":
            return self.prefix + "s_" + "_".join(f"{len(p)}{p.encode().hex()}" for p in val)
        return f"{self.prefix}{kind}{val}"

    def targets(self) -> dict[str, dict[str, Any]]:
        """DOT id -> what it draws (see ``Rendering.targets``); clusters only after ``emit``."""
        out: dict[str, dict[str, Any]] = {}
        for key, box in self.boxes.items():
            ids = [m.id for m in box.members]
            if key[0] == "n":
                out[self._id(key)] = {"kind": "node", "side": self.prefix, "id": ids[0]}
            elif key[0] == "s":
                out[self._id(key)] = {"kind": "scope", "side": self.prefix, "path": box.label_scope, "ids": ids}
            else:
                out[self._id(key)] = {"kind": "chain", "side": self.prefix, "ids": ids}
        for name, path in self.cluster_paths.items():
            out[name] = {"kind": "cluster", "side": self.prefix, "path": path}
        return out

    def _weight(self, nodes: Iterable[VNode]) -> float | None:
        if self.weights is None:
            return None
        vals = [w for w in (self.weights.get(n) for n in nodes) if w is not None]
        return sum(vals) if vals else None

    def top_weight(self) -> float:
        if self.weights is None:
            return 0.0
        return max((w for w in (self._weight(b.members) for b in self.boxes.values()) if w is not None), default=0.0)

    def box_line(self, box: _Box, top: float) -> str:
        if box.key[0] == "n":
            return self._node_line(box.members[0], top)
        w = self._weight(box.members)
        fill, font = _fill(w, top)
        ops = Counter(m.op for m in box.members)
        if box.key[0] == "s":
            head = box.label_scope
            kind_text = f"{len(box.members)} nodes"
            shape = "box3d"
        else:
            head = f"{_short_name(box.members[0])} → … → {_short_name(box.members[-1])}"
            kind_text = f"chain of {len(box.members)} nodes"
            shape = "box"
        lines = [head, kind_text, ", ".join(f"{op}×{c}" if c > 1 else op for op, c in ops.most_common(3))
                 + (", …" if len(ops) > 3 else "")]
        if w is not None and self.weights is not None:
            lines.append(self.weights.describe(w))
        marked = Counter(self.marks[m.id][0] for m in box.members if m.id in self.marks)
        attrs = {"shape": shape, "style": "filled" + (",dashed" if box.key[0] == "c" else ""), "fillcolor": fill,
                 "fontcolor": font, "label": "\n".join(lines),
                 "tooltip": f"{head}\n{kind_text}\n" + "\n".join(f"{op}: {c}" for op, c in ops.most_common())}
        if marked:
            lines.append(", ".join(f"{c} {k}" for k, c in marked.most_common()))
            attrs["label"] = "\n".join(lines)
            kind = marked.most_common(1)[0][0]
            attrs["color"] = MARK_STYLE[kind][0] or "#9467bd"
            attrs["penwidth"] = "2"
        return f"{self._id(box.key)} [{_attrs(attrs)}];"

    def _node_line(self, n: VNode, top: float) -> str:
        w = self.weights.get(n) if self.weights is not None else None
        fill, font = _fill(w, top)
        spec = format_spec(n.dtype, n.shape)
        if n.op == "placeholder":
            attrs = {"shape": "ellipse", "style": "filled", "fillcolor": "#e8f0fe", "label": f"{_short_name(n)}\n{spec}"}
        elif n.op == "constant":
            attrs = {"shape": "box", "style": "filled", "fillcolor": "#eeeeee", "fontsize": "8", "height": "0.2",
                     "label": f"{_short_name(n)}\n{spec}"}
        else:
            op = f"fused ×{len(n.provenance)}" if n.op == "fused" and len(n.provenance) > 1 else n.op
            lines = [_short_name(n), f"{op} {spec}"]
            if w is not None and self.weights is not None:
                lines.append(self.weights.describe(w))
            attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": fill, "fontcolor": font,
                     "label": "\n".join(lines)}
        tip = [f"%{n.id} {n.name}", f"{n.op} {spec}"]
        if n.source:
            tip.append(n.source)
        if len(n.provenance) > 1 or (n.provenance and n.provenance[0] != n.id):
            tip.append("from %" + ", %".join(map(str, n.provenance[:20])) + (" …" if len(n.provenance) > 20 else ""))
        mark = self.marks.get(n.id)
        if mark is not None:
            kind, note = mark
            color, style, _ = MARK_STYLE[kind]
            attrs["color"] = self.group_color.get(n.id, color) or "#9467bd"
            attrs["penwidth"] = "3" if kind == "fused" else "2"
            if style:
                attrs["style"] += "," + style
            attrs["label"] += f"\n[{note}]"
            tip.append(note)
        if n.is_output:
            attrs["peripheries"] = "2"
        attrs["tooltip"] = "\n".join(tip)
        return f"{self._id(('n', n.id))} [{_attrs(attrs)}];"

    def emit(self, out: list[str], indent: str, top: float) -> None:
        tree: dict[tuple[str, ...], list[_Box]] = {}
        for box in self.boxes.values():
            tree.setdefault(box.cluster, []).append(box)
        children: dict[tuple[str, ...], set] = {}
        for path in list(tree):
            for k in range(len(path)):
                children.setdefault(path[:k], set()).add(path[: k + 1])
        cluster_w: dict[tuple[str, ...], float] = {}
        if self.weights is not None:
            for box in self.boxes.values():
                bw = self._weight(box.members)
                if bw is not None:
                    for k in range(1, len(box.cluster) + 1):
                        cluster_w[box.cluster[:k]] = cluster_w.get(box.cluster[:k], 0.0) + bw
        counter = [0]

        def visit(path: tuple[str, ...], ind: str) -> None:
            for box in tree.get(path, []):
                out.append(ind + self.box_line(box, top))
            for child in sorted(children.get(path, ())):
                counter[0] += 1
                w = cluster_w.get(child)
                label = child[-1] + (f"  ({self.weights.describe(w)})" if w is not None and self.weights else "")
                self.cluster_paths[f"cluster_{self.prefix}{counter[0]}"] = "/".join(child)
                out.append(f"{ind}subgraph cluster_{self.prefix}{counter[0]} {{")
                out.append(f'{ind}  label={_q(label)}; tooltip={_q("/".join(child))}; style="rounded,filled"; '
                           f'fillcolor="{_cluster_fill(len(child))}"; color="#b0b0b0"; fontsize=10;')
                visit(child, ind + "  ")
                out.append(ind + "}")

        visit((), indent)
        for (s, d), count in sorted(self.edges().items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
            extra = f' [penwidth={1 + math.log2(count):.1f}, tooltip="{count} edges"]' if count > 1 else ""
            out.append(f"{indent}{self._id(s)} -> {self._id(d)}{extra};")


def _cluster_fill(depth: int) -> str:
    return ("#f7f7f7", "#eef3f8", "#f3f0f7", "#eef6ee")[(depth - 1) % 4]


def _attrs(attrs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_q(v)}" for k, v in attrs.items())


def _header(name: str, label: str, boxes: int) -> list[str]:
    splines = "spline" if boxes <= 300 else "polyline"
    return [
        f"digraph {_q(name)} {{",
        f'  graph [rankdir=TB, newrank=true, nodesep=0.25, ranksep=0.35, splines={splines}, fontname="{_FONT}", '
        f'fontsize=12, labelloc=t, label={_q(label)}, tooltip={_q(name)}];',
        f'  node [fontname="{_FONT}", fontsize=10, margin="0.08,0.03", height=0.3];',
        '  edge [color="#666666", arrowsize=0.6];',
    ]


def _color_note(w: Weights | None, top: float) -> str:
    if w is None:
        return ""
    what = "share of node time" if w.metric == "time" else "bytes allocated (share of the peak)"
    return f"colour: {what}, darkest = {w.describe(top)}"


def _weights_for(profile: Any, color: str) -> Weights | None:
    if profile is None or color == "none":
        return None
    if color not in COLORS:
        raise ValueError(f"color must be one of {', '.join(COLORS)}, got {color!r}")
    return weights(profile, color)


def to_dot(obj: Any, *, profile: Any = None, color: str = "time", collapse_depth: int | None = None,
           max_nodes: int | None = DEFAULT_MAX_NODES, show_constants: bool = True, title: str | None = None,
           expanded: Collection[str] | None = None) -> Rendering:
    """DOT text of a Graph or a RunProfile's graph.

    ``profile`` colours the nodes (a RunProfile passed as ``obj`` colours itself); ``color`` is
    "time", "memory" or "none". ``collapse_depth`` draws the scopes at that depth as one box each;
    ``max_nodes`` collapses automatically past that many boxes (None: never). ``expanded`` (scope
    paths) replaces both: exactly those scopes are drawn open, every other scope is one box (a viewer
    that opens scopes one click at a time; ``expanded_for_depth`` gives the set a depth draws);
    linear chains are still merged past ``max_nodes`` boxes.
    """
    from graphscope.profile.events import RunProfile

    if collapse_depth is not None and collapse_depth < 1:
        raise ValueError(f"collapse_depth must be at least 1, got {collapse_depth}")
    g = view(obj)
    if profile is None and isinstance(obj, RunProfile):
        profile = obj
    w = _weights_for(profile, color)
    side = _Side(g, "", weights=w, marks={}, group_color={}, depth=collapse_depth, max_nodes=max_nodes,
                 show_constants=show_constants, expanded=expanded)
    top = side.top_weight()
    label_parts = [title or g.name, f"{len(g.nodes)} nodes"]
    if side.depth is not None:
        label_parts.append(f"scopes collapsed at depth {side.depth}")
    closed = sum(1 for k in side.boxes if k[0] == "s")
    if expanded is not None and closed:
        label_parts.append(f"{closed} scopes collapsed")
    if side.chains_merged:
        label_parts.append("chains merged")
    label = " · ".join(label_parts)
    note = _color_note(w, top)
    lines = _header(g.name, label + (f"\n{note}" if note else ""), len(side.boxes))
    side.emit(lines, "  ", top)
    lines.append("}")
    notes = []
    if collapse_depth is None and side.depth is not None:
        notes.append(f"{len(side.nodes)} nodes: scopes collapsed at depth {side.depth} to {len(side.boxes)} boxes "
                     f"(at most {max_nodes})")
    if max_nodes and len(side.boxes) > max_nodes:
        notes.append(f"{len(side.boxes)} boxes even after collapsing: layout may be slow")
    summary = f"{len(g.nodes)} nodes in {len(side.boxes)} boxes"
    return Rendering("\n".join(lines) + "\n", g.name, len(g.nodes), len(side.boxes), side.depth, side.chains_merged, notes,
                     summary, side.targets())


def diff_dot(before: Any, after: Any, *, pass_log: Any = None, profile: Any = None, color: str = "time",
             collapse_depth: int | None = None, max_nodes: int | None = DEFAULT_MAX_NODES, show_constants: bool = True,
             before_label: str = "before", after_label: str = "after", title: str | None = None,
             expanded: Collection[str] | None = None) -> Rendering:
    """Before and after an optimization side by side, with what the passes changed marked.

    ``pass_log`` (an OptimizationLog, PassLogs or their dicts) defaults to ``after``'s own pass log
    (``graph.metadata["pass_log"]``). ``profile`` colours both sides (nodes matched by id and name).
    ``expanded`` works as in ``to_dot``, the same scopes open on both sides.
    """
    b, a = view(before), view(after)
    log = _log_dicts(pass_log) if pass_log is not None else a.pass_log
    marks = diff_marks(b, a, log)
    w = _weights_for(profile, color)
    depth = collapse_depth
    if depth is None and max_nodes and expanded is None:  # both sides collapse at the same depth
        depth = choose_depth(b.nodes if len(b.nodes) >= len(a.nodes) else a.nodes, max_nodes // 2)
    sides = [
        _Side(b, "b", weights=w, marks=marks.before, group_color={i: c for (s, i), c in marks.group_color.items() if s == "b"},
              depth=depth, max_nodes=max_nodes and max_nodes // 2, show_constants=show_constants, expanded=expanded),
        _Side(a, "a", weights=w, marks=marks.after, group_color={i: c for (s, i), c in marks.group_color.items() if s == "a"},
              depth=depth, max_nodes=max_nodes and max_nodes // 2, show_constants=show_constants, expanded=expanded),
    ]
    top = max(s.top_weight() for s in sides)
    counts = marks.counts()
    legend = " · ".join(f"{MARK_STYLE[k][2]}: {c}" for k, c in counts.most_common()) or "no change"
    label = f"{title or a.name}: {len(b.nodes)} → {len(a.nodes)} nodes\n{legend}"
    note = _color_note(w, top)
    lines = _header(a.name, label + (f"\n{note}" if note else ""), sum(len(s.boxes) for s in sides))
    for side, text, g in ((sides[0], before_label, b), (sides[1], after_label, a)):
        lines.append(f"  subgraph cluster_{side.prefix}side {{")
        lines.append(f'    label={_q(f"{text} ({len(g.nodes)} nodes)")}; fontsize=14; style="rounded"; color="#888888";')
        side.emit(lines, "    ", top)
        lines.append("  }")
    lines.append("}")
    notes = [f"{MARK_STYLE[k][2]}: {c}" for k, c in counts.most_common()]
    boxes = sum(len(s.boxes) for s in sides)
    summary = f"{len(b.nodes)} -> {len(a.nodes)} nodes side by side in {boxes} boxes ({legend})"
    return Rendering("\n".join(lines) + "\n", a.name, len(b.nodes) + len(a.nodes), boxes, sides[0].depth,
                     any(s.chains_merged for s in sides), notes, summary, {**sides[0].targets(), **sides[1].targets()})


def stage_graphs(graph: Any, level: int = 2, passes: Sequence[str] | None = None) -> list[tuple[str, Any, list[dict]]]:
    """``[(stage name, graph, its pass's log), ...]``: the input, then the graph after each pass of
    the level (``gs.optimize(graph, passes=LEVELS[level][:k])`` for k = 1..n)."""
    from graphscope.passes.pipeline import LEVELS, optimize

    if passes is None:
        if level not in LEVELS:
            raise ValueError(f"optimization level must be one of {sorted(LEVELS)}, got {level}")
        passes = LEVELS[level]
    stages: list[tuple[str, Any, list[dict]]] = [("original", graph, [])]
    for k in range(1, len(passes) + 1):
        opt, log = optimize(graph, level, passes=list(passes[:k]))
        stages.append((passes[k - 1], opt, _log_dicts(log.passes[-1:])))
    return stages


def stage_renderings(graph: Any, level: int = 2, *, passes: Sequence[str] | None = None,
                     **kwargs: Any) -> list[tuple[str, Rendering]]:
    """One rendering per pipeline stage: the original graph, then for each pass its before | after."""
    stages = stage_graphs(graph, level, passes)
    kw_single = {k: v for k, v in kwargs.items() if k in ("profile", "color", "collapse_depth", "max_nodes", "show_constants")}
    out = [("original", to_dot(graph, title=f"{view(graph).name}: original", **kw_single))]
    for k in range(1, len(stages)):
        name, g, log = stages[k]
        prev_name, prev, _ = stages[k - 1]
        out.append((name, diff_dot(prev, g, pass_log=log, before_label=f"before {name}", after_label=f"after {name}",
                                   title=f"{view(graph).name}: pass {k} of {len(stages) - 1}, {name}", **kw_single)))
    return out


# ---------------------------------------------------------------------------------------------
# Output through Graphviz


_memory_cache: dict[str, bytes] = {}
_MEMORY_CACHE_ITEMS = 32
DISK_CACHE_ITEMS = 128


def _cache_dir() -> str:
    from graphscope.profile.calibration import cache_dir

    return os.path.join(cache_dir(), "graphviz")


def render_bytes(source: str | Rendering, fmt: str = "svg", *, engine: str = "dot", cache: bool = True) -> bytes:
    """Lay out DOT text with Graphviz and return the ``fmt`` output ("svg", "png", ...).

    Outputs are cached in memory and on disk by a hash of (engine, format, DOT text).
    """
    text = source.source if isinstance(source, Rendering) else source
    key = hashlib.sha256(f"{engine}\0{fmt}\0{text}".encode()).hexdigest()
    if cache:
        hit = _memory_cache.get(key)
        if hit is not None:
            return hit
        path = os.path.join(_cache_dir(), f"{key}.{fmt}")
        with contextlib.suppress(OSError):
            with open(path, "rb") as f:
                data = f.read()
            if data:
                _remember(key, data)
                return data
    try:
        import graphviz
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise GraphvizError("the 'graphviz' Python package is missing: pip install graphviz") from exc
    try:
        data = graphviz.pipe(engine, fmt, text.encode("utf-8"), quiet=True)
    except graphviz.ExecutableNotFound:
        raise GraphvizError(f"Graphviz's '{engine}' program is not installed (Debian/Ubuntu: apt-get install graphviz; "
                            "macOS: brew install graphviz)") from None
    except graphviz.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise GraphvizError(f"Graphviz failed to lay out the graph: {detail[-1] if detail else exc}") from None
    if cache:
        _remember(key, data)
        _store(key, fmt, data)
    return data


def _remember(key: str, data: bytes) -> None:
    if len(_memory_cache) >= _MEMORY_CACHE_ITEMS:
        _memory_cache.pop(next(iter(_memory_cache)))
    _memory_cache[key] = data


def _store(key: str, fmt: str, data: bytes) -> None:
    from graphscope.formats._io import atomic_write

    with contextlib.suppress(OSError):
        directory = _cache_dir()
        os.makedirs(directory, exist_ok=True)
        atomic_write(os.path.join(directory, f"{key}.{fmt}"), lambda f: f.write(data))
        entries = sorted((e for e in os.scandir(directory) if e.is_file() and not e.name.startswith(".")),
                         key=lambda e: e.stat().st_mtime)
        for e in entries[: max(len(entries) - DISK_CACHE_ITEMS, 0)]:
            os.unlink(e.path)


def svg_for_html(source: str | Rendering, **kwargs: Any) -> str:
    """SVG markup to inline in an HTML page: no XML prolog or DOCTYPE."""
    svg = render_bytes(source, "svg", **kwargs).decode("utf-8")
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def save_rendering(rendering: Rendering | str, path: str | os.PathLike) -> None:
    """Write a rendering (or DOT text) as .dot, .svg or .png, chosen by the suffix of ``path``."""
    from graphscope.formats._io import atomic_write

    if not isinstance(rendering, (Rendering, str)):
        raise TypeError(f"cannot save a {type(rendering).__name__} as a rendering: expected a Rendering or DOT text "
                        "(make one with graphscope.viz.dot.to_dot)")
    text = rendering.source if isinstance(rendering, Rendering) else rendering
    fmt = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if fmt == "gv":
        fmt = "dot"
    data = text.encode("utf-8") if fmt == "dot" else render_bytes(text, fmt)
    atomic_write(path, lambda f: f.write(data))


__all__ = ["COLORS", "DEFAULT_MAX_NODES", "GraphvizError", "Marks", "Rendering", "VGraph", "VNode", "Weights",
           "choose_depth", "diff_dot", "diff_marks", "expanded_for_depth", "render_bytes", "save_rendering", "scope_paths",
           "stage_graphs", "stage_renderings", "svg_for_html", "to_dot", "view", "weights"]
