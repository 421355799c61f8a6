"""Pictures of graphs and profiles: Graphviz renderings, Plotly figures and the HTML report.

* ``dot``: DOT text of a graph (or a profile's graph) with nodes in clusters by name scope,
  coloured by time or memory share, scopes collapsible to one box; before/after renderings of an
  optimization with removed and fused nodes marked; SVG/PNG through Graphviz (layouts cached).
* ``figures``: pure Plotly figure builders over a RunProfile and its Report (flame chart, lane
  timeline, memory curve, op breakdown, roofline), shared by the HTML report and the dashboard.
* ``html``: the self-contained HTML report (plotly.js inlined: it opens offline).

Nothing in the core (ir, ops, passes, runtime) imports this package; its dependencies (plotly,
graphviz) are imported only by the modules that need them.
"""
