"""The CuPy (CUDA GPU) backend: the same graphs on a GPU, with device-side timings, GPU memory
accounting, compiled fused kernels, explicit transfers and CUDA streams.

    run = gs.run(g, inputs, backend="cupy", profile=True)   # inputs: NumPy or CuPy arrays

What runs where is decided by pure functions (``graphscope.placement``): every node gets a device
(``gs.device`` blocks, else this GPU), every edge between devices gets an explicit ``to_device`` /
``to_host`` node, and independent GPU branches get their own CUDA streams, ordered by events. This
module turns that placed graph into steps and runs them (``CupyBackend.run``):

* kernels: every op's ``impl(xp, ...)`` with ``xp = cupy`` (CuPy's NumPy-compatible API), except the
  ops in ``kernel_overrides()`` (clip, the transfers, ``fused``, ``fused_matmul``: the product on CuPy,
  then its epilogue as one generated kernel). Host nodes run NumPy kernels. The graph's dtypes (NumPy's
  promotion rules) are the contract: a CuPy result of another dtype is cast.
* ``fused`` nodes (elementwise groups with last-axis reductions, ``graphscope/ir/op_defs/fused.py``) are
  translated to CUDA C (``generate_fused``): one kernel per group, a thread per element, or a block
  per row with one pass over the columns per reduction phase. Compiled once per distinct program
  source (``cupy.RawKernel``, which also caches the binary on disk); programs the generator does not
  cover run step by step on CuPy.
* timings: a pair of CUDA events per node on its stream, no per-node synchronization (one host wait per
  profiled iteration, after its last node); device times are read after the run (``NodeEvent.device_ns``;
  start offsets in ``RunProfile.metadata["gpu"]["device_start_ns"]``), host dispatch times are the
  events' start/end. Every stream first waits for the caller's current stream (CuPy inputs made there
  are complete), and the caller's stream waits for every stream at the end (device outputs are ready).
* memory: the logical accounting of the CPU interpreter (buffers, views, releases after last use), and
  the CuPy pool's used/total bytes sampled after every node (``RunProfile.metadata["gpu"]``). Device
  memory is reused through CuPy's stream-ordered pool; the memory plan's arena is not applied on the GPU.

Importing this module does not import CuPy; the backend does, when it is made, and says which extra
to install (or that no CUDA device is usable) instead of failing inside CUDA code.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from graphscope.backends.base import Backend, Kernel
from graphscope.errors import BackendUnavailableError, NodeExecutionError, ShapeError
from graphscope.ir.graph import Graph, Node
from graphscope.ir.op_defs.fused import LITERAL, REDUCTIONS, program_specs, row_mapping
from graphscope.ir.ops import get_op, normalize_axes
from graphscope.ir.spec import TensorSpec
from graphscope.placement import CPU, assign_devices, assign_streams, insert_transfers, parse_device
from graphscope.profile.events import NodeEvent, NodeInfo, RunProfile

INSTALL_HINT = "pip install 'graphscope-profiler[gpu]' (CuPy for CUDA 12; for CUDA 13: pip install cupy-cuda13x)"


class GpuKernelWarning(UserWarning):
    """A compiled GPU kernel could not be built; the node runs step by step instead."""


# =================================================================================================
# Loading CuPy and finding a device


def load_cupy() -> ModuleType:
    """``import cupy``, or a one-line BackendUnavailableError saying which extra to install."""
    try:
        import cupy
    except ImportError as exc:
        detail = "" if isinstance(exc, ModuleNotFoundError) and exc.name == "cupy" else f" ({_first_line(exc)})"
        raise BackendUnavailableError(f"backend 'cupy' needs CuPy, which is not installed{detail}: {INSTALL_HINT}") from None
    except Exception as exc:  # a broken install: missing CUDA libraries, a mismatched wheel
        raise BackendUnavailableError(
            f"backend 'cupy': importing CuPy failed ({type(exc).__name__}: {_first_line(exc)}); reinstall with {INSTALL_HINT}"
        ) from None
    return cupy


def check_device(cupy: ModuleType, index: int = 0) -> None:
    """Raise a one-line BackendUnavailableError unless CUDA device ``index`` can be used."""
    version = getattr(cupy, "__version__", "?")
    try:
        ok = bool(cupy.cuda.is_available())
    except Exception as exc:
        ok, why = False, f"{type(exc).__name__}: {_first_line(exc)}"
    else:
        why = "cupy.cuda.is_available() is False: no NVIDIA GPU, or no driver new enough for this CuPy wheel"
    if not ok:
        raise BackendUnavailableError(
            f"backend 'cupy': CuPy {version} is installed but no usable CUDA device was found ({why}); "
            "run on a machine with an NVIDIA GPU, or use backend='numpy'"
        )
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:
        raise BackendUnavailableError(f"backend 'cupy': cannot count CUDA devices ({_first_line(exc)})") from None
    if not 0 <= index < count:
        raise BackendUnavailableError(
            f"backend 'cupy': CUDA device {index} does not exist ({count} device(s): 0..{count - 1}); "
            "set GRAPHSCOPE_CUDA_DEVICE"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def cupy_status() -> str:
    """One line saying whether the cupy backend can run here, and why not (for CLIs and test skips)."""
    try:
        check_device(load_cupy(), _env_int("GRAPHSCOPE_CUDA_DEVICE", 0))
    except BackendUnavailableError as exc:
        return str(exc)
    return "ok"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip().isdigit() else default


# =================================================================================================
# CUDA C for fused programs (pure: no CuPy needed to generate or to test on a host compiler)

CTYPES = {
    "bool": "bool", "int8": "signed char", "uint8": "unsigned char", "int16": "short", "int32": "int",
    "int64": "long long", "float32": "float", "float64": "double",
}
_FLOAT_MATH = ("exp", "log", "sqrt", "tanh", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh",
               "acosh", "atanh", "erf", "floor", "ceil", "fabs")
_GELU_C = 0.044715
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1 / math.sqrt(2.0)


def _prelude() -> str:
    fns = "\n".join(f"GS_FN float gs_{f}(float x) {{ return {f}f(x); }}\nGS_FN double gs_{f}(double x) {{ return {f}(x); }}"
                    for f in _FLOAT_MATH)
    return f"""\
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)  // compiled by NVRTC; the host twin defines neither
#define GS_FN __device__ __forceinline__
#else
#include <math.h>
#define GS_FN static inline
#endif
{fns}
GS_FN float gs_pow(float a, float b) {{ return powf(a, b); }}
GS_FN double gs_pow(double a, double b) {{ return pow(a, b); }}
GS_FN float gs_fmod(float a, float b) {{ return fmodf(a, b); }}
GS_FN double gs_fmod(double a, double b) {{ return fmod(a, b); }}
GS_FN float gs_copysign(float a, float b) {{ return copysignf(a, b); }}
GS_FN double gs_copysign(double a, double b) {{ return copysign(a, b); }}
// NaN-propagating max/min, as numpy.maximum/minimum (a != a only for NaN).
template <class T> GS_FN T gs_max(T a, T b) {{ return (a > b || a != a) ? a : b; }}
template <class T> GS_FN T gs_min(T a, T b) {{ return (a < b || a != a) ? a : b; }}
// numpy.floor_divide and numpy.remainder on floats (npy_divmod).
template <class T> GS_FN T gs_floordiv(T a, T b) {{
  if (b == (T)0) return a / b;
  T mod = gs_fmod(a, b);
  T div = (a - mod) / b;
  if (mod != (T)0 && ((b < (T)0) != (mod < (T)0))) div -= (T)1;
  if (div == (T)0) return gs_copysign((T)0, a / b);
  T fl = gs_floor(div);
  if (div - fl > (T)0.5) fl += (T)1;
  return fl;
}}
template <class T> GS_FN T gs_remainder(T a, T b) {{
  T mod = gs_fmod(a, b);
  if (b == (T)0) return mod;
  if (mod != (T)0) {{ if ((b < (T)0) != (mod < (T)0)) mod += b; }}
  else mod = gs_copysign((T)0, b);
  return mod;
}}
// ... and on integers: x // 0 and x % 0 are 0, MIN // -1 wraps (as NumPy).
template <class T> GS_FN T gs_ifloordiv(T a, T b) {{
  if (b == (T)0) return (T)0;
  if ((T)-1 < (T)0 && b == (T)-1) return (T)(0ULL - (unsigned long long)a);
  T q = (T)(a / b);
  if ((T)(a % b) != (T)0 && ((a < (T)0) != (b < (T)0))) q = (T)(q - 1);
  return q;
}}
template <class T> GS_FN T gs_iremainder(T a, T b) {{
  if (b == (T)0 || ((T)-1 < (T)0 && b == (T)-1)) return (T)0;
  T r = (T)(a % b);
  if (r != (T)0 && ((r < (T)0) != (b < (T)0))) r = (T)(r + b);
  return r;
}}
template <class T> GS_FN T gs_gelu_tanh(T x) {{
  T t = x * x;
  t = t * ((T){_GELU_C!r} * x);
  t = t + x;
  t = t * (T){_SQRT_2_OVER_PI!r};
  t = gs_tanh(t);
  t = t + (T)1;
  t = t * x;
  return t * (T)0.5;
}}
template <class T> GS_FN T gs_gelu_erf(T x) {{
  T t = gs_erf(x * (T){_INV_SQRT_2!r});
  t = t + (T)1;
  t = t * x;
  return t * (T)0.5;
}}
"""


_BLOCK_REDUCE = """\
struct gs_op_sum { template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; } };
struct gs_op_max { template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return gs_max(a, b); } };
struct gs_op_min { template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return gs_min(a, b); } };
// Reduce one value per thread over the block (blockDim.x a multiple of 32); every thread gets the result.
template <class T, class Op> __device__ __forceinline__ T gs_block_reduce(T v, T ident, Op op) {
  __shared__ T gs_sh[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
  __syncthreads();  // the previous call's readers are done with gs_sh
  if (lane == 0) gs_sh[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < nwarps ? gs_sh[lane] : ident;
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
    if (lane == 0) gs_sh[0] = v;
  }
  __syncthreads();
  return gs_sh[0];
}
"""


class Unsupported(Exception):
    """A fused program the CUDA generator does not cover (the reason says what); it runs step by step."""


@dataclass
class GeneratedKernel:
    """A fused program as one CUDA kernel: its source, launch shape and the arguments after the arrays."""

    name: str
    source: str  # CUDA C (NVRTC)
    host_source: str  # the same program for a host C++ compiler (tests run it on any machine)
    kind: str  # "flat" (a thread per element) or "rows" (a block per row)
    rows: int
    cols: int
    out_spec: TensorSpec
    in_specs: tuple[TensorSpec, ...]
    mode_params: tuple[int, ...]  # the p of each input read as a repeated block (mod) or per block (div)
    scalars: tuple[tuple[str, Any], ...]  # (dtype, value) of each scalar parameter (literals, clip bounds)
    block: int
    grid: int

    def scalar_args(self) -> tuple[Any, ...]:
        """Everything after the array pointers, as NumPy scalars of the kernel's parameter types."""
        return (np.int64(self.rows), np.int64(self.cols), *(np.int64(p) for p in self.mode_params),
                *(np.dtype(dt).type(v) for dt, v in self.scalars))


class _Gen:
    """Builds the body of one fused kernel: value declarations, reduction phases, output writes."""

    def __init__(self, program: tuple, in_specs: Sequence[TensorSpec]) -> None:
        self.program = program
        self.n = len(in_specs)
        try:
            self.specs = program_specs(tuple(in_specs), program)
        except Exception as exc:
            raise Unsupported(f"invalid program: {exc}") from None
        for s in self.specs:
            if s.dtype.name not in CTYPES:
                raise Unsupported(f"dtype {s.dtype.name} (the generator handles {', '.join(CTYPES)})")
        last_op, _, last_pairs = program[-1]
        final_rowwise = last_op in REDUCTIONS and not dict(last_pairs).get("keepdims", False)
        try:
            domain = tuple(np.broadcast_shapes(*(s.shape for s in (self.specs[:-1] if final_rowwise else self.specs))))
        except ValueError:
            raise Unsupported("the program's values do not broadcast to one domain") from None
        self.domain = domain
        self.cols = domain[-1] if domain else 1
        self.rows = math.prod(domain[:-1]) if domain else 1
        self.maps = []
        for s in in_specs:
            m = row_mapping(s.shape, domain)
            if m is None:
                raise Unsupported(f"input {s.short()} broadcasts to {list(domain)} along middle axes")
            self.maps.append(m)
        self.reductions: list[int] = []
        self.scalars: list[tuple[str, str, Any]] = []  # (C name, dtype, value) of each scalar parameter
        for j, (op, args, pairs) in enumerate(program):
            attrs = dict(pairs)
            if op in REDUCTIONS:
                x = self.specs[args[0]]
                axes = normalize_axes(op, attrs.get("axis"), x.ndim) if x.ndim else ()
                if x.shape != domain or axes != (len(domain) - 1,) or not (attrs.get("keepdims") or j == len(program) - 1):
                    raise Unsupported(f"step {j} ({op}) is not a reduction of the whole domain over its last axis")
                if op in ("max", "min") and x.dtype.kind == "b":
                    raise Unsupported(f"step {j}: {op} of bool values")
                self.reductions.append(self.n + j)
            elif op == LITERAL:
                if math.prod(attrs["shape"]) != 1:
                    raise Unsupported(f"step {j}: a literal of shape {tuple(attrs['shape'])}")
                self.scalars.append((f"v{self.n + j}", attrs["dtype"], np.asarray(attrs["value"]).reshape(-1)[0].item()))
        out = self.specs[-1]
        padded = (1,) * (len(domain) - out.ndim) + out.shape
        if final_rowwise:
            self.out_full = False
        elif padded == domain:
            self.out_full = True
        elif domain and padded == domain[:-1] + (1,):
            self.out_full = False
        else:
            raise Unsupported(f"output {out.short()} is neither the domain {list(domain)} nor one value per row")
        self.code = {k: self._expr(k) for k in range(self.n, len(self.specs))
                     if k not in self.reductions and program[k - self.n][0] != LITERAL}

    # -- expressions ---------------------------------------------------------------------------
    def dt(self, k: int) -> np.dtype:
        return self.specs[k].dtype

    def ctype(self, k: int) -> str:
        return CTYPES[self.dt(k).name]

    @staticmethod
    def cast(v: str, src: np.dtype, dst: np.dtype) -> str:
        if src == dst:
            return v
        if dst.kind == "b":
            return f"({v} != 0)"
        return f"(({CTYPES[dst.name]}){v})"

    def _expr(self, k: int) -> str:
        op, args, pairs = self.program[k - self.n]
        attrs = get_op(op).normalize_attrs(dict(pairs))
        out = self.dt(k)
        T = CTYPES[out.name]
        a = [f"v{x}" for x in args]
        c = [self.cast(f"v{x}", self.dt(x), out) for x in args]
        kind = out.kind
        flt = kind == "f"
        b = np.dtype(bool)
        if op in ("add", "sub", "mul"):
            if kind != "b":
                return f"(({T})({c[0]} {dict(add='+', sub='-', mul='*')[op]} {c[1]}))"
            if op != "sub":  # NumPy: bool + is or, bool * is and
                return f"({c[0]} || {c[1]})" if op == "add" else f"({c[0]} && {c[1]})"
        elif op == "div" and flt:
            return f"({c[0]} / {c[1]})"
        elif op in ("floordiv", "mod") and kind != "b":
            fn = ("gs_floordiv" if flt else "gs_ifloordiv") if op == "floordiv" else ("gs_remainder" if flt else "gs_iremainder")
            return f"{fn}<{T}>({c[0]}, {c[1]})"
        elif op == "pow" and flt:
            return f"gs_pow({c[0]}, {c[1]})"
        elif op in ("maximum", "minimum"):
            return f"gs_{op[:3]}<{T}>({c[0]}, {c[1]})"
        elif op in _COMPARE:
            p = np.result_type(self.dt(args[0]), self.dt(args[1]))
            return f"({self.cast(a[0], self.dt(args[0]), p)} {_COMPARE[op]} {self.cast(a[1], self.dt(args[1]), p)})"
        elif op in ("logical_and", "logical_or"):
            sym = "&&" if op == "logical_and" else "||"
            return f"({self.cast(a[0], self.dt(args[0]), b)} {sym} {self.cast(a[1], self.dt(args[1]), b)})"
        elif op == "logical_not":
            return f"(!{self.cast(a[0], self.dt(args[0]), b)})"
        elif op == "neg" and kind != "b":
            return f"(({T})(-{c[0]}))"
        elif op == "abs":
            return f"gs_fabs({c[0]})" if flt else c[0] if kind == "b" else f"({c[0]} < 0 ? ({T})(-{c[0]}) : {c[0]})"
        elif op == "sign" and kind != "b":
            if flt:
                return f"({c[0]} > 0 ? ({T})1 : ({c[0]} < 0 ? ({T})-1 : ({c[0]} == 0 ? ({T})0 : {c[0]})))"
            return f"(({T})(({c[0]} > 0) - ({c[0]} < 0)))"
        elif op in ("floor", "ceil"):
            return f"gs_{op}({c[0]})" if flt else c[0]
        elif op in _FLOAT_MATH and flt:
            return f"gs_{op}({c[0]})"
        elif op == "square" and kind != "b":
            return f"(({T})({c[0]} * {c[0]}))"
        elif op == "reciprocal" and flt:
            return f"(({T})1 / {c[0]})"
        elif op == "rsqrt" and flt:
            return f"(({T})1 / gs_sqrt({c[0]}))"
        elif op == "sigmoid" and flt:
            return f"(({T})1 / (gs_exp(-{c[0]}) + ({T})1))"
        elif op == "relu":
            return c[0] if kind == "b" else f"gs_max<{T}>({c[0]}, ({T})0)"
        elif op == "gelu" and flt:
            return f"gs_gelu_{'tanh' if attrs['approximate'] == 'tanh' else 'erf'}<{T}>({c[0]})"
        elif op == "where":
            return f"({self.cast(a[0], self.dt(args[0]), b)} ? {c[1]} : {c[2]})"
        elif op == "clip":
            v = c[0]
            for key, fn in (("min", "gs_max"), ("max", "gs_min")):
                if attrs[key] is not None:
                    name = f"{key[:2]}{k}"
                    self.scalars.append((name, out.name, attrs[key]))
                    v = f"{fn}<{T}>({v}, {name})"
            return v
        elif op == "cast":
            return c[0]
        raise Unsupported(f"step {k - self.n}: {op} giving {out.name}")

    # -- structure ------------------------------------------------------------------------------
    def closure(self, k: int) -> set[int]:
        """Every value ``k`` is computed from (itself included)."""
        seen: set[int] = set()
        stack = [k]
        while stack:
            v = stack.pop()
            if v not in seen:
                seen.add(v)
                if v >= self.n:
                    stack.extend(self.program[v - self.n][1])
        return seen

    def deps(self, target: int, ready: set[int]) -> list[int]:
        """Values to compute (in program order) for ``target``, given the row values in ``ready``."""
        need: set[int] = set()
        stack = [target]
        while stack:
            k = stack.pop()
            if k in need or k in ready:
                continue
            need.add(k)
            if k >= self.n:
                stack.extend(self.program[k - self.n][1])
        return sorted(need)

    def phases(self) -> list[list[int]]:
        """Reductions grouped into phases: one pass over the columns computes every reduction of a phase."""
        phases: list[list[int]] = []
        for k in self.reductions:
            arg = self.program[k - self.n][1][0]
            if phases and not set(phases[-1]) & self.closure(arg):
                phases[-1].append(k)
            else:
                phases.append([k])
        return phases

    def load(self, i: int, flat: bool) -> str:
        rm, _, cm = self.maps[i]
        if flat:
            idx = "i" if cm == "id" else "0"
        else:
            row = {"id": "r", "zero": "", "mod": f"(r % p{i})", "div": f"(r / p{i})"}[rm]
            idx = (f"{row} * cols + c" if row else "c") if cm == "id" else (row or "0")
        return f"const {self.ctype(i)} v{i} = in{i}[{idx}];"

    def statements(self, values: list[int], flat: bool = False) -> list[str]:
        out = []
        for k in values:
            if k < self.n:
                out.append(self.load(k, flat))
            elif k in self.code:
                out.append(f"const {self.ctype(k)} v{k} = {self.code[k]};")
        return out

    def acc(self, k: int, cuda: bool) -> tuple[np.dtype, str, str, str]:
        """(accumulator dtype, identity, combine, block functor) of reduction v``k``."""
        op = self.program[k - self.n][0]
        dt = self.dt(k)
        if op in ("sum", "mean"):
            return dt, "0", "+", "gs_op_sum"
        wide = dt if dt.name in ("float32", "float64", "int32", "int64") else np.dtype(np.int32)
        T = CTYPES[wide.name]
        if dt.kind == "f":
            if cuda:
                inf = "__int_as_float(0x7f800000)" if dt.name == "float32" else "__longlong_as_double(0x7ff0000000000000LL)"
            else:
                inf = f"(({T})INFINITY)"
            ident = f"(-{inf})" if op == "max" else inf
        else:
            info = np.iinfo(dt)
            ident = _c_int(int(info.min) if op == "max" else int(info.max), wide)
        return wide, ident, f"gs_{op}<{T}>", f"gs_op_{op}"

    def rows_body(self, cuda: bool) -> list[str]:
        col_loop = "for (long long c = threadIdx.x; c < cols; c += blockDim.x)" if cuda else \
            "for (long long c = 0; c < cols; ++c)"
        lines: list[str] = []
        ready: set[int] = set()
        for phase in self.phases():
            values = sorted({v for k in phase for v in self.deps(self.program[k - self.n][1][0], ready)})
            for k in phase:
                wide, ident, _, _ = self.acc(k, cuda)
                lines.append(f"{CTYPES[wide.name]} acc{k} = {ident};")
            lines.append(col_loop + " {")
            lines += ["  " + s for s in self.statements(values)]
            for k in phase:
                wide, _, comb, _ = self.acc(k, cuda)
                arg = self.program[k - self.n][1][0]
                v = self.cast(f"v{arg}", self.dt(arg), wide)
                lines.append(f"  acc{k} = {f'acc{k} + {v}' if comb == '+' else f'{comb}(acc{k}, {v})'};")
            lines.append("}")
            for k in phase:
                wide, ident, _, functor = self.acc(k, cuda)
                T = CTYPES[wide.name]
                val = f"gs_block_reduce<{T}>(acc{k}, ({T}){ident}, {functor}())" if cuda else f"acc{k}"
                if self.program[k - self.n][0] == "mean":
                    val = f"({val} / ({T})cols)"
                lines.append(f"const {self.ctype(k)} v{k} = ({self.ctype(k)}){val};")
            ready |= set(phase)
        last = len(self.specs) - 1
        values = self.deps(last, ready)
        if self.out_full:
            lines.append(col_loop + " {")
            lines += ["  " + s for s in self.statements(values)]
            lines.append(f"  out[r * cols + c] = v{last};")
        else:  # one value per row, from row values (and per-row columns of the inputs)
            lines.append("if (threadIdx.x == 0) {" if cuda else "{")
            lines.append("  const long long c = 0;")
            lines += ["  " + s for s in self.statements(values)]
            lines.append(f"  out[r] = v{last};")
        lines.append("}")
        return lines

    def flat_body(self) -> list[str]:
        last = len(self.specs) - 1
        values = self.deps(last, set())
        if all(m in (("id", 1, "id"), ("zero", 1, "zero")) for m in self.maps):
            return [*self.statements(values, flat=True), f"out[i] = v{last};"]
        return ["const long long r = i / cols, c = i - r * cols;", *self.statements(values), f"out[i] = v{last};"]

    def signature(self, cuda: bool, name: str) -> str:
        r = " __restrict__" if cuda else ""
        params = [f"const {self.ctype(i)}*{r} in{i}" for i in range(self.n)]
        params.append(f"{self.ctype(len(self.specs) - 1)}*{r} out")
        params += ["const long long rows", "const long long cols"]
        params += [f"const long long p{i}" for i, m in enumerate(self.maps) if m[0] in ("mod", "div")]
        params += [f"const {CTYPES[dt]} {cname}" for cname, dt, _ in self.scalars]
        head = 'extern "C" __global__ void' if cuda else 'extern "C" void'
        return f"{head} {name}({', '.join(params)})"


_COMPARE = {"equal": "==", "not_equal": "!=", "less": "<", "less_equal": "<=", "greater": ">", "greater_equal": ">="}


def _c_int(v: int, dt: np.dtype) -> str:
    if dt.name == "int64":
        return "(-9223372036854775807LL - 1)" if v == -(2 ** 63) else f"{v}LL"
    return "(-2147483647 - 1)" if v == -(2 ** 31) else str(v)


def generate_fused(program: tuple, in_specs: Sequence[TensorSpec], name: str = "gs_fused") -> GeneratedKernel:
    """The CUDA kernel (and a host C++ twin) of a fused program; raises Unsupported with the reason."""
    g = _Gen(tuple(program), in_specs)
    rows_kind = bool(g.reductions) or not g.out_full
    if rows_kind:
        kernel = ["for (long long r = blockIdx.x; r < rows; r += gridDim.x) {", *("  " + s for s in g.rows_body(True)), "}"]
        host = ["for (long long r = 0; r < rows; ++r) {", *("  " + s for s in g.rows_body(False)), "}"]
        block = min(256, max(32, 1 << max(0, (g.cols - 1).bit_length())))
        grid = max(1, min(g.rows, 1 << 20))
    else:
        body = ["  " + s for s in g.flat_body()]
        kernel = ["const long long n = rows * cols;",
                  "for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; "
                  "i += (long long)blockDim.x * gridDim.x) {", *body, "}"]
        host = ["const long long n = rows * cols;", "for (long long i = 0; i < n; ++i) {", *body, "}"]
        block = 256
        grid = max(1, min(-(-g.rows * g.cols // block), 1 << 20))
    prelude = _prelude()
    src = prelude + (_BLOCK_REDUCE if rows_kind else "") + g.signature(True, name) + " {\n" + \
        "".join(f"  {s}\n" for s in kernel) + "}\n"
    host_src = prelude + g.signature(False, name) + " {\n" + "".join(f"  {s}\n" for s in host) + "}\n"
    return GeneratedKernel(
        name=name, source=src, host_source=host_src, kind="rows" if rows_kind else "flat", rows=g.rows, cols=g.cols,
        out_spec=g.specs[-1], in_specs=tuple(in_specs),
        mode_params=tuple(p for rm, p, _ in g.maps if rm in ("mod", "div")),
        scalars=tuple((dt, v) for _, dt, v in g.scalars), block=block, grid=grid,
    )


# =================================================================================================
# The CUDA calls the executor makes


class CudaRuntime:
    """CUDA through CuPy: streams, events, the memory pool, transfers and kernel compilation.

    The executor calls only these methods, so a test can run it against a fake with the same
    methods on a machine without a GPU (``tests/gpu/gpu_fake.py``).
    """

    def __init__(self, cupy: ModuleType, index: int = 0) -> None:
        self.cp = cupy
        self.xp = cupy
        self.index = index
        self.device_name = f"gpu:{index}"
        self._kernels: dict[tuple[str, str], Any] = {}  # (source, name) -> RawKernel: one per distinct program

    def device(self) -> Any:
        """A context manager making this GPU the current device."""
        return self.cp.cuda.Device(self.index)

    def new_stream(self) -> Any:
        return self.cp.cuda.Stream(non_blocking=True)

    def current_stream(self) -> Any:
        return self.cp.cuda.get_current_stream()

    def new_event(self, timing: bool = True) -> Any:
        return self.cp.cuda.Event(disable_timing=not timing)

    def elapsed_ns(self, start: Any, end: Any) -> int:
        return int(round(self.cp.cuda.get_elapsed_time(start, end) * 1e6))  # milliseconds, as a float

    def pool_bytes(self) -> tuple[int, int]:
        pool = self.cp.get_default_memory_pool()
        return int(pool.used_bytes()), int(pool.total_bytes())

    def is_device_array(self, value: Any) -> bool:
        return isinstance(value, self.cp.ndarray)

    def array_types(self) -> tuple[type, ...]:
        return (np.ndarray, self.cp.ndarray)

    def upload(self, value: Any) -> Any:
        return self.cp.asarray(value)  # on the current stream

    def download(self, value: Any) -> np.ndarray:
        return value.get() if self.is_device_array(value) else np.asarray(value)  # waits for the current stream

    def synchronize(self) -> None:
        self.cp.cuda.Device(self.index).synchronize()

    def compile(self, kernel: GeneratedKernel) -> Callable[..., Any]:
        """A launcher ``f(grid, block, args)``, one per distinct source (fused nodes with the same program
        share it). NVRTC compiles at the first launch; CuPy also caches the binary on disk."""
        key = (kernel.source, kernel.name)
        raw = self._kernels.get(key)
        if raw is None:
            # --fmad=false: no fused multiply-add contraction, so results round as NumPy's separate ops do.
            raw = self._kernels[key] = self.cp.RawKernel(kernel.source, kernel.name, options=("--fmad=false",))
        return raw

    def info(self) -> dict[str, Any]:
        cp = self.cp
        out: dict[str, Any] = {"backend": "cupy", "cupy": cp.__version__, "device_index": self.index}
        try:
            props = cp.cuda.runtime.getDeviceProperties(self.index)
            name = props.get("name", b"")
            out["device"] = name.decode() if isinstance(name, bytes) else str(name)
            out["compute_capability"] = f"{props.get('major')}.{props.get('minor')}"
            out["memory_bytes"] = int(props.get("totalGlobalMem", 0))
            out["multiprocessors"] = int(props.get("multiProcessorCount", 0))
            out["cuda_runtime"] = cp.cuda.runtime.runtimeGetVersion()
            out["cuda_driver"] = cp.cuda.runtime.driverGetVersion()
        except Exception as exc:  # pragma: no cover - informational only
            out["device_error"] = _first_line(exc)
        return out


class FusedLauncher:
    """A ``fused`` node as one compiled kernel; the first launch compiles it, a failure falls back to steps."""

    def __init__(self, node: Node, kernel: GeneratedKernel, runtime: Any, fallback: Kernel) -> None:
        self.node = node
        self.gen = kernel
        self.rt = runtime
        self.fallback = fallback
        self.compiled: Any = None
        self.engine = "cuda"
        self.tail = kernel.scalar_args()
        self.grid, self.block = (kernel.grid,), (kernel.block,)
        self.out_shape, self.out_dtype = kernel.out_spec.shape, kernel.out_spec.dtype

    def __call__(self, *arrays: Any) -> Any:
        compiled = self.compiled
        if compiled is None:
            return self._first_call(arrays)
        xp = self.rt.xp
        out = xp.empty(self.out_shape, dtype=self.out_dtype)
        if out.size:
            compiled(self.grid, self.block, (*[xp.ascontiguousarray(a) for a in arrays], out, *self.tail))
        return out

    def _first_call(self, arrays: tuple) -> Any:
        if self.engine != "cuda":
            return self.fallback(*arrays)
        try:
            self.compiled = self.rt.compile(self.gen)
            return self(*arrays)
        except Exception as exc:  # NVRTC rejected the source, or the launch failed: run the steps instead
            self.compiled = None
            self.engine = f"reference (CUDA kernel failed: {type(exc).__name__}: {_first_line(exc)})"
            warnings.warn(f"{self.node.describe()}: compiled CUDA kernel failed ({_first_line(exc)}); "
                          "running its program step by step", GpuKernelWarning, stacklevel=2)
            return self.fallback(*arrays)


class _ProductThenEpilogue:
    """``fused_matmul`` on the GPU: ``matmul`` of the (possibly transposed) operands, then the compiled epilogue."""

    def __init__(self, xp: Any, transpose_a: bool, transpose_b: bool, epilogue: FusedLauncher) -> None:
        self.xp, self.ta, self.tb, self.epilogue = xp, transpose_a, transpose_b, epilogue

    @property
    def engine(self) -> str:
        return self.epilogue.engine

    def __call__(self, a: Any, b: Any, *extras: Any) -> Any:
        xp = self.xp
        if self.ta:
            a = xp.swapaxes(a, -1, -2)
        if self.tb:
            b = xp.swapaxes(b, -1, -2)
        return self.epilogue(xp.matmul(a, b), *extras)


# =================================================================================================
# The backend


class CupyBackend(Backend):
    """Runs graphs on one CUDA GPU (``GRAPHSCOPE_CUDA_DEVICE``, default 0) with up to
    ``GRAPHSCOPE_CUDA_STREAMS`` streams (default 4); see the module doc.

    ``run(graph, inputs, profile=...)`` is the entry point (the same signature as an executor passed to
    ``gs.run(executor=...)``). ``kernel(node)`` also serves the generic interpreter, which then runs every
    node on the current stream without placement.
    """

    name = "cupy"
    executes_graphs = True  # runs whole graphs itself (placement, transfers, streams): see run()

    def __init__(self, device: int | None = None, *, max_streams: int | None = None, runtime: Any = None) -> None:
        if runtime is None:
            index = _env_int("GRAPHSCOPE_CUDA_DEVICE", 0) if device is None else int(device)
            cupy = load_cupy()
            check_device(cupy, index)
            runtime = CudaRuntime(cupy, index)
        self.runtime = runtime
        self.xp = runtime.xp
        self.device_name = runtime.device_name
        self.max_streams = max_streams if max_streams is not None else max(1, _env_int("GRAPHSCOPE_CUDA_STREAMS", 4))
        self.KERNELS = self.kernel_overrides()
        self._host: Backend | None = None
        self._lock = threading.Lock()

    # -- kernels ------------------------------------------------------------------------------
    def kernel_overrides(self) -> dict[str, Callable[[Node], Kernel]]:
        """Ops whose generic ``impl(cupy, ...)`` is not used: op name -> factory taking the node."""
        return {
            "fused": self._fused_kernel,
            "fused_matmul": self._fused_matmul_kernel,
            "clip": self._clip_kernel,
            "to_device": lambda node: self.runtime.upload,
            "to_host": lambda node: self.runtime.download,
        }

    def kernel(self, node: Node) -> Kernel:
        k = super().kernel(node)
        if node.op == "to_host":
            return k
        dt = node.spec.dtype

        def checked(*arrays: Any) -> Any:
            # CuPy's type promotion differs from NumPy's in corners (NEP 50 scalars, special functions
            # of ints): the graph's spec (NumPy's dtype) is the contract.
            r = k(*arrays)
            return r if r.dtype == dt else r.astype(dt)

        checked.engine = getattr(k, "engine", None)  # type: ignore[attr-defined]
        checked.inner = k  # type: ignore[attr-defined]
        return checked

    def _fused_kernel(self, node: Node) -> Kernel:
        opdef = get_op("fused")
        xp, attrs = self.xp, node.attrs

        def reference(*arrays: Any) -> Any:
            return opdef.impl(xp, *arrays, **attrs)

        try:
            gen = generate_fused(node.attrs["program"], [i.spec for i in node.inputs])
        except Unsupported as exc:
            reference.engine = f"reference ({exc})"  # type: ignore[attr-defined]
            return reference
        return FusedLauncher(node, gen, self.runtime, reference)

    def _fused_matmul_kernel(self, node: Node) -> Kernel:
        """The product on CuPy (cuBLAS reads a transposed operand as a view), then the epilogue as one kernel."""
        from graphscope.ir.op_defs.fused_matmul import product_spec

        opdef, fused = get_op("fused_matmul"), get_op("fused")
        xp, attrs = self.xp, node.attrs
        epilogue = attrs["epilogue"]

        def reference(*arrays: Any) -> Any:
            return opdef.impl(xp, *arrays, **attrs)

        if not epilogue:
            reference.engine = "cupy"  # type: ignore[attr-defined]  # the product alone: one cuBLAS call
            return reference
        specs = [i.spec for i in node.inputs]
        try:
            gen = generate_fused(epilogue, [product_spec(specs, attrs), *specs[2:]])
        except Unsupported as exc:
            reference.engine = f"reference ({exc})"  # type: ignore[attr-defined]
            return reference
        launcher = FusedLauncher(node, gen, self.runtime, lambda p, *extras: fused.impl(xp, p, *extras, program=epilogue))
        return _ProductThenEpilogue(xp, attrs["transpose_a"], attrs["transpose_b"], launcher)

    def _clip_kernel(self, node: Node) -> Kernel:
        # NumPy's clip is maximum(x, min) then minimum(., max) in the result dtype; CuPy's clip may
        # compute in the input dtype (an int array with float bounds), so spell it out.
        xp, dt = self.xp, node.spec.dtype
        try:
            lo, hi = (None if node.attrs[k] is None else dt.type(node.attrs[k]) for k in ("min", "max"))
        except (OverflowError, ValueError):
            impl, attrs = get_op("clip").impl, node.attrs
            return lambda x: impl(xp, x, **attrs)

        def clip(x: Any) -> Any:
            y = x.astype(dt)  # always a new array, as NumPy's clip
            if lo is not None:
                xp.maximum(y, lo, out=y)
            if hi is not None:
                xp.minimum(y, hi, out=y)
            return y

        return clip

    def host_backend(self) -> Backend:
        if self._host is None:
            from graphscope.backends import get_backend

            self._host = get_backend("numpy")
        return self._host

    # -- arrays -------------------------------------------------------------------------------
    def asarray(self, value: Any) -> Any:
        return self.runtime.upload(value)

    def to_numpy(self, value: Any) -> Any:
        return self.runtime.download(value) if self.runtime.is_device_array(value) else value

    def synchronize(self) -> None:
        self.runtime.synchronize()

    def info(self) -> dict[str, Any]:
        return {**self.runtime.info(), "streams": self.max_streams}

    # -- whole graphs ---------------------------------------------------------------------------
    def program(self, graph: Graph, input_devices: tuple[str, ...], output_device: str | None = CPU) -> GpuProgram:
        """The compiled program for this graph, input placement and output device (cached on the graph)."""
        cache: dict[tuple, GpuProgram] = graph.__dict__.setdefault("_gpu_programs", {})
        key = (id(self), input_devices, output_device)
        with self._lock:
            prog = cache.get(key)
            if prog is None or prog.version != graph.version:
                with self.runtime.device():
                    prog = cache[key] = GpuProgram(self, graph, input_devices, output_device)
        return prog

    def bind(self, graph: Graph, inputs: Sequence[Any] | Mapping[str, Any]) -> tuple[list[Any], tuple[str, ...]]:
        """Inputs in placeholder order (NumPy arrays stay on the host, CuPy arrays on the GPU), checked."""
        values = graph.input_values(inputs)
        bound, devices = [], []
        for node, v in zip(graph.inputs, values):
            on_gpu = self.runtime.is_device_array(v)
            arr = v if on_gpu else np.asarray(v)
            if tuple(arr.shape) != node.spec.shape or arr.dtype != node.spec.dtype:
                raise ShapeError(
                    f"input '{node.name}' of graph '{graph.name}' expects {node.spec.short()}, got "
                    f"{np.dtype(arr.dtype).name}{list(arr.shape)}"
                    + (f" (cast with .astype(np.{node.spec.dtype.name}))" if tuple(arr.shape) == node.spec.shape else "")
                )
            bound.append(arr)
            devices.append(self.device_name if on_gpu else CPU)
        return bound, tuple(devices)

    def run(self, graph: Graph, inputs: Sequence[Any] | Mapping[str, Any], *, profile: bool = False, repeat: int = 1,
            warmup: int = 0, progress: Any = None, output_device: str | None = CPU) -> Any:
        """Run ``graph``: outputs as NumPy arrays (``output_device=None`` leaves them where they are made),
        and with ``profile=True`` a RunProfile whose events hold host dispatch and device times."""
        from graphscope.runtime import run as runtime_run

        if runtime_run.recorders and not profile:  # inside ``with gs.profile():`` every run is profiled
            result = self.run(graph, inputs, profile=True, repeat=repeat, warmup=warmup, progress=progress,
                              output_device=output_device)
            for recorder in list(runtime_run.recorders):
                recorder.record(graph, result.profile)
            return result
        bound, in_devs = self.bind(graph, inputs)
        prog = self.program(graph, in_devs, None if output_device is None else parse_device(output_device))
        with self.runtime.device():
            if not profile:
                outputs: list[Any] = []
                for _ in range(warmup + max(repeat, 1)):
                    outputs = prog.execute(bound)
                    if progress:
                        progress()
                return runtime_run.RunResult(outputs)
            warm_ns = []
            for _ in range(warmup):
                t0 = time.perf_counter_ns()
                prog.execute(bound)
                self.runtime.synchronize()
                warm_ns.append(time.perf_counter_ns() - t0)
                if progress:
                    progress()
            records = []
            for _ in range(max(repeat, 1)):
                records.append(prog.execute_profiled(bound))
                if progress:
                    progress()
        return runtime_run.RunResult(records[-1].outputs, prog.make_profile(graph, records, warm_ns))


# =================================================================================================
# The executor


@dataclass(slots=True)
class GpuStep:
    node: Node
    kernel: Kernel
    args: tuple[int, ...]
    out: int
    frees: tuple[int, ...]
    stream: int  # index into the program's streams; -1 for a host step
    waits: tuple[int, ...]  # steps whose completion this one waits for (other streams)
    signal: bool  # another stream waits for this step
    lane: str
    flops: int
    bytes_moved: int
    transfer: str | None  # "h2d" | "d2h" | None


@dataclass
class RunRecord:
    """One profiled iteration, raw: per step (start, end, bytes allocated, live bytes, pool used, pool total)."""

    outputs: list[Any]
    raw: list[tuple[int, int, int, int, int, int]]
    device_ns: list[int | None]
    device_start_ns: list[int | None]
    wall_ns: int
    peak_bytes: int
    peak_live: list[tuple[int, int]]
    device_peak_bytes: int
    device_peak_live: list[tuple[int, int]]
    pool_before: tuple[int, int]
    pool_after: tuple[int, int]


class GpuProgram:
    """A graph placed on one GPU and the host, with transfers and streams, as steps ready to run."""

    def __init__(self, backend: CupyBackend, graph: Graph, input_devices: tuple[str, ...],
                 output_device: str | None) -> None:
        rt = backend.runtime
        self.backend = backend
        self.runtime = rt
        self.version = graph.version
        devices = assign_devices(graph, backend.device_name, inputs=input_devices,
                                 allowed=(CPU, backend.device_name))
        self.placed = placed = insert_transfers(graph, devices, output_device=output_device)
        g = self.graph = placed.graph
        self.streams_plan = sp = assign_streams(g, placed.devices, max_streams=backend.max_streams)
        order = g.nodes
        self.slot_of = {n.id: k for k, n in enumerate(order)}
        self.node_of_slot = list(order)
        self.template: list[Any] = [None] * len(order)
        self.constant_bytes = 0
        for n in order:
            if n.op == "constant":
                on_gpu = placed.devices[n.id] != CPU
                self.template[self.slot_of[n.id]] = rt.upload(n.value) if on_gpu else n.value
                self.constant_bytes += n.spec.nbytes
        if self.constant_bytes:
            rt.synchronize()  # once per program: the constants' uploads are complete before any stream reads them
        self.input_slots = [self.slot_of[n.id] for n in g.inputs]
        self.output_slots = [self.slot_of[n.id] for n in g.outputs]
        compute = [n for n in order if n.op not in ("placeholder", "constant")]
        step_of = {n.id: k for k, n in enumerate(compute)}
        streams_of_value: dict[int, set[int]] = {}
        for n in compute:
            s = sp.stream_of.get(n.id, -1)
            for i in n.inputs:
                streams_of_value.setdefault(i.id, set()).add(s)
        # A value read on another stream than the one that made it is kept to the end of the run (its
        # memory must not go back to the pool of its stream while another stream may still read it).
        keep = set(self.output_slots) | {self.slot_of[n.id] for n in order if n.op == "constant"}
        for n in compute:
            s = sp.stream_of.get(n.id, -1)
            if s >= 0 and streams_of_value.get(n.id, set()) - {s}:
                keep.add(self.slot_of[n.id])
        last_use: dict[int, int] = {}
        for k, n in enumerate(compute):
            last_use[self.slot_of[n.id]] = k
            for i in n.inputs:
                last_use[self.slot_of[i.id]] = k
        frees: dict[int, list[int]] = {}
        for slot, k in last_use.items():
            if slot not in keep and self.node_of_slot[slot].op != "placeholder":
                frees.setdefault(k, []).append(slot)
        signalers = sp.signalers
        host = backend.host_backend()
        self.steps: list[GpuStep] = []
        for k, n in enumerate(compute):
            on_gpu = n.id in sp.stream_of
            kernel = backend.kernel(n) if on_gpu else host.kernel(n)
            flops, read, written = get_op(n.op).estimate_cost([i.spec for i in n.inputs], n.spec, n.attrs)
            self.steps.append(GpuStep(
                n, kernel, tuple(self.slot_of[i.id] for i in n.inputs), self.slot_of[n.id], tuple(sorted(frees.get(k, ()))),
                sp.stream_of.get(n.id, -1), tuple(step_of[p] for p in sp.waits.get(n.id, ())), n.id in signalers,
                sp.lane(n.id), flops, read + written,
                "h2d" if n.op == "to_device" else "d2h" if n.op == "to_host" else None,
            ))
        n_streams = sp.n_streams.get(backend.device_name, 0)
        self.streams = [rt.new_stream() for _ in range(max(n_streams, 1))]
        self.dep_events = [rt.new_event(timing=False) if s.signal else None for s in self.steps]
        self.start_events = [rt.new_event() if s.stream >= 0 else None for s in self.steps]
        self.end_events = [rt.new_event() if s.stream >= 0 else None for s in self.steps]
        self.join_events = [rt.new_event(timing=False) for _ in self.streams]
        self.entry_event = rt.new_event(timing=False)
        self.ref_event = rt.new_event()  # the profiled runs' entry event, and the zero of device start times
        self._node_infos: dict[int, NodeInfo] | None = None

    # -- running ----------------------------------------------------------------------------------
    def _enter(self, previous: Any, event: Any) -> None:
        """Every stream of the program waits for what the caller's stream has queued so far.

        The caller's arrays (CuPy inputs made on its stream) are then complete before any kernel reads
        them, and memory the caller released after its last use is not rewritten early. Our streams are
        non-blocking (they do not synchronize with the legacy default stream by themselves).
        """
        event.record(previous)
        for s in self.streams:
            s.wait_event(event)

    def _join(self, previous: Any) -> None:
        """Every stream (and the caller's) waits for everything queued on every stream in this run.

        Later work cannot overtake this run's kernels, so values released now are safe to reuse, and
        device outputs are ready for the caller's stream. No host synchronization.
        """
        for ev, s in zip(self.join_events, self.streams):
            ev.record(s)
        for s in (*self.streams, previous):
            for ev in self.join_events:
                s.wait_event(ev)

    def execute(self, inputs: list[Any]) -> list[Any]:
        """Run once without profiling: dependency events only where another stream waits."""
        rt = self.runtime
        slots = self.template.copy()
        for s, v in zip(self.input_slots, inputs):
            slots[s] = v
        streams, deps = self.streams, self.dep_events
        previous = rt.current_stream()
        self._enter(previous, self.entry_event)
        current = None
        step = None
        try:
            for k, step in enumerate(self.steps):
                if step.stream >= 0:
                    s = streams[step.stream]
                    if s is not current:
                        s.use()
                        current = s
                    for w in step.waits:
                        s.wait_event(deps[w])
                    slots[step.out] = step.kernel(*[slots[a] for a in step.args])
                    if step.signal:
                        deps[k].record(s)
                else:
                    slots[step.out] = step.kernel(*[slots[a] for a in step.args])
                for f in step.frees:
                    slots[f] = None
            self._join(previous)
        except Exception as exc:
            raise _node_error(self, step, slots, exc) from exc
        finally:
            previous.use()
        return [slots[o] for o in self.output_slots]

    def execute_profiled(self, inputs: list[Any]) -> RunRecord:
        """Run once with a pair of events per GPU step, pool samples and logical memory accounting."""
        rt = self.runtime
        slots = self.template.copy()
        for s, v in zip(self.input_slots, inputs):
            slots[s] = v
        arrays = rt.array_types()
        external = {id(_root(v, arrays)) for v in slots if v is not None}
        streams, starts, ends = self.streams, self.start_events, self.end_events
        refs: dict[int, int] = {}
        info: dict[int, tuple[int, int, bool]] = {}  # root id -> (bytes, slot, on the device)
        slot_root: dict[int, int] = {}
        live = peak = dev_live = dev_peak = 0
        peak_buffers: list[tuple[int, int, bool]] = []
        dev_peak_buffers: list[tuple[int, int, bool]] = []
        raw = []
        perf = time.perf_counter_ns
        previous = rt.current_stream()
        pool_before = rt.pool_bytes()
        self._enter(previous, self.ref_event)
        current = None
        step = None
        base = perf()
        try:
            for k, step in enumerate(self.steps):
                t0 = perf()
                if step.stream >= 0:
                    s = streams[step.stream]
                    if s is not current:
                        s.use()
                        current = s
                    for w in step.waits:
                        s.wait_event(ends[w])
                    starts[k].record(s)
                    r = step.kernel(*[slots[a] for a in step.args])
                    ends[k].record(s)
                else:
                    r = step.kernel(*[slots[a] for a in step.args])
                t1 = perf()
                slots[step.out] = r
                root = _root(r, arrays)
                rid = id(root)
                alloc = 0
                if rid not in external:
                    if rid in refs:
                        refs[rid] += 1
                    else:
                        refs[rid] = 1
                        alloc = int(root.nbytes)
                        on_dev = rt.is_device_array(root)
                        info[rid] = (alloc, step.out, on_dev)
                        live += alloc
                        if on_dev:
                            dev_live += alloc
                    slot_root[step.out] = rid
                if live > peak or not peak_buffers:
                    peak, peak_buffers = live, list(info.values())
                if dev_live > dev_peak:
                    dev_peak, dev_peak_buffers = dev_live, [b for b in info.values() if b[2]]
                for f in step.frees:
                    slots[f] = None
                    fr = slot_root.pop(f, None)
                    if fr is not None:
                        refs[fr] -= 1
                        if refs[fr] == 0:
                            del refs[fr]
                            nbytes, _, on_dev = info.pop(fr)
                            live -= nbytes
                            if on_dev:
                                dev_live -= nbytes
                used, total = rt.pool_bytes()
                raw.append((t0 - base, t1 - base, alloc, live, used, total))
            self._join(previous)
        except Exception as exc:
            raise _node_error(self, step, slots, exc) from exc
        finally:
            previous.use()
        rt.synchronize()
        wall = perf() - base
        device_ns: list[int | None] = []
        device_start: list[int | None] = []
        for k, step in enumerate(self.steps):
            if step.stream >= 0:
                device_ns.append(max(0, rt.elapsed_ns(starts[k], ends[k])))
                device_start.append(max(0, rt.elapsed_ns(self.ref_event, starts[k])))
            else:
                device_ns.append(None)
                device_start.append(None)
        nodes = self.node_of_slot
        return RunRecord(
            [slots[o] for o in self.output_slots], raw, device_ns, device_start, wall, peak,
            sorted(((nodes[s].id, b) for b, s, _ in peak_buffers), key=lambda t: -t[1]), dev_peak,
            sorted(((nodes[s].id, b) for b, s, _ in dev_peak_buffers), key=lambda t: -t[1]), pool_before, rt.pool_bytes(),
        )

    # -- profiles ---------------------------------------------------------------------------------
    def node_infos(self) -> dict[int, NodeInfo]:
        if self._node_infos is None:
            self._node_infos = {n.id: NodeInfo.of(n) for n in self.node_of_slot}
        return self._node_infos

    def make_profile(self, graph: Graph, records: list[RunRecord], warm_ns: list[int]) -> RunProfile:
        iterations = []
        for rec in records:
            events = []
            for step, (t0, t1, alloc, live, _, _), dns in zip(self.steps, rec.raw, rec.device_ns):
                events.append(NodeEvent(step.node.id, t0, t1, step.lane, alloc, live, step.flops, step.bytes_moved, dns))
            iterations.append(events)
        last = records[-1]
        peak_rec = max(records, key=lambda r: max((u for *_, u, _ in r.raw), default=0))
        by_id = [str(s.node.id) for s in self.steps]
        gpu: dict[str, Any] = {
            "device": self.backend.device_name,
            "streams": len(self.streams),
            "lanes": {str(s.node.id): s.lane for s in self.steps},
            "device_start_ns": {i: d for i, d in zip(by_id, last.device_start_ns) if d is not None},
            "pool_used_bytes": {i: r[4] for i, r in zip(by_id, last.raw)},
            "pool_total_bytes": {i: r[5] for i, r in zip(by_id, last.raw)},
            "pool_baseline_used_bytes": last.pool_before[0],
            "pool_baseline_total_bytes": last.pool_before[1],
            "pool_peak_used_bytes": max((r[4] for r in peak_rec.raw), default=last.pool_before[0]),
            "pool_peak_total_bytes": max((r[5] for r in peak_rec.raw), default=last.pool_before[1]),
            "device_peak_bytes": last.device_peak_bytes,
            "device_peak_live": [list(t) for t in last.device_peak_live],
            "transfers": {str(t.node_id): {"direction": t.direction, "bytes": t.nbytes, "value": t.value_id}
                          for t in self.placed.transfers},
            "placement": {str(k): v for k, v in self.placed.devices.items()},
            "kernels": {str(s.node.id): _engine(s.kernel) for s in self.steps if s.node.op in ("fused", "fused_matmul")},
            "wall_ns": [r.wall_ns for r in records],
        }
        return RunProfile(
            graph_name=graph.name, backend="cupy", nodes=self.node_infos(), iterations=iterations,
            iteration_ns=[r.wall_ns for r in records], warmup_ns=warm_ns, peak_bytes=last.peak_bytes,
            peak_live=last.peak_live, input_bytes=sum(n.spec.nbytes for n in self.graph.inputs),
            constant_bytes=self.constant_bytes, inputs=[n.id for n in self.graph.inputs],
            outputs=[n.id for n in self.graph.outputs], machine=self.backend.info(),
            pass_log=graph.metadata.get("pass_log"), metadata={"gpu": gpu},
        )


def _engine(kernel: Any) -> str:
    inner = getattr(kernel, "inner", kernel)
    return str(getattr(inner, "engine", None) or "reference")


def _root(a: Any, arrays: tuple[type, ...]) -> Any:
    base = getattr(a, "base", None)
    while base is not None and isinstance(base, arrays):
        a = base
        base = getattr(a, "base", None)
    return a


def _node_error(prog: GpuProgram, step: GpuStep | None, slots: list[Any], exc: Exception) -> NodeExecutionError:
    if step is None:
        return NodeExecutionError(f"graph '{prog.graph.name}' failed before its first node: {exc}")
    node = step.node
    shapes = ", ".join(f"%{prog.node_of_slot[a].id} {_describe(slots[a], prog.runtime)}" for a in step.args)
    scope = f", scope '{node.scope}'" if node.scope else ""
    src = f" at {node.source}" if node.source else ""
    return NodeExecutionError(
        f"node %{node.id} '{node.name}' ({node.op}{scope}, on {step.lane}){src} raised {type(exc).__name__}: "
        f"{_first_line(exc)} [inputs: {shapes or 'none'}]", node_id=node.id)


def _describe(v: Any, runtime: Any) -> str:
    shape, dtype = getattr(v, "shape", None), getattr(v, "dtype", None)
    where = " (device)" if runtime.is_device_array(v) else ""
    return f"{dtype}{list(shape)}{where}" if shape is not None else type(v).__name__
