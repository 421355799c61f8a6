"""Capture: which nodes a run keeps the values of, and writing them out.

A pattern selects nodes of the graph being run:

* ``op:NAME`` (or ``type:NAME``): every node of that op type (``op:softmax``, ``op:fused``);
* ``%ID``: the node with that id;
* a name: the node with exactly that name (``attn/scores/softmax``);
* a glob over names (``fnmatch``: ``*`` also crosses ``/``): ``encoder/layer0/*``, ``*softmax*``; it
  selects computed values and inputs, not constants (weights: select one by name or id);
* a plain word that names no node but is an op (``softmax``) selects by op type.

A pattern that selects nothing raises ``ValueError`` naming it and the closest names, so a typo is
never an empty capture. Captured values are copies taken right after their node ran, so the memory
plan reusing the buffer later cannot change them, and capturing never changes the run's outputs.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from graphscope.ir.graph import Graph, Node
from graphscope.ir.ops import all_ops


def _patterns(capture: str | Iterable[str]) -> list[str]:
    items = [capture] if isinstance(capture, str) else list(capture)
    for p in items:
        if not isinstance(p, str) or not p.strip():
            raise ValueError(f"capture patterns must be non-empty strings, got {p!r}")
    return [p.strip() for p in items]


def _match(graph: Graph, pattern: str, ops: set[str]) -> list[Node]:
    nodes = graph.nodes
    kind, _, rest = pattern.partition(":")
    if rest and kind in ("op", "type"):
        return [n for n in nodes if n.op == rest]
    if re.fullmatch(r"%\d+", pattern):
        nid = int(pattern[1:])
        return [n for n in nodes if n.id == nid]
    exact = [n for n in nodes if n.name == pattern]
    if exact:
        return exact
    if any(c in pattern for c in "*?["):  # weights are values of their own: a glob over a scope means its activations
        return [n for n in nodes if n.op != "constant" and fnmatch.fnmatchcase(n.name, pattern)]
    if pattern in ops:
        return [n for n in nodes if n.op == pattern]
    return []


def select_nodes(graph: Graph, capture: str | Iterable[str]) -> list[Node]:
    """The nodes the patterns select, in graph order (see the module doc); ValueError for a pattern that selects none."""
    ops = set(all_ops())
    chosen: dict[int, Node] = {}
    for pattern in _patterns(capture):
        found = _match(graph, pattern, ops)
        if not found:
            raise ValueError(_nothing_selected(graph, pattern, ops))
        for n in found:
            chosen[n.id] = n
    return [n for n in graph.nodes if n.id in chosen]


def _nothing_selected(graph: Graph, pattern: str, ops: set[str]) -> str:
    names = [n.name for n in graph.nodes]
    close = difflib.get_close_matches(pattern, names, n=3, cutoff=0.5)
    msg = f"capture pattern '{pattern}' selects no node of graph '{graph.name}'"
    if close:
        msg += f" (closest names: {', '.join(close)})"
    kind, _, rest = pattern.partition(":")
    if kind in ("op", "type") and rest:
        present = sorted({n.op for n in graph.nodes})
        msg += f"; ops in the graph: {', '.join(present)}" + ("" if rest in ops else f" ('{rest}' is not an op)")
    if graph.metadata.get("optimization_level", 0) >= 2:
        msg += "; the graph is optimized: fused nodes replace their members (capture 'op:fused' or run the original)"
    msg += "; patterns: a name, a glob such as 'attn/*', '%ID' or 'op:NAME'"
    return msg


# -- writing captured values ------------------------------------------------------------------------

INDEX = "index.json"


def _file_name(k: int, name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("/", "__")).strip("_") or "node"
    return f"{k:04d}_{safe[:120]}.npy"


def check_dump_target(directory: str | os.PathLike) -> str:
    """The absolute path of a dump directory that may be written (see ``dump_captured``), or an OSError saying why not."""
    target = os.path.abspath(os.fspath(directory))
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"cannot write the dump '{directory}': directory '{parent}' does not exist")
    if os.path.lexists(target):
        if not os.path.isdir(target):
            raise FileExistsError(f"cannot write the dump '{directory}': it exists and is not a directory")
        if os.listdir(target) and not os.path.isfile(os.path.join(target, INDEX)):
            raise FileExistsError(f"cannot write the dump '{directory}': it is a non-empty directory that is not a "
                                  f"graphscope dump (no {INDEX}); choose another directory")
    return target


def dump_captured(captured: Mapping[str, Any], directory: str | os.PathLike, graph: Graph | None = None,
                  extra: Mapping[str, Any] | None = None) -> list[str]:
    """Write one ``.npy`` per captured value and ``index.json`` into ``directory``; returns the file names.

    Atomic as a whole: everything is written into a fresh sibling directory that is then renamed to
    ``directory``, so the final name never holds a half-written dump. An existing ``directory`` is
    replaced only when it is empty or a previous dump (it holds an ``index.json``); anything else
    raises ``FileExistsError`` rather than deleting a user's files.
    """
    target = check_dump_target(directory)
    parent = os.path.dirname(target)
    nodes = {n.name: n for n in graph.nodes} if graph is not None else {}
    tmp = os.path.join(parent, f".{os.path.basename(target)}.{secrets.token_hex(6)}.tmp")
    os.mkdir(tmp)
    try:
        entries, files = [], []
        for k, (name, value) in enumerate(captured.items()):
            arr = np.asarray(value)
            fname = _file_name(k, name)
            np.save(os.path.join(tmp, fname), arr, allow_pickle=False)
            entry: dict[str, Any] = {"name": name, "file": fname, "shape": list(arr.shape), "dtype": arr.dtype.name}
            node = nodes.get(name)
            if node is not None:
                entry.update({"id": node.id, "op": node.op, "scope": node.scope, "source": node.source})
            entries.append(entry)
            files.append(fname)
        doc = {"format": "graphscope-capture", "format_version": 1, "graph": graph.name if graph is not None else None,
               **(dict(extra) if extra else {}), "values": entries}
        with open(os.path.join(tmp, INDEX), "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        old = None
        if os.path.lexists(target):
            old = os.path.join(parent, f".{os.path.basename(target)}.{secrets.token_hex(6)}.old")
            os.rename(target, old)
        os.rename(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return files + [INDEX]


def load_dump(directory: str | os.PathLike) -> dict[str, np.ndarray]:
    """The values of a dump written by :func:`dump_captured`, by node name (no pickles are loaded)."""
    with open(os.path.join(directory, INDEX), encoding="utf-8") as f:
        doc = json.load(f)
    return {e["name"]: np.load(os.path.join(directory, e["file"]), allow_pickle=False) for e in doc["values"]}


__all__ = ["INDEX", "check_dump_target", "dump_captured", "load_dump", "select_nodes"]
