"""MirroredStrategy in threads: equal outputs for even and uneven splits, reductions, scope(), profiles."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest
from dist_helpers import assert_outputs_close, loss_graph

import graphscope as gs
from graphscope import samples
from graphscope.distribute import BatchSplitError, MirroredStrategy, RebatchError, rebatch
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec


@pytest.fixture(scope="module")
def strategies():
    made = {r: MirroredStrategy(replicas=r) for r in (2, 3)}
    yield made
    for s in made.values():
        s.close()


@pytest.mark.parametrize("name", samples.names())
def test_every_sample_matches_the_single_process_run(name, strategies):
    graph, inputs = samples.build(name)
    want = gs.run(graph, inputs).outputs
    for replicas in (2, 3):  # 3 splits every sample's batch unevenly (256 -> 86+85+85, 8 -> 3+3+2)
        got = strategies[replicas].run(graph, inputs).outputs
        assert_outputs_close(got, want)


def test_optimized_graphs_split_too(strategies):
    graph, inputs = samples.build("transformer")
    opt, _ = gs.optimize(graph, level=2)
    assert_outputs_close(strategies[3].run(opt, inputs).outputs, gs.run(graph, inputs).outputs)


def test_profile_has_one_lane_per_replica_and_the_whole_batch_work(strategies):
    graph, inputs = samples.build("mlp")
    single = gs.run(graph, inputs, profile=True).profile
    prof = strategies[3].run(graph, inputs, profile=True, repeat=2, warmup=1).profile
    compute = [n for n in graph.nodes if n.op not in ("placeholder", "constant")]
    assert len(prof.iterations) == 2 and len(prof.warmup_ns) == 1
    for events in prof.iterations:
        assert sorted({e.lane for e in events}) == ["replica0", "replica1", "replica2"]
        assert len(events) == 3 * len(compute)
        assert all(e.end_ns >= e.start_ns >= 0 for e in events)
    # FLOPs of the shares add up to the whole batch's.
    assert sum(e.flops for e in prof.iterations[0]) == sum(e.flops for e in single.iterations[0])
    meta = prof.metadata["distribute"]
    assert meta["shares"] == [86, 85, 85] and meta["replicas"] == 3 and meta["replica_graphs"] == "rebuild"
    assert set(prof.nodes) == {n.id for n in graph.nodes}


def test_profile_round_trips_and_reports(strategies, tmp_path):
    from graphscope.profile import analysis

    graph, inputs = samples.build("cnn")
    prof = strategies[2].run(graph, inputs, profile=True, repeat=2).profile
    path = tmp_path / "mirrored.gsprof"
    gs.save_profile(prof, str(path))
    back = gs.load_profile(str(path))
    assert {e.lane for e in back.iterations[0]} == {"replica0", "replica1"}
    assert back.metadata["distribute"]["shares"] == [4, 4]
    stats = analysis.node_statistics(back)
    assert all(s.calls == 2 for s in stats.values())  # one event per replica


def test_sum_and_mean_outputs_combine_for_uneven_batches():
    graph, inputs = loss_graph(batch=10)
    want = gs.run(graph, inputs).outputs
    with MirroredStrategy(replicas=3) as strategy:  # 4 + 3 + 3
        got = strategy.run(graph, inputs).outputs
    assert_outputs_close(got, want)
    _, info = rebatch(graph, [0], 4)
    assert [(i.axis, i.reduced) for i in info] == [(0, None), (None, "sum"), (None, "mean")]


def test_declared_mean_of_a_function_output():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((5, 2)).astype(np.float32)

    @gs.function
    def f(x):
        y = np.tanh(x @ w)
        return y, (y * y).mean(axis=0).sum()  # the second: a mean over the batch, then more work

    x = rng.standard_normal((9, 5)).astype(np.float32)
    want = f.python_function(x)
    strategy = MirroredStrategy(replicas=2, reduce={1: "mean"})
    with strategy.scope():
        y, loss = f(x)
    np.testing.assert_allclose(y, want[0], rtol=1e-5)
    np.testing.assert_allclose(loss, want[1], rtol=1e-5)
    with MirroredStrategy(replicas=2).scope(), pytest.raises(BatchSplitError, match="declare how to combine"):
        f(x)


def test_scope_distributes_function_calls_and_only_inside():
    fn, (x,) = samples.model("mlp")
    want = fn(x)
    strategy = MirroredStrategy(replicas=2)
    with strategy.scope():
        got = fn(x[:101])  # a new batch size: traced once at 101, rebuilt for 51 + 50
    np.testing.assert_allclose(got, want[:101], rtol=1e-4, atol=1e-6)
    assert [s.leaves()["x"][1] for s in fn.signatures()] == [(256, 784), (101, 784)]
    np.testing.assert_allclose(fn(x), want)  # outside the scope: a plain run again


def test_scope_retraces_a_function_whose_graph_cannot_be_rebuilt():
    rng = np.random.default_rng(0)

    @gs.function
    def f(x):
        ones = np.ones((x.shape[0], 1), np.float32)  # a constant with the batch size in its shape
        return np.tanh(x) + ones

    x = rng.standard_normal((7, 3)).astype(np.float32)
    with pytest.raises(RebatchError, match="scope"):
        MirroredStrategy(replicas=2).run(f.get_graph(x), [x])
    with MirroredStrategy(replicas=2).scope():
        got = f(x)
    np.testing.assert_allclose(got, np.tanh(x) + 1, rtol=1e-6)
    assert sorted(s.leaves()["x"][1][0] for s in f.signatures()) == [3, 4, 7]  # traced per share size


def test_gs_profile_records_distributed_calls():
    fn, (x,) = samples.model("mlp")
    with gs.profile(warmup=0) as prof, MirroredStrategy(replicas=2).scope():
        fn(x)
    lanes = {e.lane for p in prof.profiles.values() for it in p.iterations for e in it}
    assert {"replica0", "replica1"} <= lanes


def _graph(*shape: int) -> tuple[Graph, object]:
    g = Graph("g")
    x = g.placeholder("x", TensorSpec(shape, "float32"))
    return g, x


@pytest.mark.parametrize("build, why", [
    (lambda g, x: g.add_node("softmax", [x], {"axis": 0}), "normalizes over the batch axis"),
    (lambda g, x: g.add_node("concat", [x, x], {"axis": 0}), "joins its inputs along their batch axis"),
    (lambda g, x: g.add_node("getitem", [x], {"index": (("slice", 0, 2, None),)}), "indexes the batch axis"),
    (lambda g, x: g.add_node("max", [x], {"axis": 0}), "reduces or contracts over the batch axis"),
    (lambda g, x: g.add_node("tanh", [g.add_node("sum", [x], {"axis": 0})]), "reduces or contracts over the batch"),
    (lambda g, x: g.add_node("matmul", [g.add_node("transpose", [x], {"perm": (1, 0)}), x]), "contracts over"),
    (lambda g, x: g.add_node("reshape", [x], {"shape": (3, 8)}), "splits the batch axis"),
    (lambda g, x: g.add_node("add", [x, g.constant(np.ones((6, 4), np.float32))]), "shape rule fails"),
])
def test_nodes_that_mix_samples_are_refused(build, why):
    g, x = _graph(6, 4)
    g.set_outputs([build(g, x)])
    with pytest.raises(RebatchError, match=why):
        rebatch(g, [0], 3)


def test_reshapes_that_keep_samples_apart_are_rebuilt():
    g, x = _graph(6, 4, 5)
    flat = g.add_node("reshape", [x], {"shape": (24, 5)})  # batch merged with the next axis
    back = g.add_node("reshape", [g.add_node("tanh", [flat])], {"shape": (6, -1)})
    g.set_outputs([back])
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((6, 4, 5)).astype(np.float32)
    got = MirroredStrategy(replicas=4).run(g, [xs]).outputs  # 2 + 2 + 1 + 1
    assert_outputs_close(got, gs.run(g, [xs]).outputs)


def test_batch_axes_per_input_and_broadcast_inputs():
    rng = np.random.default_rng(1)
    g = Graph("cols")
    w = g.placeholder("w", TensorSpec((3, 4), "float32"))
    x = g.placeholder("x", TensorSpec((4, 7), "float32"))  # samples are columns
    s = g.placeholder("s", TensorSpec((), "float32"))  # 0-d: broadcast
    g.set_outputs([g.add_node("mul", [g.add_node("matmul", [w, x]), s])])
    vals = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((4, 7)).astype(np.float32),
            np.float32(2.0)]
    strategy = MirroredStrategy(replicas=2, batch_axis={"w": None, "x": 1})
    prof = strategy.run(g, vals, profile=True).profile
    assert prof.metadata["distribute"]["batch_axes"] == [None, 1, None]
    assert_outputs_close(strategy.run(g, vals).outputs, gs.run(g, vals).outputs)
    with pytest.raises(BatchSplitError, match="share one batch size"):
        MirroredStrategy(replicas=2, batch_axis=0).run(g, vals)
    with pytest.raises(BatchSplitError, match="unknown input"):
        MirroredStrategy(replicas=2, batch_axis={"nope": 0}).run(g, vals)


def test_more_replicas_than_samples_use_one_replica_per_sample():
    graph, inputs = loss_graph(batch=2)
    prof = MirroredStrategy(replicas=5).run(graph, inputs, profile=True).profile
    assert prof.metadata["distribute"]["shares"] == [1, 1]


def test_gpu_devices_fail_clearly_until_the_cupy_backend_exists():
    with pytest.raises(gs.BackendUnavailableError, match="CuPy backend"):
        MirroredStrategy(devices=["gpu:0", "gpu:1"])
    assert MirroredStrategy(devices=["cpu:0", "cpu:1"]).replicas == 2
    with pytest.raises(ValueError, match="unknown device"):
        MirroredStrategy(devices=["tpu:0"])


def test_replica_errors_name_the_replica():
    g, x = _graph(4, 3)
    g.set_outputs([g.add_node("tanh", [x])])
    with pytest.raises(gs.ShapeError):
        MirroredStrategy(replicas=2).run(g, [np.zeros((4, 3), np.float64)])


@pytest.mark.skipif("executor" not in inspect.signature(gs.run).parameters, reason="gs.run has no executor= yet")
def test_gs_run_accepts_the_strategy_as_executor():
    graph, inputs = samples.build("redundant")
    res = gs.run(graph, inputs, executor=MirroredStrategy(replicas=2), profile=True)
    assert_outputs_close(res.outputs, gs.run(graph, inputs).outputs)
    assert {e.lane for e in res.profile.iterations[0]} == {"replica0", "replica1"}


def test_importing_the_package_does_not_import_dask():
    code = "import graphscope.distribute, sys; assert 'distributed' not in sys.modules and 'dask' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_dask_gives_the_install_line(monkeypatch):
    from graphscope.distribute.errors import MissingExtraError, require_dask

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'graphscope-profiler\[distributed\]'"):
        require_dask()


@pytest.mark.parametrize("build, why", [
    (lambda g, x, w: g.add_node("matmul", [g.add_node("transpose", [x], {"perm": (1, 0)}), x]), "contracts over"),
    (lambda g, x, w: g.add_node("softmax", [g.add_node("matmul", [w, g.add_node("transpose", [x], {"perm": (1, 0)})])],
                                {"axis": -1}), "epilogue may reduce over the last axis"),
])
def test_fused_products_that_mix_samples_are_refused(build, why):
    rng = np.random.default_rng(3)
    g, x = _graph(6, 4)
    w = g.constant(rng.standard_normal((3, 4)).astype(np.float32))
    g.set_outputs([build(g, x, w)])
    opt, _ = gs.optimize(g, level=2)
    assert any(n.op == "fused_matmul" for n in opt.nodes)
    with pytest.raises(RebatchError, match=why):
        rebatch(opt, [0], 3)


def test_fused_products_that_keep_samples_apart_split():
    rng = np.random.default_rng(4)
    g, x = _graph(6, 4)
    w = g.constant(rng.standard_normal((4, 5)).astype(np.float32))
    b = g.constant(rng.standard_normal(5).astype(np.float32))
    g.set_outputs([g.add_node("softmax", [g.add_node("add", [g.add_node("matmul", [x, w]), b])], {"axis": -1})])
    opt, _ = gs.optimize(g, level=2)
    assert [n.op for n in opt.nodes if n.op not in ("placeholder", "constant")] == ["fused_matmul"]
    xs = rng.standard_normal((6, 4)).astype(np.float32)
    assert_outputs_close(MirroredStrategy(replicas=4).run(opt, [xs]).outputs, gs.run(g, [xs]).outputs)
