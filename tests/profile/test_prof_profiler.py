"""The embedded profiler: graph runs and eager ops recorded, warm-up excluded, repeats bounded."""

import io
import os
import threading

import numpy as np
import pytest

import graphscope as gs
from graphscope.profile.profiler import Profiler, profile
from graphscope.runtime.run import recorders
from graphscope.trace.tensor import eager_observers

F32 = np.float32


def _fn(rng, name="model"):
    w = rng.standard_normal((64, 64), dtype=F32)

    @gs.function(name=name)
    def model(x):
        return np.tanh(x @ w)

    return model


def test_records_function_calls_and_eager_ops_with_warmup_excluded(rng, peaks, overhead):
    model = _fn(rng)
    x = rng.standard_normal((32, 64), dtype=F32)
    with profile(warmup=2, repeat=3) as prof:
        assert prof in recorders and prof.active
        for _ in range(7):
            y = model(x)
        for _ in range(5):
            gs.ops.softmax(x, axis=-1)  # one eager call site, called 5 times
        gs.ops.exp(x)  # another site, called once: still in warm-up
    assert prof not in recorders and not prof.active
    assert not any(getattr(o, "__self__", None) is prof for o in eager_observers)
    np.testing.assert_allclose(y, np.tanh(x @ model.python_function.__closure__[0].cell_contents), rtol=1e-5)

    profiles = prof.profiles
    assert set(profiles) == {"model", "eager"}
    g = profiles["model"]
    assert len(g.iterations) == 3 and len(g.iteration_ns) == 3 and len(g.warmup_ns) == 2
    assert g.metadata["profiler"] == {"warmup": 2, "repeat": 3, "runs": 7, "recorded": 3, "dropped": 2}
    assert {n.op for n in g.nodes.values()} >= {"matmul", "tanh"}
    assert all(len(ev) == 2 for ev in g.iterations)

    e = profiles["eager"]
    assert [n.op for n in e.nodes.values()] == ["softmax"]  # exp never left warm-up
    node = next(iter(e.nodes.values()))
    assert node.attrs["calls"] == 5 and node.shape == (32, 64) and node.source.startswith(__file__)
    assert len(e.iterations) == 3 and len(e.warmup_ns) == 2
    ev = e.iterations[0][0]
    assert ev.lane == "eager" and ev.bytes_moved == 2 * x.nbytes and ev.flops > 0

    rep = prof.analysis("model", peaks=peaks, overhead=overhead)
    assert rep.graph_name == "model" and rep.timing.iterations == 3 and rep.timing.warmup == 2
    assert any("2 run(s) beyond repeat=3" in n for n in rep.notes)
    assert prof.analysis(model, peaks=peaks, overhead=overhead).graph_name == "model"
    assert prof.analysis(model.get_graph(x), peaks=peaks, overhead=overhead).graph_name == "model"
    with pytest.raises(ValueError, match="2 profiles were recorded"):
        prof.analysis()
    with pytest.raises(KeyError, match="no profile 'nope'"):
        prof.analysis("nope")


def test_decorator_and_report(rng, peaks):
    model = _fn(rng, "step_model")
    x = rng.standard_normal((16, 64), dtype=F32)

    @profile(warmup=1, repeat=None, eager=False)
    def step(x):
        return model(x)

    for _ in range(4):
        step(x)
    prof = step.profiler
    assert isinstance(prof, Profiler) and not prof.active
    p = prof.profiles["step_model"]
    assert len(p.iterations) == 3 and len(p.warmup_ns) == 1
    buf = io.StringIO()
    text = prof.report(file=buf, peaks=peaks)
    assert "graphscope profile: step_model" in text and "Top nodes by self time" in text
    assert "step_model" in buf.getvalue() and "\x1b[" not in buf.getvalue()  # no colour codes off a terminal
    rep = prof.analysis(peaks=peaks)
    assert rep.graph_name == "step_model"


