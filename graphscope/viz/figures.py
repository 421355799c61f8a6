"""Plotly figures of a profile: pure functions of a RunProfile and its Report, no I/O.

The HTML report and the dashboard build their pictures here, so both show the same thing and the
tests check figure data (not pixels):

* ``flame_chart(report)``: an icicle laid out as a flame graph: the graph at the bottom, name scopes
  above it, nodes on top; width is time (the scopes' totals from ``Report.by_scope``).
* ``timeline(profile)``: one row per lane, a bar per node event of one iteration (the median one).
* ``memory_curve(report)``: live bytes of intermediates through the iteration, the peak marked.
* ``op_breakdown(report)``: node time by op type.
* ``roofline(report)``: achieved GFLOP/s against arithmetic intensity, under the two roofs of the
  machine's peaks (``Report.peaks``), nodes coloured by bound and sized by their share of time.
* ``top_nodes(report)``: the slowest nodes as horizontal bars.
* ``value_histogram(summary)``: a node output's value histogram (from a ValueSummary).
* ``comparison_by_op(comparison)``: time per op type before and after, from ``profile.compare``.

Times are shown in the unit that suits the largest value (ns, µs, ms or s); the raw nanoseconds
ride along in ``customdata`` for hover text.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import plotly.graph_objects as go

from graphscope.profile.analysis import COMPUTE, MEMORY, OVERHEAD, Report, format_bytes, format_ns, format_spec
from graphscope.profile.compare import Comparison
from graphscope.profile.events import NodeEvent, RunProfile, ValueSummary

BOUND_COLORS = {COMPUTE: "#d62728", MEMORY: "#1f77b4", OVERHEAD: "#7f7f7f"}
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d",
           "#bab0ac", "#2f4b7c", "#a05195", "#d45087", "#665191", "#ffa600", "#003f5c")
MAX_FLAME_LEAVES = 2000  # node leaves past this are summed into one "other nodes" leaf per scope
LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, "font": {"size": 12}}


def time_unit(max_ns: float) -> tuple[str, float]:
    """(unit, nanoseconds per unit) that shows ``max_ns`` with a few digits before the point."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if max_ns >= scale:
            return unit, scale
    return "ns", 1.0


def byte_unit(max_bytes: float) -> tuple[str, float]:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if max_bytes >= scale:
            return unit, float(scale)
    return "B", 1.0


def op_colors(ops: list[str]) -> dict[str, str]:
    """A stable colour per op name (sorted order), shared by the figures that colour by op."""
    return {op: PALETTE[k % len(PALETTE)] for k, op in enumerate(sorted(set(ops)))}


def _layout(fig: go.Figure, title: str, **kw: Any) -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0.01}, **LAYOUT, **kw)
    return fig


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


# ---------------------------------------------------------------------------------------------
# Flame chart


