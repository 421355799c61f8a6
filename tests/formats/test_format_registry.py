"""The format registry: dispatch by suffix, clear errors, and one-line registration of new formats."""

from __future__ import annotations

import json
import sys
import types

import pytest
from format_helpers import mlp_graph, random_inputs

import graphscope as gs
from graphscope import formats
from graphscope.errors import GraphFormatError
from graphscope.ir.graph import Graph
from graphscope.profile.events import RunProfile


def test_builtin_formats_are_registered():
    assert formats.get_format("graphscope-graph").suffix == ".gsg"
    assert formats.get_format("graphscope-profile").suffix == ".gsprof"
    assert [f.suffix for f in formats.formats("graph", readable=True)][0] == ".gsg"  # the native format first
    assert ".onnx" in [f.suffix for f in formats.formats("graph", readable=True)]


def test_load_any_and_save_any_dispatch_on_suffix(tmp_path):
    g = mlp_graph()
    formats.save_any(g, tmp_path / "g.gsg")
    assert isinstance(formats.load_any(tmp_path / "g.gsg"), Graph)
    prof = gs.run(g, random_inputs(g), profile=True, repeat=2).profile
    formats.save_any(prof, str(tmp_path / "p.GSPROF"))  # suffixes match case-insensitively
    assert isinstance(formats.load_any(tmp_path / "p.GSPROF"), RunProfile)


def test_unknown_suffix_is_a_clear_load_error(tmp_path):
    with pytest.raises(GraphFormatError, match=r"cannot load '.*model\.pb': unknown file type '\.pb'.*\.gsg"):
        formats.load_any(tmp_path / "model.pb")
    with pytest.raises(GraphFormatError, match="no file suffix"):
        formats.load_any(tmp_path / "model")


def test_unknown_suffix_on_save(tmp_path):
    with pytest.raises(ValueError, match="cannot save .*unknown file type '.txt'"):
        formats.save_any(mlp_graph(), tmp_path / "g.txt")


def test_saving_the_wrong_kind_of_object(tmp_path):
    with pytest.raises(TypeError, match="holds a profile, not a Graph"):
        formats.save_any(mlp_graph(), tmp_path / "g.gsprof")
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_name():
    with pytest.raises(ValueError, match="unknown format 'nope'"):
        formats.get_format("nope")


@pytest.fixture
def toy_exporter(monkeypatch):
    """A write-only exporter registered the way a real one (Chrome trace) would be."""
    module = types.ModuleType("toy_trace_exporter")

    def save(profile, path):
        with open(path, "w") as f:
            json.dump({"traceEvents": [{"name": profile.nodes[e.node_id].name} for e in profile.iterations[0]]}, f)

    module.save = save
    monkeypatch.setitem(sys.modules, "toy_trace_exporter", module)
    monkeypatch.setattr(formats, "FORMATS", dict(formats.FORMATS))
    return formats.register_format(formats.FileFormat("toy-trace", ".trace.json", "profile", None,
                                                      "toy_trace_exporter:save", "toy trace"))


def test_registering_an_exporter_is_one_call(tmp_path, toy_exporter):
    g = mlp_graph()
    prof = gs.run(g, random_inputs(g), profile=True, repeat=1).profile
    formats.save_any(prof, tmp_path / "run.trace.json")
    names = [e["name"] for e in json.loads((tmp_path / "run.trace.json").read_text())["traceEvents"]]
    assert "head/probs" in names
    assert formats.format_for_path("x.trace.json", writable=True) is toy_exporter
    with pytest.raises(GraphFormatError, match="unknown file type"):  # write-only: not offered for reading
        formats.load_any(tmp_path / "run.trace.json")


def test_suffix_clash_is_refused(monkeypatch):
    monkeypatch.setattr(formats, "FORMATS", dict(formats.FORMATS))
    with pytest.raises(ValueError, match="already used by 'graphscope-graph'"):
        formats.register_format(formats.FileFormat("other", ".gsg", "graph", "m:load", None))
    with pytest.raises(ValueError, match="must start with '.'"):
        formats.register_format(formats.FileFormat("other", "gsx", "graph", "m:load", None))


def test_longest_suffix_wins(monkeypatch):
    monkeypatch.setattr(formats, "FORMATS", dict(formats.FORMATS))
    formats.register_format(formats.FileFormat("json", ".json", "profile", "m:load", None))
    formats.register_format(formats.FileFormat("trace", ".trace.json", "profile", "m:load", None))
    assert formats.format_for_path("a.trace.json", readable=True).name == "trace"
    assert formats.format_for_path("a.json", readable=True).name == "json"
