"""The Dash dashboard: ``graphscope dashboard`` (or ``python -m graphscope.app``).

    from graphscope.app import create_app
    app = create_app(samples_dir="sample_graphs")    # a dash.Dash; app.run(host="127.0.0.1", port=8050)

Pages (one module each in ``pages/``): Run (pick or upload a model, profile it in the background),
Graph (before/after optimization, pass by pass, scopes collapsible, node details), Timeline (flame
chart and lanes), Memory, Bottlenecks (the report's tables and downloads) and Compare (two runs).

The app is a face over the library: it calls ``graphscope.optimize``/``run``, ``profile.analysis``,
``profile.compare``, ``viz.figures``, ``viz.dot`` and ``formats``, and adds no analysis of its own.
Nothing in the rest of ``graphscope`` imports this package; it needs the ``dashboard`` extra.
"""

from __future__ import annotations

from typing import Any

MISSING_DASH = "the dashboard needs Dash: pip install 'graphscope-profiler[dashboard]'"


def create_app(*args: Any, **kwargs: Any) -> Any:
    """A ready ``dash.Dash`` app (see ``graphscope.app.app.create_app``)."""
    from graphscope.app.app import create_app as _create

    return _create(*args, **kwargs)


def main(*args: Any, **kwargs: Any) -> int:
    """Serve the dashboard until interrupted (see ``graphscope.app.app.main``)."""
    from graphscope.app.app import main as _main

    return _main(*args, **kwargs)


__all__ = ["MISSING_DASH", "create_app", "main"]