def flame_chart(report: Report, *, max_leaves: int = MAX_FLAME_LEAVES) -> go.Figure:
    """Scopes and nodes as a flame graph (icicle, root at the bottom); width is median time.

    ids are ``"scope:<path>"`` (the root is ``"scope:"``) and ``"node:<id>"``; each scope's value is
    its total (``ScopeRow.total_ns``) and each node's its median, so widths add up
    (``branchvalues="total"``). With more than ``max_leaves`` nodes the smallest ones of each scope
    are summed into one ``"other:<path>"`` leaf.
    """
    ids, labels, parents, values, custom = [], [], [], [], []
    total = report.timing.node_total_ns or 0.0
    scopes = {s.scope for s in report.by_scope}
    for s in report.by_scope:
        parent = "" if not s.scope else "scope:" + (s.scope.rsplit("/", 1)[0] if "/" in s.scope else "")
        ids.append("scope:" + s.scope)
        labels.append(report.graph_name if not s.scope else s.scope.rsplit("/", 1)[-1])
        parents.append(parent)
        values.append(s.total_ns)
        custom.append([s.scope or "(whole graph)", format_ns(s.total_ns), s.pct, f"{s.count} nodes, self {format_ns(s.self_ns)}"])
    keep = {r.id for r in report.nodes}
    if len(report.nodes) > max_leaves:
        keep = {r.id for r in sorted(report.nodes, key=lambda r: -r.median_ns)[:max_leaves]}
    other: dict[str, list[float]] = {}
    for r in report.nodes:
        scope = r.scope if r.scope in scopes else ""
        if r.id not in keep:
            other.setdefault(scope, []).append(r.median_ns)
            continue
        ids.append(f"node:{r.id}")
        labels.append(r.name.rsplit("/", 1)[-1])
        parents.append("scope:" + scope)
        values.append(r.median_ns)
        custom.append([f"%{r.id} {r.name} ({r.op})", format_ns(r.median_ns), r.pct, r.source or ""])
    for scope, ts in other.items():
        ids.append("other:" + scope)
        labels.append(f"{len(ts)} other nodes")
        parents.append("scope:" + scope)
        values.append(sum(ts))
        custom.append([f"{len(ts)} smaller nodes", format_ns(sum(ts)), 100 * sum(ts) / total if total else 0.0, ""])
    if ids:  # float sums: make sure no parent is smaller than its children (plotly would drop the chart)
        kids: dict[str, float] = {}  # children always come after their parent: sum them up in reverse
        for k in range(len(ids) - 1, -1, -1):
            values[k] = max(values[k], kids.get(ids[k], 0.0))
            kids[parents[k]] = kids.get(parents[k], 0.0) + values[k]
    fig = go.Figure(go.Icicle(
        ids=ids, labels=labels, parents=parents, values=values, branchvalues="total", customdata=custom,
        tiling={"orientation": "v", "flip": "y"}, sort=False, maxdepth=-1,
        hovertemplate="%{customdata[0]}<br>%{customdata[1]} (%{customdata[2]:.1f}% of node time)<br>"
                      "%{customdata[3]}<extra></extra>",
        marker={"colors": [_flame_color(v, values[0] if values else 0) for v in values]},
    ))
    return _layout(fig, f"Flame chart: node time by scope ({format_ns(total)} in {len(report.nodes)} nodes)",
                   height=max(360, 110 * (1 + max((s.depth for s in report.by_scope), default=0) + 1)))


def _flame_color(value: float, top: float) -> str:
    """Warm flame colours, deeper for a larger share of the whole."""
    f = math.sqrt(value / top) if top > 0 else 0.0
    r, g, b = 255, int(235 - 150 * f), int(150 - 120 * f)
    return f"rgb({r},{max(g, 0)},{max(b, 0)})"


# ---------------------------------------------------------------------------------------------
# Timeline


def representative_iteration(profile: RunProfile) -> int:
    """Index of the measured iteration whose wall time is the median."""
    if not profile.iterations:
        return -1
    order = sorted(range(len(profile.iteration_ns)), key=lambda k: profile.iteration_ns[k]) or [len(profile.iterations) - 1]
    return min(order[(len(order) - 1) // 2], len(profile.iterations) - 1)


def timeline(profile: RunProfile, iteration: int | None = None) -> go.Figure:
    """Gantt-like bars, one row per lane, one bar per node event of one iteration (default: the
    median one), coloured by op. One bar trace per op: x is the duration, base the start."""
    k = representative_iteration(profile) if iteration is None else iteration
    events: list[NodeEvent] = profile.iterations[k] if profile.iterations else []
    end = max((e.end_ns for e in events), default=0)
    unit, scale = time_unit(end)
    lanes = sorted({e.lane for e in events}, key=lambda ln: min(e.start_ns for e in events if e.lane == ln))
    by_op: dict[str, list[NodeEvent]] = {}
    for e in events:
        info = profile.nodes.get(e.node_id)
        by_op.setdefault(info.op if info else "?", []).append(e)
    colors = op_colors(list(by_op))
    fig = go.Figure()
    for op in sorted(by_op, key=lambda o: -sum(e.duration_ns for e in by_op[o])):
        evs = by_op[op]
        names = [profile.nodes[e.node_id].name if e.node_id in profile.nodes else f"%{e.node_id}" for e in evs]
        fig.add_trace(go.Bar(
            name=op, orientation="h", y=[e.lane for e in evs], x=[e.duration_ns / scale for e in evs],
            base=[e.start_ns / scale for e in evs], marker={"color": colors[op], "line": {"width": 0}},
            customdata=[[f"%{e.node_id} {n}", format_ns(e.duration_ns), format_ns(e.start_ns), format_bytes(e.live_bytes)]
                        for e, n in zip(evs, names)],
            hovertemplate=f"%{{customdata[0]}} ({op})<br>%{{customdata[1]}} from %{{customdata[2]}}<br>"
                          "live after: %{customdata[3]}<extra></extra>",
        ))
    wall = profile.iteration_ns[k] if profile.iterations and k < len(profile.iteration_ns) else end
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(lanes)), title="lane")
    fig.update_xaxes(title=f"time into the iteration ({unit})")
    return _layout(fig, f"Timeline of iteration {k + 1} of {len(profile.iterations)} (wall {format_ns(wall)}, "
                        f"{len(events)} node events)", barmode="overlay", bargap=0.3,
                   height=max(260, 140 + 60 * len(lanes)), legend={"title": "op"})


