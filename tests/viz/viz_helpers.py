"""Helpers of the report and rendering tests: real profiles of the samples (made once per session),
a synthetic two-lane profile, fixed machine peaks, a generated 5,000-node graph."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import graphscope as gs
from graphscope import samples
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec
from graphscope.profile.analysis import analyze
from graphscope.profile.calibration import Overhead, Peaks
from graphscope.profile.events import NodeEvent, NodeInfo, RunProfile

PEAKS = Peaks(flops_per_s=100e9, bytes_per_s=10e9)
OVERHEAD = Overhead(timer_resolution_ns=40.0, timer_call_ns=50.0, plain_node_ns=500.0, profiled_node_ns=1400.0,
                    source="explicit")


needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed (apt-get install graphviz)")


class SampleRun:
    """A sample graph, its level-2 optimization and a real profile of the optimized graph."""

    def __init__(self, name: str, repeat: int = 3) -> None:
        self.name = name
        self.graph, self.inputs = samples.build(name)
        self.optimized, self.log = gs.optimize(self.graph, level=2)
        self.profile = gs.run(self.optimized, self.inputs, profile=True, repeat=repeat, warmup=1).profile
        self.report = analyze(self.profile, PEAKS, OVERHEAD)


_RUNS: dict[str, SampleRun] = {}


def sample_run(name: str) -> SampleRun:
    if name not in _RUNS:
        _RUNS[name] = SampleRun(name)
    return _RUNS[name]


def two_lane_profile(iterations: int = 4) -> RunProfile:
    """A hand-made profile: 6 nodes in two scopes on two lanes, with known times and memory."""
    nodes = {
        0: NodeInfo(0, "x", "placeholder", "", None, (256, 256), "float32", ()),
        1: NodeInfo(1, "enc/a/matmul", "matmul", "enc/a", "model.py:10", (256, 256), "float32", (0,)),
        2: NodeInfo(2, "enc/b/tanh", "tanh", "enc/b", "model.py:11", (256, 256), "float32", (0,)),
        3: NodeInfo(3, "enc/a/relu", "relu", "enc/a", "model.py:12", (256, 256), "float32", (1,)),
        4: NodeInfo(4, "enc/b/exp", "exp", "enc/b", "model.py:13", (256, 256), "float32", (2,)),
        5: NodeInfo(5, "head/add", "add", "head", "model.py:20", (256, 256), "float32", (3, 4)),
    }
    mb = 256 * 256 * 4
    iters, walls = [], []
    for k in range(iterations):
        j = 100 * k  # iterations differ a little
        iters.append([
            NodeEvent(1, 1_000, 61_000 + j, "worker-0", mb, mb, 2 * 256**3, 3 * mb),
            NodeEvent(2, 2_000, 12_000, "worker-1", mb, 2 * mb, 256 * 256 * 20, 2 * mb),
            NodeEvent(4, 13_000, 23_000 + j, "worker-1", mb, 2 * mb, 256 * 256 * 20, 2 * mb),
            NodeEvent(3, 62_000 + j, 64_000 + j, "worker-0", 0, 2 * mb, 256 * 256, 2 * mb),
            NodeEvent(5, 65_000 + j, 70_000 + j, "worker-0", mb, mb, 256 * 256, 3 * mb),
        ])
        walls.append(72_000 + j)
    return RunProfile("two_lanes", "numpy", nodes, iters, walls, warmup_ns=[90_000], peak_bytes=3 * mb,
                      peak_live=[(1, mb), (4, mb), (5, mb)], input_bytes=mb, inputs=[0], outputs=[5],
                      machine={"backend": "numpy"})


def big_graph(n_nodes: int = 5000, blocks: int = 50, parts: int = 5) -> Graph:
    """A generated graph of exactly ``n_nodes`` nodes: a chain of elementwise ops with skip adds,
    in ``blocks`` top-level scopes of ``parts`` sub-scopes each."""
    g = Graph("big")
    x = g.placeholder("x", TensorSpec((4, 8), np.float32))
    per_part = -(-(n_nodes - 1) // (blocks * parts))
    ops = ("tanh", "sin", "neg", "abs", "cos", "tanh")
    cur = skip = x
    count = 1
    for k in range(n_nodes - 1):
        b, rest = divmod(k // per_part, parts)
        scope = f"block{b:02d}/part{rest}"
        if k % 7 == 6:
            cur = skip = g.add_node("add", [cur, skip], scope=scope)
        else:
            cur = g.add_node(ops[k % len(ops)], [cur], scope=scope)
        count += 1
    g.set_outputs([cur])
    assert len(g) == n_nodes == count
    return g
