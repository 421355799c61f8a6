"""Timeline page (``/timeline``): the flame chart by scope and the per-lane timeline of one iteration.

Both figures come from ``viz.figures`` (``flame_chart``, ``timeline``); hovering shows a node's
details, clicking a bar (or a node of the flame chart) selects the node: its details show beside the
charts and the Graph page highlights it.
"""

from __future__ import annotations

import re
from typing import Any

import dash
from dash import Input, Output, State, ctx, dcc, html, set_props
from dash.exceptions import PreventUpdate

from graphscope.app.components.common import current_run, figure, needs_profile, no_run
from graphscope.app.components.node_details import node_details
from graphscope.app.state import AppState, Run

PATH = "/timeline"
EMPTY = {"data": [], "layout": {"height": 60}}
_NODE = re.compile(r"^%(\d+)\b")


def layout(**_: Any) -> Any:
    return html.Div([
        html.H2("Timeline"),
        html.Div([html.Label("iteration", htmlFor="timeline-iteration"),
                  dcc.Dropdown(id="timeline-iteration", options=[], value=None, clearable=False, searchable=False,
                               className="gs-narrow")], className="gs-field gs-inline"),
        html.Div(id="timeline-notice"),
        html.Div([
            html.Div([figure("timeline-lanes", EMPTY), figure("timeline-flame", EMPTY)], id="timeline-charts",
                     className="gs-grow", style={"display": "none"}),
            html.Aside(id="timeline-details", className="gs-aside"),
        ], className="gs-split"),
    ], className="gs-page", id="timeline-page")


def register() -> None:
    if __name__ not in dash.page_registry:
        dash.register_page(__name__, path=PATH, name="Timeline", title="graphscope: timeline", order=2, layout=layout)


def node_from_click(click: dict | None) -> int | None:
    """The node id of a click on the timeline (customdata "%<id> name") or the flame chart ("node:<id>")."""
    if not click or not click.get("points"):
        return None
    pt = click["points"][0]
    pid = pt.get("id")
    if isinstance(pid, str) and pid.startswith("node:"):
        return int(pid[5:])
    data = pt.get("customdata")
    if isinstance(data, list) and data and isinstance(data[0], str):
        m = _NODE.match(data[0])
        if m:
            return int(m.group(1))
    return None


def iteration_options(run: Run) -> tuple[list[dict[str, Any]], int]:
    from graphscope.viz.figures import representative_iteration

    p = run.profile
    rep = representative_iteration(p)
    opts = [{"label": f"{k + 1} of {len(p.iterations)}" + (" (median)" if k == rep else ""), "value": k}
            for k in range(len(p.iterations))]
    return opts, rep


def figures_for(run: Run | None, iteration: int | None) -> tuple[Any, Any, Any, dict]:
    """(timeline figure, flame chart, notice, charts style) for the page."""
    from graphscope.viz.figures import flame_chart, timeline

    hidden = {"display": "none"}
    if run is None:
        return EMPTY, EMPTY, no_run("the Timeline page"), hidden
    if run.profile is None:
        return EMPTY, EMPTY, needs_profile(run.label), hidden
    k = iteration if isinstance(iteration, int) and 0 <= iteration < len(run.profile.iterations) else None
    return timeline(run.profile, k), flame_chart(run.report), None, {}


def register_callbacks(app: Any, state: AppState) -> None:
    def current(session: str, run_id: str | None) -> Run | None:
        return current_run(state, session, run_id)

    @app.callback(Output("timeline-iteration", "options"), Output("timeline-iteration", "value"),
                  Input("app-run", "data"), State("app-session", "data"))
    def _iterations(run_id: str | None, session: str) -> tuple:
        run = current(session, run_id)
        if run is None or run.profile is None:
            return [], None
        return iteration_options(run)

    @app.callback(Output("timeline-lanes", "figure"), Output("timeline-flame", "figure"), Output("timeline-notice", "children"),
                  Output("timeline-charts", "style"), Input("timeline-iteration", "value"), Input("app-run", "data"),
                  State("app-session", "data"))
    def _figures(iteration: int | None, run_id: str | None, session: str) -> tuple:
        return figures_for(current(session, run_id), iteration)

    @app.callback(Input("timeline-lanes", "clickData"), Input("timeline-flame", "clickData"), State("app-run", "data"),
                  prevent_initial_call=True)
    def _click(lanes: dict | None, flame: dict | None, run_id: str | None) -> None:
        nid = node_from_click(lanes if ctx.triggered_id == "timeline-lanes" else flame)
        if nid is None or run_id is None:
            raise PreventUpdate
        set_props("app-node", {"data": {"run": run_id, "node": nid}})

    @app.callback(Output("timeline-details", "children"), Input("app-node", "data"), Input("app-run", "data"),
                  State("app-session", "data"))
    def _details(node: dict | None, run_id: str | None, session: str) -> Any:
        run = current(session, run_id)
        nid = node.get("node") if node and run is not None and node.get("run") == run.id else None
        return node_details(run, nid, "timeline")


__all__ = ["figures_for", "iteration_options", "layout", "node_from_click", "register", "register_callbacks"]
