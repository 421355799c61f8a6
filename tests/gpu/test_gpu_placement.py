"""Placement, transfer insertion and stream assignment: pure functions over graphs (no GPU, no CuPy)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphscope as gs
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec
from graphscope.placement import (
    CPU,
    PlacementError,
    assign_devices,
    assign_streams,
    crossings,
    device_summary,
    insert_transfers,
    parse_device,
    unsynchronized,
)
from graphscope.trace.device import current_device, device

F32 = TensorSpec((4, 8), "float32")


def _compute(g: Graph) -> list:
    return [n for n in g.nodes if n.op not in ("placeholder", "constant")]


# -- device names -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "want"), [("cpu", "cpu"), ("CPU", "cpu"), ("cpu:0", "cpu"), ("gpu", "gpu:0"),
                                            ("cuda", "gpu:0"), ("cuda:1", "gpu:1"), (" gpu:3 ", "gpu:3")])
def test_parse_device_normalizes(name, want):
    assert parse_device(name) == want


@pytest.mark.parametrize("bad", ["tpu:0", "gpu:x", "cpu:1", "", None, 0])
def test_parse_device_rejects_with_the_name(bad):
    with pytest.raises(PlacementError, match="device"):
        parse_device(bad)


# -- gs.device while tracing ----------------------------------------------------------------------


def _placed_model():
    w = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)

    @gs.function
    def model(x):
        with device("cpu"):
            h = np.tanh(x) * 2.0  # preprocessing that stays on the host
        with device("gpu:0"):
            y = h @ w + 1.0
            with device("cpu"):  # the innermost block wins
                z = np.exp(y)
            return z - y

    return model


def test_device_blocks_record_placement_while_tracing():
    x = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    g = _placed_model().get_graph(x)
    placement = g.metadata["placement"]
    by_op = {n.op: placement.get(n.id) for n in _compute(g)}
    assert by_op["tanh"] == "cpu" and by_op["matmul"] == "gpu:0" and by_op["exp"] == "cpu" and by_op["sub"] == "gpu:0"
    assert current_device() is None
    with device("cuda:1") as d:
        assert d == current_device() == "gpu:1"
    assert current_device() is None


def test_assign_devices_follows_blocks_provenance_and_defaults():
    x = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    g = _placed_model().get_graph(x)
    devs = assign_devices(g, "gpu:0")
    assert devs[g.inputs[0].id] == CPU  # the caller's array is on the host
    assert {devs[n.id] for n in _compute(g) if n.op in ("tanh", "exp")} == {CPU}
    assert device_summary(devs, g) == {"cpu": sum(devs[n.id] == CPU for n in _compute(g)),
                                       "gpu:0": sum(devs[n.id] == "gpu:0" for n in _compute(g))}
    # A constant goes where its first reader needs it.
    for c in (n for n in g.nodes if n.op == "constant"):
        assert devs[c.id] == devs[c.users[0].id]
    # After optimization, new nodes follow the placement of the nodes they came from (provenance).
    opt, _ = gs.optimize(g, level=2)
    odevs = assign_devices(opt, "gpu:0")
    for n in _compute(opt):
        origins = {g.metadata["placement"].get(p) for p in n.provenance} - {None}
        if len(origins) == 1:
            assert odevs[n.id] == origins.pop(), n.describe()
    # Results equal the unplaced graph's (placement changes where, never what).
    np.testing.assert_allclose(gs.run(opt, [x]).outputs[0], gs.run(g, [x]).outputs[0], rtol=1e-6, atol=1e-6)


def test_assign_devices_errors_name_the_node():
    g = Graph("g")
    x = g.placeholder("x", F32)
    y = g.add_node("exp", [x], name="act/exp")
    g.set_outputs([y])
    g.metadata["placement"] = {y.id: "gpu:1"}
    with pytest.raises(PlacementError, match=r"act/exp.*gpu:1.*only cpu, gpu:0"):
        assign_devices(g, "gpu:0", allowed=("cpu", "gpu:0"))
    g.metadata["placement"] = {y.id: "tpu"}
    with pytest.raises(PlacementError, match="bad placement entry"):
        assign_devices(g, "gpu:0")
    g.metadata["placement"] = {}
    with pytest.raises(PlacementError, match="2 input devices"):
        assign_devices(g, "gpu:0", inputs=["cpu", "cpu"])
    # An op the device cannot run goes to the host.
    assert assign_devices(g, "gpu:0", supported=lambda n, d: n.op != "exp")[y.id] == CPU


# -- transfers ------------------------------------------------------------------------------------


def ping_pong(rounds: int = 3) -> Graph:
    """x -> (gpu) tanh -> (cpu) exp -> (gpu) tanh -> ... : every step crosses devices."""
    g = Graph("ping_pong")
    x = g.placeholder("x", F32)
    v = x
    placement = {}
    for k in range(rounds):
        a = g.add_node("tanh", [v], name=f"r{k}/tanh")
        b = g.add_node("exp", [a], name=f"r{k}/exp")
        placement[a.id], placement[b.id] = "gpu:0", "cpu"
        v = b
    g.set_outputs([v])
    g.metadata["placement"] = placement
    return g


def test_ping_pong_gets_one_transfer_per_crossing():
    g = ping_pong(3)
    before = str(g)
    placed = insert_transfers(g, assign_devices(g, "gpu:0"))
    assert str(g) == before  # the original graph is not touched
    pg = placed.graph
    pg.lint()
    ops = [n.op for n in pg.nodes]
    assert ops.count("to_device") == 3 and ops.count("to_host") == 3
    assert [t.direction for t in placed.transfers] == ["h2d", "d2h"] * 3
    assert all(t.nbytes == F32.nbytes for t in placed.transfers)
    assert placed.bytes_moved("h2d") == placed.bytes_moved("d2h") == 3 * F32.nbytes
    assert crossings(pg, placed.devices) == []
    assert crossings(g, assign_devices(g, "gpu:0")) != []
    # Names say what moves where; provenance is the moved value.
    t0 = pg.node(placed.transfers[0].node_id)
    assert t0.name == "x_to_gpu0" and t0.attrs["device"] == "gpu:0" and t0.provenance == (g.inputs[0].id,)
    assert pg.metadata["transfers"][1]["direction"] == "d2h"
    # On NumPy a transfer is a copy: the placed graph computes what the original does.
    x = np.random.default_rng(2).standard_normal((4, 8)).astype(np.float32)
    np.testing.assert_array_equal(gs.run(pg, [x]).outputs[0], gs.run(g, [x]).outputs[0])


def test_transfers_are_shared_by_readers_and_constants_are_copied():
    g = Graph("shared")
    x = g.placeholder("x", F32)
    c = g.constant(np.full((4, 8), 0.5, np.float32), name="half")
    a = g.add_node("add", [x, c], name="a")  # gpu
    b = g.add_node("mul", [x, c], name="b")  # gpu: reads the same uploaded x
    h = g.add_node("sub", [a, c], name="h")  # cpu: needs a and a host copy of c
    out = g.add_node("add", [h, b], name="out")  # gpu
    g.set_outputs([out, b])
    g.metadata["placement"] = {a.id: "gpu:0", b.id: "gpu:0", h.id: "cpu", out.id: "gpu:0"}
    placed = insert_transfers(g, assign_devices(g, "gpu:0"))
    pg = placed.graph
    uploads_of_x = [n for n in pg.nodes if n.op == "to_device" and n.inputs[0].name == "x"]
    assert len(uploads_of_x) == 1 and len(uploads_of_x[0].users) == 2
    consts = [n for n in pg.nodes if n.op == "constant"]
    assert len(consts) == 2 and sorted(placed.devices[n.id] for n in consts) == ["cpu", "gpu:0"]
    assert set(placed.constant_copies.values()) == {c.id}
    assert all(t.value_id != c.id for t in placed.transfers)  # constants are never moved at run time
    # Both outputs come back to the host; b is downloaded once even though it is read on the GPU too.
    assert all(placed.devices[o.id] == CPU for o in pg.outputs)
    assert sum(t.value_id == b.id for t in placed.transfers) == 1
    # output_device=None leaves them where they are made.
    kept = insert_transfers(g, assign_devices(g, "gpu:0"), output_device=None)
    assert [kept.devices[o.id] for o in kept.graph.outputs] == ["gpu:0", "gpu:0"]


def test_between_gpus_goes_through_the_host():
    g = Graph("two_gpus")
    x = g.placeholder("x", F32)
    a = g.add_node("tanh", [x])
    b = g.add_node("exp", [a])
    g.set_outputs([b])
    g.metadata["placement"] = {a.id: "gpu:0", b.id: "gpu:1"}
    placed = insert_transfers(g, assign_devices(g, "gpu:0"))
    assert [(t.src, t.dst) for t in placed.transfers] == [("cpu", "gpu:0"), ("gpu:0", "cpu"), ("cpu", "gpu:1"),
                                                         ("gpu:1", "cpu")]


def test_missing_device_is_a_placement_error():
    g = ping_pong(1)
    with pytest.raises(PlacementError, match="no device for"):
        insert_transfers(g, {})


# -- streams --------------------------------------------------------------------------------------


def branches(n: int, depth: int = 3) -> Graph:
    g = Graph("branches")
    x = g.placeholder("x", F32)
    ends = []
    for b in range(n):
        v = x
        for k in range(depth):
            v = g.add_node("tanh" if k % 2 else "exp", [v], name=f"b{b}/op{k}")
        ends.append(v)
    out = ends[0]
    for e in ends[1:]:
        out = g.add_node("add", [out, e], name="join")
    g.set_outputs([out])
    return g


def _all_gpu(g: Graph) -> dict[int, str]:
    return {n.id: "gpu:0" for n in g.nodes}


def test_independent_branches_get_their_own_streams_chains_stay():
    g = branches(3)
    plan = assign_streams(g, _all_gpu(g), max_streams=4)
    for b in range(3):
        assert len({plan.stream_of[n.id] for n in g.nodes if n.name.startswith(f"b{b}/")}) == 1
    assert len({plan.stream_of[g.node(f"b{b}/op0").id] for b in range(3)}) == 3
    assert plan.n_streams == {"gpu:0": 3}
    # The joins wait only for branches on other streams, each once.
    waits = [p for ps in plan.waits.values() for p in ps]
    assert sorted(waits) == sorted({g.node("b1/op2").id, g.node("b2/op2").id})
    assert plan.lane(g.node("b1/op0").id) == f"gpu:0/stream{plan.stream_of[g.node('b1/op0').id]}"
    assert plan.signalers == frozenset(waits)
    assert unsynchronized(g, plan) == []


def test_one_stream_means_no_waits_and_host_nodes_have_no_stream():
    g = branches(3)
    plan = assign_streams(g, _all_gpu(g), max_streams=1)
    assert set(plan.stream_of.values()) == {0} and plan.waits == {}
    devs = _all_gpu(g)
    devs[g.node("b1/op1").id] = "cpu"
    plan = assign_streams(g, devs, max_streams=4)
    assert g.node("b1/op1").id not in plan.stream_of and plan.lane(g.node("b1/op1").id) == "cpu"
    with pytest.raises(ValueError, match="max_streams"):
        assign_streams(g, devs, max_streams=0)


def test_unsynchronized_finds_a_missing_wait():
    g = branches(2)
    plan = assign_streams(g, _all_gpu(g), max_streams=2)
    join = g.node("join").id
    assert plan.waits[join]
    plan.waits.pop(join)
    assert unsynchronized(g, plan) == [(g.node("b1/op2").id, join)]


def test_placed_graph_streams_cover_transfers():
    g = ping_pong(2)
    placed = insert_transfers(g, assign_devices(g, "gpu:0"))
    plan = assign_streams(placed.graph, placed.devices)
    for t in placed.transfers:  # both directions run on the GPU's streams (to_host on the GPU it reads)
        assert placed.graph.node(t.node_id).id in plan.stream_of
    assert unsynchronized(placed.graph, plan) == []


@st.composite
def random_dags(draw):
    n = draw(st.integers(2, 25))
    g = Graph("random")
    nodes = [g.placeholder("x", F32)]
    devs = {nodes[0].id: "cpu"}
    for k in range(n):
        arity = draw(st.integers(1, 2))
        ins = [nodes[draw(st.integers(0, len(nodes) - 1))] for _ in range(arity)]
        m = g.add_node("tanh" if arity == 1 else "add", ins, name=f"n{k}")
        devs[m.id] = draw(st.sampled_from(["gpu:0", "gpu:0", "gpu:0", "cpu"]))
        nodes.append(m)
    g.set_outputs([nodes[-1]])
    return g, devs, draw(st.integers(1, 4))


@settings(max_examples=150, deadline=None)
@given(random_dags())
def test_stream_plans_order_every_cross_stream_read(case):
    g, devs, max_streams = case
    g.metadata["placement"] = {k: v for k, v in devs.items() if k != g.inputs[0].id}
    placed = insert_transfers(g, assign_devices(g, "gpu:0"))
    assert crossings(placed.graph, placed.devices) == []
    plan = assign_streams(placed.graph, placed.devices, max_streams=max_streams)
    assert unsynchronized(placed.graph, plan) == []
    assert max(plan.n_streams.values(), default=0) <= max_streams
    # Waits are only for producers on other streams of the same device.
    for nid, ps in plan.waits.items():
        for p in ps:
            assert plan.stream_of[p] != plan.stream_of[nid] and plan.device_of[p] == plan.device_of[nid]
