"""``gs.constant``: put a value into the graph being traced as a constant node.

Operations on plain NumPy arrays run eagerly even inside ``@gs.function`` (NumPy computes them at
trace time). ``gs.constant(a)`` makes ``a`` a graph value instead, so ops on it become graph nodes
(like ``tf.constant``); outside a trace it returns the array unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphscope.trace.context import current_graph, current_scope
from graphscope.trace.source import user_source
from graphscope.trace.tensor import Tensor


def constant(value: Any, dtype: Any = None, name: str | None = None) -> Any:
    arr = np.asarray(value, dtype=dtype)
    graph = current_graph()
    if graph is None:
        return arr
    node = graph.constant(arr, name=name or "const", scope=current_scope(), source=user_source(2))
    return Tensor(node, graph)
