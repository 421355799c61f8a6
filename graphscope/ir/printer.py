"""Text form of a graph: one line per node, stable enough to serve as the oracle of golden tests.

    %7:f32[256,1024] = matmul(%3, %5)  # layer1/matmul @ model.py:42
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphscope.ir.graph import Graph, Node


def format_attr(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ",".join(format_attr(v) for v in value) + ")"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def format_node(node: Node, *, source: bool = True) -> str:
    args = ", ".join(f"%{i.id}" for i in node.inputs)
    attrs = node.attrs
    if node.op in ("placeholder", "constant"):
        attrs = {}  # shape and dtype are already in the spec
    attr_text = " {" + ", ".join(f"{k}={format_attr(v)}" for k, v in attrs.items()) + "}" if attrs else ""
    comment = node.name
    if source and node.source:
        path, _, line = node.source.rpartition(":")
        comment += f" @ {os.path.basename(path)}:{line}"
    return f"%{node.id}:{node.spec.short()} = {node.op}({args}){attr_text}  # {comment}"


def format_graph(graph: Graph, *, source: bool = True) -> str:
    lines = [f"graph {graph.name}({', '.join(f'%{n.id}' for n in graph.inputs)}) {{"]
    lines += ["  " + format_node(n, source=source) for n in graph.nodes]
    lines.append(f"  return {', '.join(f'%{n.id}' for n in graph.outputs)}")
    lines.append("}")
    return "\n".join(lines)
