"""A float64 ``erf`` written with standard ONNX ops, for runtimes without a double Erf kernel.

ONNX Runtime's CPU provider implements Erf for float (and float16) only: a model with a double
Erf fails to load ("Could not find an implementation for Erf(13)"), and casting to float32 would
lose nine digits. NumPy code is float64 by default and GELU is common, so the exporter writes a
float64 erf as this piecewise polynomial instead (``onnx_export._erf``); it is within 3 ulp of
``math.erf`` (tests/onnx/test_onnx_erf.py) and uses only ops every runtime has in double.

On |x| < 6 the interval of ``|x|`` is cut into pieces of width 1/4. On each piece, with s in [-1, 1]
its local coordinate, a value F is ``base + p(s)``, p a degree-10 polynomial (Horner, coefficients
picked per element with Gather). F is erf(a)/a below 1 (so erf = x F keeps full relative accuracy
near 0) and erfc(a) from 1 on (so erf = sign(x) (1 - F) does not lose the small erfc). |x| >= 6
gives sign(x) (erfc(6) = 2e-17 is below half an ulp of 1); NaN stays NaN.

The tables are fitted once per process from SciPy's erf/erfc: Chebyshev interpolation at 49 nodes
truncated to degree 10 (the tail is rounding noise), with each piece's value at its midpoint taken
out first so that the fitted part is small and its rounding noise negligible.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

LIMIT = 6.0  # |x| from here on: erf is +-1 in double
PIECES_PER_UNIT = 4
PIECES = int(LIMIT * PIECES_PER_UNIT)
SPLIT = 1.0  # below: F = erf(a) / a; from here on: F = erfc(a)
DEGREE = 10


def _f(a: np.ndarray, small: bool) -> np.ndarray:
    from scipy.special import erf, erfc

    if not small:
        return erfc(a)
    safe = np.where(a == 0, 1.0, a)
    return np.where(a == 0, 2 / np.sqrt(np.pi), erf(safe) / safe)


@functools.lru_cache(maxsize=1)
def tables() -> tuple[np.ndarray, np.ndarray]:
    """(base[PIECES], monomial coefficients[PIECES, DEGREE + 1]) of the pieces, in float64."""
    from numpy.polynomial import chebyshev

    width = 1.0 / PIECES_PER_UNIT
    base = np.empty(PIECES)
    coef = np.empty((PIECES, DEGREE + 1))
    for i in range(PIECES):
        small = (i + 1) * width <= SPLIT
        base[i] = float(_f(np.array((i + 0.5) * width), small))

        def residual(s: np.ndarray, i: int = i, small: bool = small) -> np.ndarray:
            return _f((i + 0.5 + s / 2) * width, small) - base[i]

        cheb = chebyshev.chebinterpolate(residual, 48)[:DEGREE + 1]
        coef[i] = chebyshev.cheb2poly(cheb)
    return base, coef


def evaluate(x: np.ndarray) -> np.ndarray:
    """The same computation in NumPy (what the ONNX graph computes), for tests."""
    base, coef = tables()
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    inside = a < LIMIT
    ai = np.where(inside, a, 0.0)
    fi = np.floor(ai * PIECES_PER_UNIT)
    i = fi.astype(np.int64)
    s = ai * (2 * PIECES_PER_UNIT) - (fi * 2 + 1)
    p = coef[i, DEGREE]
    for k in range(DEGREE - 1, -1, -1):
        p = p * s + coef[i, k]
    v = base[i] + p
    res = np.where(a < SPLIT, x * v, np.sign(x) * (1 - v))
    out = np.where(inside, res, np.sign(x))
    return np.where(x == x, out, x)


def emit_erf64(e: Any, x: str) -> str:
    """The ONNX nodes of erf(x) for a float64 value ``x`` (``e`` is the exporter's node builder)."""
    base, coef = tables()
    f64 = np.float64

    def c(v: float) -> str:
        return e.const(np.array(v, dtype=f64))

    a = e.op("Abs", [x])
    inside = e.op("Less", [a, c(LIMIT)])
    ai = e.op("Where", [inside, a, c(0.0)])  # NaN and |x| >= 6 index piece 0; their result is replaced below
    fi = e.op("Floor", [e.op("Mul", [ai, c(PIECES_PER_UNIT)])])
    i = e.op("Cast", [fi], to=7)  # INT64
    # s = 8a - (2i + 1): exact in double (power-of-two scaling, small integers)
    s = e.op("Sub", [e.op("Mul", [ai, c(2 * PIECES_PER_UNIT)]), e.op("Add", [e.op("Mul", [fi, c(2.0)]), c(1.0)])])

    def column(k: int) -> str:
        return e.op("Gather", [e.const(np.ascontiguousarray(coef[:, k])), i], axis=0)

    p = column(DEGREE)
    for k in range(DEGREE - 1, -1, -1):
        p = e.op("Add", [e.op("Mul", [p, s]), column(k)])
    v = e.op("Add", [e.op("Gather", [e.const(base), i], axis=0), p])
    sign = e.op("Sign", [x])
    res = e.op("Where", [e.op("Less", [a, c(SPLIT)]), e.op("Mul", [x, v]), e.op("Mul", [sign, e.op("Sub", [c(1.0), v])])])
    out = e.op("Where", [inside, res, sign])
    return e.op("Where", [e.op("Equal", [x, x]), out, x])  # NaN in, NaN out (ONNX Sign(NaN) may be 0)


__all__ = ["DEGREE", "LIMIT", "PIECES", "emit_erf64", "evaluate", "tables"]
