"""Value summaries: the statistics of one array (shape, range, moments, NaN/Inf counts, a histogram).

``summarize(a)`` makes a :class:`~graphscope.profile.events.ValueSummary`; runs fill
``RunProfile.value_summaries`` with one per node when asked (``gs.run(..., value_summaries=True)``),
and reports, the dashboard and ``NumericsError`` messages show them. Statistics are over the finite
elements, computed in float64 (a float32 sum of a large tensor would overflow or lose digits).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from graphscope.profile.events import ValueSummary

DEFAULT_BINS = 20


def summarize(value: Any, bins: int = DEFAULT_BINS) -> ValueSummary:
    """The summary of ``value`` (a NumPy array or scalar; bool counts as 0/1, complex by magnitude)."""
    a = np.asarray(value)
    shape, dtype = tuple(int(d) for d in a.shape), a.dtype.name
    kind = a.dtype.kind
    if kind == "b":
        a = a.astype(np.uint8)
    elif kind == "c":
        a = np.abs(a)  # NaN/Inf survive: |nan| is nan, |inf| is inf
    elif kind not in "iuf":
        return ValueSummary(shape, dtype, None, None, None, None)
    flat = a.reshape(-1)
    nan_count = inf_count = 0
    if flat.dtype.kind == "f":
        finite_mask = np.isfinite(flat)
        n_finite = int(np.count_nonzero(finite_mask))
        if n_finite != flat.size:
            nan_count = int(np.count_nonzero(np.isnan(flat)))
            inf_count = flat.size - n_finite - nan_count
            flat = flat[finite_mask]
    if flat.size == 0:
        return ValueSummary(shape, dtype, None, None, None, None, nan_count, inf_count)
    lo, hi = flat.min(), flat.max()
    mean: float | None = float(flat.mean(dtype=np.float64))
    std: float | None = float(flat.std(dtype=np.float64))
    if not math.isfinite(mean) or not math.isfinite(std):  # float64 values near 1e308 overflow the moments
        mean = std = None
    lo_f, hi_f = float(lo), float(hi)
    if lo_f == hi_f:  # one value: one bin around it
        counts, edges = [int(flat.size)], [lo_f, hi_f]
    else:
        c, e = _histogram(flat, bins, lo_f, hi_f)
        counts, edges = [int(x) for x in c], [float(x) for x in e]
    return ValueSummary(shape, dtype, lo_f, hi_f, mean, std, nan_count, inf_count, counts, edges)


def _histogram(flat: np.ndarray, bins: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    try:
        return np.histogram(flat, bins=bins, range=(lo, hi))
    except ValueError:  # NumPy makes the edges in the data's dtype: a range a few float32 ulps wide has too few
        try:
            return np.histogram(flat.astype(np.float64), bins=bins, range=(lo, hi))
        except ValueError:
            return np.array([flat.size]), np.array([lo, hi])


def _g(x: float | None) -> str:
    if x is None:
        return "-"
    if x == 0 or (1e-3 <= abs(x) < 1e5):
        return f"{x:.4g}"
    return f"{x:.2e}" if math.isfinite(x) else str(x)


def short_dtype(dtype: str) -> str:
    from graphscope.ir.spec import TensorSpec

    try:
        return TensorSpec((), dtype).short()[:-2]  # "f32[]" -> "f32"
    except (TypeError, ValueError):
        return dtype


def format_summary(s: ValueSummary) -> str:
    """One line, e.g. ``f32[8,128] min=-3.1 max=2.9 mean=0.01 std=1 nan=16 inf=0`` (min/max of finite values)."""
    head = f"{short_dtype(s.dtype)}[{','.join(map(str, s.shape))}]"
    if s.min is None and not (s.nan_count or s.inf_count):
        return head + (" (no finite values)" if s.mean is None and s.dtype[:1] in "fcui" else "")
    text = f"{head} min={_g(s.min)} max={_g(s.max)} mean={_g(s.mean)} std={_g(s.std)}"
    if s.nan_count or s.inf_count:
        text += f" nan={s.nan_count} inf={s.inf_count}"
    return text


__all__ = ["DEFAULT_BINS", "format_summary", "short_dtype", "summarize"]
