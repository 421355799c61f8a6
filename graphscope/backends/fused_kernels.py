"""CPU kernels for ``fused`` nodes: one pass over memory per fused group, on every core.

Three engines evaluate the same program (see ``graphscope/ir/op_defs/fused.py``):

* ``numba`` (the default): the program becomes Python source for a kernel over a range of rows
  (per row, one loop over the columns per *phase*; a phase ends at each last-axis reduction, whose
  inputs wait in a row buffer that stays in L1), compiled by ``numba.njit`` at bind time and cached
  twice: per distinct source in this process, and on disk (numba's ``cache=True`` beside the source
  files in ``$GRAPHSCOPE_CACHE_DIR`` or ``~/.cache/graphscope``), so a program compiles once per
  machine. Large kernels are split into row ranges run side by side on a thread pool (numba
  releases the GIL); numba's own ``parallel=True`` was measured slower here: its OpenMP workers
  spin after each kernel and starve the BLAS threads of the next matmul. Arithmetic is IEEE-exact
  (no fast-math), so the element-wise results equal NumPy's except for ``exp log tanh erf`` in
  float32 and ``exp tanh`` in float64, which use branch-free polynomial approximations (a few ulp)
  that the compiler vectorizes where libm calls would not. Reductions sum a row buffer with a
  separately compiled, reassociating (vectorized) loop; max/min propagate NaN as NumPy does. A kernel
  that writes over one of its inputs (the memory plan's in-place reuse, a product's epilogue) is a
  variant of its own whose output *is* that input: the two-array kernel handed one buffer twice fails
  LLVM's overlap check and runs its scalar loop (measured: 6x slower on bias + GELU).
* ``numpy``: cache-blocked evaluation with NumPy's SIMD ufuncs into preallocated per-thread buffers
  (reused once dead, so a block's working set stays in L2), blocks spread over the thread pool
  (ufuncs release the GIL). No compiler; the fallback when numba is missing or the program has an
  op or dtype the generator does not handle (integers, float16, ...).
* ``reference``: the op's generic ``impl`` (each step on whole arrays).

``GRAPHSCOPE_FUSED_ENGINE=numba|numpy|reference`` (or ``use_engine``) forces one; the default
``auto`` takes the first of numba, numpy, reference that supports the node.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphscope.ir.graph import Node
from graphscope.ir.op_defs.fused import LITERAL, REDUCTIONS, Step, literal_array, program_specs, row_mapping
from graphscope.ir.ops import get_op, normalize_axes
from graphscope.ir.spec import TensorSpec

Kernel = Callable[..., Any]
ENGINES = ("numba", "numpy", "reference")
GENERATOR_VERSION = "1"  # part of every generated source: a change here invalidates the disk cache

_engine_override: str | None = None


def engine_setting() -> str:
    return _engine_override or os.environ.get("GRAPHSCOPE_FUSED_ENGINE", "auto")


@contextlib.contextmanager
def use_engine(name: str) -> Iterator[None]:
    """Force an engine for kernels bound inside the block (plans already made keep theirs)."""
    global _engine_override
    if name not in ENGINES + ("auto",):
        raise ValueError(f"unknown fused-kernel engine '{name}' (choose from auto, {', '.join(ENGINES)})")
    old, _engine_override = _engine_override, name
    try:
        yield
    finally:
        _engine_override = old


# -- analysis: how a program maps onto a row kernel ------------------------------------------------


@dataclass
class FusedPlan:
    program: tuple[Step, ...]
    n_in: int
    specs: tuple[TensorSpec, ...]  # inputs, then steps
    domain: tuple[int, ...]
    rows: int
    cols: int
    in_maps: list[tuple[str, int, str]]  # per input: (row mode, parameter, column mode)
    in_shapes2d: list[tuple[int, int]]
    varies_r: list[bool]  # per value
    varies_c: list[bool]
    out_full: bool  # output laid out as (rows, cols); else one value per row
    flat: bool  # no reductions and every input is full or scalar: one flat loop

    @property
    def out(self) -> TensorSpec:
        return self.specs[-1]

    @property
    def n_steps(self) -> int:
        return sum(1 for op, _, _ in self.program if op != LITERAL)


def analyze(program: tuple[Step, ...], in_specs: Sequence[TensorSpec]) -> FusedPlan | str:
    """The row-kernel layout of a program, or why it has none (then only the reference engine runs it)."""
    specs = program_specs(tuple(in_specs), program)
    n = len(in_specs)
    last_op, _, last_pairs = program[-1]
    final_rowwise = last_op in REDUCTIONS and not dict(last_pairs).get("keepdims", False)
    try:
        domain = tuple(np.broadcast_shapes(*(s.shape for s in (specs[:-1] if final_rowwise else specs))))
    except ValueError:
        return "values do not broadcast to one domain"
    cols = domain[-1] if domain else 1
    rows = math.prod(domain[:-1]) if domain else 1
    in_maps = []
    for s in in_specs:
        m = row_mapping(s.shape, domain)
        if m is None:
            return f"input {s.short()} broadcasts to {list(domain)} along middle axes"
        in_maps.append(m)
    vr = [m[0] != "zero" for m in in_maps]
    vc = [m[2] == "id" for m in in_maps]
    has_reduction = False
    for j, (op, args, pairs) in enumerate(program):
        if op == LITERAL:
            vr.append(False)
            vc.append(False)
            continue
        if op in REDUCTIONS:
            has_reduction = True
            x = specs[args[0]]
            axes = normalize_axes(op, dict(pairs).get("axis"), x.ndim) if x.ndim else ()
            keep = dict(pairs).get("keepdims", False)
            if x.shape != domain or axes != (len(domain) - 1,) or not (keep or j == len(program) - 1):
                return f"step {j} ({op}) is not a reduction of the whole domain over its last axis"
            if not vc[args[0]]:
                return f"step {j} ({op}) reduces a value that is constant along the row"
            vr.append(True)  # computed once per row (even when every row gets the same value)
            vc.append(False)
            continue
        vr.append(any(vr[a] for a in args))
        vc.append(any(vc[a] for a in args))
    out = specs[-1]
    if vc[-1] and out.size == rows * cols:
        out_full = True
    elif not vc[-1] and out.size == rows:
        out_full = False
    else:
        return f"output {out.short()} is neither the domain {list(domain)} nor one value per row"
    shapes2d = []
    for (rm, p, cm), s in zip(in_maps, in_specs):
        r_in = {"id": rows, "zero": 1, "mod": p, "div": rows // p if p else 0}[rm]
        shapes2d.append((r_in, cols if cm == "id" else 1))
        if r_in * shapes2d[-1][1] != s.size:
            return f"input {s.short()} does not map onto rows x cols {rows}x{cols}"
    flat = not has_reduction and all(m in (("id", 1, "id"), ("zero", 1, "zero")) for m in in_maps) and out_full
    return FusedPlan(program, n, specs, domain, rows, cols, in_maps, shapes2d, vr, vc, out_full, flat)


# -- the numba engine -------------------------------------------------------------------------------

_MATH_HELPERS = '''
@intrinsic
def _f32_from_bits(typingctx, x):
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        v = builder.trunc(args[0], llvm_ir.IntType(32)) if x.bitwidth > 32 else args[0]
        return builder.bitcast(v, llvm_ir.FloatType())
    return types.float32(x), codegen


@intrinsic
def _f64_from_bits(typingctx, x):
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        v = builder.sext(args[0], llvm_ir.IntType(64)) if x.bitwidth < 64 else args[0]
        return builder.bitcast(v, llvm_ir.DoubleType())
    return types.float64(x), codegen


@intrinsic
def _bits_of_f32(typingctx, x):
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.IntType(32))
    return types.int32(x), codegen


@njit(error_model="numpy", nogil=True)
def _exp32(x):
    # Cephes expf: 2^n e^r with |r| <= ln2/2; 2^n as two factors so subnormal results round once.
    xc = min(max(x, F32(-104.0)), F32(89.0))
    n = np.floor(xc * F32(1.44269504088896341) + F32(0.5))
    r = xc - n * F32(0.693359375)
    r = r - n * F32(-2.12194440e-4)
    z = r * r
    p = F32(1.9875691500e-4)
    p = p * r + F32(1.3981999507e-3)
    p = p * r + F32(8.3334519073e-3)
    p = p * r + F32(4.1665795894e-2)
    p = p * r + F32(1.6666665459e-1)
    p = p * r + F32(5.0000001201e-1)
    p = p * z + r + F32(1.0)
    ni = np.int32(n)
    n1 = ni >> 1
    y = p * _f32_from_bits((n1 + 127) << 23) * _f32_from_bits((ni - n1 + 127) << 23)
    y = F32(np.inf) if x > F32(88.72283935546875) else y
    y = F32(0.0) if x < F32(-103.97282) else y
    return x if x != x else y


@njit(error_model="numpy", nogil=True)
def _log32(x):
    # Cephes logf on the mantissa in [sqrt(1/2), sqrt(2)); subnormals scaled by 2^23 first.
    sub = x < F32(1.17549435e-38)
    xs = x * F32(8388608.0) if sub else x
    bits = _bits_of_f32(xs)
    e = ((bits >> 23) & 0xFF) - 126
    m = _f32_from_bits((bits & 0x007FFFFF) | 0x3F000000)
    e = e - 23 if sub else e
    small = m < F32(0.707106781186547524)
    e = e - 1 if small else e
    m = m + m - F32(1.0) if small else m - F32(1.0)
    z = m * m
    p = F32(7.0376836292e-2)
    p = p * m + F32(-1.1514610310e-1)
    p = p * m + F32(1.1676998740e-1)
    p = p * m + F32(-1.2420140846e-1)
    p = p * m + F32(1.4249322787e-1)
    p = p * m + F32(-1.6668057665e-1)
    p = p * m + F32(2.0000714765e-1)
    p = p * m + F32(-2.4999993993e-1)
    p = p * m + F32(3.3333331174e-1)
    y = p * m * z
    fe = F32(e)
    y = y + fe * F32(-2.12194440e-4)
    y = y - F32(0.5) * z
    y = m + y + fe * F32(0.693359375)
    y = F32(-np.inf) if x == F32(0.0) else y
    y = F32(np.nan) if x < F32(0.0) else y
    y = x if x == F32(np.inf) else y
    return x if x != x else y


@njit(error_model="numpy", nogil=True)
def _tanh32(x):
    # Eigen's rational approximation (a few ulp), clamped where tanh rounds to +-1.
    xc = min(max(x, F32(-7.90531110763549805)), F32(7.90531110763549805))
    x2 = xc * xc
    p = F32(-2.76076847742355e-16)
    p = p * x2 + F32(2.00018790482477e-13)
    p = p * x2 + F32(-8.60467152213735e-11)
    p = p * x2 + F32(5.12229709037114e-08)
    p = p * x2 + F32(1.48572235717979e-05)
    p = p * x2 + F32(6.37261928875436e-04)
    p = p * x2 + F32(4.89352455891786e-03)
    p = p * xc
    q = F32(1.19825839466702e-06)
    q = q * x2 + F32(1.18534705686654e-04)
    q = q * x2 + F32(2.26843463243900e-03)
    q = q * x2 + F32(4.89352518554385e-03)
    y = p / q
    y = xc if abs(xc) < F32(0.0004) else y
    return x if x != x else y


@njit(error_model="numpy", nogil=True)
def _erf32(x):
    # Eigen's rational approximation on [-4, 4] (erf rounds to +-1 beyond).
    xc = min(max(x, F32(-4.0)), F32(4.0))
    x2 = xc * xc
    p = F32(-2.72614225801306e-10)
    p = p * x2 + F32(2.77068142495902e-08)
    p = p * x2 + F32(-2.10102402082508e-06)
    p = p * x2 + F32(-5.69250639462346e-05)
    p = p * x2 + F32(-7.34990630326855e-04)
    p = p * x2 + F32(-2.95459980854025e-03)
    p = p * x2 + F32(-1.60960333262415e-02)
    p = p * xc
    q = F32(-1.45660718464996e-05)
    q = q * x2 + F32(-2.13374055278905e-04)
    q = q * x2 + F32(-1.68282697438203e-03)
    q = q * x2 + F32(-7.37332916720468e-03)
    q = q * x2 + F32(-1.42647390514189e-02)
    return x if x != x else p / q


@njit(error_model="numpy", nogil=True)
def _exp64(x):
    # Cephes exp: 2^n (1 + 2 r P(r^2) / (Q(r^2) - r P(r^2))), 2^n as two factors (subnormals).
    xc = min(max(x, -746.0), 710.0)
    n = np.floor(xc * 1.4426950408889634073599 + 0.5)
    r = xc - n * 6.93145751953125e-1
    r = r - n * 1.42860682030941723212e-6
    rr = r * r
    px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 9.99999999999999999910e-1)
    qx = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr + 2.27265548208155028766e-1) * rr
    qx = qx + 2.00000000000000000009e0
    y = 1.0 + 2.0 * (px / (qx - px))
    ni = np.int64(n)
    n1 = ni >> 1
    y = y * _f64_from_bits((n1 + 1023) << 52) * _f64_from_bits((ni - n1 + 1023) << 52)
    y = np.inf if x > 7.09782712893383996843e2 else y
    y = 0.0 if x < -7.451332191019412076235e2 else y
    return x if x != x else y


@njit(error_model="numpy", nogil=True)
def _tanh64(x):
    # Cephes tanh: a rational function below 0.625, 1 - 2 / (exp(2|x|) + 1) above.
    a = abs(x)
    z = x * x
    small = x + x * z * (((-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z
                          - 1.61468768441708447952e3)
                         / (((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z
                            + 4.84406305325125486048e3))
    big = 1.0 - 2.0 / (_exp64(a + a) + 1.0)
    big = -big if x < 0.0 else big
    y = small if a < 0.625 else big
    return x if x != x else y
'''

_BASE_HELPERS = '''
@njit(error_model="numpy", nogil=True)
def _fmax(a, b):
    return a if (a >= b or a != a) else b


@njit(error_model="numpy", nogil=True)
def _fmin(a, b):
    return a if (a <= b or a != a) else b


@njit(fastmath={"reassoc", "nsz", "contract"}, error_model="numpy", nogil=True, cache=True)
def _rsum(buf, n, zero):
    acc = zero
    for c in range(n):
        acc += buf[c]
    return acc


@njit(error_model="numpy", nogil=True, cache=True)
def _nan_at(buf, n):
    k = 0
    for c in range(n):
        k += buf[c] != buf[c]
    if k:
        for c in range(n):
            if buf[c] != buf[c]:
                return c
    return -1


@njit(fastmath={"nnan", "nsz", "reassoc"}, error_model="numpy", nogil=True, cache=True)
def _rmax_nonan(buf, n):
    acc = buf[0]
    for c in range(1, n):
        v = buf[c]
        acc = v if v > acc else acc
    return acc


@njit(fastmath={"nnan", "nsz", "reassoc"}, error_model="numpy", nogil=True, cache=True)
def _rmin_nonan(buf, n):
    acc = buf[0]
    for c in range(1, n):
        v = buf[c]
        acc = v if v < acc else acc
    return acc


@njit(error_model="numpy", nogil=True, cache=True)
def _rmax(buf, n):
    k = _nan_at(buf, n)  # NaN propagates, as in numpy.max
    return buf[k] if k >= 0 else _rmax_nonan(buf, n)


@njit(error_model="numpy", nogil=True, cache=True)
def _rmin(buf, n):
    k = _nan_at(buf, n)
    return buf[k] if k >= 0 else _rmin_nonan(buf, n)
'''

_HELPERS_SOURCE: str = "\n".join([
    f"# graphscope fused-kernel helpers (generator {GENERATOR_VERSION}); generated, do not edit",
    "import math",
    "",
    "import numpy as np",
    "from llvmlite import ir as llvm_ir",
    "from numba import njit, types",
    "from numba.extending import intrinsic",
    "",
    "F32 = np.float32",
    _BASE_HELPERS,
    _MATH_HELPERS,
])

_NUMBA_DTYPES = frozenset({"float32", "float64", "bool"})
_BINARY = {"add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})", "div": "({0} / {1})",
           "pow": "({0} ** {1})", "maximum": "_fmax({0}, {1})", "minimum": "_fmin({0}, {1})"}
_COMPARE = {"equal": "==", "not_equal": "!=", "less": "<", "less_equal": "<=", "greater": ">", "greater_equal": ">="}
_UNARY = {"neg": "(-{0})", "abs": "abs({0})", "sqrt": "np.sqrt({0})", "square": "({0} * {0})",
          "reciprocal": "({one} / {0})", "sin": "np.sin({0})", "cos": "np.cos({0})", "floor": "np.floor({0})",
          "ceil": "np.ceil({0})"}
_TRANSCENDENTAL = {  # (float32, float64) forms
    "exp": ("_exp32({0})", "_exp64({0})"), "log": ("_log32({0})", "np.log({0})"),
    "tanh": ("_tanh32({0})", "_tanh64({0})"), "erf": ("_erf32({0})", "math.erf({0})"),
}
_NP_NAME = {"float32": "np.float32", "float64": "np.float64"}


def _conv(expr: str, src: np.dtype, dst: np.dtype) -> str:
    if src == dst:
        return expr
    if dst == np.bool_:
        return f"({expr} != 0)"
    return f"{_NP_NAME[dst.name]}({expr})"


def _literal_text(value: Any, dtype: np.dtype) -> str:
    if dtype == np.bool_:
        return "True" if value else "False"
    v = float(value)
    if math.isnan(v):
        text = "np.nan"
    elif math.isinf(v):
        text = "np.inf" if v > 0 else "-np.inf"
    else:
        text = repr(v)
    return f"{_NP_NAME[dtype.name]}({text})"


def numba_unsupported(plan: FusedPlan) -> str | None:
    """None when the numba generator handles every value and step of the plan, else why not."""
    for s in plan.specs:
        if s.dtype.name not in _NUMBA_DTYPES:
            return f"dtype {s.dtype.name}"
    for j, (op, _, _) in enumerate(plan.program):
        out = plan.specs[plan.n_in + j].dtype
        if op == LITERAL or op in _COMPARE or op in ("where", "cast", "logical_and", "logical_or", "logical_not"):
            continue
        if op not in _BINARY and op not in _UNARY and op not in _TRANSCENDENTAL and op not in REDUCTIONS and op != "clip":
            return f"op {op}"
        if out.kind != "f":
            return f"op {op} on {out.name}"
    return None


class _Gen:
    """Python source for one program's kernel over a range of rows (or of flat elements).

    ``alias``: the in-place variant, whose output *is* input ``alias`` (no ``out`` parameter). A separate
    kernel because LLVM vectorizes a loop over two array arguments only after a runtime check that
    they do not overlap; when they are the same buffer the check fails and the scalar loop runs
    (measured: 2x slower on a GELU program). With one array, load and store provably meet.
    """

    def __init__(self, plan: FusedPlan, alias: int | None = None) -> None:
        self.p = plan
        self.alias = alias
        n = plan.n_in
        prog = plan.program
        # Phase of each column-varying value; the phase at which each row value is ready.
        self.phase: dict[int, int] = {}
        self.ready: dict[int, int] = {}
        for k in range(n):
            (self.phase if plan.varies_c[k] else self.ready)[k] = 0
        for j, (op, args, _) in enumerate(prog):
            v = n + j
            if op in REDUCTIONS:
                self.ready[v] = self.phase[args[0]] + 1
            elif plan.varies_c[v]:
                self.phase[v] = max([self.phase[a] if plan.varies_c[a] else self.ready[a] for a in args], default=0)
            else:
                self.ready[v] = max([self.ready[a] for a in args], default=0)
        self.n_phases = max(self.phase.values(), default=-1) + 1
        # Computed column values read by a reduction or in a later phase live in a row buffer
        # (inputs are simply read again from their arrays).
        self.stored: set[int] = set()
        for j, (op, args, _) in enumerate(prog):
            for a in args:
                if a < n:
                    continue
                if op in REDUCTIONS or (plan.varies_c[n + j] and plan.varies_c[a] and self.phase[n + j] > self.phase[a]):
                    self.stored.add(a)

    # -- expressions ----------------------------------------------------------------------------
    def dtype(self, v: int) -> np.dtype:
        return self.p.specs[v].dtype

    def name(self, v: int) -> str:
        return f"x{v}" if v < self.p.n_in else f"v{v - self.p.n_in}"

    def expr(self, j: int) -> str:
        op, args, pairs = self.p.program[j]
        out = self.dtype(self.p.n_in + j)
        attrs = dict(pairs)
        if op == LITERAL:
            return _literal_text(attrs["value"], np.dtype(attrs["dtype"]))
        names = [self.name(a) for a in args]
        dts = [self.dtype(a) for a in args]
        if op in _COMPARE:
            cd = np.result_type(*dts)
            a, b = (_conv(x, d, cd) for x, d in zip(names, dts))
            return f"({a} {_COMPARE[op]} {b})"
        if op in ("logical_and", "logical_or"):
            a, b = (_conv(x, d, np.dtype(bool)) for x, d in zip(names, dts))
            return f"({a} {'&' if op == 'logical_and' else '|'} {b})"
        if op == "logical_not":
            return f"(not {_conv(names[0], dts[0], np.dtype(bool))})"
        if op == "cast":
            return _conv(names[0], dts[0], out)
        if op == "where":
            c = _conv(names[0], dts[0], np.dtype(bool))
            a, b = (_conv(x, d, out) for x, d in zip(names[1:], dts[1:]))
            return f"({a} if {c} else {b})"
        ops = [_conv(x, d, out) for x, d in zip(names, dts)]
        if op in _BINARY:
            return f"{_NP_NAME[out.name]}({_BINARY[op].format(*ops)})"
        if op == "sign":
            one, zero = _literal_text(1, out), _literal_text(0, out)
            return f"({one} if {ops[0]} > {zero} else (-{one} if {ops[0]} < {zero} else {ops[0]}))"
        if op in _UNARY:
            return f"{_NP_NAME[out.name]}({_UNARY[op].format(*ops, one=_literal_text(1, out))})"
        if op in _TRANSCENDENTAL:
            return f"{_NP_NAME[out.name]}({_TRANSCENDENTAL[op][0 if out == np.float32 else 1].format(*ops)})"
        if op == "clip":
            e = ops[0]
            if attrs.get("min") is not None:
                e = f"_fmax({e}, {_literal_text(attrs['min'], out)})"
            if attrs.get("max") is not None:
                e = f"_fmin({e}, {_literal_text(attrs['max'], out)})"
            return e
        raise AssertionError(f"no numba form for op {op}")

    def reduction(self, j: int) -> str:
        op, args, _ = self.p.program[j]
        a = args[0]
        buf = f"buf{a}" if a >= self.p.n_in else f"a{a}[{self._row_index(a)}]"
        src, out = self.dtype(a), self.dtype(self.p.n_in + j)
        if op in ("sum", "mean"):
            total = f"_rsum({buf}, N, {_literal_text(0, src)})"
            return _conv(total if op == "sum" else f"({total} / {_NP_NAME[src.name]}(N))", src, out)
        return _conv(f"_r{op}({buf}, N)", src, out)

    # -- code -----------------------------------------------------------------------------------
    def source(self) -> str:
        p = self.p
        n = p.n_in
        params = [f"p{k}" for k in range(n)]
        arrays = [f"a{k}" for k in range(n)]
        args = ", ".join(["lo", "hi"] + ([] if p.flat else ["N"]) + params + arrays + ([] if self.alias is not None else ["out"]))
        lines = ['@njit(error_model="numpy", nogil=True, cache=True)', f"def kernel({args}):"]
        if self.alias is not None:
            lines.append(f"    out = a{self.alias}")
        lines += ["    " + line for line in (self.flat_body() if p.flat else self.rows_body())]
        return "\n".join(lines) + "\n"

    def _const_lines(self) -> list[str]:
        """Values that vary neither along rows nor columns: computed once per call."""
        p = self.p
        out = []
        for k in range(p.n_in):
            if not p.varies_r[k] and not p.varies_c[k]:
                out.append(f"x{k} = a{k}[0]" if p.flat else f"x{k} = a{k}[0, 0]")
        for j, (op, _, _) in enumerate(p.program):
            v = p.n_in + j
            if not p.varies_r[v] and not p.varies_c[v] and op not in REDUCTIONS:
                out.append(f"{self.name(v)} = {self.expr(j)}")
        return out

    def flat_body(self) -> list[str]:
        p = self.p
        lines = self._const_lines()
        # Slices and range(n): indices provably >= 0, so loads and stores stay contiguous vectors.
        lines += [f"s{k} = a{k}[lo:hi]" for k in range(p.n_in) if p.varies_c[k]]
        lines += ["dst = out[lo:hi]", "for i in range(hi - lo):"]
        inner = []
        for k in range(p.n_in):
            if p.varies_c[k]:
                inner.append(f"x{k} = s{k}[i]")
        for j in range(len(p.program)):
            v = p.n_in + j
            if p.varies_c[v] or p.varies_r[v]:
                inner.append(f"{self.name(v)} = {self.expr(j)}")
        inner.append(f"dst[i] = {self.name(p.n_in + len(p.program) - 1)}")
        return lines + ["    " + s for s in inner]

    def _row_index(self, k: int) -> str:
        mode = self.p.in_maps[k][0]
        return {"id": "r", "zero": "0", "mod": f"r % p{k}", "div": f"r // p{k}"}[mode]

    def rows_body(self) -> list[str]:
        p = self.p
        n = p.n_in
        prog = p.program
        root = n + len(prog) - 1
        lines = self._const_lines()
        lines += [f"buf{v} = np.empty(N, np.{self.dtype(v).name})" for v in sorted(self.stored)]
        lines.append("for r in range(lo, hi):")
        row: list[str] = []
        for k in range(n):  # per-row inputs
            if p.varies_r[k] and not p.varies_c[k]:
                row.append(f"x{k} = a{k}[{self._row_index(k)}, 0]")
        for ph in range(self.n_phases + 1):
            for j, (op, _, _) in enumerate(prog):  # row values ready for this phase
                v = n + j
                if not p.varies_c[v] and p.varies_r[v] and self.ready.get(v) == ph:
                    row.append(f"{self.name(v)} = {self.reduction(j) if op in REDUCTIONS else self.expr(j)}")
            if ph == self.n_phases:
                break
            col: list[str] = []
            needed = self._needed_in_phase(ph)
            for k in range(n):
                if p.varies_c[k] and k in needed:
                    col.append(f"x{k} = a{k}[{self._row_index(k)}, c]")
            for v in sorted(needed):
                if v >= n and p.varies_c[v] and self.phase[v] < ph:
                    col.append(f"{self.name(v)} = buf{v}[c]")
            for j in range(len(prog)):
                v = n + j
                if p.varies_c[v] and self.phase[v] == ph:
                    col.append(f"{self.name(v)} = {self.expr(j)}")
                    if v in self.stored:
                        col.append(f"buf{v}[c] = {self.name(v)}")
            if p.out_full and self.phase.get(root) == ph:
                col.append(f"out[r, c] = {self.name(root)}")
            if col:
                row.append("for c in range(N):")
                row += ["    " + s for s in col]
        if not p.out_full:
            row.append(f"out[r] = {self.name(root)}")
        return lines + ["    " + s for s in row]

    def _needed_in_phase(self, ph: int) -> set[int]:
        """Column values read in phase ``ph``: computed there, their args, stored ones reloaded."""
        p = self.p
        n = p.n_in
        need: set[int] = set()
        for j, (_, args, _) in enumerate(p.program):
            v = n + j
            if p.varies_c[v] and self.phase[v] == ph:
                need.add(v)
                need.update(a for a in args if p.varies_c[a])
        root = n + len(p.program) - 1
        if p.out_full and self.phase.get(root) == ph:
            need.add(root)
        return need


_HELPERS_DIGEST = hashlib.sha256(_HELPERS_SOURCE.encode()).hexdigest()[:20]


def numba_source(plan: FusedPlan, alias: int | None = None) -> str:
    """The kernel module's source; helper functions (``_rsum``, ``_exp32`` ...) are injected when it loads.

    ``alias``: the variant writing its result over input ``alias`` (see ``_Gen``).
    """
    header = [
        f"# graphscope fused kernel (generator {GENERATOR_VERSION}); generated, do not edit",
        "# helpers (_rsum, _fmax, _exp32, ...) come from the helper module, injected before this runs:",
        f"# {_HELPERS_DIGEST} (part of this source, so a new helper module means a new kernel cache)",
        "import math",
        "",
        "import numpy as np",
        "from numba import njit",
        "",
        "",
    ]
    return "\n".join(header) + _Gen(plan, alias).source()


_modules: dict[str, Any] = {}
_modules_lock = threading.Lock()


def cache_dir() -> str:
    base = os.environ.get("GRAPHSCOPE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "graphscope")
    path = os.path.join(base, "fused_kernels")
    try:
        os.makedirs(path, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    path = os.path.join(tempfile.gettempdir(), f"graphscope-fused-{os.getuid() if hasattr(os, 'getuid') else 'user'}")
    os.makedirs(path, exist_ok=True)
    return path


def load_source(source: str, inject: dict[str, Any] | None = None) -> Any:
    """Import a generated module from the cache directory (written once; numba caches beside it)."""
    import importlib.util

    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    with _modules_lock:
        mod = _modules.get(digest)
        if mod is not None:
            return mod
        path = os.path.join(cache_dir(), f"gs_fused_{digest}.py")
        try:
            with open(path, encoding="utf-8") as f:
                same = f.read() == source
        except OSError:
            same = False
        if not same:  # write atomically; an unchanged file keeps its mtime, so numba's cache stays valid
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(source)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(f"graphscope_fused_{digest}", path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        mod.__dict__.update(inject or {})
        sys.modules[spec.name] = mod  # numba's disk cache re-imports a kernel's module by name
        spec.loader.exec_module(mod)
        _modules[digest] = mod
        return mod


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _cpus() -> int:
    """Cores this process may run on (its affinity mask, e.g. under taskset or a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


PARALLEL_MIN_WORK = 1 << 18  # element-steps (about 100 us of work): below, one thread beats a thread handoff
# Right after a multi-threaded BLAS product (a fused_matmul's epilogue) a handoff costs more: measured on the
# MLP layer (256x1024, bias + relu, 0.5M element-steps) the epilogue took 0.03 ms on one thread and 0.1 ms
# on two, while BLAS's workers still spin; so epilogues split only from this much work on.
EPILOGUE_PARALLEL_MIN_WORK = 1 << 21


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    step = -(-n // parts)
    return [(lo, min(n, lo + step)) for lo in range(0, n, step)]


def _numba_kernel(plan: FusedPlan, readonly: Sequence[bool] = (), alias: int | None = None,
                  min_work: int = PARALLEL_MIN_WORK) -> Callable[[Sequence[np.ndarray], np.ndarray], None]:
    """The compiled row kernel, split over row ranges on the thread pool when the work is large.

    ``readonly`` says which inputs arrive read-only (constants): the kernel is compiled for exactly
    those argument types here, at bind time, so compile errors fall back to the NumPy engine.
    ``alias``: the in-place variant; its caller passes ``out`` as input ``alias`` (C-contiguous, the
    same buffer), and the kernel writes there.
    """
    from numba import from_dtype, types

    helpers = load_source(_HELPERS_SOURCE)
    mod = load_source(numba_source(plan, alias),
                      {k: v for k, v in vars(helpers).items() if k.startswith("_") and k[1:2] != "_"})
    fn = mod.kernel
    total = plan.rows * plan.cols
    cpus = _cpus()
    if plan.flat:
        n_items, lead = total, ()
        shapes: list[tuple[int, ...]] = [(s[0] * s[1],) for s in plan.in_shapes2d]
        out2d: tuple[int, ...] = (total,)
    else:
        n_items, lead = plan.rows, (plan.cols,)
        shapes = list(plan.in_shapes2d)
        out2d = (plan.rows, plan.cols) if plan.out_full else (plan.rows,)
    parallel = cpus > 1 and n_items > 1 and total * max(plan.n_steps, 1) >= min_work
    ranges = _split(n_items, cpus) if parallel else [(0, n_items)]
    params = tuple(m[1] for m in plan.in_maps)
    ro = list(readonly) + [False] * (plan.n_in - len(readonly))
    if alias is not None:
        ro[alias] = False
    sig = ([types.int64] * (2 + len(lead) + len(params))
           + [types.Array(from_dtype(s_.dtype), len(shape), "C", readonly=r) for s_, shape, r in zip(plan.specs, shapes, ro)]
           + ([types.Array(from_dtype(plan.out.dtype), len(out2d), "C")] if alias is None else []))
    try:
        fn.compile(tuple(sig))
    except Exception as exc:  # a program the generator cannot type: evaluate it with NumPy instead
        warnings.warn(f"graphscope: fused kernel did not compile ({type(exc).__name__}: {str(exc)[:200]}); "
                      f"using the NumPy engine", RuntimeWarning, stacklevel=2)
        return _numpy_kernel(plan)
    ascontig = np.ascontiguousarray

    def outs(out):
        return (out.reshape(out2d),) if alias is None else ()

    if len(ranges) == 1:
        def compute(arrays, out):
            fn(0, n_items, *lead, *params, *[ascontig(a).reshape(s) for a, s in zip(arrays, shapes)], *outs(out))
    else:
        (lo0, hi0), rest = ranges[0], ranges[1:]

        def compute(arrays, out):  # numba kernels release the GIL: the pool's threads run them side by side
            tail = (*lead, *params, *[ascontig(a).reshape(s) for a, s in zip(arrays, shapes)], *outs(out))
            pool = _thread_pool()
            futures = [pool.submit(fn, lo, hi, *tail) for lo, hi in rest]
            fn(lo0, hi0, *tail)
            for f in futures:
                f.result()

    compute.threads = len(ranges)  # type: ignore[attr-defined]
    return compute


# -- the NumPy engine -------------------------------------------------------------------------------

BLOCK_ELEMENTS = 1 << 17  # per block: the working set of a few buffers stays in a 2 MiB L2
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_cpus(), thread_name_prefix="graphscope-fused")
        return _pool


_REDUCE_UFUNC = {"sum": np.add, "mean": np.add, "max": np.maximum, "min": np.minimum}


def _numpy_kernel(plan: FusedPlan) -> Callable[[Sequence[np.ndarray], np.ndarray], None]:
    """Blocked evaluation: ufuncs write into per-thread preallocated buffers, blocks spread over threads."""
    n, prog, cols = plan.n_in, plan.program, plan.cols
    total = plan.rows * cols
    vr, vc = plan.varies_r, plan.varies_c
    const = [not vr[v] and not vc[v] for v in range(len(plan.specs))]
    flat = plan.flat
    n_rows, unit = (total, 1) if flat else (plan.rows, cols)
    block_rows = max(1, min(n_rows, BLOCK_ELEMENTS // max(unit, 1)))
    blocks = [(r0, min(n_rows, r0 + block_rows)) for r0 in range(0, n_rows, block_rows)]
    threads = min(len(blocks), _cpus()) if total >= 2 * BLOCK_ELEMENTS else 1
    last_use: dict[int, int] = {}
    for j, (_, args, _) in enumerate(prog):
        for a in args:
            last_use[a] = j

    def value_shape(v: int, b: int) -> tuple[int, ...]:
        if flat:
            return (b,) if vc[v] else ()
        return (b if vr[v] else 1, cols if vc[v] else 1)

    # Each non-constant step: (value, kind, function, args, values that die after it).
    steps = []
    for j, (op, args, pairs) in enumerate(prog):
        v = n + j
        if const[v]:
            continue
        # Each dying value once: where(c, x, x) reads x twice, and freeing its buffer twice would hand it
        # to two later values at once.
        dead = tuple(sorted({a for a in args if a >= n and last_use.get(a) == j and not const[a]}))
        if op in REDUCTIONS:
            steps.append((v, "mean" if op == "mean" else "reduce", _REDUCE_UFUNC[op].reduce, args, dead))
            continue
        opdef = get_op(op)
        uf = getattr(np, opdef.ufunc, None) if opdef.ufunc and not pairs else None
        if isinstance(uf, np.ufunc):
            steps.append((v, "ufunc", uf, args, dead))
        else:
            impl, attrs = opdef.impl, opdef.normalize_attrs(dict(pairs))
            steps.append((v, "impl", lambda *x, impl=impl, attrs=attrs: impl(np, *x, **attrs), args, dead))
    root = n + len(prog) - 1
    local = threading.local()

    codes = {"ufunc": 0, "impl": 1, "reduce": 2, "mean": 3}
    fast = [(v, codes[kind], fn, args, dead) for v, kind, fn, args, dead in steps]
    # Buffers are reused once their value is dead (a ufunc may write over its own operand), so a
    # block's working set is a few buffers that stay in cache, not one buffer per step.
    slot_of: dict[int, int] = {}
    slot_specs: list[tuple[tuple[int, ...], np.dtype]] = []
    free: dict[tuple, list[int]] = {}
    for v, kind, _, _, dead in steps:
        key = (value_shape(v, block_rows), plan.specs[v].dtype)
        if kind == "ufunc":  # operands dying here can hand their buffer over
            for d in dead:
                if d in slot_of and slot_specs[slot_of[d]] == key:
                    free.setdefault(key, []).append(slot_of[d])
        if v != root and kind != "impl":
            pool = free.get(key)
            if pool:
                slot_of[v] = pool.pop()
            else:
                slot_of[v] = len(slot_specs)
                slot_specs.append(key)
        for d in dead:
            if d in slot_of and (kind != "ufunc" or slot_specs[slot_of[d]] != key):
                free.setdefault(slot_specs[slot_of[d]], []).append(slot_of[d])

    def destinations(b: int) -> list[np.ndarray | None]:
        """This thread's buffers for a block of ``b`` rows, one per step (None: the output or an impl)."""
        cache = getattr(local, "dst", None)
        if cache is None:
            cache = local.dst = ({}, [np.empty(shape, dt) for shape, dt in slot_specs])
        views, bufs = cache
        if b not in views:
            views[b] = [None if v not in slot_of else bufs[slot_of[v]][:b] if vr[v] else bufs[slot_of[v]]
                        for v, *_ in steps]
        return views[b]

    def input_block(k: int, a: np.ndarray, r0: int, r1: int) -> np.ndarray:
        rm, p, _ = plan.in_maps[k]
        if flat or rm == "id":
            return a[r0:r1]
        if rm == "zero":
            return a
        idx = np.arange(r0, r1)
        return a[idx % p] if rm == "mod" else a[idx // p]

    def run_block(values: list[Any], arrays: Sequence[np.ndarray], out2d: np.ndarray, r0: int, r1: int) -> None:
        for k in range(n):
            if not const[k]:
                values[k] = input_block(k, arrays[k], r0, r1)
        for (v, code, fn, args, dead), dst in zip(fast, destinations(r1 - r0)):
            if v == root:
                dst = out2d[r0:r1]
            if code == 0:
                values[v] = fn(*[values[a] for a in args], out=dst)
            elif code == 1:
                res = values[v] = fn(*[values[a] for a in args])
                if v == root:
                    np.copyto(dst, np.broadcast_to(res, dst.shape), casting="unsafe")
            else:
                res = values[v] = fn(values[args[0]], axis=-1, keepdims=True, out=dst)
                if code == 3:
                    np.true_divide(res, cols, out=res, casting="unsafe")
            for d in dead:
                values[d] = None

    def compute(arrays: Sequence[np.ndarray], out: np.ndarray) -> None:
        if flat:
            arrs = [np.ascontiguousarray(a).reshape(-1) if vc[k] else np.asarray(a).reshape(()) for k, a in enumerate(arrays)]
            out2d = out.reshape(total)
        else:
            arrs = [np.ascontiguousarray(a).reshape(s) for a, s in zip(arrays, plan.in_shapes2d)]
            out2d = out.reshape((plan.rows, cols) if plan.out_full else (plan.rows, 1))
        base: list[Any] = [None] * len(plan.specs)
        for k in range(n):
            if const[k]:
                base[k] = arrs[k]
        for j, (op, args, pairs) in enumerate(prog):  # constants of the program: once per call
            v = n + j
            if const[v]:
                if op == LITERAL:
                    base[v] = literal_array(np, dict(pairs))
                else:
                    opdef = get_op(op)
                    base[v] = np.asarray(opdef.impl(np, *[base[a] for a in args], **opdef.normalize_attrs(dict(pairs))))
                if not flat:
                    base[v] = base[v].reshape(1, 1)
        if threads == 1:
            for r0, r1 in blocks:
                run_block(list(base), arrs, out2d, r0, r1)
            if const[root]:
                np.copyto(out2d, base[root], casting="unsafe")
            return
        futures = [_thread_pool().submit(_run_blocks, run_block, base, arrs, out2d, blocks[t::threads])
                   for t in range(threads)]
        for f in futures:
            f.result()

    compute.threads = threads  # type: ignore[attr-defined]
    return compute


def _run_blocks(run_block: Callable, base: list, arrays: Sequence, out2d: np.ndarray, blocks: list[tuple[int, int]]) -> None:
    for r0, r1 in blocks:
        run_block(list(base), arrays, out2d, r0, r1)


# -- the factory ------------------------------------------------------------------------------------


def _reference_compute(program: tuple[Step, ...]) -> Callable[[Sequence[np.ndarray], np.ndarray], None]:
    impl = get_op("fused").impl

    def compute(arrays, out):  # the whole result is computed before it is written: any aliasing is fine
        np.copyto(out, impl(np, *arrays, program=program), casting="unsafe")

    return compute


def program_engine(program: tuple[Step, ...], in_specs: Sequence[TensorSpec]) -> tuple[str, FusedPlan | None, str]:
    """(engine, plan, why not a faster one) for a program on inputs of these specs, under the current setting."""
    setting = engine_setting()
    plan = analyze(program, in_specs)
    if isinstance(plan, str):
        return "reference", None, plan
    if setting == "reference":
        return "reference", plan, "forced"
    if setting == "numpy":
        return "numpy", plan, "forced"
    why = numba_unsupported(plan)
    if why is None:
        if numba_available():
            return "numba", plan, ""
        why = "numba is not installed"
    return "numpy", plan, why


def choose_engine(node: Node) -> tuple[str, FusedPlan | None, str]:
    """(engine, plan, why not a faster one) for this node under the current setting."""
    return program_engine(node.attrs["program"], [i.spec for i in node.inputs])


def program_compute(program: tuple[Step, ...], in_specs: Sequence[TensorSpec], readonly: Sequence[bool] = (),
                    alias: int | None = None,
                    min_work: int = PARALLEL_MIN_WORK) -> Callable[[Sequence[np.ndarray], np.ndarray], None]:
    """``compute(arrays, out)`` evaluating ``program`` into ``out`` on the engine the setting picks.

    ``readonly``: which inputs arrive read-only (constants). ``alias``: the caller always passes
    ``out`` as input ``alias`` (a C-contiguous buffer of the output's spec, read at the output's
    positions): the numba engine then runs its in-place variant. ``min_work``: element-steps from
    which the numba engine splits the work over threads.
    """
    engine, plan, _ = program_engine(program, in_specs)
    if engine == "reference" or plan is None:
        return _reference_compute(program)
    if engine == "numba":
        return _numba_kernel(plan, readonly, alias, min_work)
    return _numpy_kernel(plan)


def _compute(node: Node, alias: int | None = None) -> Callable[[Sequence[np.ndarray], np.ndarray], None]:
    return program_compute(node.attrs["program"], [i.spec for i in node.inputs],
                           [i.op == "constant" for i in node.inputs], alias)


def fused_kernel(node: Node) -> Kernel:
    """The NumpyBackend kernel factory for ``fused`` nodes: ``f(*arrays) -> new array``."""
    compute = _compute(node)
    shape, dtype = node.spec.shape, node.spec.dtype
    empty = np.empty

    def kernel(*arrays):
        out = empty(shape, dtype)
        compute(arrays, out)
        return out

    kernel.threads = getattr(compute, "threads", 1)  # type: ignore[attr-defined]
    kernel.engine = choose_engine(node)[0]  # type: ignore[attr-defined]
    return kernel


def fused_out_kernel(node: Node) -> Kernel:
    """The same kernel writing into a given buffer, ``f(*arrays, out) -> out`` (for ``OUT_KERNELS``).

    ``out`` may be one of the inputs allowed by ``fused_in_place_ok`` (the memory plan's in-place
    reuse): every engine reads an element before it writes the output element at that position. The
    numba engine then switches to the kernel's in-place variant (compiled on the first such call),
    which vectorizes where the two-array kernel would fall back to scalar code.
    """
    compute = _compute(node)
    engine = choose_engine(node)[0]
    candidates = [k for k in range(len(node.inputs)) if fused_in_place_ok(node, k)] if engine == "numba" else []
    threads = getattr(compute, "threads", 1)

    if not candidates:
        def kernel(*args):
            out = args[-1]
            compute(args[:-1], out)
            return out

        kernel.threads = threads  # type: ignore[attr-defined]
        return kernel

    variants: dict[int, Callable] = {}
    lock = threading.Lock()
    may_share = np.may_share_memory

    def in_place(k: int, arrays: Sequence[np.ndarray], out: np.ndarray) -> None:
        a = arrays[k]
        if not (a.flags.c_contiguous and a.ctypes.data == out.ctypes.data):  # a partial overlap: read a copy
            arrays = list(arrays)
            arrays[k] = a.copy()
            compute(arrays, out)
            return
        fn = variants.get(k)
        if fn is None:
            with lock:
                fn = variants.get(k) or variants.setdefault(k, _compute(node, alias=k))
        fn(arrays, out)

    def kernel(*args):
        out = args[-1]
        arrays = args[:-1]
        for k in candidates:
            if may_share(arrays[k], out):
                in_place(k, arrays, out)
                return out
        compute(arrays, out)
        return out

    kernel.threads = threads  # type: ignore[attr-defined]
    return kernel


def fused_in_place_ok(node: Node, index: int) -> bool:
    """Whether ``fused_out_kernel`` may be handed input ``index`` as its ``out`` (for ``IN_PLACE``).

    True for an input of the node's own spec read element for element (row r, column c): each
    element is read before the output element at the same place is written, by every engine.
    """
    if node.inputs[index].spec != node.spec:
        return False
    plan = analyze(node.attrs["program"], [i.spec for i in node.inputs])
    if isinstance(plan, str):
        return True  # the reference engine computes the whole result before writing it
    return plan.in_maps[index] == ("id", 1, "id" if plan.out_full else "zero")
