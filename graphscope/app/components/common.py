"""Small layout pieces shared by the pages: cards, sortable tables, figures, notices."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from dash import dash_table, dcc, html

GRAPH_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["sendDataToCloud", "lasso2d", "select2d"]}


def card(key: str, value: str, detail: str = "", card_id: str | None = None) -> html.Div:
    kids = [html.Div(key, className="gs-card-k"), html.Div(value, className="gs-card-v")]
    if detail:
        kids.append(html.Div(detail, className="gs-card-d"))
    return html.Div(kids, className="gs-card", **({"id": card_id} if card_id else {}))


def cards(items: Sequence[html.Div]) -> html.Div:
    return html.Div(list(items), className="gs-cards")


def section(title: str, *children: Any, section_id: str | None = None) -> html.Section:
    return html.Section([html.H3(title), *children], className="gs-section", **({"id": section_id} if section_id else {}))


def notice(message: Any, kind: str = "info", notice_id: str | None = None) -> html.Div:
    """A boxed message: kind "info", "error" (red, role=alert) or "ok"."""
    extra = {"role": "alert"} if kind == "error" else {}
    return html.Div(message, className=f"gs-notice gs-{kind}", **extra, **({"id": notice_id} if notice_id else {}))


def no_run(what: str = "this page") -> html.Div:
    return notice(["Nothing to show on ", what, " yet: pick a model on the ", dcc.Link("Run page", href="/"),
                   " and profile it, or upload a profile there."], "info")


def needs_profile(label: str) -> html.Div:
    return notice([f"'{label}' is a graph that has not been run: profile it on the ", dcc.Link("Run page", href="/"),
                   " to see its timings here."], "info")


def figure(fig_id: str, fig: Any, **style: Any) -> dcc.Graph:
    extra = {"style": style} if style else {}  # dcc.Graph reads style.height: never pass style=None
    return dcc.Graph(id=fig_id, figure=fig, config=GRAPH_CONFIG, className="gs-figure", **extra)


def num(x: float | None, digits: int = 4) -> float | None:
    """A number rounded to ``digits`` significant digits for a numeric table column (None for NaN)."""
    if x is None or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    if x == 0:
        return 0.0
    return round(float(x), max(digits - 1 - int(math.floor(math.log10(abs(x)))), 0))


def table(table_id: str, rows: list[dict[str, Any]], columns: Sequence[tuple[str, str, str]], *, page_size: int = 15,
          sort_by: str | None = None, descending: bool = True, row_selectable: bool = False) -> dash_table.DataTable:
    """A sortable table; ``columns`` are (row key, header, "text" | "numeric")."""
    cols = [{"id": key, "name": name, "type": kind} for key, name, kind in columns]
    return dash_table.DataTable(
        id=table_id, data=rows, columns=cols, sort_action="native", sort_mode="single", page_action="native",
        page_size=page_size, sort_by=[{"column_id": sort_by, "direction": "desc" if descending else "asc"}] if sort_by else [],
        style_table={"overflowX": "auto"}, style_as_list_view=True,
        style_header={"fontWeight": "600", "backgroundColor": "#f3f3f3"},
        style_cell={"fontSize": "12.5px", "fontFamily": "inherit", "padding": "4px 8px", "textAlign": "left",
                    "maxWidth": "420px", "overflow": "hidden", "textOverflow": "ellipsis"},
        style_cell_conditional=[{"if": {"column_type": "numeric"}, "textAlign": "right"}],
        row_selectable="single" if row_selectable else False, tooltip_delay=300, tooltip_duration=None,
    )


def short_source(source: str | None) -> str:
    """``models.py:42`` from ``/path/to/models.py:42``."""
    if not source:
        return ""
    path, _, line = source.rpartition(":")
    return f"{path.replace(chr(92), '/').rsplit('/', 1)[-1]}:{line}" if path and line.isdigit() else source


__all__ = ["GRAPH_CONFIG", "card", "cards", "figure", "needs_profile", "no_run", "notice", "num", "section", "short_source",
           "table"]


def current_run(state: Any, session: str, run_id: str | None) -> Any:
    """The session's run ``run_id`` (the latest when None) for a callback; an unknown session stops the
    update (PreventUpdate) instead of raising into the browser."""
    from dash.exceptions import PreventUpdate

    try:
        return state.run(session, run_id)
    except ValueError:
        raise PreventUpdate from None
