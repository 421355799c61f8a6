"""Run page (``/``): pick or upload a model, choose how to run it, profile it in the background.

A bundled sample, a file given on the command line or an uploaded ``.gsg`` graph can be profiled
(optimize at the chosen level, run on random inputs, analyse) on a worker thread while the page
polls its progress; an uploaded ``.gsprof`` profile becomes a run directly. Uploads are checked for
size in the browser and again on the server, then read by the CLI's loaders; a bad file shows its
error here and changes nothing else.
"""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import Input, Output, State, ctx, dcc, html, no_update, set_props
from dash.exceptions import PreventUpdate

from graphscope.app.components.common import notice, num, section, table
from graphscope.app.jobs import DONE, FAILED
from graphscope.app.runner import RunSettings, UploadError, add_upload, open_graph, start_run, supports_value_summaries
from graphscope.app.state import AppState

PATH = "/"
LEVEL_TEXT = {0: "0: none", 1: "1: exact cleanups", 2: "2: + fusion, memory plan", 3: "3: + inexact rewrites"}
DEFAULT_SOURCE = "sample:transformer"
UPLOAD_TYPES = ".gsg,.gsprof,.onnx"

# The browser refuses an oversized upload before sending it (the server checks again).
_CHECK_UPLOAD = """
function(contents, filename, limit) {
    if (!contents) { return window.dash_clientside.no_update; }
    var comma = contents.indexOf(',');
    var size = Math.floor((contents.length - comma - 1) * 3 / 4);
    if (size > limit) {
        var mib = function (n) { return (n / 1048576).toFixed(1) + ' MiB'; };
        window.dash_clientside.set_props('home-upload-msg', {children: 'upload \\'' + filename + '\\' is ' + mib(size) +
            ', over the ' + mib(limit) + ' limit (start the dashboard with a larger --max-upload-mb, or open the file ' +
            'with \\'graphscope dashboard FILE\\')', className: 'gs-notice gs-error'});
        window.dash_clientside.set_props('home-upload', {contents: null});
        return window.dash_clientside.no_update;
    }
    return {contents: contents, filename: filename, at: Date.now()};
}
"""


def layout(**_: Any) -> Any:
    from graphscope.backends import available_backends
    from graphscope.passes.pipeline import LEVELS

    options = [{"label": "run independent nodes in parallel", "value": "parallel"}]
    if supports_value_summaries():
        options.append({"label": "record value summaries (min/max/histogram per node)", "value": "values"})
    return html.Div([
        dcc.Store(id="home-upload-ok"), dcc.Store(id="home-job"), dcc.Store(id="home-upload-limit"),
        dcc.Interval(id="home-poll", interval=400, disabled=True),
        html.H2("Profile a model"),
        html.Div([
            section("Model",
                    dcc.Dropdown(id="home-source", options=[], value=None, clearable=False, placeholder="pick a model"),
                    html.Div(id="home-source-info", className="gs-muted"),
                    dcc.Upload(id="home-upload", accept=UPLOAD_TYPES, multiple=False, className="gs-upload",
                               children=html.Div(["Drop a ", html.Code(".gsg"), " graph or a ", html.Code(".gsprof"),
                                                  " profile here, or ", html.A("choose a file")])),
                    html.Div(id="home-upload-msg", className="gs-upload-msg")),
            section("How to run it",
                    html.Div([html.Label("backend", htmlFor="home-backend"),
                              dcc.Dropdown(id="home-backend", options=available_backends(), value="numpy", clearable=False)],
                             className="gs-field"),
                    html.Div([html.Label("optimization level"),
                              dcc.RadioItems(id="home-level", value=2, inline=True, className="gs-radio",
                                             options=[{"label": LEVEL_TEXT.get(k, str(k)), "value": k} for k in sorted(LEVELS)])],
                             className="gs-field"),
                    html.Div([html.Label("measured repeats", htmlFor="home-repeat"),
                              dcc.Input(id="home-repeat", type="number", min=1, max=1000, step=1, value=5, debounce=True),
                              html.Label("warm-up", htmlFor="home-warmup"),
                              dcc.Input(id="home-warmup", type="number", min=0, max=100, step=1, value=1, debounce=True)],
                             className="gs-field gs-inline"),
                    dcc.Checklist(id="home-options", options=options, value=[], className="gs-checks"),
                    html.Div([html.Button("Profile", id="home-run", className="gs-button gs-primary"),
                              html.Button("Open graph without running", id="home-open", className="gs-button")],
                             className="gs-buttons"),
                    html.Div([html.Progress(id="home-progress", value="0", max="1", className="gs-progress"),
                              html.Span(id="home-stage", className="gs-muted")], id="home-status", className="gs-status"),
                    html.Div(id="home-error")),
        ], className="gs-columns"),
        section("Runs in this session",
                table("home-runs", [], [("label", "run", "text"), ("median_ms", "median (ms)", "numeric"),
                                        ("nodes", "nodes", "numeric"), ("peak_mib", "peak (MiB)", "numeric"),
                                        ("created", "made", "text")], page_size=10),
                html.P(["Pick what the other pages show in the selector at the top right; open ",
                        dcc.Link("Compare", href="/compare"), " to put two runs side by side."], className="gs-muted")),
    ], className="gs-page", id="home-page")


