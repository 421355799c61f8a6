"""The Dask executor on a real LocalCluster of 2 worker processes bound to 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest
from dist_helpers import assert_outputs_close, chain_graph, loss_graph, wide_graph

import graphscope as gs
from graphscope import samples
from graphscope.distribute import ClusterUnavailableError, MirroredStrategy, WorkerLostError

distributed = pytest.importorskip("distributed", reason="needs graphscope-profiler[distributed]")
from graphscope.distribute import worker as gs_worker  # noqa: E402
from graphscope.distribute.dask import DaskExecutor  # noqa: E402


def _cluster(n: int = 2):
    cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0")
    return cluster, distributed.Client(cluster)


@pytest.fixture(scope="module")
def cluster():
    cluster, client = _cluster()
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def executor(cluster):
    ex = DaskExecutor(cluster)
    yield ex
    ex.close()


@pytest.mark.parametrize("name", samples.names())
def test_every_sample_matches_the_single_process_run(name, executor):
    graph, inputs = samples.build(name)
    opt, _ = gs.optimize(graph, level=2)
    assert_outputs_close(executor.run(opt, inputs).outputs, gs.run(graph, inputs).outputs)


def test_profile_tasks_lanes_and_events(executor, cluster):
    graph, inputs = samples.build("transformer")
    segs = executor.segments(graph)
    assert len(segs) > 1
    prof = executor.run(graph, inputs, profile=True, repeat=2, warmup=1).profile
    tasks = prof.metadata["dask"]["tasks"]
    assert len(prof.iterations) == 2 and len(prof.warmup_ns) == 1
    assert [len(t) for t in tasks] == [len(segs)] * 2  # one task per segment and iteration
    compute = {n.id for n in graph.nodes if n.op not in ("placeholder", "constant")}
    workers = set(cluster.scheduler_info()["workers"])
    for events, its_tasks in zip(prof.iterations, tasks):
        assert sorted(e.node_id for e in events) == sorted(compute)  # every node once per iteration
        # one lane per worker thread: lanes and (worker, thread) pairs of Dask's records match one to one
        pairs = {(t["worker"], t["thread"]) for t in its_tasks}
        assert len({t["lane"] for t in its_tasks}) == len(pairs)
        assert {e.lane for e in events} == {t["lane"] for t in its_tasks}
        assert all(t["worker"] in workers and t["lane"].startswith(t["worker"] + "#") for t in its_tasks)
        assert all(0 <= t["start_ns"] <= t["stop_ns"] for t in its_tasks)
        assert min(e.start_ns for e in events) >= 0
    assert prof.metadata["dask"]["lanes"] == sorted({e.lane for it in prof.iterations for e in it})


def test_branches_spread_over_both_workers_with_transfers(executor, cluster):
    graph, inputs = wide_graph(branches=6, d=384, depth=6)
    ex = DaskExecutor(cluster, min_task_ms=0.0)
    want = gs.run(graph, inputs).outputs
    for _ in range(3):  # the scheduler decides placement; a run usually uses both workers at once
        res = ex.run(graph, inputs, profile=True, repeat=2)
        assert_outputs_close(res.outputs, want)
        lanes = res.profile.metadata["dask"]["lanes"]
        if len(lanes) == 2:
            break
    assert len(lanes) == 2
    tasks = [t for it in res.profile.metadata["dask"]["tasks"] for t in it]
    moved = [t for t in tasks if t["transfer_ns"] > 0]
    assert moved and all(t["transfer_bytes"] > 0 for t in moved)


def test_weights_are_scattered_once_and_cached_on_the_workers(executor, cluster):
    graph, inputs = samples.build("mlp")
    executor.run(graph, inputs)
    fp = next(iter(graph.__dict__["_gs_payload"][1:2]))
    fut = executor._payloads[fp]
    assert len(cluster.who_has([fut])[fut.key]) == 2  # on both workers
    executor.run(graph, inputs, repeat=2)
    assert executor._payloads[fp] is fut  # not sent again
    cached = cluster.run(lambda: fp in gs_worker._graphs)
    assert any(cached.values())


def test_mirrored_replicas_as_dask_tasks(executor):
    graph, inputs = samples.build("mlp")
    want = gs.run(graph, inputs).outputs
    strategy = MirroredStrategy(replicas=2, executor=executor)
    res = strategy.run(graph, inputs, profile=True, repeat=2)
    assert_outputs_close(res.outputs, want)
    meta = res.profile.metadata["distribute"]
    assert len(set(meta["placement"])) == 2  # replicas on distinct workers
    assert {e.lane for e in res.profile.iterations[0]} == {"replica0", "replica1"}
    g, xs = loss_graph(batch=9)  # uneven: 5 + 4, with sum and mean outputs
    assert_outputs_close(strategy.run(g, xs).outputs, gs.run(g, xs).outputs)


def test_tiny_graph_and_constant_or_input_outputs(executor):
    g, inputs = loss_graph(batch=4)
    g.set_outputs([*g.outputs, g.inputs[0]])
    assert_outputs_close(executor.run(g, inputs).outputs, gs.run(g, inputs).outputs)


def test_an_unreachable_scheduler_fails_fast_and_clearly():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(ClusterUnavailableError, match=f"tcp://127.0.0.1:{port}.*1 s"):
        DaskExecutor(f"tcp://127.0.0.1:{port}", timeout=1)
    with socket.socket() as silent:  # a port that accepts connections but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(ClusterUnavailableError, match="no answer"):
            DaskExecutor(address=f"tcp://127.0.0.1:{silent.getsockname()[1]}", timeout=1)
    assert time.monotonic() - t0 < 15


def test_cli_support_makes_the_executors(cluster):
    import argparse

    from graphscope.distribute import cli_support

    parser = argparse.ArgumentParser()
    cli_support.add_arguments(parser)
    address = cluster.scheduler.address
    args = parser.parse_args(["--dask", address, "--replicas", "2"])
    ex = cli_support.executor_from_args(args)
    try:
        assert isinstance(ex, MirroredStrategy) and isinstance(ex.executor, DaskExecutor)
        assert "2 data-parallel replicas on Dask cluster" in cli_support.describe(ex)
        graph, inputs = samples.build("redundant")
        assert_outputs_close(ex.run(graph, inputs).outputs, gs.run(graph, inputs).outputs)
    finally:
        ex.close()
    assert cli_support.make_executor() is None
    assert isinstance(cli_support.make_executor(replicas=3), MirroredStrategy)
    with pytest.raises(SystemExit):
        parser.parse_args(["--replicas", "0"])


def test_a_worker_killed_mid_run_gives_a_clear_error_or_the_right_result():
    cluster, client = _cluster()
    try:
        ex = DaskExecutor(client)
        graph, inputs = chain_graph(n=60, d=512)
        want = gs.run(graph, inputs).outputs
        ex.run(graph, inputs)  # ships the graph
        pids = client.run(os.getpid)
        result: dict = {}

        def go():
            try:
                result["outputs"] = ex.run(graph, inputs, repeat=2).outputs
            except Exception as exc:
                result["error"] = exc

        thread = threading.Thread(target=go)
        thread.start()
        victim = None
        deadline = time.monotonic() + 20
        while victim is None and time.monotonic() < deadline:
            busy = [w for w, keys in client.processing().items() if any(str(k).startswith("gs-") for k in keys)]
            victim = busy[0] if busy else None
            time.sleep(0.005)
        assert victim is not None
        os.kill(pids[victim], signal.SIGKILL)
        thread.join(60)
        assert not thread.is_alive()
        if "error" in result:
            assert isinstance(result["error"], WorkerLostError), result["error"]
            assert "no result was returned" in str(result["error"]).lower()
        else:
            assert_outputs_close(result["outputs"], want)
        client.wait_for_workers(2, timeout=30)  # the nanny restarts the worker; the executor still works
        assert_outputs_close(ex.run(graph, inputs).outputs, want)
    finally:
        client.close()
        cluster.close()
