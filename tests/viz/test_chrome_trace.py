"""Chrome trace export: valid Trace Event Format, one track per lane, node args, and the size budget."""

from __future__ import annotations

import json

import pytest
from trace_validator import TraceError, validate_trace
from viz_helpers import two_lane_profile

from graphscope.formats import format_for_path, get_format, save_any
from graphscope.formats.chrome_trace import DEFAULT_MAX_EVENTS, aggregated_iteration, save_chrome_trace, trace_events


def _x_events(doc, tid=None):
    return [e for e in doc["traceEvents"] if e["ph"] == "X" and e["cat"] != "iteration" and (tid is None or e["tid"] == tid)]


def test_trace_of_a_real_run_is_valid(transformer_run, tmp_path):
    prof = transformer_run.profile
    path = tmp_path / "run.chrome-trace.json"
    save_any(prof, path)  # dispatch on the registered suffix
    text = path.read_text()
    doc = json.loads(text)
    summary = validate_trace(text)
    n_events = sum(len(ev) for ev in prof.iterations)
    assert summary["phases"]["X"] == n_events + len(prof.iterations)  # nodes + one span per iteration
    assert summary["phases"]["C"] == n_events  # live memory after each node
    assert doc["otherData"]["format"] == "graphscope-chrome-trace" and doc["otherData"]["aggregated"] is False
    names = {(e["name"], e["args"]["name"]) for e in doc["traceEvents"] if e["ph"] == "M" and "name" in e["args"]}
    assert ("process_name", "graphscope: transformer (numpy)") in names
    assert ("thread_name", "lane MainThread") in names and ("thread_name", "iterations") in names


def test_node_events_carry_op_shape_bytes_flops_and_source(transformer_run):
    prof = transformer_run.profile
    doc = trace_events(prof)
    first = prof.iterations[0]
    matmul = next(e for e in first if prof.nodes[e.node_id].op == "matmul")
    ev = next(e for e in _x_events(doc) if e["args"]["node"] == matmul.node_id and e["args"]["iteration"] == 0)
    info = prof.nodes[matmul.node_id]
    assert ev["name"] == info.name and ev["cat"] == "matmul"
    assert ev["args"]["op"] == "matmul" and ev["args"]["shape"].startswith("f32[")
    assert ev["args"]["flops"] == matmul.flops > 0 and ev["args"]["bytes_moved"] == matmul.bytes_moved
    assert ev["args"]["bytes_allocated"] == matmul.bytes_allocated and ev["args"]["source"].endswith(info.source[-10:])
    assert ev["dur"] == pytest.approx((matmul.end_ns - matmul.start_ns) / 1000, abs=1e-3)  # microseconds
    assert ev["ts"] == pytest.approx(matmul.start_ns / 1000, abs=1e-3)  # the first iteration starts at 0


def test_one_track_per_lane_and_iterations_end_to_end():
    prof = two_lane_profile(iterations=3)
    doc = trace_events(prof)
    summary = validate_trace(doc)
    assert {tid for _, tid in summary["threads"]} == {0, 1, 2}
    lanes = {e["args"]["name"]: e["tid"] for e in doc["traceEvents"] if e["name"] == "thread_name"}
    assert lanes == {"iterations": 0, "lane worker-0": 1, "lane worker-1": 2}
    assert {e["name"] for e in _x_events(doc, lanes["lane worker-1"])} == {"enc/b/tanh", "enc/b/exp"}
    spans = [e for e in doc["traceEvents"] if e.get("cat") == "iteration"]
    assert [s["ts"] for s in spans] == pytest.approx([0, 72.0, 72.0 + 72.1])  # laid end to end (walls in µs)
    second = [e for e in _x_events(doc) if e["args"]["iteration"] == 1]
    assert min(e["ts"] for e in second) == pytest.approx(72.0 + 1.0)


def test_budget_keeps_first_iterations_then_one_median_iteration():
    prof = two_lane_profile(iterations=40)
    full = trace_events(prof)
    per_iter = 5 * 2 + 1  # 5 node events, 5 counters, 1 span
    budget = 8 + 1 + 5 * per_iter + per_iter  # metadata, label, 5 iterations, the aggregate
    doc = trace_events(prof, max_events=budget)
    validate_trace(doc)
    assert len(doc["traceEvents"]) <= budget < len(full["traceEvents"])
    other = doc["otherData"]
    assert other["aggregated"] is True and other["iterations_in_full"] == 5 and other["iterations"] == 40
    assert "aggregated" in other["note"] and any(e["name"] == "process_labels" for e in doc["traceEvents"])
    agg = [e for e in _x_events(doc) if e["args"]["iteration"] == -1]
    assert len(agg) == 5 and all(e["args"]["aggregated"] == "median of 40 iterations" for e in agg)
    matmul = next(e for e in agg if e["name"] == "enc/a/matmul")
    durs = sorted(ev.end_ns - ev.start_ns for it in prof.iterations for ev in it if ev.node_id == 1)
    assert matmul["dur"] == pytest.approx((durs[19] + durs[20]) / 2 / 1000, abs=1e-3)
    assert matmul["args"]["p10_us"] <= matmul["dur"] <= matmul["args"]["p90_us"]


