"""The dashboard's shell: navigation, the run selector, the stores every page shares, and the server.

Stores (in the shell, so they outlive page changes):

* ``app-session`` (sessionStorage): this browser tab's random session id; the server keys uploads,
  runs and jobs by it (``state.AppState``), so sessions never see each other's work.
* ``app-run`` (sessionStorage): the id of the run (or opened graph) the pages show.
* ``app-node`` (sessionStorage): the selected node ``{"run", "node"}``: a click on the timeline
  selects it on the Graph page too.
* ``app-runs-version`` (memory): bumped when the session gets a new run, to refresh the selector.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from graphscope.app.state import DEFAULT_MAX_UPLOAD_BYTES, AppState, new_session_id

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
NAV = (("Run", "/", "home"), ("Graph", "/graph", "graph"), ("Timeline", "/timeline", "timeline"),
       ("Memory", "/memory", "memory"), ("Bottlenecks", "/bottlenecks", "bottlenecks"), ("Compare", "/compare", "compare"))

log = logging.getLogger(__name__)


def shell() -> Any:
    """The layout around every page (a function: each page load gets a fresh session id, which the
    session store replaces with the tab's own when it already has one)."""
    import dash
    from dash import dcc, html

    return html.Div([
        dcc.Store(id="app-session", storage_type="session", data=new_session_id()),
        dcc.Store(id="app-run", storage_type="session"),
        dcc.Store(id="app-node", storage_type="session"),
        dcc.Store(id="app-runs-version", data=0),
        html.Header([
            html.Div([html.Span("graphscope", className="gs-brand"), html.Span("profiler dashboard", className="gs-sub")],
                     className="gs-title"),
            html.Nav([dcc.Link(text, href=href, id=f"app-nav-{key}", className="gs-nav-link") for text, href, key in NAV],
                     className="gs-nav"),
            html.Div([html.Label("showing", htmlFor="app-run-select", className="gs-muted"),
                      dcc.Dropdown(id="app-run-select", options=[], value=None, clearable=False, searchable=False,
                                   placeholder="no runs yet", className="gs-run-select")], className="gs-run-pick"),
        ], className="gs-header"),
        html.Main(dash.page_container, className="gs-main"),
    ], className="gs-app")


def run_options(state: AppState, session: str) -> list[dict[str, str]]:
    runs = sorted(state.runs(session), key=lambda r: -r.created)
    return [{"label": r.label, "value": r.id} for r in runs]


def pick_run(state: AppState, session: str, chosen: str | None, stored: str | None, from_select: bool) -> str | None:
    """The run the pages show: the one picked in the selector, else the stored one, else the latest."""
    ids = {r.id for r in state.runs(session)}
    for candidate in ((chosen, stored) if from_select else (stored, chosen)):
        if candidate in ids:
            return candidate
    latest = state.latest_run(session)
    return latest.id if latest is not None else None


def register_shell_callbacks(app: Any, state: AppState) -> None:
    from dash import Input, Output, State, ctx
    from dash.exceptions import PreventUpdate

    @app.callback(Output("app-run-select", "options"), Output("app-run-select", "value"), Output("app-run", "data"),
                  Input("app-run-select", "value"), Input("app-run", "data"), Input("app-runs-version", "data"),
                  State("app-session", "data"))
    def sync_runs(chosen: str | None, stored: str | None, _version: int, session: str) -> tuple:
        try:
            options = run_options(state, session)
        except ValueError:
            raise PreventUpdate from None
        current = pick_run(state, session, chosen, stored, ctx.triggered_id == "app-run-select")
        return options, current, current

    for _, href, key in NAV:  # the current page's link is highlighted
        app.clientside_callback(
            f"function(path) {{ return (path === '{href}') ? 'gs-nav-link gs-active' : 'gs-nav-link'; }}",
            Output(f"app-nav-{key}", "className"), Input("_pages_location", "pathname"))


def create_app(samples_dir: str | None = None, files: Sequence[str] = (), *,
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, workers: int = 2, state: AppState | None = None) -> Any:
    """The dashboard as a ``dash.Dash`` app (serve it with ``app.run(host=..., port=...)``).

    ``samples_dir``: where the bundled sample graphs are (built in memory when a file is missing);
    other graph and profile files there are listed too. ``files``: graphs (listed as models) and
    profiles (shown as runs) to open. Unreadable files raise GraphFormatError before anything starts.
    """
    import dash

    from graphscope.app import pages as _pages_pkg

    state = state if state is not None else AppState(samples_dir, files, max_upload_bytes=max_upload_bytes, workers=workers)
    app = dash.Dash(__name__, use_pages=True, pages_folder="", assets_folder=ASSETS, title="graphscope",
                    update_title=None, suppress_callback_exceptions=False)
    # A request body above this is refused before it is read (uploads are base64: 4/3 of the file).
    app.server.config["MAX_CONTENT_LENGTH"] = int(state.max_upload_bytes * 4 / 3) + 2**20
    app.server.extensions["graphscope"] = state
    import importlib

    modules = [importlib.import_module(f"graphscope.app.pages.{name}") for name in _pages_pkg.PAGES]
    for module in modules:
        module.register()  # idempotent: dash.register_page once per process for each page
    app.layout = shell
    register_shell_callbacks(app, state)
    for module in modules:
        module.register_callbacks(app, state)
    return app


def app_state(app: Any) -> AppState:
    """The AppState behind an app made by ``create_app``."""
    return app.server.extensions["graphscope"]


def main(host: str = "127.0.0.1", port: int = 8050, samples_dir: str | None = None, files: Sequence[str] = (), *,
         max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, debug: bool = False) -> int:
    """Serve the dashboard at http://host:port/ until interrupted. Binds to 127.0.0.1 unless told otherwise."""
    app = create_app(samples_dir, files, max_upload_bytes=max_upload_bytes)
    state = app_state(app)
    shown = f"[{host}]" if ":" in host else host
    print(f"graphscope dashboard on http://{shown}:{port}/ ({len(state.shared_sources)} models, "
          f"{len(state.shared_runs)} profiles; Ctrl-C stops it)", flush=True)
    if not debug:  # one line per request (the Run page polls its job) would drown the terminal
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        app.run(host=host, port=port, debug=debug, dev_tools_ui=debug, dev_tools_props_check=debug)
    finally:
        state.jobs.shutdown()
    return 0


__all__ = ["ASSETS", "NAV", "app_state", "create_app", "main", "pick_run", "run_options", "shell"]
