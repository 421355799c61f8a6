"""The native graph format (``.gsg``): a versioned zip archive that loading never executes.

Layout (format_version 1)::

    manifest.json        {"format": "graphscope-graph", "format_version": 1, "created_by": "graphscope 0.1.0",
                          "members": {"graph.json": {"sha256": ..., "bytes": ...}, "constants/3.npy": {...}}}
    graph.json           {"format", "format_version", "name", "metadata", "next_id",
                          "nodes": [{"id", "op", "inputs": [ids], "attrs", "spec": {"shape", "dtype"},
                                     "name", "scope", "source", "provenance": [ids],
                                     "value": "constants/<id>.npy" (constants only)}, ...],
                          "inputs": [ids], "outputs": [ids]}
    constants/<id>.npy   one NumPy .npy file per constant (read with allow_pickle=False)

Nodes are listed in topological order. Attributes are JSON: tuples are stored as lists and come
back as tuples (``graphscope.ir.ops.freeze``). ``graph.metadata`` (including an optional
``pass_log``) is stored as JSON. Every member has a SHA-256 in the manifest, so a flipped byte
anywhere is reported, and the zip timestamps are fixed, so the same graph saves to the same bytes.

Loading rebuilds the graph through ``Graph.add_node``: every shape rule runs again, a spec that
disagrees with its rule is reported, and node ids are kept (provenance refers to them). Every
failure raises GraphFormatError("cannot load '<path>': <what is wrong>").
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zipfile
import zlib
from typing import Any

import numpy as np

from graphscope.errors import GraphFormatError, GraphscopeError, UnknownOpError
from graphscope.formats._io import Reader, atomic_write, dumps
from graphscope.ir.graph import Graph, Node
from graphscope.ir.ops import freeze, get_op
from graphscope.ir.spec import SUPPORTED_DTYPES, TensorSpec

FORMAT = "graphscope-graph"
FORMAT_VERSION = 1
SUFFIX = ".gsg"
MANIFEST = "manifest.json"
GRAPH = "graph.json"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_MAX_JSON_BYTES = 1 << 30  # refuse absurd members before reading them into memory


# ---------------------------------------------------------------------------------------------
# saving


def graph_to_doc(graph: Graph) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON document of ``graph`` and its constants by member name."""
    arrays: dict[str, np.ndarray] = {}
    nodes = []
    for n in graph.nodes:
        entry: dict[str, Any] = {
            "id": n.id, "op": n.op, "inputs": [i.id for i in n.inputs], "attrs": dict(n.attrs),
            "spec": n.spec.to_json(), "name": n.name, "scope": n.scope, "source": n.source,
            "provenance": list(n.provenance),
        }
        if n.op == "constant":
            if n.value is None:
                raise ValueError(f"cannot save graph '{graph.name}': constant {n.describe()} has no value")
            member = f"constants/{n.id}.npy"
            entry["value"] = member
            arrays[member] = np.asarray(n.value)
        nodes.append(entry)
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": graph.name,
        "metadata": graph.metadata,
        "next_id": graph._next_id,
        "nodes": nodes,
        "inputs": [n.id for n in graph.inputs],
        "outputs": [n.id for n in graph.outputs],
    }
    return doc, arrays


