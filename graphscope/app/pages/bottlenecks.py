"""Bottlenecks page (``/bottlenecks``): the report's tables and charts, sortable, and its files.

Everything is a view of the run's Report (``profile.analysis.analyze``): timing summary,
recommendations, every node (sortable by any column; click a row to select the node), op types,
scopes, the roofline, the critical path and the lanes. The download buttons write the same HTML
report, JSON report and Chrome trace as ``graphscope report --html/--json/--trace``.
"""

from __future__ import annotations

import math
from typing import Any

import dash
from dash import Input, Output, State, ctx, dcc, html, set_props
from dash.exceptions import PreventUpdate

from graphscope.app.components.common import (
    card,
    cards,
    current_run,
    figure,
    needs_profile,
    no_run,
    notice,
    num,
    section,
    short_source,
    table,
)
from graphscope.app.state import AppState, Run
from graphscope.profile.analysis import format_bytes, format_ns

PATH = "/bottlenecks"
EMPTY = {"data": [], "layout": {"height": 60}}
NODE_COLUMNS = [("id", "node", "numeric"), ("name", "name", "text"), ("op", "op", "text"), ("source", "source", "text"),
                ("median_us", "median (µs)", "numeric"), ("p10_us", "p10 (µs)", "numeric"), ("p90_us", "p90 (µs)", "numeric"),
                ("pct", "% of node time", "numeric"), ("gflops", "GFLOP/s", "numeric"), ("gbps", "GB/s", "numeric"),
                ("intensity", "FLOP/B", "numeric"), ("bound", "bound", "text"), ("util", "% of roof", "numeric")]
OP_COLUMNS = [("key", "op", "text"), ("count", "nodes", "numeric"), ("total_us", "total (µs)", "numeric"),
              ("median_us", "median node (µs)", "numeric"), ("pct", "% of node time", "numeric"),
              ("mflops", "MFLOPs", "numeric"), ("mib", "MiB moved", "numeric")]
SCOPE_COLUMNS = [("scope", "scope", "text"), ("count", "nodes", "numeric"), ("total_us", "total (µs)", "numeric"),
                 ("self_us", "self (µs)", "numeric"), ("pct", "% of node time", "numeric")]
PATH_COLUMNS = [("step", "step", "numeric"), ("id", "node", "numeric"), ("name", "name", "text"), ("op", "op", "text"),
                ("median_us", "median (µs)", "numeric")]
LANE_COLUMNS = [("lane", "lane", "text"), ("nodes", "nodes", "numeric"), ("busy_us", "busy (µs)", "numeric"),
                ("gap_us", "gaps (µs)", "numeric"), ("busy_pct", "busy %", "numeric")]
DOWNLOADS = (("html", "HTML report"), ("json", "JSON report"), ("trace", "Chrome trace"))


def layout(**_: Any) -> Any:
    return html.Div([
        dcc.Download(id="bottlenecks-download"),
        html.H2("Bottlenecks"),
        html.Div(id="bottlenecks-notice"),
        html.Div([
            html.Div([html.Button(f"Download {text}", id=f"bottlenecks-dl-{key}", className="gs-button")
                      for key, text in DOWNLOADS] + [html.Span(id="bottlenecks-dl-msg", className="gs-muted")],
                     className="gs-buttons"),
            html.Div(id="bottlenecks-cards"),
            section("Recommendations", html.Div(id="bottlenecks-recs")),
            section("Nodes", html.P("every timed node; click a column header to sort, a row to select the node",
                                    className="gs-muted"), table("bottlenecks-nodes", [], NODE_COLUMNS, sort_by="median_us")),
            html.Div([figure("bottlenecks-top", EMPTY), figure("bottlenecks-opfig", EMPTY)], className="gs-two"),
            section("Op types", table("bottlenecks-ops", [], OP_COLUMNS, sort_by="total_us")),
            figure("bottlenecks-roofline", EMPTY),
            section("Critical path", html.P(id="bottlenecks-critical-text", className="gs-muted"),
                    table("bottlenecks-critical", [], PATH_COLUMNS, page_size=12)),
            html.Div([section("Scopes", table("bottlenecks-scopes", [], SCOPE_COLUMNS, sort_by="total_us")),
                      section("Lanes", table("bottlenecks-lanes", [], LANE_COLUMNS))], className="gs-two"),
        ], id="bottlenecks-body", style={"display": "none"}),
    ], className="gs-page", id="bottlenecks-page")