def register() -> None:
    if __name__ not in dash.page_registry:
        dash.register_page(__name__, path=PATH, name="Run", title="graphscope: run", order=0, layout=layout)


# ---------------------------------------------------------------------------------------------
# Callback bodies (plain functions: the unit tests call them directly)


def source_options(state: AppState, session: str, current: str | None) -> tuple[list[dict[str, str]], str | None]:
    sources = state.sources(session)
    options = [{"label": s.label + (" (profile)" if s.kind == "profile" else ""), "value": s.key} for s in sources]
    keys = [s.key for s in sources]
    value = current if current in keys else DEFAULT_SOURCE if DEFAULT_SOURCE in keys else (keys[0] if keys else None)
    return options, value


def settings_from(level: Any, backend: Any, repeat: Any, warmup: Any, options: list[str] | None) -> RunSettings:
    def as_int(x: Any, what: str) -> int:
        try:
            return int(x)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be a whole number, got {x!r}") from None

    opts = set(options or [])
    return RunSettings(level=as_int(level, "optimization level"), backend=str(backend or "numpy"),
                       repeat=as_int(repeat, "measured repeats"), warmup=as_int(warmup, "warm-up runs"),
                       parallel="parallel" in opts, value_summaries="values" in opts)


def submit(state: AppState, session: str, source_key: str | None, settings: RunSettings) -> str:
    """Start a profiling job; returns its id. ValueError (shown in the page) for anything not runnable."""
    if state.jobs.active(session):
        raise ValueError("a run is already in progress in this session: wait for it to finish")
    src = state.source(session, source_key)
    if src is None:
        raise ValueError("pick a model first")
    if src.kind != "graph":
        raise ValueError(f"{src.label} is a {src.kind}, not a graph: open it from the run selector instead")
    return start_run(state, session, src, settings)


def job_view(state: AppState, session: str, job_id: str | None) -> dict[str, Any]:
    """What the status line shows for a job: progress, stage text, error, whether it ended, its run."""
    job = state.jobs.get(session, job_id)
    if job is None:
        return {"value": "0", "max": "1", "stage": "", "error": None, "ended": True, "run": None}
    s = job.snapshot()
    total = max(s["total"], 1)
    stage = f"{s['label']}: {s['stage']} ({s['elapsed_s']:.1f} s)"
    return {"value": str(min(s["done"], total)), "max": str(total), "stage": stage, "error": s["error"],
            "ended": s["status"] in (DONE, FAILED), "run": s["result"] if s["status"] == DONE else None}


def runs_rows(state: AppState, session: str) -> list[dict[str, Any]]:
    rows = []
    for r in sorted(state.runs(session), key=lambda r: -r.created):
        row = r.summary()
        rows.append({"label": row["label"], "median_ms": num(row.get("median_ms")), "nodes": row.get("nodes"),
                     "peak_mib": num(row.get("peak_mib")), "created": row["created"], "id": r.id})
    return rows


def _bump() -> None:
    set_props("app-runs-version", {"data": time.time()})