# ---------------------------------------------------------------------------------------------
# Memory


def memory_curve(report: Report) -> go.Figure:
    """Live bytes of intermediates through the (median) iteration, a step line, with the peak marked."""
    m = report.memory
    pts = m.timeline or [(0.0, 0)]
    unit, scale = time_unit(max(t for t, _ in pts))
    bunit, bscale = byte_unit(max(max(b for _, b in pts), m.peak_bytes))
    fig = go.Figure(go.Scatter(
        x=[t / scale for t, _ in pts], y=[b / bscale for _, b in pts], mode="lines", line={"shape": "hv", "color": "#4c78a8"},
        fill="tozeroy", name="live bytes", hovertemplate=f"%{{x:.3g}} {unit}: %{{y:.4g}} {bunit}<extra></extra>",
    ))
    peak_t, peak_b = max(pts, key=lambda p: p[1])
    names = {r.id: r.name for r in report.nodes}
    where = f" after %{m.peak_node} {names.get(m.peak_node, '')}".rstrip() if m.peak_node is not None else ""
    fig.add_trace(go.Scatter(
        x=[peak_t / scale], y=[peak_b / bscale], mode="markers+text", marker={"color": "#d62728", "size": 10},
        text=[f"peak {format_bytes(peak_b)}{where}"], textposition="top center", name="peak",
        hovertemplate=f"peak %{{y:.4g}} {bunit}{where}<extra></extra>",
    ))
    if m.planned_peak_bytes:
        fig.add_hline(y=m.planned_peak_bytes / bscale, line_dash="dash", line_color="#7f7f7f",
                      annotation_text=f"planned peak {format_bytes(m.planned_peak_bytes)}")
    fig.update_xaxes(title=f"time into the iteration ({unit})")
    fig.update_yaxes(title=f"live intermediates ({bunit})", rangemode="tozero")
    return _layout(fig, f"Memory: peak {format_bytes(m.peak_bytes)} of intermediates (inputs {format_bytes(m.input_bytes)}, "
                        f"constants {format_bytes(m.constant_bytes)})", height=380, showlegend=False)


# ---------------------------------------------------------------------------------------------
# Op types, top nodes


