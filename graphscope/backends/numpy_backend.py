"""The NumPy (CPU) backend: the ops' reference implementations, with a few faster kernels.

``OUT_KERNELS`` write a node's value into a buffer the memory plan gives them (``f(*arrays, out)``),
doing exactly the reference implementation's operations in the same order, so results are equal
bit for bit; they exist only for dtypes where that holds (otherwise the plain kernel runs and
allocates). ``IN_PLACE`` says which of them may be handed one of their own inputs as ``out``.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable

import numpy as np

from graphscope.backends.base import Backend, Kernel
from graphscope.backends.fused_kernels import (
    EPILOGUE_PARALLEL_MIN_WORK,
    fused_in_place_ok,
    fused_kernel,
    fused_out_kernel,
    program_compute,
)
from graphscope.ir.graph import Node
from graphscope.ir.ops import all_ops
from graphscope.ir.special import special


def _relu(node: Node) -> Kernel:
    zero = node.spec.dtype.type(0)
    maximum = np.maximum
    return lambda x: maximum(x, zero)


# -- out= kernels -----------------------------------------------------------------------------------

_FLOAT = (np.dtype(np.float32), np.dtype(np.float64))


def _same_float(node: Node) -> bool:
    """Every operand and the result have one float32/float64 dtype (the reference computes in it)."""
    return node.dtype in _FLOAT and all(i.dtype == node.dtype for i in node.inputs)


def _ufunc_out(node: Node, name: str | None = None) -> Kernel | None:
    from graphscope.ir.ops import get_op

    name = name or get_op(node.op).ufunc
    uf = getattr(np, name, None) if name else None
    if not isinstance(uf, np.ufunc) or node.attrs or uf.nin != len(node.inputs) or uf.nout != 1:
        return None
    try:  # the loop NumPy picks must produce the node's dtype (then out= changes nothing)
        dts = uf.resolve_dtypes(tuple(i.dtype for i in node.inputs) + (None,))
    except (TypeError, ValueError, np.exceptions.DTypePromotionError):
        return None
    if dts[-1] != node.dtype:
        return None
    if uf in (np.maximum, np.minimum):  # a positional out is deprecated for these two
        return lambda a, b, out: uf(a, b, out=out)
    return uf


def _relu_out(node: Node) -> Kernel | None:
    if node.inputs[0].dtype != node.dtype:
        return None
    zero = node.spec.dtype.type(0)
    maximum = np.maximum
    return lambda x, out: maximum(x, zero, out=out)


def _matmul_out(node: Node) -> Kernel | None:
    return _ufunc_out(node, "matmul")


def _fused_matmul_parts(node: Node) -> tuple[Callable, Callable | None]:
    """(product, epilogue) of a ``fused_matmul`` node: ``product(a, b, out=None)`` on the transposed views,
    and the epilogue's in-place ``compute(arrays, out)`` (arrays[0] is out) or None."""
    from graphscope.ir.op_defs.fused_matmul import product_spec

    ta, tb, epilogue = node.attrs["transpose_a"], node.attrs["transpose_b"], node.attrs["epilogue"]
    matmul, swap = np.matmul, np.swapaxes

    def product(a, b, out=None):
        # The swapped views go to BLAS as they are (a transposed operand, no copy): see op_defs/fused_matmul.py
        return matmul(swap(a, -1, -2) if ta else a, swap(b, -1, -2) if tb else b, out=out)

    if not epilogue:
        return product, None
    prod = product_spec([i.spec for i in node.inputs], node.attrs)
    extras = node.inputs[2:]
    compute = program_compute(epilogue, [prod] + [i.spec for i in extras],
                              [False] + [i.op == "constant" for i in extras], alias=0, min_work=EPILOGUE_PARALLEL_MIN_WORK)
    return product, compute


def _fused_matmul(node: Node) -> Kernel:
    product, epilogue = _fused_matmul_parts(node)
    if epilogue is None:
        return lambda a, b: product(a, b)

    def k(a, b, *extras):
        out = product(a, b)  # a new C-contiguous array: the epilogue overwrites it in place
        epilogue((out, *extras), out)
        return out

    k.threads = getattr(epilogue, "threads", 1)  # type: ignore[attr-defined]
    return k


def _fused_matmul_out(node: Node) -> Kernel | None:
    a, b = node.inputs[0].dtype, node.inputs[1].dtype
    try:
        if np.matmul.resolve_dtypes((a, b, None))[-1] != node.dtype:
            return None
    except (TypeError, ValueError, np.exceptions.DTypePromotionError):
        return None
    product, epilogue = _fused_matmul_parts(node)
    if epilogue is None:
        return lambda a, b, out: product(a, b, out)

    def k(a, b, *rest):
        out = rest[-1]
        product(a, b, out)
        epilogue((out, *rest[:-1]), out)
        return out

    k.threads = getattr(epilogue, "threads", 1)  # type: ignore[attr-defined]
    return k


