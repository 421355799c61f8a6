"""Which device each node of a graph runs on: a pure function of the graph, its recorded placement and defaults.

Devices are named ``"cpu"`` and ``"gpu:N"`` (``"gpu"``, ``"cuda"`` and ``"cuda:N"`` are accepted and
normalized). ``gs.device("gpu:0")`` records the device of every node traced inside it in
``graph.metadata["placement"]`` (node id -> device; ids may come back from a file as strings). Nodes
made later by the optimizer carry ``provenance``: a node whose original nodes were all placed on one
device goes there too. Every other node goes to the backend's default device.

What a node's value lives on is its *device*; the transfer ops are the only nodes whose value lives
elsewhere than where they execute (``to_host`` runs on its GPU's copy engine and makes a host value).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from graphscope.errors import GraphscopeError
from graphscope.ir.graph import Graph, Node

CPU = "cpu"
TRANSFER_OPS = frozenset({"to_device", "to_host"})

_DEVICE = re.compile(r"^(cpu|gpu|cuda)(?::(\d+))?$")


class PlacementError(GraphscopeError, ValueError):
    """A device name that cannot be parsed, or a placement a backend cannot honour."""


def parse_device(name: Any) -> str:
    """``"gpu"`` -> ``"gpu:0"``, ``"cuda:1"`` -> ``"gpu:1"``, ``"CPU"`` -> ``"cpu"``; anything else raises PlacementError."""
    m = _DEVICE.match(str(name).strip().lower()) if isinstance(name, str) else None
    if m is None:
        raise PlacementError(f"unknown device {name!r}: use 'cpu' or 'gpu:N' (e.g. 'gpu:0')")
    kind, index = m.groups()
    if kind == "cpu":
        if index not in (None, "0"):
            raise PlacementError(f"unknown device {name!r}: there is one host device, 'cpu'")
        return CPU
    return f"gpu:{int(index or 0)}"


def is_gpu(device: str) -> bool:
    return device.startswith("gpu:")


def recorded_placement(graph: Graph) -> dict[int, str]:
    """``graph.metadata["placement"]`` with int node ids and normalized device names."""
    raw = graph.metadata.get("placement") or {}
    if not isinstance(raw, Mapping):
        raise PlacementError(
            f"graph '{graph.name}': metadata['placement'] must map node ids to devices, got {type(raw).__name__}"
        )
    out: dict[int, str] = {}
    for key, dev in raw.items():
        try:
            out[int(key)] = parse_device(dev)
        except (TypeError, ValueError) as exc:
            raise PlacementError(f"graph '{graph.name}': bad placement entry {key!r}: {dev!r} ({exc})") from None
    return out


def exec_device(node: Node, devices: Mapping[int, str]) -> str:
    """Where a node executes: its value's device, except ``to_host`` (runs on the GPU it reads from)."""
    if node.op == "to_host":
        return parse_device(node.attrs["device"])
    return devices[node.id]


def input_device(node: Node, devices: Mapping[int, str]) -> str:
    """Where a node's inputs must live: its own device, the host for ``to_device``, the GPU for ``to_host``."""
    if node.op == "to_device":
        return CPU
    return exec_device(node, devices)


def assign_devices(
    graph: Graph,
    default: str,
    *,
    inputs: str | Sequence[str] = CPU,
    allowed: Sequence[str] | None = None,
    supported: Callable[[Node, str], bool] | None = None,
) -> dict[int, str]:
    """The device of every node's value (node id -> device).

    * placeholders: ``inputs`` (one device for all, or one per graph input: where the caller's arrays are);
    * transfer ops: ``to_device`` makes a value on its device, ``to_host`` a host value;
    * compute nodes: the recorded placement, else the one device of their provenance, else ``default``;
      a node ``supported(node, device)`` rejects goes to the CPU;
    * constants: the device of their first reader (``insert_transfers`` copies them for other devices),
      ``default`` when nothing reads them.

    ``allowed`` (devices the executor has) turns a placement elsewhere into a PlacementError naming the node.
    """
    default = parse_device(default)
    recorded = recorded_placement(graph)
    in_devs = [parse_device(inputs)] * len(graph.inputs) if isinstance(inputs, str) else [parse_device(d) for d in inputs]
    if len(in_devs) != len(graph.inputs):
        raise PlacementError(f"graph '{graph.name}' has {len(graph.inputs)} inputs, got {len(in_devs)} input devices")
    allowed_set = None if allowed is None else {parse_device(d) for d in allowed}
    devices: dict[int, str] = {n.id: d for n, d in zip(graph.inputs, in_devs)}
    constants: list[Node] = []
    for n in graph.nodes:
        if n.op == "placeholder":
            devices.setdefault(n.id, CPU)
            continue
        if n.op == "constant":
            constants.append(n)
            continue
        if n.op == "to_device":
            dev = parse_device(n.attrs["device"])
        elif n.op == "to_host":
            dev = CPU
        else:
            dev = recorded.get(n.id) or _from_provenance(n, recorded) or default
            if supported is not None and dev != CPU and not supported(n, dev):
                dev = CPU
        if allowed_set is not None and dev not in allowed_set:
            raise PlacementError(f"{n.describe()} is placed on {dev}, but this backend has only {', '.join(sorted(allowed_set))}")
        devices[n.id] = dev
    for c in constants:
        readers = [u for u in c.users if u.id in devices]
        if readers:
            devices[c.id] = input_device(readers[0], devices)
        else:
            devices[c.id] = default
    return devices


def _from_provenance(node: Node, recorded: Mapping[int, str]) -> str | None:
    devs = {recorded[p] for p in node.provenance if p in recorded}
    if len(devs) == 1:
        return devs.pop()
    if devs:  # a node made from nodes on several devices: the accelerator wins (it was asked for)
        gpus = sorted(d for d in devs if is_gpu(d))
        return gpus[0] if gpus else CPU
    return None


def device_summary(devices: Mapping[int, str], graph: Graph) -> dict[str, int]:
    """How many compute nodes (not sources) each device got."""
    out: dict[str, int] = {}
    for n in graph.nodes:
        if n.op not in ("placeholder", "constant"):
            out[devices[n.id]] = out.get(devices[n.id], 0) + 1
    return dict(sorted(out.items()))
