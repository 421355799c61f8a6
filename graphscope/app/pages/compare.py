"""Compare page (``/compare``): two runs side by side (level 0 against level 2, two uploaded profiles...).

The numbers are ``profile.compare.compare(before, after)``: the speedup with both medians'
confidence intervals, per-op and per-node deltas (nodes matched by name, then by provenance, so a
fused node is set against the nodes it replaced) and the nodes only one side has; below, both runs'
timelines at the same time scale.
"""

from __future__ import annotations

import math
from typing import Any

import dash
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from graphscope.app.components.common import card, cards, figure, notice, num, section, table
from graphscope.app.state import AppState, Run
from graphscope.profile.analysis import format_ns

PATH = "/compare"
EMPTY = {"data": [], "layout": {"height": 60}}
DELTA_COLUMNS = [("name", "node", "text"), ("op", "op", "text"), ("before_us", "before (µs)", "numeric"),
                 ("after_us", "after (µs)", "numeric"), ("delta_us", "change (µs)", "numeric"), ("pct", "change %", "numeric"),
                 ("match", "matched by", "text")]
ONLY_COLUMNS = [("side", "only in", "text"), ("id", "node", "numeric"), ("name", "name", "text"), ("op", "op", "text"),
                ("median_us", "median (µs)", "numeric")]


def layout(**_: Any) -> Any:
    return html.Div([
        html.H2("Compare two runs"),
        html.Div([
            html.Div([html.Label("before (baseline)", htmlFor="compare-before"),
                      dcc.Dropdown(id="compare-before", options=[], value=None, clearable=False)], className="gs-field gs-grow"),
            html.Div([html.Label("after", htmlFor="compare-after"),
                      dcc.Dropdown(id="compare-after", options=[], value=None, clearable=False)], className="gs-field gs-grow"),
        ], className="gs-toolbar"),
        html.Div(id="compare-notice"),
        html.Div([
            html.Div(id="compare-cards"),
            figure("compare-ops", EMPTY),
            section("Nodes", html.P("after - before: a positive change is slower", className="gs-muted"),
                    table("compare-nodes", [], DELTA_COLUMNS, sort_by="delta_us")),
            section("Nodes only one side has", table("compare-only", [], ONLY_COLUMNS, page_size=10)),
            html.Div([figure("compare-tl-before", EMPTY), figure("compare-tl-after", EMPTY)], className="gs-two"),
        ], id="compare-body", style={"display": "none"}),
    ], className="gs-page", id="compare-page")


def register() -> None:
    if __name__ not in dash.page_registry:
        dash.register_page(__name__, path=PATH, name="Compare", title="graphscope: compare", order=5, layout=layout)


def choices(state: AppState, session: str, current: str | None, before: str | None, after: str | None) -> tuple:
    """(options, before, after): profiled runs; by default the run shown and the latest other run of the
    same model (else the latest other run), the less optimized one as the baseline."""
    runs = sorted((r for r in state.runs(session) if r.profile is not None), key=lambda r: -r.created)
    options = [{"label": r.label, "value": r.id} for r in runs]
    ids = [r.id for r in runs]
    if after in ids and before in ids and before != after:
        return options, before, after
    a = next((r for r in runs if r.id == (after if after in ids else current)), runs[0] if runs else None)
    others = [r for r in runs if a is None or r.id != a.id]
    same = [r for r in others if a is not None and r.source_label == a.source_label]
    b = (same or others)[0] if (same or others) else None
    if a is not None and b is not None and b.level is not None and a.level is not None and b.level > a.level:
        a, b = b, a  # the less optimized run is the baseline
    return options, b.id if b is not None else None, a.id if a is not None else None


def _us(ns: float | None) -> float | None:
    return num(ns / 1e3) if ns is not None and math.isfinite(ns) else None


