"""NumPy's protocols on traced tensors: which NumPy ufuncs and functions trace into which ops.

``np.maximum(t, 0)`` reaches ``Tensor.__array_ufunc__`` and ``np.concatenate([t, u])`` reaches
``Tensor.__array_function__``; both land here. Anything not in these tables raises a TracingError
naming the NumPy function and the user's line: never a silent wrong graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from graphscope.errors import TracingError
from graphscope.trace.source import user_source
from graphscope.trace.tensor import apply_op

# ufunc name -> op name (ufuncs called as ``np.<ufunc>(*inputs)``).
UFUNC_OPS: dict[str, str] = {
    "add": "add", "subtract": "sub", "multiply": "mul", "divide": "div", "true_divide": "div",
    "floor_divide": "floordiv", "remainder": "mod", "power": "pow", "float_power": "pow",
    "maximum": "maximum", "minimum": "minimum", "fmax": "maximum", "fmin": "minimum",
    "equal": "equal", "not_equal": "not_equal", "less": "less", "less_equal": "less_equal",
    "greater": "greater", "greater_equal": "greater_equal",
    "logical_and": "logical_and", "logical_or": "logical_or", "logical_not": "logical_not",
    "negative": "neg", "positive": "identity", "absolute": "abs", "fabs": "abs", "sign": "sign",
    "exp": "exp", "log": "log", "sqrt": "sqrt", "square": "square", "reciprocal": "reciprocal",
    "tanh": "tanh", "sin": "sin", "cos": "cos", "floor": "floor", "ceil": "ceil",
    "matmul": "matmul", "erf": "erf",  # scipy.special.erf is a ufunc too
}


def _ufunc_reduce(ufunc_name: str) -> str | None:
    return {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "min"}.get(ufunc_name)


def _where() -> str:
    where = user_source(4)
    return f" at {where}" if where else ""


def trace_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    name = ufunc.__name__
    if kwargs.get("out") is not None:
        raise TracingError(f"cannot trace np.{name}(..., out=...): graphs do not write into caller arrays{_where()}")
    unsupported = {k for k, v in kwargs.items() if k not in ("out", "dtype", "casting") and v is not None}
    if unsupported:
        raise TracingError(f"cannot trace np.{name} with argument(s) {sorted(unsupported)}{_where()}")
    if method == "reduce":
        op = _ufunc_reduce(name)
        if op is None:
            raise TracingError(f"cannot trace np.{name}.reduce (no matching reduction op){_where()}")
        axis = kwargs.get("axis", 0)
        return apply_op(op, [inputs[0]], {"axis": axis, "keepdims": bool(kwargs.get("keepdims", False))})
    if method != "__call__":
        raise TracingError(f"cannot trace np.{name}.{method} (only plain calls and reduce are traced){_where()}")
    op = UFUNC_OPS.get(name)
    if op is None:
        raise TracingError(f"cannot trace NumPy ufunc np.{name}: it has no graphscope op{_where()}")
    dtype = kwargs.get("dtype")
    if dtype is not None:
        inputs = tuple(_cast(x, dtype) for x in inputs)
    return apply_op(op, list(inputs))


def _cast(x: Any, dtype: Any) -> Any:
    from graphscope.trace.tensor import Tensor

    return x.astype(dtype) if isinstance(x, Tensor) else np.asarray(x, dtype=dtype)


# NumPy function -> a callable with the same signature that builds nodes. Filled by ``implements``.
FUNCTION_OPS: dict[Callable, Callable] = {}


def implements(*np_functions: Callable) -> Callable[[Callable], Callable]:
    def register(fn: Callable) -> Callable:
        for f in np_functions:
            FUNCTION_OPS[f] = fn
        return fn

    return register


def trace_array_function(func: Callable, args: tuple, kwargs: dict) -> Any:
    impl = FUNCTION_OPS.get(func)
    if impl is None:
        raise TracingError(f"cannot trace NumPy function np.{func.__name__}: graphscope has no op for it{_where()}")
    return impl(*args, **kwargs)


# Registrations of NumPy functions (the ops module supplies the graph-building bodies).
from graphscope.trace import numpy_functions  # noqa: E402,F401
