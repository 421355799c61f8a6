"""Graphs and archive-editing helpers for the file-format tests (imported by the test modules)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

import graphscope as gs
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec


def mlp_graph() -> Graph:
    """A small MLP with scopes, sources, constants and a softmax head."""
    rng = np.random.default_rng(1)
    g = Graph("mlp")
    x = g.placeholder("x", TensorSpec((8, 16), np.float32), source="model.py:3")
    w1 = g.constant(rng.standard_normal((16, 32)).astype(np.float32), name="w1", scope="layer1", source="model.py:5")
    b1 = g.constant(rng.standard_normal((32,)).astype(np.float32), name="b1", scope="layer1", source="model.py:6")
    h = g.add_node("matmul", [x, w1], name="matmul", scope="layer1", source="model.py:7")
    h = g.add_node("add", [h, b1], name="add", scope="layer1", source="model.py:7")
    h = g.add_node("gelu", [h], {"approximate": "tanh"}, name="act", scope="layer1", source="model.py:8")
    w2 = g.constant(rng.standard_normal((32, 4)).astype(np.float32), name="w2", scope="head", source="model.py:10")
    z = g.add_node("matmul", [h, w2], name="logits", scope="head", source="model.py:11")
    p = g.add_node("softmax", [z], {"axis": -1}, name="probs", scope="head", source="model.py:12")
    g.set_outputs([p, z])
    return g


def attrs_graph() -> Graph:
    """Attributes of every kind the catalogue uses: tuples, None, bools, floats (incl. inf), strings."""
    g = Graph("attrs")
    x = g.placeholder("x", TensorSpec((2, 3, 4), np.float64))
    t = g.add_node("transpose", [x], {"perm": (2, 0, 1)})
    t0 = g.add_node("transpose", [x], {"perm": None})
    r = g.add_node("reshape", [t], {"shape": (4, 6)})
    s = g.add_node("sum", [x], {"axis": (0, 2), "keepdims": True})
    v = g.add_node("var", [x], {"axis": -1, "keepdims": False, "ddof": 0})
    c = g.add_node("clip", [r], {"min": -0.5, "max": None})
    c2 = g.add_node("clip", [c], {"min": -float("inf"), "max": 2.5e-3})
    e = g.add_node("einsum", [r, r], {"equation": "ij,ij->i"})
    cast = g.add_node("cast", [c2], {"dtype": "float16"})
    ge = g.add_node("gelu", [t0], {"approximate": "none"})
    th = g.add_node("tanh", [ge])
    g.set_outputs([s, v, e, cast, th])
    return g


def dtypes_graph() -> Graph:
    """Placeholders and constants of several dtypes, mixed by NumPy's promotion rules."""
    g = Graph("dtypes")
    a = g.placeholder("a_i32", TensorSpec((3, 4), np.int32))
    b = g.placeholder("b_f16", TensorSpec((4,), np.float16))
    m = g.placeholder("mask", TensorSpec((3, 4), np.bool_))
    u = g.placeholder("u8", TensorSpec((3, 4), np.uint8))
    k8 = g.constant(np.arange(4, dtype=np.int8), name="k8")
    k64 = g.constant(np.array(7, dtype=np.int64), name="k64")
    kb = g.constant(np.array([True, False, True, True]), name="kb")
    kf = g.constant(np.linspace(-1, 1, 4), name="kf64")
    s = g.add_node("add", [a, k8])
    s = g.add_node("mul", [s, k64])
    f = g.add_node("add", [s, b])
    w = g.add_node("where", [m, f, kf])
    lg = g.add_node("logical_and", [m, kb])
    i16 = g.add_node("cast", [u], {"dtype": "int16"})
    q = g.add_node("add", [i16, u])
    g.set_outputs([w, lg, q])
    return g


def random_inputs(graph: Graph, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for n in graph.inputs:
        dt = n.spec.dtype
        if dt.kind == "f":
            out.append(rng.standard_normal(n.spec.shape).astype(dt))
        elif dt.kind == "b":
            out.append(rng.random(n.spec.shape) < 0.5)
        else:
            out.append(rng.integers(1, 10, n.spec.shape).astype(dt))
    return out


def same_outputs(g1: Graph, g2: Graph, seed: int = 0) -> bool:
    inputs = random_inputs(g1, seed)
    o1, o2 = gs.run(g1, inputs).outputs, gs.run(g2, inputs).outputs
    return len(o1) == len(o2) and all(a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True) for a, b in zip(o1, o2))


def read_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def write_members(path: Path, members: dict[str, bytes], *, fix_checksums: bool = True) -> None:
    """Rewrite an archive; by default the manifest checksums are recomputed (a deliberate hand edit)."""
    members = dict(members)
    if fix_checksums and "manifest.json" in members:
        manifest = json.loads(members["manifest.json"])
        manifest["members"] = {
            n: {"sha256": hashlib.sha256(d).hexdigest(), "bytes": len(d)} for n, d in members.items() if n != "manifest.json"
        }
        members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)


def edit_graph_json(path: Path, edit: Callable[[dict], object]) -> None:
    """Apply ``edit`` to the parsed graph.json of the archive at ``path`` and write it back."""
    members = read_members(path)
    doc = json.loads(members["graph.json"])
    edit(doc)
    members["graph.json"] = json.dumps(doc).encode()
    write_members(path, members)


def node_entry(doc: dict, name: str) -> dict:
    return next(n for n in doc["nodes"] if n["name"] == name)