def page_content(before: Run | None, after: Run | None) -> tuple:
    """(notice, body style, cards, op figure, node rows, only rows, timeline before, timeline after)."""
    from graphscope.profile.compare import compare
    from graphscope.viz.figures import comparison_by_op, timeline

    if before is None or after is None:
        msg = notice(["Compare needs two profiled runs: profile a model twice on the ", dcc.Link("Run page", href="/"),
                      " (e.g. at level 0 and at level 2), or upload two profiles."], "info")
        return msg, {"display": "none"}, None, EMPTY, [], [], EMPTY, EMPTY
    c = compare(before.profile, after.profile)
    faster = c.speedup >= 1
    verdict = (f"{c.speedup:.2f}x {'faster' if faster else 'slower'}" if math.isfinite(c.speedup) else "-")
    items = [card("after vs before", verdict, "the confidence intervals do not overlap" if c.significant
                  else "within noise: the confidence intervals overlap", "compare-speedup"),
             card("before: median iteration", format_ns(c.before_ns),
                  f"{format_ns(c.before_ci[0])} to {format_ns(c.before_ci[1])} · {before.label}"),
             card("after: median iteration", format_ns(c.after_ns),
                  f"{format_ns(c.after_ci[0])} to {format_ns(c.after_ci[1])} · {after.label}"),
             card("node time", f"{format_ns(c.before_node_total_ns)} → {format_ns(c.after_node_total_ns)}",
                  "; ".join(c.notes))]
    rows = [{"name": d.name, "op": d.op, "before_us": _us(d.before_ns), "after_us": _us(d.after_ns), "delta_us": _us(d.delta_ns),
             "pct": num(d.change_pct), "match": d.match if d.match == "name" else
             f"provenance (%{', %'.join(map(str, d.before_ids[:6]))}{', …' if len(d.before_ids) > 6 else ''})"}
            for d in c.nodes]
    only = ([{"side": "before", "id": n.id, "name": n.name, "op": n.op, "median_us": _us(n.median_ns)} for n in c.only_before]
            + [{"side": "after", "id": n.id, "name": n.name, "op": n.op, "median_us": _us(n.median_ns)} for n in c.only_after])
    tl_b, tl_a = timeline(before.profile), timeline(after.profile)
    # The same time axis on both sides, so the shorter run looks shorter.
    ends = [max((e.end_ns for e in it), default=0) for p in (before.profile, after.profile) for it in p.iterations]
    from graphscope.viz.figures import time_unit

    unit, scale = time_unit(max(ends, default=0))
    for fig, run, side in ((tl_b, before, "before"), (tl_a, after, "after")):
        if fig.layout.xaxis.title.text and fig.layout.xaxis.title.text.endswith(f"({unit})"):
            fig.update_xaxes(range=[0, max(ends, default=0) / scale])
        fig.update_layout(title={"text": f"{side}: {run.label}"})
    return None, {}, cards(items), comparison_by_op(c), rows, only, tl_b, tl_a


def register_callbacks(app: Any, state: AppState) -> None:
    @app.callback(Output("compare-before", "options"), Output("compare-before", "value"), Output("compare-after", "options"),
                  Output("compare-after", "value"), Input("app-run", "data"), Input("app-runs-version", "data"),
                  State("compare-before", "value"), State("compare-after", "value"), State("app-session", "data"))
    def _choices(current: str | None, _v: Any, before: str | None, after: str | None, session: str) -> tuple:
        try:
            options, b, a = choices(state, session, current, before, after)
        except ValueError:
            raise PreventUpdate from None
        return options, b, options, a

    @app.callback(Output("compare-notice", "children"), Output("compare-body", "style"), Output("compare-cards", "children"),
                  Output("compare-ops", "figure"), Output("compare-nodes", "data"), Output("compare-only", "data"),
                  Output("compare-tl-before", "figure"), Output("compare-tl-after", "figure"),
                  Input("compare-before", "value"), Input("compare-after", "value"), State("app-session", "data"))
    def _content(before: str | None, after: str | None, session: str) -> tuple:
        try:
            b, a = state.run(session, before), state.run(session, after)
        except ValueError:
            raise PreventUpdate from None
        if b is not None and a is not None and b.id == a.id:
            a = None
        return page_content(b, a)


__all__ = ["choices", "layout", "page_content", "register", "register_callbacks"]
