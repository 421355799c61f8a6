"""The Graph page's picture: a Graphviz SVG of one stage of a run, scopes opened one click at a time.

A *view* is (run, stage, colour, the set of expanded scopes). Stages: 0 is the graph as loaded; for a
run optimized at level L (or a graph opened without running: a preview at level 2), stage k in
1..n is pass k of the level drawn before | after with what it changed marked
(``viz.dot.stage_graphs``); stage n+1 is the whole pipeline, before | after. Large graphs open with
their scopes collapsed to fit (``viz.dot.choose_depth``) and are never laid out whole: Graphviz
takes ~100 s for 10,000 nodes. Each view is laid out once: the SVG and its click targets are kept in
an LRU cache keyed by the view (``LayoutCache``; Graphviz's own output cache sits below it).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Any

from graphscope.app.state import Run

MAX_BOXES = 300  # boxes per side a view opens with (dot lays out ~300 boxes in well under a second)
CACHE_ITEMS = 48


class LayoutCache:
    """A small thread-safe LRU of finished views (and of the VGraphs they are drawn from)."""

    def __init__(self, items: int = CACHE_ITEMS) -> None:
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._size = items
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
        value = make()  # outside the lock: a layout can take a while; a duplicate is only wasted work
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


def _vgraph(cache: LayoutCache, obj: Any) -> Any:
    """The VGraph of a Graph or RunProfile, converted once (20,000 nodes take ~0.1 s)."""
    from graphscope.viz.dot import view

    version = getattr(obj, "version", None)
    return cache.get(("vgraph", id(obj), version), lambda: (obj, view(obj)))[1]


def pass_names(run: Run) -> list[str]:
    """The passes the stage slider steps through ([] when there is nothing to step through)."""
    from graphscope.passes.pipeline import LEVELS

    if run.original is None:
        return []
    if run.profile is not None and not run.level:
        return []  # ran unoptimized: nothing changed
    return list(LEVELS.get(run.level or 2, []))


SHORT_PASS_NAMES = {"constant_folding": "fold constants", "algebraic_simplification": "simplify",
                    "common_subexpression_elimination": "CSE", "dead_code_elimination": "DCE",
                    "elementwise_fusion": "fuse elementwise", "pattern_fusion": "fuse patterns", "memory_plan": "memory plan"}


def short_pass_name(name: str) -> str:
    return SHORT_PASS_NAMES.get(name, name.replace("_", " "))


def default_stage(run: Run) -> int:
    """The whole pipeline (before | after) for an optimized run; the graph itself otherwise."""
    return len(pass_names(run)) + 1 if run.optimized is not None else 0


def stage_label(run: Run, stage: int) -> str:
    names = pass_names(run)
    if stage <= 0 or not names:
        return "graph"
    if stage > len(names):
        return "all passes"
    return names[stage - 1].replace("_", " ")


def clamp_stage(run: Run, stage: Any) -> int:
    n = len(pass_names(run))
    try:
        k = int(stage)
    except (TypeError, ValueError):
        return default_stage(run)
    return min(max(k, 0), n + 1 if n else 0)


def _graphs(run: Run, stage: int) -> tuple[Any, Any, Any, str, str]:
    """(before, after or None, pass log, before label, after label) of a stage."""
    names = pass_names(run)
    if stage == 0 or not names:
        return run.original if run.original is not None else run.profile, None, None, "", ""
    stages = run.stages()
    if stage > len(names):
        after = run.optimized if run.optimized is not None else stages[-1][1]
        log = run.log if run.optimized is not None else [p for _, _, lg in stages[1:] for p in lg]
        return run.original, after, log, "before", f"after level {run.level or 2}"
    name = stages[stage][0]
    return stages[stage - 1][1], stages[stage][1], stages[stage][2], f"before {name}", f"after {name}"


def default_expanded(state_cache: LayoutCache, run: Run, stage: int = 0) -> list[str]:
    """The scopes a view opens with: all of them when the graph fits in MAX_BOXES boxes, else the
    deepest level of scopes that fits (the others collapsed)."""
    from graphscope.viz.dot import choose_depth, expanded_for_depth

    before, after, *_ = _graphs(run, stage)
    biggest = max((g for g in (before, after) if g is not None), key=lambda g: len(g.nodes))
    vg = _vgraph(state_cache, biggest)
    depth = choose_depth(vg.nodes, MAX_BOXES)
    return sorted(expanded_for_depth(vg, depth))


def scope_prefixes(scope: str) -> list[str]:
    parts = [p for p in (scope or "").split("/") if p]
    return ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]


def reveal(expanded: Collection[str], scope: str) -> list[str]:
    """``expanded`` with every scope around ``scope`` opened (so a node in it is drawn)."""
    return sorted(set(expanded) | set(scope_prefixes(scope)))


def collapse(expanded: Collection[str], path: str) -> list[str]:
    """``expanded`` with ``path`` and every scope inside it closed."""
    return sorted(p for p in expanded if p != path and not p.startswith(path + "/"))


def render(cache: LayoutCache, run: Run, stage: int, color: str, expanded: Collection[str]) -> dict[str, Any]:
    """The view as ``{"svg", "targets", "summary", "notes", "seconds"}`` (laid out once, then cached).

    ``targets`` maps each SVG element's id (Graphviz's <title>) to ``[kind, side, value]``: a node
    (value: its id), a collapsed scope (its path), a chain of nodes (their ids) or a cluster (its path).
    """
    key = ("view", run.id, stage, color, tuple(sorted(expanded)))
    return cache.get(key, lambda: _render(cache, run, stage, color, expanded))


def _render(cache: LayoutCache, run: Run, stage: int, color: str, expanded: Collection[str]) -> dict[str, Any]:
    from graphscope.viz.dot import diff_dot, svg_for_html, to_dot

    t0 = time.perf_counter()
    before, after, log, b_label, a_label = _graphs(run, stage)
    profile = run.profile if color != "none" else None
    col = color if profile is not None else "none"
    title = f"{run.label}: {stage_label(run, stage)}"
    if after is None:
        r = to_dot(_vgraph(cache, before), profile=profile, color=col, expanded=set(expanded), max_nodes=2 * MAX_BOXES,
                   title=title)
    else:
        r = diff_dot(_vgraph(cache, before), _vgraph(cache, after), pass_log=log, profile=profile, color=col,
                     expanded=set(expanded), max_nodes=2 * MAX_BOXES, before_label=b_label, after_label=a_label, title=title)
    svg = svg_for_html(r)
    targets = {}
    for dom_id, t in r.targets.items():
        value = t.get("id") if t["kind"] == "node" else t.get("path") if t["kind"] in ("scope", "cluster") else t.get("ids")
        targets[dom_id] = [t["kind"], t["side"], value]
    return {"svg": svg, "targets": targets, "summary": r.summary, "notes": list(r.notes),
            "seconds": time.perf_counter() - t0, "boxes": r.boxes}


def search(run: Run, text: str, limit: int = 8) -> list[Any]:
    """Nodes whose name contains ``text`` (case-insensitive), an exact name first, then by id;
    from the graph that ran, then nodes only the original graph has."""
    q = (text or "").strip().lower()
    if not q:
        return []
    seen: set[int] = set()
    hits: list[Any] = []
    for obj in (run.graph, run.original):
        if obj is None:
            continue
        nodes = obj.nodes if isinstance(obj.nodes, list) else list(obj.nodes.values())
        for n in nodes:
            if n.id not in seen and q in n.name.lower():
                seen.add(n.id)
                hits.append(n)
    hits.sort(key=lambda n: (n.name.lower() != q, not n.name.lower().startswith(q), n.id))
    return hits[:limit]


__all__ = ["LayoutCache", "MAX_BOXES", "SHORT_PASS_NAMES", "clamp_stage", "collapse", "default_expanded", "default_stage",
           "pass_names", "render", "reveal", "scope_prefixes", "search", "short_pass_name", "stage_label"]
