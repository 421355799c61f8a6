"""Explicit transfers: a copy of the graph where every edge between devices goes through a transfer node.

``insert_transfers(graph, devices)`` returns a new graph (the original is not touched) in which a value
read on another device than the one it lives on is moved by a ``to_device`` (host -> GPU) or ``to_host``
(GPU -> host) node, one per value and destination, shared by every reader there. Constants are not
transferred at run time: a constant read on several devices gets one copy per device (uploaded once,
when the executor is built). Graph outputs are brought to ``output_device`` (the caller's side).

Original nodes keep their ids and names; new nodes get fresh ids, names such as ``layer1/relu_to_gpu0``,
and the id of the value they move as provenance. So a graph that ping-pongs between devices shows
every crossing as a node with its bytes, and the profile times each one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphscope.ir.graph import Graph, Node
from graphscope.placement.placement import CPU, PlacementError, input_device, is_gpu, parse_device


@dataclass(frozen=True)
class Transfer:
    node_id: int  # the transfer node in the new graph
    value_id: int  # the node whose value it moves (an id of the original graph)
    src: str
    dst: str
    nbytes: int

    @property
    def direction(self) -> str:
        return "h2d" if self.src == CPU else "d2h" if self.dst == CPU else "d2d"

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node_id, "value": self.value_id, "src": self.src, "dst": self.dst, "bytes": self.nbytes,
                "direction": self.direction}


@dataclass
class Placed:
    """A graph with explicit transfers, the device of each of its values, and the transfers themselves."""

    graph: Graph
    devices: dict[int, str]
    transfers: list[Transfer] = field(default_factory=list)
    constant_copies: dict[int, int] = field(default_factory=dict)  # copy id -> original constant id

    def bytes_moved(self, direction: str) -> int:
        return sum(t.nbytes for t in self.transfers if t.direction == direction)


def insert_transfers(graph: Graph, devices: Mapping[int, str], *, output_device: str | None = CPU) -> Placed:
    """The graph with transfer nodes on every edge that crosses devices (see the module doc).

    ``devices`` gives every node's value device (``assign_devices``); ``output_device`` None leaves the
    outputs where they are computed.
    """
    missing = [n for n in graph.nodes if n.id not in devices]
    if missing:
        raise PlacementError(f"graph '{graph.name}': no device for {missing[0].describe()}")
    out_dev = None if output_device is None else parse_device(output_device)
    g = Graph(graph.name)
    g.metadata = {k: v for k, v in graph.metadata.items() if k not in ("placement", "transfers")}
    new_devices: dict[int, str] = {}
    at: dict[tuple[int, str], Node] = {}  # (original id, device) -> node holding that value there
    transfers: list[Transfer] = []
    copies: dict[int, int] = {}
    next_id = max((n.id for n in graph.nodes), default=-1) + 1

    def fresh(op: str, inputs: list[Node], attrs: dict[str, Any] | None, base: str, src: Node, dev: str,
              value: Any = None) -> Node:
        nonlocal next_id
        m = g.add_node(op, inputs, attrs, name=base, scope=src.scope, source=src.source, provenance=(src.id,),
                       value=value, node_id=next_id)
        next_id += 1
        new_devices[m.id] = dev
        return m

    def value_on(src: Node, dev: str) -> Node:
        key = (src.id, dev)
        hit = at.get(key)
        if hit is not None:
            return hit
        base = src.name.rsplit("/", 1)[-1]
        tag = dev.replace(":", "")
        if src.op == "constant":  # constants are copied, not moved at run time
            m = fresh("constant", [], dict(src.attrs), f"{base}_{tag}", src, dev, value=src.value)
            copies[m.id] = src.id
        else:
            here = at[(src.id, devices[src.id])]
            from_dev = devices[src.id]
            if from_dev == dev:  # pragma: no cover - the cache holds it
                return here
            if is_gpu(from_dev) and is_gpu(dev):  # between GPUs: through the host
                here = value_on(src, CPU)
                from_dev = CPU
            if dev == CPU:
                m = fresh("to_host", [here], {"device": from_dev}, f"{base}_to_cpu", src, CPU)
            else:
                m = fresh("to_device", [here], {"device": dev}, f"{base}_to_{tag}", src, dev)
            transfers.append(Transfer(m.id, src.id, from_dev, dev, src.spec.nbytes))
        at[key] = m
        return m

    for n in graph.nodes:
        dev = devices[n.id]
        if n.op == "constant":
            m = g.add_node("constant", [], n.attrs, name=n.name, exact_name=True, node_id=n.id, scope=n.scope,
                           source=n.source, provenance=n.provenance, value=n.value)
        else:
            want = input_device(n, devices)
            inputs = [value_on(i, want) for i in n.inputs]
            m = g.add_node(n.op, inputs, n.attrs, name=n.name, exact_name=True, node_id=n.id, scope=n.scope,
                           source=n.source, provenance=n.provenance, value=n.value)
        new_devices[m.id] = dev
        at[(n.id, dev)] = m
    g.inputs = [at[(p.id, devices[p.id])] for p in graph.inputs]
    g.set_outputs([value_on(o, devices[o.id] if out_dev is None else out_dev) for o in graph.outputs])
    g.metadata["placement"] = dict(new_devices)
    g.metadata["transfers"] = [t.to_json() for t in transfers]
    return Placed(g, new_devices, transfers, copies)


def crossings(graph: Graph, devices: Mapping[int, str]) -> list[tuple[int, int]]:
    """(producer id, reader id) of every edge whose value lives elsewhere than where the reader needs it.

    After ``insert_transfers`` this is empty; constants count (the executor needs a copy there).
    """
    out = []
    for n in graph.nodes:
        want = input_device(n, devices)
        for i in n.inputs:
            if devices[i.id] != want:
                out.append((i.id, n.id))
    return out