def test_plain_decorator_and_nesting(rng):
    model = _fn(rng, "nested")
    x = rng.standard_normal((8, 64), dtype=F32)

    @profile
    def once(x):
        return model(x)

    with once.profiler:  # re-entering is allowed: registered once, removed at the outer exit
        once(x)
        assert recorders.count(once.profiler) == 1
    assert once.profiler not in recorders
    assert once.profiler.warmup == 2 and once.profiler.profiles == {}  # 1 run: still warming up


def test_each_graph_version_and_name_gets_its_own_profile(rng):
    a, b = _fn(rng, "same"), _fn(rng, "same")
    x = rng.standard_normal((8, 64), dtype=F32)
    with profile(warmup=0, repeat=2) as prof:
        a(x)
        b(x)
        a(rng.standard_normal((4, 64), dtype=F32))  # a new signature: a new graph
    assert sorted(prof.profiles) == ["same", "same#2", "same#3"]
    prof.reset()
    assert prof.profiles == {}


def test_thread_safe_recording(rng):
    model = _fn(rng, "threaded")
    x = rng.standard_normal((8, 64), dtype=F32)
    model(x)  # trace outside the threads
    with profile(warmup=2, repeat=None, eager=True) as prof:
        def work():
            for _ in range(10):
                model(x)
                gs.ops.tanh(x)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    p = prof.profiles["threaded"]
    assert len(p.iterations) == 38 and len(p.warmup_ns) == 2
    e = prof.profiles["eager"]
    assert sum(len(ev) for ev in e.iterations) == 38  # one call site (same line in every thread)


def test_save_round_trip(rng, tmp_path, peaks, overhead):
    pf = pytest.importorskip("graphscope.formats.profile_file")
    model = _fn(rng, "saved")
    x = rng.standard_normal((8, 64), dtype=F32)
    with profile(warmup=0, repeat=3, eager=False) as prof:
        for _ in range(3):
            model(x)
    paths = prof.save(str(tmp_path / "run.gsprof"))
    assert paths == [str(tmp_path / "run.gsprof")] and os.path.exists(paths[0])
    loaded = pf.load_profile(paths[0])
    assert len(loaded.iterations) == 3 and loaded.metadata["peaks"]["flops_per_s"] > 0
    from graphscope.profile.analysis import analyze

    rep = analyze(loaded)  # the peaks and overhead come from the file
    assert rep.peaks.source == "profile" and rep.overhead.source == "profile"


def test_bad_arguments():
    with pytest.raises(ValueError, match="repeat"):
        profile(repeat=0)
    with pytest.raises(ValueError, match="nothing was recorded"):
        Profiler().analysis()


def test_trace_and_html_exports_of_recorded_runs(rng, tmp_path, peaks, overhead):
    import json
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "viz"))
    from trace_validator import validate_trace

    model = _fn(rng, "exported")
    x = rng.standard_normal((8, 64), dtype=F32)
    with profile(warmup=1, repeat=2) as prof:
        for _ in range(3):
            model(x)
            gs.ops.add(x, x)  # an eager call: a second profile
    paths = prof.export_chrome_trace(str(tmp_path / "run.json"))
    assert sorted(os.path.basename(p) for p in paths) == ["run.eager.json", "run.exported.json"]
    with open(tmp_path / "run.exported.json") as f:
        doc = json.load(f)
    stats = validate_trace(doc)
    assert stats  # the validator raises on a malformed trace
    names = {ev.get("name") for ev in doc["traceEvents"] if ev.get("ph") == "X"}
    assert any("tanh" in str(n) for n in names) and any("matmul" in str(n) for n in names)
    (html,) = prof.to_html(str(tmp_path / "model.html"), graph=model)
    text = open(html, encoding="utf-8").read()
    assert text.lstrip().lower().startswith("<!doctype html") and "exported" in text
    assert "<script src=" not in text.replace("'", '"') and "Plotly" in text  # self-contained: plotly.js inlined
