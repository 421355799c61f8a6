"""The node-details panel: what one node is, where it comes from, what it cost, what it computed.

Everything shown comes from the run's records: the graph's node (op, spec, attrs, scope, source,
provenance), the Report's row and the profile's events (time statistics, memory, FLOPs), and the
profile's ValueSummary of its output when the run recorded one (statistics and a histogram).
"""

from __future__ import annotations

import linecache
import math
from typing import Any

from dash import html

from graphscope.app.components.common import figure, notice, short_source
from graphscope.app.state import Run
from graphscope.profile.analysis import format_bytes, format_ns, format_spec


def find_node(run: Run, node_id: int) -> tuple[Any, str] | None:
    """(the graph node or profile NodeInfo, which graph: "profiled" | "original") for ``node_id``."""
    from graphscope.ir.graph import Graph

    for where, obj in (("profiled", run.graph), ("original", run.original)):
        if isinstance(obj, Graph):
            try:
                return obj.node(int(node_id)), where
            except KeyError:
                continue
        elif obj is not None and node_id in getattr(obj, "nodes", {}):  # a RunProfile: its NodeInfo records
            return obj.nodes[node_id], where
    return None


def _spec_of(node: Any) -> tuple[str, tuple[int, ...]]:
    spec = getattr(node, "spec", None)
    if spec is not None:
        return spec.dtype.name, tuple(spec.shape)
    return str(node.dtype), tuple(node.shape)


def _input_ids(node: Any) -> list[int]:
    return [i.id if hasattr(i, "id") else int(i) for i in node.inputs]


def source_text(source: str | None, trusted: bool) -> str | None:
    """The line of code at ``path:line``, read only for runs made here (never for uploaded files'
    paths: a profile from elsewhere may name any file on this machine)."""
    if not trusted or not source:
        return None
    path, _, line = source.rpartition(":")
    if not path.endswith(".py") or not line.isdigit():
        return None
    return linecache.getline(path, int(line)).strip() or None


def _row(key: str, value: Any, row_id: str | None = None) -> html.Tr:
    return html.Tr([html.Th(key), html.Td(value, **({"id": row_id} if row_id else {}))])


def _g(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.4g}"


def value_summary_view(summary: Any, prefix: str) -> html.Div:
    """A ValueSummary as a small table and its histogram."""
    from graphscope.viz.figures import value_histogram

    rows = [_row("value", format_spec(summary.dtype, summary.shape)),
            _row("min / max", f"{_g(summary.min)} / {_g(summary.max)}"),
            _row("mean ± std", f"{_g(summary.mean)} ± {_g(summary.std)}"),
            _row("NaN / Inf", f"{summary.nan_count} / {summary.inf_count}")]
    kids: list[Any] = [html.Table(rows, className="gs-kv")]
    if summary.hist_counts and len(summary.hist_edges) == len(summary.hist_counts) + 1:
        kids.append(figure(f"{prefix}-hist", value_histogram(summary), height="220px"))
    return html.Div(kids, className="gs-values", id=f"{prefix}-values")


