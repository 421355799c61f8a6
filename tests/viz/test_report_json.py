"""The JSON report: a versioned header over Report.to_dict(), strict JSON, read back with checks."""

from __future__ import annotations

import json

import pytest
from viz_helpers import OVERHEAD, PEAKS

from graphscope.errors import GraphFormatError
from graphscope.formats import format_for_path, get_format, save_any
from graphscope.formats import report_json as RJ
from graphscope.profile.analysis import SCHEMA_VERSION
from graphscope.profile.compare import compare


def test_document_is_the_report_under_a_versioned_header(transformer_run, tmp_path):
    rep = transformer_run.report
    path = tmp_path / "report.json"
    RJ.save_report_json(transformer_run.profile, path, report=rep)
    text = path.read_text()
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in a JSON report"))
    assert doc["format"] == "graphscope-report" and doc["format_version"] == RJ.FORMAT_VERSION == 1
    assert doc["created_by"].startswith("graphscope ") and doc["schema_version"] == SCHEMA_VERSION
    body = {k: v for k, v in doc.items() if k not in ("format", "format_version", "created_by")}
    assert body == json.loads(json.dumps(rep.to_dict()))
    assert set(RJ.TOP_KEYS) <= set(doc)
    assert RJ.load_report_doc(path)["nodes"][0]["name"] == rep.nodes[0].name


def test_saving_a_profile_analyses_it(lanes_profile, tmp_path, monkeypatch):
    from graphscope.profile import analysis as A

    real = A.analyze
    monkeypatch.setattr(A, "analyze", lambda p: real(p, PEAKS, OVERHEAD))
    save_any(lanes_profile, tmp_path / "r.json")  # the registered ".json" report format
    doc = RJ.load_report_doc(tmp_path / "r.json")
    assert doc["graph_name"] == "two_lanes" and len(doc["nodes"]) == 5 and doc["peaks"]["gflops"] == 100.0
    assert format_for_path("r.json", writable=True) is get_format("json")
    assert get_format("json").kind == "report"
    with pytest.raises(TypeError, match="RunProfile or a Report"):
        RJ.save_report_json(["nope"], tmp_path / "x.json")


def test_a_report_alone_is_enough(transformer_run, tmp_path):
    RJ.save_report_json(transformer_run.report, tmp_path / "r.json")
    assert RJ.load_report_doc(tmp_path / "r.json")["graph_name"] == "transformer"


def test_comparison_document(transformer_run, tmp_path):
    comp = compare(transformer_run.profile, transformer_run.profile)
    RJ.save_comparison_json(comp, tmp_path / "c.json")
    doc = RJ.load_report_doc(tmp_path / "c.json")
    assert doc["format"] == "graphscope-comparison" and doc["speedup"] == pytest.approx(1.0)
    assert {"nodes", "by_op", "only_before", "only_after"} <= set(doc)


@pytest.mark.parametrize("content, fragment", [
    (None, "no such file"),
    ("{not json", "not a JSON report"),
    ('{"format": "graphscope-profile"}', "not a graphscope report"),
    ('{"format": "graphscope-report", "format_version": 99}', "format_version 99 is not supported"),
    ('{"format": "graphscope-report", "format_version": 1, "nodes": []}', "missing field"),
])
def test_bad_files_are_clear_errors(tmp_path, content, fragment):
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(GraphFormatError, match=fragment):
        RJ.load_report_doc(path)


def test_schema_is_documented():
    doc = RJ.__doc__
    for key in (*RJ.TOP_KEYS, "format_version", "critical_path", "peak_tensors", "recommendations", "bound"):
        assert key in doc
