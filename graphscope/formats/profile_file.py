"""The profile file (``.gsprof``): a RunProfile as versioned JSON, read by the CLI and the dashboard.

Layout (format_version 1)::

    {"format": "graphscope-profile", "format_version": 1, "created_by": "graphscope 0.1.0",
     "graph_name", "backend", "iteration_ns": [...], "warmup_ns": [...], "peak_bytes",
     "peak_live": [[node id, bytes], ...], "input_bytes", "constant_bytes", "inputs": [ids],
     "outputs": [ids], "machine": {...}, "pass_log": [...] | null, "metadata": {...},
     "nodes": [{"id", "name", "op", "scope", "source", "shape", "dtype", "inputs", "provenance",
                "attrs"}, ...],
     "lanes": ["MainThread", ...],
     "iterations": [{"node_id": [...], "start_ns": [...], "end_ns": [...], "lane": [lane index, ...],
                     "bytes_allocated": [...], "live_bytes": [...], "flops": [...],
                     "bytes_moved": [...], "device_ns": [... or null] | null}, ...],
     "value_summaries": [{"node_id", "shape", "dtype", "min", "max", "mean", "std", "nan_count",
                          "inf_count", "hist_counts": [...], "hist_edges": [...]}, ...]}

``value_summaries`` (written only when the run recorded them, ``gs.run(..., value_summaries=True)``)
is optional: files without it load with no summaries, and readers that predate it ignore it.

Events are stored column by column per iteration (one list per NodeEvent field), which keeps a
profile of many repeats small and quick to parse. Loading checks every field and that every event,
peak entry, input and output refers to a node the profile describes.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from graphscope.errors import GraphFormatError
from graphscope.formats._io import Reader, atomic_write, dumps
from graphscope.ir.ops import freeze
from graphscope.profile.events import NodeEvent, NodeInfo, RunProfile, ValueSummary

FORMAT = "graphscope-profile"
FORMAT_VERSION = 1
SUFFIX = ".gsprof"

# The fields this format stores; a test checks they match the dataclasses, so a field added to
# RunProfile, NodeInfo or NodeEvent without a matching change here fails loudly, not silently.
PROFILE_FIELDS = ("graph_name", "backend", "nodes", "iterations", "iteration_ns", "warmup_ns", "peak_bytes",
                  "peak_live", "input_bytes", "constant_bytes", "inputs", "outputs", "machine", "pass_log", "metadata",
                  "value_summaries")
NODE_FIELDS = ("id", "name", "op", "scope", "source", "shape", "dtype", "inputs", "provenance", "attrs")
EVENT_INT_COLUMNS = ("node_id", "start_ns", "end_ns", "bytes_allocated", "live_bytes", "flops", "bytes_moved")
EVENT_FIELDS = (*EVENT_INT_COLUMNS, "lane", "device_ns")


def profile_to_doc(profile: RunProfile) -> dict[str, Any]:
    from graphscope import __version__

    lanes: dict[str, int] = {}
    iterations = []
    for events in profile.iterations:
        cols: dict[str, Any] = {c: [getattr(e, c) for e in events] for c in EVENT_INT_COLUMNS}
        cols["lane"] = [lanes.setdefault(e.lane, len(lanes)) for e in events]
        device = [e.device_ns for e in events]
        cols["device_ns"] = device if any(d is not None for d in device) else None
        iterations.append(cols)
    nodes = [
        {"id": n.id, "name": n.name, "op": n.op, "scope": n.scope, "source": n.source, "shape": list(n.shape),
         "dtype": n.dtype, "inputs": list(n.inputs), "provenance": list(n.provenance), "attrs": n.attrs}
        for n in profile.nodes.values()
    ]
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_by": f"graphscope {__version__}",
        "graph_name": profile.graph_name,
        "backend": profile.backend,
        "iteration_ns": profile.iteration_ns,
        "warmup_ns": profile.warmup_ns,
        "peak_bytes": profile.peak_bytes,
        "peak_live": [[nid, b] for nid, b in profile.peak_live],
        "input_bytes": profile.input_bytes,
        "constant_bytes": profile.constant_bytes,
        "inputs": profile.inputs,
        "outputs": profile.outputs,
        "machine": profile.machine,
        "pass_log": profile.pass_log,
        "metadata": profile.metadata,
        "nodes": nodes,
        "lanes": list(lanes),
        "iterations": iterations,
    }
    if profile.value_summaries:
        doc["value_summaries"] = [{"node_id": nid, **_summary_doc(s)} for nid, s in profile.value_summaries.items()]
    return doc


def _summary_doc(s: ValueSummary) -> dict[str, Any]:
    return {"shape": list(s.shape), "dtype": s.dtype, "min": s.min, "max": s.max, "mean": s.mean, "std": s.std,
            "nan_count": s.nan_count, "inf_count": s.inf_count, "hist_counts": list(s.hist_counts),
            "hist_edges": list(s.hist_edges)}


def _summaries_from_doc(r: Reader, doc: Any, known: Any) -> dict[int, ValueSummary]:
    raw = r.field(doc, "value_summaries", list, "the profile", optional=True)
    out: dict[int, ValueSummary] = {}
    for k, entry in enumerate(raw or []):
        where = f"value summary #{k}"
        nid = known(r.field(entry, "node_id", int, where), f"'value_summaries' entry {k}")
        where = f"value summary of node {nid}"
        stats = [r.field(entry, key, float, where, optional=True) for key in ("min", "max", "mean", "std")]
        counts = r.int_list(entry, "hist_counts", where)
        edges = r.field(entry, "hist_edges", list, where)
        if not all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in edges):
            raise r.fail(f"{where}: field 'hist_edges' must be a list of numbers")
        if counts and len(edges) != len(counts) + 1:
            raise r.fail(f"{where}: {len(counts)} histogram counts need {len(counts) + 1} edges, found {len(edges)}")
        out[nid] = ValueSummary(tuple(r.int_list(entry, "shape", where)), r.field(entry, "dtype", str, where), *stats,
                                nan_count=r.field(entry, "nan_count", int, where),
                                inf_count=r.field(entry, "inf_count", int, where),
                                hist_counts=counts, hist_edges=[float(e) for e in edges])
    return out


def save_profile(profile: RunProfile, path: str | os.PathLike) -> None:
    """Write ``profile`` to ``path`` (conventionally ``*.gsprof``) as JSON, atomically."""
    data = dumps(profile_to_doc(profile), what=f"profile of graph '{profile.graph_name}'")
    atomic_write(path, lambda f: f.write(data))


def load_profile(path: str | os.PathLike) -> RunProfile:
    """Read a ``.gsprof`` file; any problem raises GraphFormatError naming the file and the fault."""
    r = Reader(path)
    try:
        with open(r.path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise r.fail("no such file") from None
    except IsADirectoryError:
        raise r.fail("is a directory, not a file") from None
    except OSError as exc:
        raise r.fail(f"cannot read the file: {exc.strerror or exc}") from None
    if not data.strip():
        raise r.fail("the file is empty")
    return profile_from_doc(r, r.loads(data, "the profile"))


def profile_from_doc(r: Reader, doc: Any) -> RunProfile:
    top = "the profile"
    r.check_version(doc, top, FORMAT, FORMAT_VERSION)

    nodes: dict[int, NodeInfo] = {}
    for k, raw in enumerate(r.field(doc, "nodes", list, top)):
        where = f"node #{k}"
        nid = r.field(raw, "id", int, where)
        if nid in nodes:
            raise r.fail(f"duplicate node id {nid} in 'nodes'")
        where = f"node {nid}"
        attrs = r.field(raw, "attrs", dict, where, optional=True) or {}
        nodes[nid] = NodeInfo(
            id=nid,
            name=r.field(raw, "name", str, where),
            op=r.field(raw, "op", str, where),
            scope=r.field(raw, "scope", str, where, optional=True) or "",
            source=r.field(raw, "source", str, where, optional=True),
            shape=tuple(r.int_list(raw, "shape", where)),
            dtype=r.field(raw, "dtype", str, where),
            inputs=tuple(r.int_list(raw, "inputs", where)),
            provenance=tuple(r.int_list(raw, "provenance", where)) if "provenance" in raw else (),
            attrs={a: freeze(v) for a, v in attrs.items()},
        )

    def known(nid: int, where: str) -> int:
        if nid not in nodes:
            raise r.fail(f"{where} refers to node {nid}, which the profile does not describe")
        return nid

    for n in nodes.values():
        for i in n.inputs:
            known(i, f"node {n.id} '{n.name}' input")

    lanes = r.field(doc, "lanes", list, top)
    if not all(isinstance(x, str) for x in lanes):
        raise r.fail("'lanes' must be a list of strings")
    iterations: list[list[NodeEvent]] = []
    for k, cols in enumerate(r.field(doc, "iterations", list, top)):
        where = f"iteration {k}"
        columns = [r.int_list(cols, c, where) for c in EVENT_INT_COLUMNS]
        lane_idx = r.int_list(cols, "lane", where)
        device = r.field(cols, "device_ns", list, where, optional=True)
        n_events = len(columns[0])
        for name, col in zip((*EVENT_INT_COLUMNS, "lane", "device_ns"), (*columns, lane_idx, device)):
            if col is not None and len(col) != n_events:
                raise r.fail(f"{where}: column '{name}' has {len(col)} entries, 'node_id' has {n_events}")
        if device is not None and not all(d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in device):
            raise r.fail(f"{where}: column 'device_ns' must hold integers or nulls")
        events = []
        for j in range(n_events):
            nid, start, end, alloc, live, flops, moved = (c[j] for c in columns)
            known(nid, f"{where}, event {j}")
            if not 0 <= lane_idx[j] < len(lanes):
                raise r.fail(f"{where}, event {j}: lane index {lane_idx[j]} is out of range (lanes: {len(lanes)})")
            events.append(NodeEvent(nid, start, end, lanes[lane_idx[j]], alloc, live, flops, moved,
                                    device[j] if device is not None else None))
        iterations.append(events)

    iteration_ns = r.int_list(doc, "iteration_ns", top)
    if len(iteration_ns) != len(iterations):
        raise r.fail(f"'iteration_ns' has {len(iteration_ns)} entries for {len(iterations)} iterations")
    peak_live = []
    for entry in r.field(doc, "peak_live", list, top):
        if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(x, int) for x in entry)):
            raise r.fail(f"'peak_live' entries must be [node id, bytes] pairs, found {entry!r}")
        peak_live.append((known(entry[0], "'peak_live'"), entry[1]))
    pass_log = r.field(doc, "pass_log", list, top, optional=True)
    return RunProfile(
        graph_name=r.field(doc, "graph_name", str, top),
        backend=r.field(doc, "backend", str, top),
        nodes=nodes,
        iterations=iterations,
        iteration_ns=iteration_ns,
        warmup_ns=r.int_list(doc, "warmup_ns", top),
        peak_bytes=r.field(doc, "peak_bytes", int, top),
        peak_live=peak_live,
        input_bytes=r.field(doc, "input_bytes", int, top),
        constant_bytes=r.field(doc, "constant_bytes", int, top),
        inputs=[known(i, "'inputs'") for i in r.int_list(doc, "inputs", top)],
        outputs=[known(i, "'outputs'") for i in r.int_list(doc, "outputs", top)],
        machine=r.field(doc, "machine", dict, top),
        pass_log=pass_log,
        metadata=r.field(doc, "metadata", dict, top),
        value_summaries=_summaries_from_doc(r, doc, known),
    )


def check_fields() -> None:
    """Raise if the dataclasses and this format disagree on the fields (used by the tests)."""
    for cls, mine in ((RunProfile, PROFILE_FIELDS), (NodeInfo, NODE_FIELDS), (NodeEvent, EVENT_FIELDS)):
        theirs = {f.name for f in dataclasses.fields(cls)}
        if theirs != set(mine):
            raise AssertionError(f"{cls.__name__} fields {sorted(theirs)} differ from the .gsprof format's {sorted(mine)}")


__all__ = ["FORMAT", "FORMAT_VERSION", "SUFFIX", "GraphFormatError", "load_profile", "save_profile"]