def save(graph: Graph, path: str | os.PathLike) -> None:
    """Write ``graph`` to ``path`` (conventionally ``*.gsg``), atomically.

    A failure part-way (an unserializable attribute, a full disk, Ctrl-C) leaves no file under
    ``path`` (or the previous one, untouched) and no temporary file behind.
    """
    from graphscope import __version__

    doc, arrays = graph_to_doc(graph)
    for entry in doc["nodes"]:  # name the node whose attribute cannot be stored
        dumps(entry["attrs"], what=f"attributes of node %{entry['id']} '{entry['name']}' ({entry['op']})")
    graph_bytes = dumps(doc, what=f"graph '{graph.name}' (check graph.metadata)")

    def write(f: Any) -> None:
        members: dict[str, dict[str, Any]] = {}
        with zipfile.ZipFile(f, "w", allowZip64=True) as zf:
            _add(zf, GRAPH, graph_bytes, members, zipfile.ZIP_DEFLATED)
            for member, arr in arrays.items():
                buf = io.BytesIO()
                np.save(buf, arr, allow_pickle=False)
                _add(zf, member, buf.getvalue(), members, zipfile.ZIP_STORED)
            manifest = {
                "format": FORMAT, "format_version": FORMAT_VERSION, "created_by": f"graphscope {__version__}",
                "members": members,
            }
            _add(zf, MANIFEST, dumps(manifest, what="manifest", indent=1), None, zipfile.ZIP_DEFLATED)

    atomic_write(path, write)


def _add(zf: zipfile.ZipFile, name: str, data: bytes, members: dict | None, compress: int) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = compress
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)
    if members is not None:
        members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


# ---------------------------------------------------------------------------------------------
# loading


def load(path: str | os.PathLike) -> Graph:
    """Read a ``.gsg`` archive; any problem raises GraphFormatError naming the file and the fault."""
    r = Reader(path)
    try:
        with open(r.path, "rb") as f:
            try:
                zf = zipfile.ZipFile(f)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, struct.error):
                size = os.fstat(f.fileno()).st_size
                what = "an empty file" if size == 0 else f"{size} bytes"
                raise r.fail(f"not a graphscope graph archive (not a zip file: {what}; truncated or not a .gsg file)") from None
            with zf:
                return _load_archive(r, zf)
    except FileNotFoundError:
        raise r.fail("no such file") from None
    except IsADirectoryError:
        raise r.fail("is a directory, not a file") from None
    except PermissionError:
        raise r.fail("permission denied") from None
    except OSError as exc:
        raise r.fail(f"cannot read the file: {exc.strerror or exc}") from None


def _read_member(r: Reader, zf: zipfile.ZipFile, name: str, checksums: dict[str, dict] | None) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise r.fail(f"archive member '{name}' is missing") from None
    if name.endswith(".json") and info.file_size > _MAX_JSON_BYTES:
        raise r.fail(f"archive member '{name}' is implausibly large ({info.file_size} bytes)")
    try:
        data = zf.read(info)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as exc:
        raise r.fail(f"archive member '{name}' is corrupted ({exc})") from None
    if checksums is not None:
        want = checksums.get(name)
        if not isinstance(want, dict) or not isinstance(want.get("sha256"), str):
            raise r.fail(f"manifest has no checksum for '{name}'")
        if hashlib.sha256(data).hexdigest() != want["sha256"]:
            raise r.fail(f"archive member '{name}' is corrupted (SHA-256 checksum mismatch)")
    return data


def _load_archive(r: Reader, zf: zipfile.ZipFile) -> Graph:
    manifest = r.loads(_read_member(r, zf, MANIFEST, None), MANIFEST)
    r.check_version(manifest, MANIFEST, FORMAT, FORMAT_VERSION)
    checksums = r.field(manifest, "members", dict, MANIFEST)
    present = set(zf.namelist())
    for name in checksums:
        if name not in present:
            raise r.fail(f"archive member '{name}' listed in the manifest is missing")

    doc = r.loads(_read_member(r, zf, GRAPH, checksums), GRAPH)
    version = r.check_version(doc, GRAPH, FORMAT, FORMAT_VERSION)
    if version != manifest["format_version"]:
        raise r.fail(f"graph.json has format_version {version} but the manifest says {manifest['format_version']}")
    return _build(r, doc, lambda member: _read_member(r, zf, member, checksums))