def _rsqrt_out(node: Node) -> Kernel | None:
    if not _same_float(node):
        return None

    def k(x, out):
        np.sqrt(x, out)
        return np.reciprocal(out, out)

    return k


def _sigmoid_out(node: Node) -> Kernel | None:
    if not _same_float(node):
        return None

    def k(x, out):
        np.negative(x, out)
        np.exp(out, out)
        out += 1
        return np.reciprocal(out, out)

    return k


def _erf_out(node: Node) -> Kernel | None:
    if not _same_float(node):
        return None
    erf = special(np, "erf")
    return lambda x, out: erf(x, out)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1 / math.sqrt(2.0)


def _gelu_out(node: Node) -> Kernel | None:
    if not _same_float(node) or node.attrs["approximate"] not in ("tanh", "none"):
        return None
    if node.attrs["approximate"] == "tanh":
        def k(x, out):
            np.multiply(x, x, out)
            out *= 0.044715 * x
            out += x
            out *= _SQRT_2_OVER_PI
            np.tanh(out, out)
            out += 1
            out *= x
            out *= 0.5
            return out
    else:
        erf = special(np, "erf")

        def k(x, out):
            np.multiply(x, _INV_SQRT_2, out)
            erf(out, out)
            out += 1
            out *= x
            out *= 0.5
            return out
    return k


def _where_out(node: Node) -> Kernel | None:
    def k(cond, a, b, out):
        np.copyto(out, b, casting="unsafe")
        np.copyto(out, a, casting="unsafe", where=cond)
        return out

    return k


def _clip_out(node: Node) -> Kernel | None:
    if node.inputs[0].dtype != node.dtype:
        return None
    lo, hi = node.attrs["min"], node.attrs["max"]
    if lo is None and hi is None:
        def copy(x, out):
            np.copyto(out, x)
            return out
        return copy
    return lambda x, out: np.clip(x, lo, hi, out=out)


def _cast_out(node: Node) -> Kernel | None:
    def k(x, out):
        np.copyto(out, x, casting="unsafe")
        return out

    return k


