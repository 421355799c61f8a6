"""The dashboard's pages, one module each: ``layout`` plus ``register_callbacks(app, state)``.

Each module calls ``dash.register_page`` when first imported (after the app exists); element ids
start with the page's name. Callbacks are attached per app (not with the global ``dash.callback``)
so several apps can live in one process (tests, the screenshot script).
"""

PAGES = ("home", "graph", "timeline", "memory", "bottlenecks", "compare")