def _build(r: Reader, doc: dict[str, Any], read: Any) -> Graph:
    name = r.field(doc, "name", str, GRAPH)
    metadata = r.field(doc, "metadata", dict, GRAPH, optional=True) or {}
    raw_nodes = r.field(doc, "nodes", list, GRAPH)
    input_ids = r.int_list(doc, "inputs", GRAPH)
    output_ids = r.int_list(doc, "outputs", GRAPH)
    next_id = r.field(doc, "next_id", int, GRAPH, optional=True)

    # Pass 1: parse every entry and index it by id.
    entries: dict[int, dict[str, Any]] = {}
    order: list[int] = []
    for k, raw in enumerate(raw_nodes):
        where = f"node #{k} in graph.json"
        nid = r.field(raw, "id", int, where)
        if nid < 0:
            raise r.fail(f"{where}: invalid node id {nid}")
        if nid in entries:
            raise r.fail(f"duplicate node id %{nid} (node #{k} '{raw.get('name')}' and '{entries[nid]['name']}')")
        nname = r.field(raw, "name", str, where)
        where = f"node %{nid} '{nname}'"
        op = r.field(raw, "op", str, where)
        entries[nid] = {
            "id": nid, "name": nname, "op": op,
            "inputs": r.int_list(raw, "inputs", where),
            "attrs": r.field(raw, "attrs", dict, where),
            "spec": r.field(raw, "spec", dict, where),
            "scope": r.field(raw, "scope", str, where, optional=True) or "",
            "source": r.field(raw, "source", str, where, optional=True),
            "provenance": r.int_list(raw, "provenance", where) if "provenance" in raw else [],
            "value": r.field(raw, "value", str, where, optional=True),
        }
        order.append(nid)

    # Pass 2: edges must name existing nodes, and must not form a cycle.
    for nid in order:
        e = entries[nid]
        for i in e["inputs"]:
            if i not in entries:
                raise r.fail(f"bad edge: {_label(e)} reads %{i}, which is not a node in the graph")
    order = _toposort(r, entries, order)

    # Pass 3: rebuild through Graph.add_node so every shape rule runs again.
    graph = Graph(name)
    nodes: dict[int, Node] = {}
    for nid in order:
        e = entries[nid]
        nodes[nid] = _add_node(r, graph, e, [nodes[i] for i in e["inputs"]], read)
    graph._next_id = max([next_id or 0, *(nid + 1 for nid in order)])

    for key, ids in (("inputs", input_ids), ("outputs", output_ids)):
        for i in ids:
            if i not in nodes:
                raise r.fail(f"graph {key} list names %{i}, which is not a node in the graph")
    if len(set(input_ids)) != len(input_ids):
        raise r.fail(f"graph inputs list a node twice: {input_ids}")
    for i in input_ids:
        if nodes[i].op != "placeholder":
            raise r.fail(f"graph input {_label(entries[i])} is not a placeholder")
    graph.inputs = [nodes[i] for i in input_ids]
    graph.set_outputs([nodes[i] for i in output_ids])
    graph.metadata = metadata
    try:
        graph.lint()
    except GraphscopeError as exc:
        raise r.fail(f"invalid graph: {exc}") from None
    return graph


def _label(e: dict[str, Any]) -> str:
    return f"node %{e['id']} '{e['name']}' ({e['op']})"


def _toposort(r: Reader, entries: dict[int, dict[str, Any]], order: list[int]) -> list[int]:
    """File order when it is topological; otherwise the order Graph itself uses (ready nodes by id), or the cycle."""
    position = {nid: k for k, nid in enumerate(order)}
    if all(position[i] < position[nid] for nid in order for i in entries[nid]["inputs"]):
        return order
    import heapq

    indeg = {nid: len(entries[nid]["inputs"]) for nid in order}
    users: dict[int, list[int]] = {nid: [] for nid in order}
    for nid in order:
        for i in entries[nid]["inputs"]:
            users[i].append(nid)
    heap = [nid for nid in order if indeg[nid] == 0]
    heapq.heapify(heap)
    out: list[int] = []
    while heap:
        nid = heapq.heappop(heap)
        out.append(nid)
        for u in users[nid]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(heap, u)
    if len(out) != len(order):
        cycle = _find_cycle(entries, set(order) - set(out))
        path = " -> ".join(f"%{i} '{entries[i]['name']}'" for i in cycle)
        raise r.fail(f"bad edge: the graph has a cycle: {path}")
    return out


