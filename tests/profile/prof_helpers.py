"""Helpers shared by the profile tests."""

import graphscope as gs


def profile_of(fn, *inputs, repeat=5, warmup=1):
    """A real profiled run of the graph ``fn`` traces for ``inputs``: (graph, RunProfile)."""
    graph = fn.get_graph(*inputs)
    return graph, gs.run(graph, list(inputs), profile=True, repeat=repeat, warmup=warmup).profile