def _axis(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _reduction_out(fn: Callable, float_only: bool = True, ddof: bool = False) -> Callable[[Node], Kernel | None]:
    def factory(node: Node) -> Kernel | None:
        if float_only and not _same_float(node):
            return None
        axis, keepdims = _axis(node.attrs["axis"]), node.attrs["keepdims"]
        if ddof:
            d = node.attrs["ddof"]
            return lambda x, out: fn(x, axis=axis, keepdims=keepdims, ddof=d, out=out)
        return lambda x, out: fn(x, axis=axis, keepdims=keepdims, out=out)

    return factory


def _argreduce_out(fn: Callable) -> Callable[[Node], Kernel | None]:
    def factory(node: Node) -> Kernel | None:
        if node.dtype != np.dtype(np.intp):
            return None
        axis, keepdims = node.attrs["axis"], node.attrs["keepdims"]
        return lambda x, out: fn(x, axis=axis, out=out, keepdims=keepdims)

    return factory


def _softmax_out(node: Node) -> Kernel | None:
    if not _same_float(node):
        return None
    axis = node.attrs["axis"]

    def k(x, out):
        np.subtract(x, np.max(x, axis=axis, keepdims=True), out)
        np.exp(out, out)
        out /= np.sum(out, axis=axis, keepdims=True)
        return out

    return k


def _log_softmax_out(node: Node) -> Kernel | None:
    if not _same_float(node):
        return None
    axis = node.attrs["axis"]

    def k(x, out):
        np.subtract(x, np.max(x, axis=axis, keepdims=True), out)
        out -= np.log(np.sum(np.exp(out), axis=axis, keepdims=True))
        return out

    return k


def _layer_norm_out(node: Node) -> Kernel | None:
    if not _same_float(node):
        return None
    x_spec = node.inputs[0].spec
    axes = tuple(range(node.attrs["axis"] % x_spec.ndim, x_spec.ndim))
    eps = node.attrs["epsilon"]

    def k(x, *rest):
        *params, out = rest
        np.subtract(x, np.mean(x, axis=axes, keepdims=True), out)
        var = np.mean(np.square(out), axis=axes, keepdims=True)
        var += eps
        out *= np.reciprocal(np.sqrt(var, out=var), out=var)
        if len(params) >= 1:
            out *= params[0]
        if len(params) == 2:
            out += params[1]
        return out

    return k


def _batch_norm_out(node: Node) -> Kernel | None:
    if not _same_float(node):
        return None
    dt = node.dtype
    eps = node.attrs["epsilon"]
    shape = (node.inputs[0].shape[1],) + (1,) * (len(node.inputs[0].shape) - 2)

    def k(x, scale, bias, mean, var, out):
        a = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
        b = bias.astype(np.float64) - mean.astype(np.float64) * a
        np.multiply(x, a.astype(dt).reshape(shape), out)
        out += b.astype(dt).reshape(shape)
        return out

    return k


def _join_out(fn: Callable) -> Callable[[Node], Kernel | None]:
    def factory(node: Node) -> Kernel | None:
        axis = node.attrs["axis"]
        return lambda *rest: fn(rest[:-1], axis=axis, out=rest[-1])

    return factory


def _gather_out(node: Node) -> Kernel | None:
    axis = node.attrs["axis"]
    return lambda x, idx, out: np.take(x, idx, axis=axis, out=out)


def _always(node: Node, index: int) -> bool:
    return True


def _ufunc_names() -> list[str]:
    return [name for name, op in all_ops().items()
            if op.ufunc and isinstance(getattr(np, op.ufunc, None), np.ufunc) and name != "matmul"]


# -- threads ------------------------------------------------------------------------------------

_GEMM_SINGLE_THREAD_MNK = 65536 * 4  # OpenBLAS runs a GEMM on one thread up to M*N*K of this size


def _blas_threads_from_environment() -> int:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        v = os.environ.get(var)
        if v and v.isdigit() and int(v) > 0:
            return int(v)
    return os.cpu_count() or 1


# Read once: BLAS sizes its thread pool when NumPy loads it, and later changes to these variables (Dask's
# LocalCluster sets them to 1 in the parent process while it spawns workers) do not resize it.
_BLAS_THREADS = _blas_threads_from_environment()


def blas_threads() -> int:
    """Threads BLAS uses for a large product (the usual environment variables at import, else all cores)."""
    return _BLAS_THREADS


class NumpyBackend(Backend):
    name = "numpy"
    xp = np
    KERNELS = {"relu": _relu, "fused": fused_kernel, "fused_matmul": _fused_matmul}
    OUT_KERNELS: dict[str, Callable[[Node], Kernel | None]] = {
        **{name: _ufunc_out for name in _ufunc_names()},
        "matmul": _matmul_out, "relu": _relu_out, "rsqrt": _rsqrt_out, "sigmoid": _sigmoid_out, "erf": _erf_out,
        "gelu": _gelu_out, "where": _where_out, "clip": _clip_out, "cast": _cast_out,
        "sum": _reduction_out(np.sum), "mean": _reduction_out(np.mean), "max": _reduction_out(np.max),
        "min": _reduction_out(np.min), "prod": _reduction_out(np.prod),
        "var": _reduction_out(np.var, ddof=True), "std": _reduction_out(np.std, ddof=True),
        "argmax": _argreduce_out(np.argmax), "argmin": _argreduce_out(np.argmin),
        "softmax": _softmax_out, "log_softmax": _log_softmax_out, "layer_norm": _layer_norm_out,
        "batch_norm": _batch_norm_out, "concat": _join_out(np.concatenate), "stack": _join_out(np.stack),
        "gather": _gather_out, "fused": fused_out_kernel, "fused_matmul": _fused_matmul_out,
    }
    IN_PLACE: dict[str, Callable[[Node, int], bool]] = {
        **{name: _always for name in _ufunc_names()},  # ufuncs are safe under any overlap
        "relu": _always, "rsqrt": _always, "sigmoid": _always, "erf": _always, "clip": _always,
        "softmax": lambda node, i: i == 0, "log_softmax": lambda node, i: i == 0,
        "layer_norm": lambda node, i: i == 0, "batch_norm": lambda node, i: i == 0,
        # Only inputs read at the output's own positions: an input broadcast along the rows (a column
        # vector of a row reduction, say) is read again by every row and must not be overwritten.
        "fused": fused_in_place_ok,
    }

    def asarray(self, value):
        return np.asarray(value)

    def kernel_threads(self, node: Node, kernel: Kernel | None = None) -> int:
        if node.op in ("matmul", "fused_matmul", "einsum", "conv2d") and len(node.inputs) >= 2:
            from graphscope.ir.ops import get_op

            if node.op == "fused_matmul":  # the product's own cost (the epilogue's kernel says its threads itself)
                from graphscope.ir.op_defs.fused_matmul import operand_specs

                specs = list(operand_specs([i.spec for i in node.inputs], node.attrs))
                flops = get_op("matmul").estimate_cost(specs, node.spec, {})[0]
            else:
                flops = get_op(node.op).estimate_cost([i.spec for i in node.inputs], node.spec, node.attrs)[0]
            batch = 1
            if node.op in ("matmul", "fused_matmul") and len(node.shape) > 2:
                batch = math.prod(node.shape[:-2])
            if flops / 2 / max(batch, 1) > _GEMM_SINGLE_THREAD_MNK:
                return max(blas_threads(), super().kernel_threads(node, kernel))
        return super().kernel_threads(node, kernel)

    def info(self) -> dict:
        from graphscope.backends.cpu_info import blas_runtime, cpu_features

        return {
            "backend": self.name, "numpy": np.__version__, "device": platform.processor() or platform.machine(),
            "python": platform.python_version(), "cpu": dict(cpu_features()), "blas": dict(blas_runtime()),
        }
