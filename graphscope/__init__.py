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
from graphscope.debug import NumericsError, explain
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
from graphscope.passes.pipeline import OptimizationLog, optimize
from graphscope.passes.verify import VerificationError, verify
from graphscope.profile.events import NodeEvent, RunProfile

# Last: the profiler function shadows the ``graphscope.profile`` subpackage attribute (gs.profile()).
from graphscope.profile.profiler import profile
from graphscope.runtime.run import RunResult, run
from graphscope.trace.context import name_scope
from graphscope.trace.function import Function, RetracingWarning, function
from graphscope.trace.lift import constant

__version__ = "0.1.0"


def save(graph: Graph, path: str) -> None:
    """Save ``graph`` as a ``.gsg`` archive (atomically: never a half-written file)."""
    from graphscope.formats.native import save as _save

    _save(graph, path)


def load(path: str) -> Graph:
    """Load a ``.gsg`` archive; a bad file raises GraphFormatError naming the file and the fault."""
    from graphscope.formats.native import load as _load

    return _load(path)


def save_profile(profile: RunProfile, path: str) -> None:
    """Save a RunProfile as versioned JSON (``.gsprof``)."""
    from graphscope.formats.profile_file import save_profile as _save

    _save(profile, path)


def load_profile(path: str) -> RunProfile:
    from graphscope.formats.profile_file import load_profile as _load

    return _load(path)

# Parts with optional dependencies or heavier imports load on first use: ``gs.distribute`` (Dask only
# when a DaskExecutor is made), ``gs.from_onnx`` / ``gs.to_onnx`` (the [onnx] extra), ``gs.device``.
_LAZY = {
    "distribute": ("graphscope.distribute", None),
    "from_onnx": ("graphscope.formats.onnx_import", "from_onnx"),
    "to_onnx": ("graphscope.formats.onnx_export", "to_onnx"),
    "device": ("graphscope.trace.device", "device"),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        return module if attr is None else getattr(module, attr)
    raise AttributeError(f"module 'graphscope' has no attribute {name!r}")


__all__ = [
    "BackendUnavailableError", "Function", "Graph", "GraphError", "GraphFormatError", "GraphscopeError", "Node",
    "NodeEvent", "NodeExecutionError", "NumericsError", "OptimizationLog", "RetracingWarning", "RunProfile", "RunResult",
    "ShapeError", "TensorSpec", "TracingError", "UnknownOpError", "VerificationError", "config", "constant", "explain",
    "function", "load", "load_profile", "name_scope", "ops", "optimize", "profile", "run", "save", "save_profile", "verify",
]