def register() -> None:
    if __name__ not in dash.page_registry:
        dash.register_page(__name__, path=PATH, name="Bottlenecks", title="graphscope: bottlenecks", order=4, layout=layout)


def _us(ns: float | None) -> float | None:
    return num(ns / 1e3) if ns is not None and math.isfinite(ns) else None


def node_rows(run: Run) -> list[dict[str, Any]]:
    return [{"id": r.id, "name": r.name, "op": r.op, "source": short_source(r.source),
             "median_us": _us(r.median_ns), "p10_us": _us(r.p10_ns), "p90_us": _us(r.p90_ns), "pct": num(r.pct),
             "gflops": num(r.gflops), "gbps": num(r.gbps), "intensity": num(r.intensity), "bound": r.bound,
             "util": num(100 * r.utilization) if math.isfinite(r.utilization) else None} for r in run.report.nodes]


def op_rows(run: Run) -> list[dict[str, Any]]:
    return [{"key": g.key, "count": g.count, "total_us": _us(g.total_ns), "median_us": _us(g.median_ns), "pct": num(g.pct),
             "mflops": num(g.flops / 1e6), "mib": num(g.bytes_moved / 2**20)} for g in run.report.by_op]


def summary_cards(run: Run) -> Any:
    t, s = run.report.timing, run.report.schedule
    items = [card("median iteration", format_ns(t.median_ns),
                  f"{100 * t.ci_level:.0f}% interval {format_ns(t.ci_low_ns)} to {format_ns(t.ci_high_ns)}, "
                  f"{t.iterations} iterations", "bottlenecks-median"),
             card("node time", format_ns(t.node_total_ns), f"{t.nodes_timed} nodes timed"
                  + (f", {t.unreliable_nodes} under the timer's resolution" if t.unreliable_nodes else "")),
             card("critical path", format_ns(s.critical_path_ns),
                  f"{s.parallelism:.2f}x parallelism available" if math.isfinite(s.parallelism) else ""),
             card("profiler cost", f"{100 * t.profiler_overhead_share:.1f}%",
                  f"~{format_ns(t.profiler_overhead_ns)} per iteration"),
             card("peak memory", format_bytes(run.report.memory.peak_bytes)),
             card("machine peaks", f"{run.report.peaks.flops_per_s / 1e9:.0f} GFLOP/s",
                  f"{run.report.peaks.bytes_per_s / 1e9:.1f} GB/s ({run.report.peaks.source})")]
    if run.profile.metadata.get("overlapped_runs"):
        return html.Div([notice("Another profiling run shared the CPUs with this one (two sessions at once): its times "
                                "may be inflated. Run it again alone for clean numbers.", "info", "bottlenecks-overlap"),
                         cards(items)])
    return cards(items)


def recommendations(run: Run) -> Any:
    recs = run.report.recommendations
    notes = [html.Li(n, className="gs-muted") for n in run.report.notes]
    if not recs:
        return html.Div([html.P("No recommendation: nothing stands out in this profile."), html.Ul(notes)])
    items = [html.Li([html.Span(r.kind.replace("_", " "), className="gs-badge"), r.message,
                      html.Span(f" (saves ~{format_ns(r.saving_ns)})" if r.saving_ns else
                                f" (saves {format_bytes(r.saving_bytes)})" if r.saving_bytes else "", className="gs-muted")])
             for r in recs]
    return html.Div([html.Ol(items, id="bottlenecks-rec-list"), html.Ul(notes)])


def critical_rows(run: Run) -> list[dict[str, Any]]:
    rows = {r.id: r for r in run.report.nodes}
    out = []
    for k, nid in enumerate(run.report.schedule.critical_path, 1):
        r = rows.get(nid)
        out.append({"step": k, "id": nid, "name": r.name if r else f"%{nid}", "op": r.op if r else "",
                    "median_us": _us(r.median_ns) if r else None})
    return out


