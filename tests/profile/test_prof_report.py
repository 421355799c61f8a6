"""analyze() on the sample models: the Report's JSON schema and its text rendering."""

import json

import pytest

import graphscope as gs
from graphscope import samples
from graphscope.profile import analysis as A
from graphscope.profile.text import format_report

TOP_KEYS = {"schema_version", "graph_name", "backend", "machine", "peaks", "overhead", "timing", "nodes", "by_op",
            "by_scope", "schedule", "memory", "recommendations", "notes", "device"}


@pytest.mark.parametrize("name", ["mlp", "transformer", "redundant"])
def test_report_on_samples(name, peaks, overhead):
    graph, inputs = samples.build(name)
    prof = gs.run(graph, inputs, profile=True, repeat=2, warmup=1).profile
    rep = A.analyze(prof, peaks, overhead)
    d = rep.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert d["schema_version"] == A.SCHEMA_VERSION == 1 and set(d) == TOP_KEYS
    assert d["device"] is None  # GPU runs only (tests/gpu)
    assert json.loads(text)["graph_name"] == name
    node_keys = set(d["nodes"][0])
    assert node_keys >= {"id", "name", "op", "scope", "source", "shape", "median_ns", "p10_ns", "p90_ns", "pct", "gflops",
                         "gbps", "bound", "unreliable"}
    assert {r["bound"] for r in d["nodes"]} <= {A.COMPUTE, A.MEMORY, A.OVERHEAD}
    assert d["peaks"]["gflops"] == pytest.approx(100.0) and d["overhead"]["profiler_ns"] == pytest.approx(900.0)
    assert sum(g["total_ns"] for g in d["by_op"]) == pytest.approx(d["timing"]["node_total_ns"])

    out = format_report(rep)
    for section in ("graphscope profile: " + name, "Top nodes by self time", "By op type", "By name scope", "Schedule",
                    "Memory", "Recommendations", "profiler cost 900 ns/node"):
        assert section in out
    assert rep.top(1)[0].name in out and "\x1b[" not in out


def test_transformer_report_finds_its_slow_spots(peaks, overhead):
    graph, inputs = samples.build("transformer")
    prof = gs.run(graph, inputs, profile=True, repeat=2, warmup=1).profile
    rep = A.analyze(prof, peaks, overhead)
    kinds = {r.kind for r in rep.recommendations}
    assert "fuse_elementwise" in kinds  # the spelled-out GELU and layer norms
    gelu = next(r for r in rep.recommendations if r.kind == "fuse_elementwise" and "ffn/up" in r.message)
    assert all(prof.nodes[n].scope == "ffn/up" for n in gelu.node_ids) and len(gelu.node_ids) >= 8
    scopes = {s.scope for s in rep.by_scope}
    assert {"attn", "attn/qkv", "ffn", "ffn/up"} <= scopes
