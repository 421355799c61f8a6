"""graphscope: trace NumPy code into a graph, run it, and see what every node costs.

    import graphscope as gs

    @gs.function
    def f(x, w):
        return np.maximum(x @ w, 0)

    g = f.get_graph(x, w)           # the traced Graph; print(g) shows one line per node
    run = gs.run(g, [x, w], profile=True)
"""

from graphscope import ops
from graphscope.config import config
from graphscope.errors import (
    BackendUnavailableError,
    GraphError,
    GraphFormatError,
    GraphscopeError,
    NodeExecutionError,
    ShapeError,
    TracingError,
    UnknownOpError,
)
from graphscope.ir.graph import Graph, Node
from graphscope.ir.spec import TensorSpec
from graphscope.profile.events import NodeEvent, RunProfile
from graphscope.runtime.run import RunResult, run
from graphscope.trace.context import name_scope
from graphscope.trace.function import Function, RetracingWarning, function

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError", "Function", "Graph", "GraphError", "GraphFormatError", "GraphscopeError",
    "Node", "NodeEvent", "NodeExecutionError", "RetracingWarning", "RunProfile", "RunResult", "ShapeError",
    "TensorSpec", "TracingError", "UnknownOpError", "config", "function", "name_scope", "ops", "run",
]
