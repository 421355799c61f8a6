"""What runs inside a Dask worker: rebuild the graph from its native document, run one segment.

The graph travels as its native document (``graph.json`` bytes and one ``.npy`` blob per constant,
the members of a ``.gsg`` archive) and is rebuilt with the native loader, which never unpickles and
reruns every shape rule. It is scattered to the workers once per graph and cached here by its
fingerprint, with one compiled plan per segment. This module imports no Dask at the top: a worker
imports it when it unpickles a task (tasks refer to these functions by name, so workers need the
same graphscope installed).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from graphscope.ir.graph import Graph

_CACHE_GRAPHS = 8  # graphs kept per worker (least recently used dropped first)
_lock = threading.Lock()
_graphs: OrderedDict[str, Graph] = OrderedDict()
_plans: dict[tuple[str, int, str], Any] = {}
_events: dict[str, list[tuple]] = {}  # call tag -> records of profiled segments run on this worker


def graph_from_payload(fingerprint: str, payload: dict[str, bytes]) -> Graph:
    with _lock:
        graph = _graphs.get(fingerprint)
        if graph is not None:
            _graphs.move_to_end(fingerprint)
            return graph
    from graphscope.formats._io import Reader
    from graphscope.formats.native import GRAPH, _build

    reader = Reader(f"<graph {fingerprint[:12]} sent by the Dask client>")
    doc = reader.loads(payload[GRAPH], GRAPH)

    def read(member: str) -> bytes:
        try:
            return payload[member]
        except KeyError:
            raise reader.fail(f"member '{member}' is missing from the payload") from None

    graph = _build(reader, doc, read)
    with _lock:
        _graphs[fingerprint] = graph
        while len(_graphs) > _CACHE_GRAPHS:
            old, _ = _graphs.popitem(last=False)
            for key in [k for k in _plans if k[0] == old]:
                del _plans[key]
    return graph


def segment_plan(fingerprint: str, payload: dict[str, bytes], seg: tuple, backend: str) -> Any:
    """The compiled plan of one segment: a small graph of its nodes, with placeholders for its inputs."""
    index, node_ids, input_ids, output_ids = seg
    key = (fingerprint, index, backend)
    plan = _plans.get(key)
    if plan is not None:
        return plan
    from graphscope.backends import get_backend
    from graphscope.runtime.plan import Plan

    graph = graph_from_payload(fingerprint, payload)
    sub = Graph(graph.name)
    new: dict[int, Any] = {}
    for nid in input_ids:
        n = graph.node(nid)
        new[nid] = sub.add_node("placeholder", (), {"shape": n.spec.shape, "dtype": n.spec.dtype.name}, name=n.name,
                                scope=n.scope, source=n.source, provenance=n.provenance, node_id=n.id, exact_name=True)
        sub.inputs.append(new[nid])
    for nid in node_ids:
        n = graph.node(nid)
        for i in n.inputs:
            if i.id not in new:  # a constant: shared with the cached graph, not copied
                new[i.id] = sub.add_node("constant", (), dict(i.attrs), name=i.name, scope=i.scope, source=i.source,
                                         provenance=i.provenance, value=i.value, node_id=i.id, exact_name=True)
        new[nid] = sub.add_node(n.op, [new[i.id] for i in n.inputs], dict(n.attrs), name=n.name, scope=n.scope,
                                source=n.source, provenance=n.provenance, node_id=n.id, exact_name=True)
    sub.set_outputs([new[i] for i in output_ids])
    plan = Plan(sub, get_backend(backend))
    _plans[key] = plan
    return plan


def run_segment(payload: dict[str, bytes], fingerprint: str, seg: tuple, backend: str, tag: tuple[str, str] | None,
                bindings: tuple, *deps: Any) -> dict[int, Any]:
    """Run one segment. ``bindings[k] = (dep position, node id or None)`` gives the segment's k-th input:
    ``deps[pos]`` itself (a graph input) or ``deps[pos][node id]`` (another segment's output dict).
    With a ``tag`` ``(call tag, task key)`` the run is profiled and its node events kept here until
    ``pop_events(call tag)``."""
    from graphscope.runtime.interpreter import execute, execute_profiled

    plan = segment_plan(fingerprint, payload, seg, backend)
    inputs = [deps[p] if nid is None else deps[p][nid] for p, nid in bindings]
    if tag is None:
        outputs = execute(plan, inputs)
    else:
        wall0 = time.time_ns()
        t0 = time.perf_counter_ns()
        outputs, raw, mem = execute_profiled(plan, inputs)
        events = [(plan.steps[k].node.id, s, e, alloc, live, plan.steps[k].flops, plan.steps[k].bytes_moved)
                  for k, s, e, alloc, live in raw]
        record = (tag[1], threading.get_ident(), wall0, events, mem.peak_bytes, time.perf_counter_ns() - t0)
        with _lock:
            _events.setdefault(tag[0], []).append(record)
    return dict(zip(seg[3], outputs))


def pop_events(tag: str) -> list[tuple]:
    """The records of ``tag`` kept on this worker (and forget them)."""
    with _lock:
        return _events.pop(tag, [])


def forget(fingerprint: str) -> None:
    with _lock:
        _graphs.pop(fingerprint, None)
        for key in [k for k in _plans if k[0] == fingerprint]:
            del _plans[key]
