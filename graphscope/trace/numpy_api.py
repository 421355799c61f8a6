"""NumPy's protocols on traced tensors: which NumPy ufuncs and functions trace into which ops.

``np.maximum(t, 0)`` reaches ``Tensor.__array_ufunc__`` and ``np.concatenate([t, u])`` reaches
``Tensor.__array_function__``; both land here. Anything not in these tables raises a TracingError
naming the NumPy function and the user's line: never a silent wrong graph.

Result dtypes are NumPy's own: the first time a ufunc meets a combination of operand dtypes it is
run on one-element arrays, and when the op's rule would give another dtype (``np.float_power``
always computes in float64, ``scipy.special.erf`` of an int array is float64) the operands are cast
first, as NumPy's loop selection does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from graphscope.errors import ShapeError, TracingError
from graphscope.ir.ops import probe_dtype
from graphscope.ir.spec import TensorSpec
from graphscope.trace.source import user_source
from graphscope.trace.tensor import Tensor, apply_op

# ufunc name -> op name (ufuncs called as ``np.<ufunc>(*inputs)``). np.fmax/np.fmin are left out on
# purpose: they ignore NaNs where maximum/minimum propagate them.
UFUNC_OPS: dict[str, str] = {
    "add": "add", "subtract": "sub", "multiply": "mul", "divide": "div", "true_divide": "div",
    "floor_divide": "floordiv", "remainder": "mod", "power": "pow", "float_power": "pow",
    "maximum": "maximum", "minimum": "minimum",
    "equal": "equal", "not_equal": "not_equal", "less": "less", "less_equal": "less_equal",
    "greater": "greater", "greater_equal": "greater_equal",
    "logical_and": "logical_and", "logical_or": "logical_or", "logical_not": "logical_not",
    "negative": "neg", "positive": "identity", "absolute": "abs", "fabs": "abs", "sign": "sign",
    "exp": "exp", "log": "log", "sqrt": "sqrt", "square": "square", "reciprocal": "reciprocal",
    "tanh": "tanh", "sin": "sin", "cos": "cos", "floor": "floor", "ceil": "ceil",
    "matmul": "matmul",
    "erf": "erf", "expit": "sigmoid",  # scipy.special.erf and scipy.special.expit are ufuncs too
    # On bool operands only (checked below): the bitwise ufuncs are the logical ones.
    "bitwise_and": "logical_and", "bitwise_or": "logical_or", "bitwise_xor": "not_equal",
    "logical_xor": "not_equal", "invert": "logical_not",
}
_BOOL_ONLY = frozenset({"bitwise_and", "bitwise_or", "bitwise_xor", "logical_xor", "invert"})
_REDUCE_OPS = {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "min"}


def np_name(func: Any) -> str:
    """``np.linalg.svd`` for numpy.linalg.svd, ``scipy.special.gamma`` for a SciPy ufunc."""
    name = getattr(func, "__name__", repr(func))
    if isinstance(func, np.ufunc):
        if getattr(np, name, None) is func:
            return f"np.{name}"
        import scipy.special

        return f"scipy.special.{name}" if getattr(scipy.special, name, None) is func else f"ufunc {name}"
    module = getattr(func, "__module__", None) or "numpy"
    if module == "numpy" or module.startswith("numpy._") or module.startswith("numpy.lib"):
        return f"np.{name}"
    if module.startswith("numpy."):
        return "np." + module[len("numpy."):] + "." + name
    return f"{module}.{name}"


def _at() -> str:
    where = user_source(3)
    return f" at {where}" if where else ""


# -- ufuncs -------------------------------------------------------------------------------------


def trace_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    name = ufunc.__name__
    out = kwargs.pop("out", None)
    if out is not None and any(o is not None for o in (out if isinstance(out, tuple) else (out,))):
        raise TracingError(f"cannot trace {np_name(ufunc)}(..., out=...): graphs do not write into arrays (in-place updates "
                           f"and out= are not traced); use the returned value{_at()}")
    if method == "reduce":
        return _reduce(ufunc, inputs, kwargs)
    if method != "__call__":
        raise TracingError(f"cannot trace {np_name(ufunc)}.{method} (only plain calls and .reduce are traced){_at()}")
    where = kwargs.pop("where", True)
    if where is not True:
        raise TracingError(f"cannot trace {np_name(ufunc)}(..., where=...): use np.where(mask, {name}(...), other){_at()}")
    dtype = kwargs.pop("dtype", None)
    casting = kwargs.pop("casting", "same_kind")
    kwargs.pop("order", None)
    kwargs.pop("subok", None)
    if kwargs:
        raise TracingError(f"cannot trace {np_name(ufunc)} with argument(s) {sorted(kwargs)}{_at()}")
    op = UFUNC_OPS.get(name)
    if op is None:
        raise TracingError(f"cannot trace {np_name(ufunc)}: graphscope has no op for this ufunc{_at()}")
    if name in _BOOL_ONLY:
        for x in inputs:
            if _dtype_key(x) not in ("bool", "py:bool"):
                kind = _dtype_key(x).replace("py:", "Python ")
                raise TracingError(f"cannot trace {np_name(ufunc)} on {kind} operands: only bool operands are traced "
                                   f"(as logical ops){_at()}")
    plan = _ufunc_plan(ufunc, op, tuple(_dtype_key(x) for x in inputs), None if dtype is None else np.dtype(dtype),
                       casting)
    cast_in, cast_out = plan
    if cast_in is not None:
        inputs = _cast_all(inputs, cast_in)
    result = apply_op(op, list(inputs))
    if cast_out is not None and result.dtype != cast_out:
        result = result.astype(cast_out)
    return result


def _cast_all(inputs: tuple, dtype: np.dtype) -> tuple:
    """Array operands as ``dtype`` (one cast per distinct tensor); Python scalars stay weak."""
    done: dict[int, Any] = {}
    out = []
    for x in inputs:
        if isinstance(x, Tensor):
            if x.dtype != dtype:
                if id(x) not in done:
                    done[id(x)] = x.astype(dtype)
                x = done[id(x)]
        elif isinstance(x, (np.ndarray, np.generic, list, tuple)):
            x = np.asarray(x, dtype=dtype)
        out.append(x)
    return tuple(out)


def _dtype_key(x: Any) -> str:
    if isinstance(x, (Tensor, np.ndarray, np.generic)):
        return x.dtype.name
    if isinstance(x, bool):
        return "py:bool"
    if isinstance(x, int):
        return "py:int"
    if isinstance(x, float):
        return "py:float"
    return np.asarray(x).dtype.name  # a list operand


_PLANS: dict[tuple, tuple[np.dtype | None, np.dtype | None]] = {}
_PY_PROBE = {"py:bool": True, "py:int": 1, "py:float": 1.0}


def _ufunc_plan(ufunc: np.ufunc, op: str, keys: tuple[str, ...], dtype: np.dtype | None,
                casting: str) -> tuple[np.dtype | None, np.dtype | None]:
    """(dtype to cast array operands to first, dtype to cast the result to) so that the traced
    result has NumPy's dtype; ``(None, None)`` in the common case where the op already agrees."""
    key = (ufunc, op, keys, dtype, casting)
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    probes = [_PY_PROBE[k] if k in _PY_PROBE else np.ones(1, dtype=k) for k in keys]
    try:
        with np.errstate(all="ignore"):
            want = np.asarray(ufunc(*probes, dtype=dtype, casting=casting)).dtype
    except ValueError as exc:
        raise ShapeError(f"{np_name(ufunc)} does not accept operands ({', '.join(keys)}): {exc}{_at()}") from None
    except (TypeError, np.exceptions.DTypePromotionError) as exc:
        raise TracingError(f"{np_name(ufunc)} does not accept operands ({', '.join(keys)})"
                           f"{'' if dtype is None else f' with dtype={dtype}'}: {exc}{_at()}") from None
    have = _op_dtype(op, keys)
    if have == want and dtype is None:
        plan = (None, None)
    elif want == np.bool_:
        plan = (None, None if have == want else want)
    else:
        have = _op_dtype(op, tuple(k if k.startswith("py:") else want.name for k in keys))
        plan = (want, None if have == want else want)
    _PLANS[key] = plan
    return plan