def op_breakdown(report: Report, top: int = 25) -> go.Figure:
    """Node time by op type, largest at the top; ops past ``top`` are summed into "other"."""
    groups = list(report.by_op)
    rows = [(g.key, g.total_ns, g.count, g.pct) for g in groups[:top]]
    rest = groups[top:]
    if rest:
        rows.append((f"other ({len(rest)} ops)", sum(g.total_ns for g in rest), sum(g.count for g in rest),
                     sum(g.pct for g in rest)))
    unit, scale = time_unit(max((r[1] for r in rows), default=0))
    colors = op_colors([g.key for g in groups])
    fig = go.Figure(go.Bar(
        orientation="h", y=[r[0] for r in rows], x=[r[1] / scale for r in rows],
        text=[f"{r[3]:.1f}%" for r in rows], textposition="auto",
        marker={"color": [colors.get(r[0], "#bab0ac") for r in rows]},
        customdata=[[format_ns(r[1]), r[2], r[3]] for r in rows],
        hovertemplate="%{y}: %{customdata[0]} in %{customdata[1]} nodes (%{customdata[2]:.1f}%)<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(title=f"total median time ({unit})")
    return _layout(fig, "Node time by op type", height=max(260, 120 + 24 * len(rows)), showlegend=False)


def top_nodes(report: Report, k: int = 15) -> go.Figure:
    """The ``k`` slowest nodes as horizontal bars (median, with p10-p90 error bars), coloured by bound."""
    rows = report.top(k)
    unit, scale = time_unit(max((r.p90_ns for r in rows if _finite(r.p90_ns)), default=0))
    fig = go.Figure(go.Bar(
        orientation="h", y=[f"%{r.id} {r.name}" for r in rows], x=[r.median_ns / scale for r in rows],
        error_x={"type": "data", "symmetric": False, "array": [max(r.p90_ns - r.median_ns, 0) / scale for r in rows],
                 "arrayminus": [max(r.median_ns - r.p10_ns, 0) / scale for r in rows]},
        marker={"color": [BOUND_COLORS.get(r.bound, "#7f7f7f") for r in rows]},
        customdata=[[r.op, r.bound, r.pct] for r in rows],
        hovertemplate="%{y} (%{customdata[0]}): %{x:.3g} " + unit + ", %{customdata[2]:.1f}%, %{customdata[1]}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(title=f"median time ({unit})")
    return _layout(fig, f"Slowest {len(rows)} nodes", height=max(260, 120 + 24 * len(rows)), showlegend=False)


# ---------------------------------------------------------------------------------------------
# Roofline


def roofline(report: Report) -> go.Figure:
    """Achieved GFLOP/s against FLOPs per byte (log-log) under the memory and compute roofs.

    Nodes with no FLOPs or no bytes moved have no place on a log-log roofline and are left out
    (the title says how many). One scatter trace per bound; then the roofs: the memory roof
    ``y = intensity x GB/s`` up to the ridge point, the compute roof ``y = peak GFLOP/s`` after it.
    """
    p = report.peaks
    gflops_peak, gbps_peak = p.flops_per_s / 1e9, p.bytes_per_s / 1e9
    ridge = p.flops_per_s / p.bytes_per_s
    points = [r for r in report.nodes if r.flops > 0 and r.bytes_moved > 0 and r.median_ns > 0 and _finite(r.gflops)]
    total = report.timing.node_total_ns or 1.0
    fig = go.Figure()
    for bound in (COMPUTE, MEMORY, OVERHEAD):
        rows = [r for r in points if r.bound == bound]
        if not rows:
            continue
        fig.add_trace(go.Scatter(
            name=bound, mode="markers", x=[r.flops / r.bytes_moved for r in rows], y=[r.gflops for r in rows],
            marker={"color": BOUND_COLORS[bound], "size": [6 + 30 * math.sqrt(r.median_ns / total) for r in rows],
                    "opacity": 0.75, "line": {"width": 0.5, "color": "#333333"}},
            customdata=[[f"%{r.id} {r.name}", r.op, format_ns(r.median_ns), r.pct,
                         100 * r.utilization if _finite(r.utilization) else 0] for r in rows],
            hovertemplate="%{customdata[0]} (%{customdata[1]})<br>%{customdata[2]}, %{customdata[3]:.1f}% of node time<br>"
                          "%{x:.3g} FLOP/B, %{y:.3g} GFLOP/s, %{customdata[4]:.1f}% of its roof<extra></extra>",
        ))
    xs = [r.flops / r.bytes_moved for r in points] or [ridge]
    lo = min(min(xs), ridge) / 4
    hi = max(max(xs), ridge) * 4
    fig.add_trace(go.Scatter(name=f"memory roof ({gbps_peak:.1f} GB/s)", mode="lines", x=[lo, ridge],
                             y=[lo * gbps_peak, gflops_peak], line={"color": "#1f77b4", "dash": "dash"},
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(name=f"compute roof ({gflops_peak:.0f} GFLOP/s)", mode="lines", x=[ridge, hi],
                             y=[gflops_peak, gflops_peak], line={"color": "#d62728", "dash": "dash"}, hoverinfo="skip"))
    fig.update_xaxes(type="log", title="arithmetic intensity (FLOPs per byte moved)")
    fig.update_yaxes(type="log", title="achieved GFLOP/s")
    left_out = len(report.nodes) - len(points)
    note = f"; {left_out} nodes without FLOPs or bytes not shown" if left_out else ""
    return _layout(fig, f"Roofline ({p.source} peaks: {gflops_peak:.0f} GFLOP/s, {gbps_peak:.1f} GB/s, ridge at "
                        f"{ridge:.1f} FLOP/B){note}", height=460)


# ---------------------------------------------------------------------------------------------
# Iteration times


def iteration_times(profile: RunProfile) -> go.Figure:
    """Wall time of each iteration, warm-up first (grey), with the measured median as a line."""
    warm, meas = list(profile.warmup_ns), list(profile.iteration_ns)
    unit, scale = time_unit(max(warm + meas, default=0))
    fig = go.Figure()
    if warm:
        fig.add_trace(go.Bar(name="warm-up", x=list(range(1, len(warm) + 1)), y=[t / scale for t in warm],
                             marker={"color": "#bab0ac"}))
    fig.add_trace(go.Bar(name="measured", x=list(range(len(warm) + 1, len(warm) + len(meas) + 1)),
                         y=[t / scale for t in meas], marker={"color": "#4c78a8"}))
    if meas:
        fig.add_hline(y=statistics.median(meas) / scale, line_dash="dash", line_color="#d62728",
                      annotation_text=f"median {format_ns(statistics.median(meas))}")
    fig.update_xaxes(title="iteration")
    fig.update_yaxes(title=f"wall time ({unit})", rangemode="tozero")
    return _layout(fig, "Iteration times", height=300)


# ---------------------------------------------------------------------------------------------
# Value summaries and comparisons (the dashboard's node details and compare page)


def value_histogram(summary: ValueSummary, title: str = "") -> go.Figure:
    """A node output's histogram from its ValueSummary: one bar per bin between consecutive edges
    (bar centres at the bin midpoints, widths the bin widths; one value: one bar), NaN/Inf counts in the title."""
    counts, edges = list(summary.hist_counts), list(summary.hist_edges)
    if len(edges) != len(counts) + 1:
        raise ValueError(f"a histogram needs one more edge than counts, got {len(counts)} counts and {len(edges)} edges")
    mids = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    widths = [b - a for a, b in zip(edges[:-1], edges[1:])]
    fig = go.Figure(go.Bar(x=mids, y=counts, width=widths if all(w > 0 for w in widths) else None,
                           marker={"color": "#4c78a8", "line": {"width": 0}},
                           customdata=[[a, b] for a, b in zip(edges[:-1], edges[1:])],
                           hovertemplate="[%{customdata[0]:.4g}, %{customdata[1]:.4g}): %{y}<extra></extra>"))
    extra = [f"{n} {what}" for n, what in ((summary.nan_count, "NaN"), (summary.inf_count, "Inf")) if n]
    head = title or f"values of {format_spec(summary.dtype, summary.shape)}"
    fig.update_xaxes(title="value")
    fig.update_yaxes(title="count", rangemode="tozero")
    fig = _layout(fig, head + (f" ({', '.join(extra)})" if extra else ""), height=220, bargap=0, showlegend=False)
    return fig.update_layout(margin={"l": 50, "r": 10, "t": 40, "b": 40})  # small: it sits in a side panel


def comparison_by_op(comparison: Comparison, top: int = 20) -> go.Figure:
    """Total median node time per op type before and after (grouped bars), the largest changes first;
    ops past ``top`` are left out (the title says how many)."""
    rows = list(comparison.by_op)[:top]
    unit, scale = time_unit(max((max(d.before_ns, d.after_ns) for d in rows), default=0))
    labels = [d.op for d in rows]
    fig = go.Figure()
    for name, values, counts, color in (
        (f"before: {comparison.before_name}", [d.before_ns for d in rows], [d.before_count for d in rows], "#bab0ac"),
        (f"after: {comparison.after_name}", [d.after_ns for d in rows], [d.after_count for d in rows], "#4c78a8"),
    ):
        fig.add_trace(go.Bar(name=name, orientation="h", y=labels, x=[v / scale for v in values],
                             marker={"color": color}, customdata=[[format_ns(v), c] for v, c in zip(values, counts)],
                             hovertemplate="%{y}: %{customdata[0]} in %{customdata[1]} nodes<extra>" + name + "</extra>"))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(title=f"total median node time ({unit})")
    left = len(comparison.by_op) - len(rows)
    return _layout(fig, f"Time by op type: {comparison.speedup:.2f}x overall" + (f" ({left} more ops not shown)" if left else ""),
                   barmode="group", height=max(280, 120 + 40 * len(rows)), legend={"orientation": "h", "y": -0.15})


__all__ = ["BOUND_COLORS", "byte_unit", "comparison_by_op", "flame_chart", "iteration_times", "memory_curve", "op_breakdown",
           "op_colors", "representative_iteration", "roofline", "time_unit", "timeline", "top_nodes", "value_histogram"]