def _find_cycle(entries: dict[int, dict[str, Any]], stuck: set[int]) -> list[int]:
    """One cycle among ``stuck`` nodes (each of which has an input that is also stuck)."""
    nid = min(stuck)
    seen: dict[int, int] = {}
    path: list[int] = []
    while nid not in seen:
        seen[nid] = len(path)
        path.append(nid)
        nid = next(i for i in entries[nid]["inputs"] if i in stuck)
    cycle = path[seen[nid]:] + [nid]
    return cycle[::-1]  # in data-flow order: producer -> consumer


def _add_node(r: Reader, graph: Graph, e: dict[str, Any], inputs: list[Node], read: Any) -> Node:
    label = _label(e)
    try:
        get_op(e["op"])
    except UnknownOpError:
        raise r.fail(f"{label}: unknown op '{e['op']}' (not in the op catalogue)") from None
    spec_doc = e["spec"]
    shape = r.int_list(spec_doc, "shape", f"{label}: spec")
    dtype = r.field(spec_doc, "dtype", str, f"{label}: spec")
    if dtype not in SUPPORTED_DTYPES:
        raise r.fail(f"{label}: unsupported dtype '{dtype}' (supported: {', '.join(SUPPORTED_DTYPES)})")
    if any(d < 0 for d in shape):
        raise r.fail(f"{label}: negative dimension in shape {shape}")
    spec = TensorSpec(tuple(shape), np.dtype(dtype))
    attrs = {k: freeze(v) for k, v in e["attrs"].items()}

    value = None
    if e["op"] == "constant":
        value = _read_constant(r, e, spec, read)
    elif e["value"] is not None:
        raise r.fail(f"{label}: only constants carry a value")

    if e["name"] in graph._names:
        raise r.fail(f"duplicate node name '{e['name']}' (node %{e['id']})")
    try:  # the file's ids and full names are kept exactly
        return graph.add_node(
            e["op"], inputs, attrs, name=e["name"], scope=e["scope"], source=e["source"], provenance=e["provenance"],
            value=value, spec=spec, node_id=e["id"], exact_name=True,
        )
    except GraphscopeError as exc:  # ShapeError: a declared spec that disagrees with the rule, bad attrs
        raise r.fail(f"{label}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise r.fail(f"{label}: invalid attributes {e['attrs']}: {exc}") from None


def _read_constant(r: Reader, e: dict[str, Any], spec: TensorSpec, read: Any) -> np.ndarray:
    label = _label(e)
    member = e["value"]
    if member is None:
        raise r.fail(f"{label} is missing required field 'value' (the .npy member holding it)")
    data = read(member)
    try:
        arr = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise r.fail(f"{label}: '{member}' holds an object array, which would need pickle; refused") from None
        raise r.fail(f"{label}: '{member}' is not a valid .npy array ({exc})") from None
    except Exception as exc:  # any parse failure of an untrusted file is a format error
        raise r.fail(f"{label}: '{member}' is not a valid .npy array ({type(exc).__name__}: {exc})") from None
    if arr.dtype.hasobject or arr.dtype.name not in SUPPORTED_DTYPES:
        raise r.fail(f"{label}: '{member}' has dtype {arr.dtype}, which a graph cannot carry")
    if arr.dtype.byteorder not in "=|":  # a big-endian file read on a little-endian machine (or the reverse)
        arr = arr.astype(arr.dtype.newbyteorder("="))
    got = TensorSpec(arr.shape, arr.dtype)
    if got != spec:
        raise r.fail(f"{label}: '{member}' holds {got.short()} but the node's spec is {spec.short()}")
    arr.setflags(write=False)
    return arr


__all__ = ["FORMAT", "FORMAT_VERSION", "SUFFIX", "GraphFormatError", "graph_to_doc", "load", "save"]