def _op_dtype(op: str, keys: tuple[str, ...]) -> np.dtype:
    arrays = [np.dtype(k) for k in keys if not k.startswith("py:")]
    specs = []
    for k in keys:
        if k.startswith("py:"):
            scalar = _PY_PROBE[k]
            dt = np.result_type(*arrays, scalar) if arrays else np.asarray(scalar).dtype
        else:
            dt = np.dtype(k)
        specs.append(TensorSpec((1,), dt))
    try:
        return probe_dtype(op, specs, {})
    except ShapeError:
        return np.dtype("O")  # no agreement possible: the caller casts


def _reduce(ufunc: np.ufunc, inputs: tuple, kwargs: dict) -> Any:
    op = _REDUCE_OPS.get(ufunc.__name__)
    if op is None:
        raise TracingError(f"cannot trace {np_name(ufunc)}.reduce (no matching reduction op){_at()}")
    if "initial" in kwargs or kwargs.get("where", True) is not True:
        raise TracingError(f"cannot trace {np_name(ufunc)}.reduce(..., initial=/where=){_at()}")
    x = inputs[0]
    dtype = kwargs.get("dtype")
    if dtype is not None:
        x = x.astype(dtype)
    return apply_op(op, [x], {"axis": kwargs.get("axis", 0), "keepdims": bool(kwargs.get("keepdims", False))})


# -- NumPy functions (``__array_function__``) ----------------------------------------------------

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
        raise TracingError(f"cannot trace {np_name(func)}: graphscope has no op for this NumPy function{_at()}")
    try:
        return impl(*args, **kwargs)
    except TypeError as exc:
        if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
            # The call itself failed: arguments this tracer does not accept.
            raise TracingError(f"cannot trace {np_name(func)} with these arguments ({exc}){_at()}") from None
        raise


# Registrations of NumPy functions (the ops module supplies the graph-building bodies).
from graphscope.trace import numpy_functions  # noqa: E402,F401
