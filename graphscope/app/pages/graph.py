"""Graph page (``/graph``): the graph before and after optimization, pass by pass, and node details.

The picture is Graphviz's SVG of ``viz.dot.diff_dot`` / ``to_dot`` (removed nodes and fused groups
marked, nodes coloured by time or memory); the pass slider steps through the pipeline. Click a
collapsed scope (a 3-D box) to open it, a scope's title to close it, a node to see its details;
search finds a node by name and opens the scopes around it. See ``components.graph_view``.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, ctx, dcc, html, no_update, set_props

from graphscope.app.components import graph_view as gv
from graphscope.app.components.common import current_run, no_run, notice
from graphscope.app.components.node_details import node_details
from graphscope.app.state import AppState, Run

PATH = "/graph"


def layout(**_: Any) -> Any:
    return html.Div([
        dcc.Store(id="graph-state"), dcc.Store(id="graph-view"), dcc.Store(id="graph-click"), dcc.Store(id="graph-shown"),
        dcc.Store(id="graph-highlighted"),
        html.H2("Graph"),
        html.Div([
            html.Div([html.Label("colour nodes by"),
                      dcc.RadioItems(id="graph-color", value="time", inline=True, className="gs-radio",
                                     options=[{"label": "time", "value": "time"}, {"label": "memory", "value": "memory"},
                                              {"label": "none", "value": "none"}])], className="gs-field"),
            html.Div([dcc.Input(id="graph-search", type="search", placeholder="find a node by name", debounce=True,
                                className="gs-search"),
                      html.Button("Find", id="graph-search-go", className="gs-button"),
                      html.Span(id="graph-search-msg", className="gs-muted")], className="gs-field gs-inline"),
            html.Div([html.Button("Collapse to fit", id="graph-fit-scopes", className="gs-button"),
                      html.Button("Expand all", id="graph-expand-all", className="gs-button"),
                      dcc.Checklist(id="graph-fit-width", options=[{"label": "fit to width", "value": "fit"}], value=["fit"],
                                    className="gs-checks gs-inline")], className="gs-field gs-inline"),
        ], className="gs-toolbar"),
        html.Div([html.Label("optimization pipeline, stage by stage"),
                  dcc.Slider(id="graph-stage", min=0, max=1, step=1, value=0, marks={0: "graph"}, included=False,
                             allow_direct_input=False)],
                 id="graph-stage-box", className="gs-stage", style={"display": "none"}),
        html.Div(id="graph-info", className="gs-muted"),
        html.Div([
            html.Div(html.Div(id="graph-canvas", className="gs-canvas"), id="graph-canvas-box", className="gs-canvas-box"),
            html.Aside(id="graph-details", className="gs-aside"),
        ], className="gs-split"),
    ], className="gs-page", id="graph-page")


def register() -> None:
    if __name__ not in dash.page_registry:
        dash.register_page(__name__, path=PATH, name="Graph", title="graphscope: graph", order=1, layout=layout)


# ---------------------------------------------------------------------------------------------
# Callback bodies


def stage_controls(run: Run | None) -> tuple[int, dict, int, dict]:
    """(max, marks, value, style) of the pass slider for a run."""
    names = gv.pass_names(run) if run is not None else []
    if not names:
        return 1, {0: "graph"}, 0, {"display": "none"}
    marks = {0: "graph"}
    for k, name in enumerate(names, 1):
        marks[k] = {"label": gv.short_pass_name(name), "style": {"fontSize": "11px"}}
    marks[len(names) + 1] = {"label": "all passes", "style": {"fontWeight": "600"}}
    return len(names) + 1, marks, gv.default_stage(run), {}


def next_state(state: AppState, run: Run, current: dict | None, *, event: str, click: dict | None = None,
               node: dict | None = None) -> dict:
    """The expanded scopes after an event ("load", "click", "node", "fit", "all")."""
    fresh = not current or current.get("run") != run.id
    expanded = gv.default_expanded(state.layouts, run) if fresh or event == "fit" else list(current.get("expanded", []))
    if event == "all":
        from graphscope.viz.dot import scope_paths

        expanded = scope_paths(run.original if run.original is not None else run.graph)
    elif event == "click" and click:
        if click.get("kind") == "scope":
            expanded = sorted(set(expanded) | set(gv.scope_prefixes(str(click.get("value")))))
        elif click.get("kind") == "cluster":
            expanded = gv.collapse(expanded, str(click.get("value")))
    if node and node.get("run") == run.id and node.get("node") is not None:
        from graphscope.app.components.node_details import find_node

        found = find_node(run, int(node["node"]))
        if found is not None:
            expanded = gv.reveal(expanded, found[0].scope)
    return {"run": run.id, "expanded": sorted(expanded)}


def register_callbacks(app: Any, state: AppState) -> None:
    def current(session: str, run_id: str | None) -> Run | None:
        return current_run(state, session, run_id)

    @app.callback(Output("graph-stage", "max"), Output("graph-stage", "marks"), Output("graph-stage", "value"),
                  Output("graph-stage-box", "style"), Input("app-run", "data"), State("app-session", "data"))
    def _stages(run_id: str | None, session: str) -> tuple:
        return stage_controls(current(session, run_id))

    @app.callback(Output("graph-state", "data"), Output("graph-search-msg", "children"),
                  Input("app-run", "data"), Input("graph-click", "data"), Input("app-node", "data"),
                  Input("graph-search", "n_submit"), Input("graph-search-go", "n_clicks"),
                  Input("graph-fit-scopes", "n_clicks"), Input("graph-expand-all", "n_clicks"),
                  State("graph-state", "data"), State("graph-search", "value"), State("app-session", "data"))
    def _state(run_id: str | None, click: dict | None, node: dict | None, _s: Any, _g: Any, _f: Any, _a: Any,
               cur: dict | None, query: str | None, session: str) -> tuple:
        run = current(session, run_id)
        if run is None:
            return None, ""
        trig = ctx.triggered_id
        message: Any = no_update
        if trig in ("graph-search", "graph-search-go"):
            hits = gv.search(run, query or "")
            if not hits:
                return no_update, f"no node named like '{query}'" if query else ""
            node = {"run": run.id, "node": hits[0].id}
            set_props("app-node", {"data": node})
            message = f"{len(hits)} match{'es' * (len(hits) != 1)}: %{hits[0].id} {hits[0].name}" + \
                (f" (and {', '.join(h.name for h in hits[1:4])}{', …' if len(hits) > 4 else ''})" if len(hits) > 1 else "")
        if trig == "graph-click" and click and click.get("kind") in ("node", "chain"):
            ids = click["value"] if click["kind"] == "chain" else [click["value"]]
            node = {"run": run.id, "node": int(ids[0])}
            set_props("app-node", {"data": node})
            return no_update, no_update  # a node is drawn already: nothing to open
        event = {"graph-click": "click", "graph-fit-scopes": "fit", "graph-expand-all": "all"}.get(trig, "load")
        # The selected node's scopes open when the selection changes (or the page loads), not on every
        # click: closing the scope around the selected node must stay closed.
        reveal = node if event == "load" else None
        new = next_state(state, run, cur, event=event, click=click, node=reveal)
        if new == cur:
            return no_update, message
        return new, message

    @app.callback(Output("graph-view", "data"), Output("graph-info", "children"),
                  Input("graph-state", "data"), Input("graph-stage", "value"), Input("graph-color", "value"),
                  State("app-session", "data"))
    def _render(gstate: dict | None, stage: Any, color: str | None, session: str) -> tuple:
        run = current(session, (gstate or {}).get("run"))
        if run is None:
            return None, no_run("the Graph page")
        from graphscope.viz.dot import GraphvizError

        k = gv.clamp_stage(run, stage)
        try:
            view = gv.render(state.layouts, run, k, color or "time", gstate.get("expanded", []))
        except GraphvizError as exc:
            return None, notice(str(exc), "error")
        info = f"{view['summary']} · {gv.stage_label(run, k)} · laid out in {view['seconds']:.2f} s"
        extra = [n for n in view["notes"] if n not in view["summary"]]  # diff notes repeat the summary's legend
        if extra:
            info += " · " + "; ".join(extra)
        return {"svg": view["svg"], "targets": view["targets"]}, info

    app.clientside_callback(ClientsideFunction("graphscope", "showSvg"), Output("graph-shown", "data"),
                            Input("graph-view", "data"), State("graph-canvas", "id"))
    app.clientside_callback(ClientsideFunction("graphscope", "highlight"), Output("graph-highlighted", "data"),
                            Input("app-node", "data"), Input("graph-shown", "data"), State("graph-canvas", "id"))
    app.clientside_callback("function(v) { return (v && v.length) ? 'gs-canvas-box gs-fit' : 'gs-canvas-box'; }",
                            Output("graph-canvas-box", "className"), Input("graph-fit-width", "value"))

    @app.callback(Output("graph-details", "children"), Input("app-node", "data"), Input("app-run", "data"),
                  State("app-session", "data"))
    def _details(node: dict | None, run_id: str | None, session: str) -> Any:
        run = current(session, run_id)
        nid = node.get("node") if node and run is not None and node.get("run") == run.id else None
        return node_details(run, nid, "graph")


__all__ = ["layout", "next_state", "register", "register_callbacks", "stage_controls"]