def test_aggregated_iteration_keeps_lanes_sequential():
    events, extra, length = aggregated_iteration(two_lane_profile(iterations=9))
    for lane in ("worker-0", "worker-1"):
        evs = sorted((e for e in events if e.lane == lane), key=lambda e: e.start_ns)
        assert all(a.end_ns <= b.start_ns for a, b in zip(evs, evs[1:]))
    assert length == max(e.end_ns for e in events) and set(extra) == {1, 2, 3, 4, 5}


def test_a_budget_below_one_iteration_keeps_the_slowest_nodes():
    doc = trace_events(two_lane_profile(iterations=2), max_events=14)
    validate_trace(doc)
    assert len(doc["traceEvents"]) <= 14
    kept = {e["name"] for e in _x_events(doc)}
    assert "enc/a/matmul" in kept and "slowest" in doc["otherData"]["note"]


def test_large_run_stays_in_budget_and_file_size(transformer_run, tmp_path):
    """Many repeats of a real profile: the default budget caps the file instead of growing it."""
    prof = transformer_run.profile
    many = type(prof)(**{**prof.__dict__, "iterations": prof.iterations * 2000, "iteration_ns": prof.iteration_ns * 2000})
    path = tmp_path / "big.json"
    save_chrome_trace(many, path, max_events=20_000)
    doc = json.loads(path.read_text())
    validate_trace(doc)
    assert len(doc["traceEvents"]) <= 20_000 and doc["otherData"]["aggregated"]
    assert path.stat().st_size < 10 * 2**20
    assert DEFAULT_MAX_EVENTS == 200_000


def test_registered_as_a_report_output():
    fmt = get_format("trace")
    assert fmt.kind == "report" and fmt.load is None and fmt.suffix == ".chrome-trace.json"
    assert format_for_path("x.chrome-trace.json", writable=True) is fmt
    with pytest.raises(TypeError, match="RunProfile"):
        save_chrome_trace({"not": "a profile"}, "x.json")


# -- the validator itself rejects broken traces ----------------------------------------------------


def _meta():
    return [{"name": "process_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": "p"}},
            {"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "t"}}]


@pytest.mark.parametrize("events, fragment", [
    ([{"name": "a", "ph": "X", "pid": 1, "tid": 1, "ts": 5, "dur": 10},
      {"name": "b", "ph": "X", "pid": 1, "tid": 1, "ts": 2, "dur": 1}], "back in time"),
    ([{"name": "a", "ph": "X", "pid": 1, "tid": 1, "ts": 0, "dur": 10},
      {"name": "b", "ph": "X", "pid": 1, "tid": 1, "ts": 5, "dur": 10}], "without nesting"),
    ([{"name": "a", "ph": "B", "pid": 1, "tid": 1, "ts": 0}], "never ended"),
    ([{"name": "a", "ph": "E", "pid": 1, "tid": 1, "ts": 0}], "without a matching"),
    ([{"name": "a", "ph": "X", "pid": 1, "tid": 1, "ts": -1, "dur": 1}], "finite number >= 0"),
    ([{"name": "a", "ph": "X", "pid": 1, "tid": 1, "ts": 0}], "'dur'"),
    ([{"name": "a", "ph": "X", "pid": 1, "tid": 7, "ts": 0, "dur": 1}], "no thread_name"),
    ([{"name": "a", "ph": "Q", "pid": 1, "tid": 1, "ts": 0}], "unknown phase"),
    ([{"name": "c", "ph": "C", "pid": 1, "ts": 0, "args": {"v": "high"}}], "numeric args"),
])
def test_validator_rejects(events, fragment):
    with pytest.raises(TraceError, match=fragment):
        validate_trace({"traceEvents": _meta() + events})


def test_validator_accepts_nesting_and_rejects_the_array_form():
    ok = _meta() + [{"name": "outer", "ph": "X", "pid": 1, "tid": 1, "ts": 0, "dur": 10},
                    {"name": "inner", "ph": "X", "pid": 1, "tid": 1, "ts": 2, "dur": 3},
                    {"name": "next", "ph": "X", "pid": 1, "tid": 1, "ts": 10, "dur": 1}]
    assert validate_trace({"traceEvents": ok})["phases"]["X"] == 3
    with pytest.raises(TraceError, match="JSON object"):
        validate_trace(ok)