def node_details(run: Run | None, node_id: int | None, prefix: str) -> Any:
    """The panel for ``node_id`` of ``run``; element ids start with ``prefix`` (the page's name)."""
    if run is None or node_id is None:
        return notice("Click a node (or a bar of the timeline) to see its details.", "info")
    found = find_node(run, int(node_id))
    if found is None:
        return notice(f"node %{node_id} is not in '{run.label}'", "info")
    node, where = found
    dtype, shape = _spec_of(node)
    rows = [_row("op", node.op, f"{prefix}-op"), _row("output", format_spec(dtype, shape)),
            _row("scope", node.scope or "(top level)")]
    src = node.source
    code = source_text(src, run.trusted)
    rows.append(_row("source", [html.Code(short_source(src) or "-", title=src or "", id=f"{prefix}-source")]
                     + ([html.Pre(code, className="gs-code")] if code else [])))
    inputs = []
    for i in _input_ids(node):
        other = find_node(run, i)
        if other is not None:
            d, s = _spec_of(other[0])
            inputs.append(html.Li(f"%{i} {other[0].name} ({other[0].op} {format_spec(d, s)})"))
        else:
            inputs.append(html.Li(f"%{i}"))
    rows.append(_row("inputs", html.Ul(inputs) if inputs else "none"))
    attrs = {k: v for k, v in (getattr(node, "attrs", None) or {}).items() if not k.startswith("_")}
    if attrs:
        rows.append(_row("attrs", html.Code(", ".join(f"{k}={_short(v)}" for k, v in sorted(attrs.items())))))
    prov = [p for p in (getattr(node, "provenance", ()) or ()) if p != node.id]
    if prov:
        names = []
        for p in prov[:40]:
            orig = find_node(run, p)
            names.append(html.Li(f"%{p} {orig[0].name} ({orig[0].op})" if orig else f"%{p}"))
        if len(prov) > 40:
            names.append(html.Li(f"… and {len(prov) - 40} more"))
        what = f"made from {len(prov)} original node{'s' * (len(prov) != 1)}"
        rows.append(_row(what, html.Ul(names, id=f"{prefix}-provenance")))
    if where == "original" and run.optimized is not None:
        rows.append(_row("after optimization", "removed or merged (see the pass log on the Graph page)"))
    kids: list[Any] = [html.H4(f"%{node.id} {node.name}", id=f"{prefix}-title"), html.Table(rows, className="gs-kv")]
    kids += _cost_rows(run, node, where, prefix)
    summary = run.profile.value_summaries.get(node.id) if run.profile is not None and where == "profiled" else None
    if summary is not None:
        kids += [html.H5("Output values"), value_summary_view(summary, prefix)]
    return html.Div(kids, className="gs-details", id=f"{prefix}-node", **{"data-node": str(node.id)})


def _short(v: Any, limit: int = 60) -> str:
    text = repr(v) if not isinstance(v, str) else v
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cost_rows(run: Run, node: Any, where: str, prefix: str) -> list[Any]:
    """Time, memory and work of the node in the run (profiled graph only: ids of the original graph
    that survived optimization are the same node)."""
    from graphscope.profile.analysis import node_statistics

    p, rep = run.profile, run.report
    if p is None or rep is None:
        return []
    try:
        r = rep.node(node.id)
    except KeyError:
        return [html.P("not timed in this run (a constant or input, or removed by optimization)", className="gs-muted")]
    if r.name != node.name:  # the id was reused by a different node
        return []
    st = node_statistics(p).get(node.id)
    rows = [_row("median time", f"{'~' if r.unreliable else ''}{format_ns(r.median_ns)} ({r.pct:.1f}% of node time)",
                 f"{prefix}-median"),
            _row("p10 / p90", f"{format_ns(r.p10_ns)} / {format_ns(r.p90_ns)}"),
            _row("mean", format_ns(r.mean_ns) + (f" (min {format_ns(st.min_ns)}, max {format_ns(st.max_ns)}, "
                                                 f"{st.count} iterations)" if st else "")),
            _row("lane", r.lane), _row("bound", f"{r.bound}, {100 * r.utilization:.0f}% of its roofline"
                                       if math.isfinite(r.utilization) else r.bound)]
    last = p.iterations[-1] if p.iterations else []
    events = [e for e in last if e.node_id == node.id]
    allocated = sum(e.bytes_allocated for e in events)
    at_peak = dict(p.peak_live).get(node.id)
    mem = format_bytes(allocated) + " allocated"
    if events:
        mem += f", {format_bytes(events[-1].live_bytes)} live after it"
    if at_peak:
        mem += f"; live at the peak ({format_bytes(at_peak)})"
    rows.append(_row("memory", mem))
    work = f"{r.flops:,} FLOPs, {format_bytes(r.bytes_moved)} moved"
    if r.intensity is not None and math.isfinite(r.intensity):
        work += f" ({r.intensity:.3g} FLOP/B; {r.gflops:.3g} GFLOP/s, {r.gbps:.3g} GB/s)"
    rows.append(_row("work", work))
    return [html.H5("In this run"), html.Table(rows, className="gs-kv")]


__all__ = ["find_node", "node_details", "source_text", "value_summary_view"]
