"""Stream assignment: independent GPU branches on separate CUDA streams, with events for the dependencies.

A pure function of the graph and the devices. Walking the nodes in topological order, a GPU node
continues the stream of an input's producer when that producer is still the last node on its stream
(a chain stays on one stream); otherwise it opens a new stream, up to ``max_streams``, then reuses
the stream whose last node is oldest. A node that reads a value made on another stream waits for
that producer's completion event, unless its stream already waited for it or for a later node of
that stream (waits are transitive: what the producer's stream had waited for is covered too).

Host nodes run synchronously on the CPU and need no stream; ``to_host`` runs on the stream of the GPU
it reads from (a copy that the host then waits for), ``to_device`` on its destination GPU's streams.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from graphscope.ir.graph import Graph, Node
from graphscope.placement.placement import exec_device, is_gpu

SOURCES = frozenset({"placeholder", "constant"})


@dataclass
class StreamPlan:
    stream_of: dict[int, int] = field(default_factory=dict)  # GPU node id -> stream index (per device)
    device_of: dict[int, str] = field(default_factory=dict)  # GPU node id -> device it executes on
    waits: dict[int, tuple[int, ...]] = field(default_factory=dict)  # node id -> producer ids it waits for
    n_streams: dict[str, int] = field(default_factory=dict)  # device -> streams used

    def lane(self, node_id: int) -> str:
        """The timeline lane of a node: ``gpu:0/stream1``, or ``cpu`` for host nodes."""
        s = self.stream_of.get(node_id)
        return "cpu" if s is None else f"{self.device_of[node_id]}/stream{s}"

    @property
    def signalers(self) -> frozenset[int]:
        """Nodes some other stream waits for (their completion is recorded as an event)."""
        return frozenset(p for ps in self.waits.values() for p in ps)


def assign_streams(graph: Graph, devices: Mapping[int, str], *, max_streams: int = 4) -> StreamPlan:
    """Streams and cross-stream waits for the GPU nodes of ``graph`` (see the module doc)."""
    if max_streams < 1:
        raise ValueError(f"max_streams must be at least 1, got {max_streams}")
    plan = StreamPlan()
    pos: dict[int, int] = {}
    tails: dict[str, list[int]] = {}  # device -> last node id on each stream
    # synced[node id]: per stream of its device, the position of the latest node there that is
    # known complete when this node runs (its own stream's order included).
    synced: dict[int, dict[int, int]] = {}
    for k, n in enumerate(graph.nodes):
        pos[n.id] = k
        if n.op in SOURCES:
            continue
        dev = exec_device(n, devices)
        if not is_gpu(dev):
            continue
        tail = tails.setdefault(dev, [])
        producers = [i for i in _unique(n.inputs) if i.id in plan.stream_of and plan.device_of[i.id] == dev]
        stream = next((plan.stream_of[p.id] for p in producers if tail[plan.stream_of[p.id]] == p.id), None)
        if stream is None:
            if len(tail) < max_streams:
                stream = len(tail)
                tail.append(-1)
            else:
                stream = min(range(len(tail)), key=lambda s: pos[tail[s]])
        prev = tail[stream]
        state = dict(synced[prev]) if prev >= 0 else {}
        state[stream] = k
        waits = []
        for p in sorted(producers, key=lambda p: -pos[p.id]):  # latest first: its wait may cover the others
            s = plan.stream_of[p.id]
            if s == stream or state.get(s, -1) >= pos[p.id]:
                continue
            waits.append(p.id)
            for t, at in synced[p.id].items():
                if at > state.get(t, -1):
                    state[t] = at
        synced[n.id] = state
        tail[stream] = n.id
        plan.stream_of[n.id] = stream
        plan.device_of[n.id] = dev
        if waits:
            plan.waits[n.id] = tuple(sorted(waits, key=pos.__getitem__))
    plan.n_streams = {d: len(t) for d, t in sorted(tails.items())}
    return plan


def _unique(nodes: list[Node]) -> list[Node]:
    seen: set[int] = set()
    out = []
    for n in nodes:
        if n.id not in seen:
            seen.add(n.id)
            out.append(n)
    return out


def unsynchronized(graph: Graph, plan: StreamPlan) -> list[tuple[int, int]]:
    """(producer, reader) GPU edges across streams that no chain of stream order and waits orders.

    An independent check of ``assign_streams`` (empty for its plans): a reader is ordered after a
    producer when the producer reaches it through its own stream's order and the recorded waits.
    """
    order = [n for n in graph.nodes if n.id in plan.stream_of]
    before: dict[int, list[int]] = {}  # node -> nodes directly ordered before it
    last: dict[tuple[str, int], int] = {}
    for n in order:
        key = (plan.device_of[n.id], plan.stream_of[n.id])
        preds = list(plan.waits.get(n.id, ()))
        if key in last:
            preds.append(last[key])
        before[n.id] = preds
        last[key] = n.id
    reach: dict[int, set[int]] = {}
    for n in order:
        r: set[int] = set()
        for p in before[n.id]:
            r.add(p)
            r |= reach[p]
        reach[n.id] = r
    bad = []
    for n in order:
        for i in _unique(n.inputs):
            if i.id in plan.stream_of and plan.device_of[i.id] == plan.device_of[n.id] and i.id not in reach[n.id]:
                bad.append((i.id, n.id))
    return bad