def page_content(run: Run | None) -> tuple:
    """Every output of the page for ``run`` (notice, body style, cards, recommendations, tables, figures)."""
    from graphscope.viz.figures import op_breakdown, roofline, top_nodes

    if run is None or run.profile is None:
        msg = no_run("the Bottlenecks page") if run is None else needs_profile(run.label)
        return msg, {"display": "none"}, None, None, [], [], [], [], [], "", EMPTY, EMPTY, EMPTY
    rep = run.report
    s = rep.schedule
    scopes = [{"scope": g.scope or "(whole graph)", "count": g.count, "total_us": _us(g.total_ns), "self_us": _us(g.self_ns),
               "pct": num(g.pct)} for g in rep.by_scope]
    lanes = [{"lane": r.lane, "nodes": r.nodes, "busy_us": _us(r.busy_ns), "gap_us": _us(r.gap_ns),
              "busy_pct": num(100 * r.busy_share) if math.isfinite(r.busy_share) else None} for r in s.lanes]
    text = (f"{len(s.critical_path)} nodes, {format_ns(s.critical_path_ns)} of {format_ns(s.node_total_ns)} node time "
            f"(the longest chain of dependent nodes: no schedule runs faster than it)")
    return (None, {}, summary_cards(run), recommendations(run), node_rows(run), op_rows(run), critical_rows(run), scopes, lanes,
            text, top_nodes(rep), op_breakdown(rep), roofline(rep))


def register_callbacks(app: Any, state: AppState) -> None:
    from graphscope.app.runner import export_report

    def current(session: str, run_id: str | None) -> Run | None:
        return current_run(state, session, run_id)

    @app.callback(Output("bottlenecks-notice", "children"), Output("bottlenecks-body", "style"),
                  Output("bottlenecks-cards", "children"), Output("bottlenecks-recs", "children"),
                  Output("bottlenecks-nodes", "data"), Output("bottlenecks-ops", "data"), Output("bottlenecks-critical", "data"),
                  Output("bottlenecks-scopes", "data"), Output("bottlenecks-lanes", "data"),
                  Output("bottlenecks-critical-text", "children"), Output("bottlenecks-top", "figure"),
                  Output("bottlenecks-opfig", "figure"), Output("bottlenecks-roofline", "figure"),
                  Input("app-run", "data"), State("app-session", "data"))
    def _content(run_id: str | None, session: str) -> tuple:
        return page_content(current(session, run_id))

    @app.callback(Output("bottlenecks-download", "data"), Output("bottlenecks-dl-msg", "children"),
                  *[Input(f"bottlenecks-dl-{key}", "n_clicks") for key, _ in DOWNLOADS],
                  State("app-run", "data"), State("app-session", "data"), prevent_initial_call=True)
    def _download(*args: Any) -> tuple:
        run_id, session = args[-2], args[-1]
        run = current(session, run_id)
        key = str(ctx.triggered_id or "").removeprefix("bottlenecks-dl-")
        if run is None or key not in dict(DOWNLOADS):
            raise PreventUpdate
        try:
            name, data = export_report(run, key)
        except Exception as exc:  # e.g. Graphviz missing for the HTML report's graph: say so, keep serving
            from graphscope.app.jobs import describe_error

            return dash.no_update, notice(f"cannot write the {dict(DOWNLOADS)[key]}: {describe_error(exc)}", "error")
        return dcc.send_bytes(data, name), f"{name} ({format_bytes(len(data))})"

    @app.callback(Input("bottlenecks-nodes", "active_cell"), State("app-run", "data"), prevent_initial_call=True)
    def _select(cell: dict | None, run_id: str | None) -> None:
        if not cell or cell.get("row_id") is None or run_id is None:
            raise PreventUpdate
        set_props("app-node", {"data": {"run": run_id, "node": int(cell["row_id"])}})


__all__ = ["critical_rows", "layout", "node_rows", "op_rows", "page_content", "recommendations", "register",
           "register_callbacks", "summary_cards"]
