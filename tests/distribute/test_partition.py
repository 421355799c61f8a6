"""Partitioning graphs into Dask tasks: every node once, acyclic, branches apart, tiny chains merged."""

from __future__ import annotations

import pytest
from dist_helpers import chain_graph, wide_graph

import graphscope as gs
from graphscope import samples
from graphscope.distribute.partition import partition


def check(graph, segs):
    compute = [n.id for n in graph.nodes if n.op not in ("placeholder", "constant")]
    seen = [nid for s in segs for nid in s.nodes]
    assert sorted(seen) == sorted(compute)  # each compute node in exactly one segment
    seg_of = {nid: s.index for s in segs for nid in s.nodes}
    outputs = {o.id for o in graph.outputs}
    for k, s in enumerate(segs):
        assert s.index == k
        assert all(d < k for d in s.deps)  # a topological order of the segment graph
        for nid in s.nodes:
            node = graph.node(nid)
            for i in node.inputs:
                if i.op == "constant":
                    continue
                if seg_of.get(i.id) != k:
                    assert i.id in s.inputs
                    if i.id in seg_of:
                        assert seg_of[i.id] in s.deps and i.id in segs[seg_of[i.id]].outputs
            if nid in outputs:
                assert nid in s.outputs


@pytest.mark.parametrize("name", samples.names())
@pytest.mark.parametrize("min_task_s", [0.0, 1e-3, 1.0])
def test_samples_partition_validly(name, min_task_s):
    graph, _ = samples.build(name)
    for g in (graph, gs.optimize(graph, level=2)[0]):
        check(g, partition(g, min_task_s))


def test_parallel_branches_stay_apart_and_tiny_chains_merge():
    graph, _ = wide_graph(branches=4, d=256, depth=3)
    segs = partition(graph, min_task_s=0.0)
    assert len(segs) == 4 + 3  # one per branch, and each add joins two segments
    assert len(partition(graph, min_task_s=10.0)) == 1  # everything is "tiny": one task
    chain, _ = chain_graph(n=10)
    assert len(partition(chain, min_task_s=0.0)) == 1  # a chain is one task


def test_inception_branches_are_separate_tasks():
    graph, _ = samples.build("inception")
    segs = partition(graph, min_task_s=0.0)
    assert len(segs) == 5 and segs[-1].deps == [0, 1, 2, 3]
