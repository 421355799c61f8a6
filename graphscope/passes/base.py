"""What every pass returns, and the log of what it changed.

A pass is ``def name(graph: Graph) -> PassResult``. It may edit ``graph`` in place (the pipeline
hands it a copy) and reports, with node ids on both sides, everything it removed, merged, folded,
fused or rewrote, so a viewer can show before/after and map optimized nodes back to source lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphscope.ir.graph import Graph


@dataclass
class PassLog:
    name: str
    removed: list[int] = field(default_factory=list)  # node ids deleted
    merged: list[tuple[int, int]] = field(default_factory=list)  # (removed duplicate, kept node)
    folded: list[tuple[list[int], int]] = field(default_factory=list)  # (constant subgraph ids, new constant id)
    rewritten: list[tuple[list[int], int, str]] = field(default_factory=list)  # (old ids, new/kept id, rule)
    fused: list[tuple[list[int], int]] = field(default_factory=list)  # (group ids, fused node id)
    blocked: list[tuple[list[int], str]] = field(default_factory=list)  # (ids, why not changed)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    nodes_before: int = 0
    nodes_after: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.removed or self.merged or self.folded or self.rewritten or self.fused)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "changed": self.changed, "removed": self.removed,
            "merged": [list(m) for m in self.merged],
            "folded": [{"from": f, "into": t} for f, t in self.folded],
            "rewritten": [{"from": f, "into": t, "rule": r} for f, t, r in self.rewritten],
            "fused": [{"from": f, "into": t} for f, t in self.fused],
            "blocked": [{"nodes": n, "reason": r} for n, r in self.blocked],
            "notes": self.notes, "seconds": self.seconds,
            "nodes_before": self.nodes_before, "nodes_after": self.nodes_after,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PassLog:
        return cls(
            name=d["name"], removed=list(d.get("removed", [])),
            merged=[tuple(m) for m in d.get("merged", [])],
            folded=[(list(f["from"]), f["into"]) for f in d.get("folded", [])],
            rewritten=[(list(f["from"]), f["into"], f["rule"]) for f in d.get("rewritten", [])],
            fused=[(list(f["from"]), f["into"]) for f in d.get("fused", [])],
            blocked=[(list(b["nodes"]), b["reason"]) for b in d.get("blocked", [])],
            notes=list(d.get("notes", [])), seconds=d.get("seconds", 0.0),
            nodes_before=d.get("nodes_before", 0), nodes_after=d.get("nodes_after", 0),
        )

    def summary(self) -> str:
        parts = []
        for label, items in (("removed", self.removed), ("merged", self.merged), ("folded", self.folded),
                             ("rewritten", self.rewritten), ("fused", self.fused), ("blocked", self.blocked)):
            if items:
                parts.append(f"{len(items)} {label}")
        return f"{self.name}: " + (", ".join(parts) if parts else "no change") + \
            f" ({self.nodes_before} -> {self.nodes_after} nodes, {self.seconds * 1e3:.1f} ms)"


@dataclass
class PassResult:
    graph: Graph
    log: PassLog

    @property
    def changed(self) -> bool:
        return self.log.changed