def register_callbacks(app: Any, state: AppState) -> None:
    @app.callback(Output("home-source", "options"), Output("home-source", "value"), Output("home-upload-limit", "data"),
                  Input("app-session", "data"), Input("app-runs-version", "data"), State("home-source", "value"))
    def _sources(session: str, _v: Any, current: str | None) -> tuple:
        try:
            options, value = source_options(state, session, current)
        except ValueError:
            raise PreventUpdate from None
        return options, value, state.max_upload_bytes

    @app.callback(Output("home-source-info", "children"), Input("home-source", "value"), State("app-session", "data"))
    def _source_info(key: str | None, session: str) -> str:
        try:
            src = state.source(session, key)
        except ValueError:
            raise PreventUpdate from None
        if src is None:
            return ""
        where = {"sample": "bundled sample", "file": "file", "upload": "uploaded"}[src.origin]
        return f"{where} {src.kind}" + (f": {src.path}" if src.path and src.origin != "upload" else "")

    app.clientside_callback(_CHECK_UPLOAD, Output("home-upload-ok", "data"), Input("home-upload", "contents"),
                            State("home-upload", "filename"), State("home-upload-limit", "data"))

    @app.callback(Output("home-upload-msg", "children"), Output("home-upload-msg", "className"),
                  Output("home-upload", "contents"), Input("home-upload-ok", "data"), State("app-session", "data"),
                  prevent_initial_call=True)
    def _upload(data: dict | None, session: str) -> tuple:
        if not data or not data.get("contents"):
            raise PreventUpdate
        name = str(data.get("filename") or "upload")
        try:
            message, made = add_upload(state, session, data["contents"], name)
        except UploadError as exc:
            return str(exc), "gs-notice gs-error", None
        except ValueError:
            raise PreventUpdate from None
        if hasattr(made, "kind"):  # a graph: it becomes the model to run
            set_props("home-source", {"value": made.key})
        else:  # a profile: the pages show it
            set_props("app-run", {"data": made.id})
        _bump()
        return message, "gs-notice gs-ok", None

    @app.callback(Output("home-job", "data"), Output("home-poll", "disabled"), Output("home-error", "children"),
                  Input("home-run", "n_clicks"), Input("app-session", "data"),
                  State("home-source", "value"), State("home-level", "value"), State("home-backend", "value"),
                  State("home-repeat", "value"), State("home-warmup", "value"), State("home-options", "value"))
    def _run(_n: Any, session: str, source_key: str | None, level: Any, backend: Any, repeat: Any, warmup: Any,
             options: list[str] | None) -> tuple:
        try:
            state.workspace(session)
        except ValueError:
            raise PreventUpdate from None
        if ctx.triggered_id != "home-run":  # page load: pick up a run still going in this session
            active = state.jobs.active(session)
            return (active[-1].id, False, None) if active else (no_update, True, None)
        try:
            job_id = submit(state, session, source_key, settings_from(level, backend, repeat, warmup, options))
        except ValueError as exc:
            return no_update, True, notice(str(exc), "error", "home-error-box")
        return job_id, False, None

    @app.callback(Output("home-progress", "value"), Output("home-progress", "max"), Output("home-stage", "children"),
                  Output("home-poll", "disabled", allow_duplicate=True), Output("home-error", "children", allow_duplicate=True),
                  Input("home-poll", "n_intervals"), Input("home-job", "data"), State("app-session", "data"),
                  prevent_initial_call=True)
    def _poll(_n: Any, job_id: str | None, session: str) -> tuple:
        try:
            v = job_view(state, session, job_id)
        except ValueError:
            raise PreventUpdate from None
        error = notice(["The run failed: ", html.Span(v["error"], id="home-error-text")], "error", "home-error-box") \
            if v["error"] else no_update
        if v["run"]:
            set_props("app-run", {"data": v["run"]})
            _bump()
        return v["value"], v["max"], v["stage"], v["ended"], error

    @app.callback(Output("app-run", "data", allow_duplicate=True), Input("home-open", "n_clicks"),
                  State("home-source", "value"), State("app-session", "data"), prevent_initial_call=True)
    def _open(_n: Any, source_key: str | None, session: str) -> Any:
        from graphscope.app.jobs import describe_error

        src = state.source(session, source_key)
        if src is None:
            raise PreventUpdate
        if src.kind != "graph":
            set_props("home-error", {"children": notice(f"{src.label} is not a graph", "error", "home-error-box")})
            raise PreventUpdate
        try:
            run = open_graph(state, session, src)
        except Exception as exc:  # a graph file that fails to load: say so here
            set_props("home-error", {"children": notice(describe_error(exc), "error", "home-error-box")})
            raise PreventUpdate from None
        _bump()
        set_props("home-error", {"children": notice(["Opened: see the ", dcc.Link("Graph page", href="/graph"), "."], "ok")})
        return run.id

    @app.callback(Output("home-runs", "data"), Input("app-runs-version", "data"), Input("app-session", "data"))
    def _runs(_v: Any, session: str) -> list:
        try:
            return runs_rows(state, session)
        except ValueError:
            raise PreventUpdate from None


__all__ = ["job_view", "layout", "register", "register_callbacks", "runs_rows", "settings_from", "source_options", "submit"]
