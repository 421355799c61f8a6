"""Memory page (``/memory``): live bytes through an iteration, the peak and what is live at it, and
the memory plan's figures (planned peak, lower bound, no-reuse total) against the measured peak.

Numbers come from ``Report.memory`` (``profile.analysis.memory_report``) and the profile's
memory-plan metadata; the curve is ``viz.figures.memory_curve``.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, html
from dash.exceptions import PreventUpdate

from graphscope.app.components.common import card, cards, figure, needs_profile, no_run, num, section, table
from graphscope.app.state import AppState, Run
from graphscope.profile.analysis import format_bytes, format_spec

PATH = "/memory"
EMPTY = {"data": [], "layout": {"height": 60}}
TENSOR_COLUMNS = [("node_id", "node", "numeric"), ("name", "name", "text"), ("op", "op", "text"), ("spec", "output", "text"),
                  ("kib", "KiB", "numeric"), ("pct", "% of peak", "numeric"), ("produced", "made at step", "numeric"),
                  ("last_use", "last read at step", "numeric"), ("output", "graph output", "text")]


def layout(**_: Any) -> Any:
    return html.Div([
        html.H2("Memory"),
        html.Div(id="memory-notice"),
        html.Div([
            html.Div(id="memory-cards"),
            figure("memory-curve", EMPTY),
            section("Live at the peak", html.P(id="memory-peak-text", className="gs-muted"),
                    table("memory-tensors", [], TENSOR_COLUMNS, sort_by="kib")),
        ], id="memory-body", style={"display": "none"}),
    ], className="gs-page", id="memory-page")


def register() -> None:
    if __name__ not in dash.page_registry:
        dash.register_page(__name__, path=PATH, name="Memory", title="graphscope: memory", order=3, layout=layout)


def memory_cards(run: Run) -> list[Any]:
    m = run.report.memory
    meta = run.profile.metadata or {}
    names = {r.id: r.name for r in run.report.nodes}
    items = [card("measured peak", format_bytes(m.peak_bytes),
                  f"after %{m.peak_node} {names.get(m.peak_node, '')}" if m.peak_node is not None else "", "memory-peak")]
    if m.planned_peak_bytes:
        items.append(card("planned peak (memory plan)", format_bytes(m.planned_peak_bytes),
                          f"measured / planned = {m.measured_over_planned:.2f}" if m.measured_over_planned else "",
                          "memory-planned"))
        for key, label in (("lower_bound_bytes", "lower bound (largest live set)"), ("naive_bytes", "without reuse"),
                           ("arena_bytes", "arena size")):
            if isinstance(meta.get(key), (int, float)):
                items.append(card(label, format_bytes(meta[key])))
    else:
        items.append(card("planned peak", "no plan", "the memory plan runs at optimization level 2 and above", "memory-planned"))
    items += [card("inputs", format_bytes(m.input_bytes)), card("constants (weights)", format_bytes(m.constant_bytes))]
    return [cards(items)]


def tensor_rows(run: Run) -> list[dict[str, Any]]:
    return [{"node_id": t.node_id, "name": t.name, "op": t.op, "spec": format_spec(t.dtype, t.shape), "kib": num(t.bytes / 1024),
             "pct": num(t.pct_of_peak), "produced": None if t.produced_index is None else t.produced_index + 1,
             "last_use": None if t.last_use_index is None else t.last_use_index + 1, "output": "yes" if t.is_output else ""}
            for t in run.report.memory.peak_tensors]


def page_content(run: Run | None) -> tuple[Any, Any, Any, list, str, dict]:
    """(notice, cards, curve, tensor rows, peak text, body style)."""
    from graphscope.viz.figures import memory_curve

    if run is None or run.profile is None:
        return (no_run("the Memory page") if run is None else needs_profile(run.label)), None, EMPTY, [], "", {"display": "none"}
    m = run.report.memory
    text = (f"{len(m.peak_tensors)} tensors live at the peak, {format_bytes(sum(t.bytes for t in m.peak_tensors))} in all; "
            "steps count node executions in the median iteration")
    return None, memory_cards(run), memory_curve(run.report), tensor_rows(run), text, {}


def register_callbacks(app: Any, state: AppState) -> None:
    @app.callback(Output("memory-notice", "children"), Output("memory-cards", "children"), Output("memory-curve", "figure"),
                  Output("memory-tensors", "data"), Output("memory-peak-text", "children"), Output("memory-body", "style"),
                  Input("app-run", "data"), State("app-session", "data"))
    def _content(run_id: str | None, session: str) -> tuple:
        try:
            run = state.run(session, run_id)
        except ValueError:
            raise PreventUpdate from None
        return page_content(run)


__all__ = ["layout", "memory_cards", "page_content", "register", "register_callbacks", "tensor_rows"]
