"""A validator of Chrome Trace Event Format files (the JSON object form), written from the format's spec:
https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU

``validate_trace(doc)`` raises TraceError naming the first fault; it returns a summary for tests.
It checks what Perfetto and chrome://tracing rely on:

* the object form: ``{"traceEvents": [...]}``, optional ``displayTimeUnit`` of "ms" or "ns";
* every event: a known ``ph``; ``name`` a string; ``pid``/``tid`` integers; ``ts``/``dur``
  finite numbers >= 0 (microseconds); ``args`` an object when present;
* "X" (complete) events with ``dur``; "B"/"E" pairs matched per thread, in stack order;
* per track (pid, tid): timestamps non-decreasing in file order, and complete events properly
  nested (an event that starts inside another ends inside it);
* "C" counters with numeric args; "M" metadata with a known name and its argument
  (process_name/thread_name need ``args.name``); every thread with events is named.
"""

from __future__ import annotations

import json
import math
from typing import Any

PHASES = set("BEXiIbenCMsftPNODRV")
METADATA = {"process_name": "name", "thread_name": "name", "process_sort_index": "sort_index",
            "thread_sort_index": "sort_index", "process_labels": "labels"}
EPS = 1e-6  # microseconds: timestamps are rounded to the nanosecond


class TraceError(AssertionError):
    pass


def _number(ev: dict, key: str, k: int) -> float:
    v = ev.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise TraceError(f"event {k} ({ev.get('name')!r}): '{key}' must be a finite number >= 0, got {v!r}")
    return float(v)


def validate_trace(doc: Any) -> dict[str, Any]:
    if isinstance(doc, (str, bytes)):
        doc = json.loads(doc, parse_constant=lambda c: (_ for _ in ()).throw(TraceError(f"non-JSON constant {c}")))
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        raise TraceError("a trace must be a JSON object with a 'traceEvents' list")
    if doc.get("displayTimeUnit", "ms") not in ("ms", "ns"):
        raise TraceError(f"displayTimeUnit must be 'ms' or 'ns', got {doc['displayTimeUnit']!r}")
    last_ts: dict[tuple, float] = {}
    open_x: dict[tuple, list[tuple[float, str]]] = {}  # track -> stack of (end ts, name)
    open_b: dict[tuple, list[str]] = {}
    named_threads: set[tuple] = set()
    named_processes: set[int] = set()
    used_threads: set[tuple] = set()
    counts: dict[str, int] = {}
    for k, ev in enumerate(doc["traceEvents"]):
        if not isinstance(ev, dict):
            raise TraceError(f"event {k} is not an object")
        ph = ev.get("ph")
        if ph not in PHASES:
            raise TraceError(f"event {k}: unknown phase {ph!r}")
        counts[ph] = counts.get(ph, 0) + 1
        if not isinstance(ev.get("name"), str):
            raise TraceError(f"event {k}: 'name' must be a string")
        for key in ("pid", "tid"):
            if key in ev and (isinstance(ev[key], bool) or not isinstance(ev[key], int)):
                raise TraceError(f"event {k}: '{key}' must be an integer")
        if "pid" not in ev:
            raise TraceError(f"event {k} ({ev['name']!r}): no 'pid'")
        if "args" in ev and not isinstance(ev["args"], dict):
            raise TraceError(f"event {k}: 'args' must be an object")
        if ph == "M":
            want = METADATA.get(ev["name"])
            if want is None:
                raise TraceError(f"event {k}: unknown metadata event {ev['name']!r}")
            if want not in ev.get("args", {}):
                raise TraceError(f"event {k}: metadata {ev['name']!r} needs args.{want}")
            if ev["name"] == "thread_name":
                named_threads.add((ev["pid"], ev.get("tid")))
            if ev["name"] == "process_name":
                named_processes.add(ev["pid"])
            continue
        ts = _number(ev, "ts", k)
        if ph == "C":
            args = ev.get("args")
            if not args or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in args.values()):
                raise TraceError(f"event {k}: a counter needs numeric args")
            track = (ev["pid"], "counter", ev["name"])
        else:
            if "tid" not in ev:
                raise TraceError(f"event {k} ({ev['name']!r}): no 'tid'")
            track = (ev["pid"], ev["tid"])
            used_threads.add(track)
        if ts + EPS < last_ts.get(track, -math.inf):
            raise TraceError(f"event {k} ({ev['name']!r}): ts {ts} goes back in time on track {track} "
                             f"(previous {last_ts[track]})")
        last_ts[track] = ts
        if ph == "X":
            end = ts + _number(ev, "dur", k)
            stack = open_x.setdefault(track, [])
            while stack and stack[-1][0] <= ts + EPS:
                stack.pop()
            if stack and end > stack[-1][0] + EPS:
                raise TraceError(f"event {k} ({ev['name']!r}) [{ts}, {end}] overlaps {stack[-1][1]!r} (ends "
                                 f"{stack[-1][0]}) on track {track} without nesting")
            stack.append((end, ev["name"]))
        elif ph == "B":
            open_b.setdefault(track, []).append(ev["name"])
        elif ph == "E":
            stack = open_b.get(track)
            if not stack:
                raise TraceError(f"event {k}: 'E' without a matching 'B' on track {track}")
            name = stack.pop()
            if ev.get("name") and ev["name"] != name:
                raise TraceError(f"event {k}: 'E' of {ev['name']!r} closes {name!r}")
    unclosed = {t: s for t, s in open_b.items() if s}
    if unclosed:
        raise TraceError(f"'B' events never ended: {unclosed}")
    unnamed = used_threads - named_threads
    if unnamed:
        raise TraceError(f"threads with events but no thread_name metadata: {sorted(unnamed)}")
    missing = {pid for pid, _ in used_threads} - named_processes
    if missing:
        raise TraceError(f"processes with events but no process_name metadata: {sorted(missing)}")
    return {"events": len(doc["traceEvents"]), "phases": counts, "threads": sorted(used_threads)}
