"""The HTML report: one self-contained file (plotly.js and the graph's SVG inlined) that opens offline.

    save_html_report(profile, "report.html")              # analyses the profile
    save_html_report(profile, "report.html", report=rep)  # or reuses a Report

Sections, each a ``<section id=...>`` (the browser test checks every one renders):
``summary`` (timing, memory, FLOPs, machine, profiler cost), ``recommendations``, ``top-nodes``
(table and chart), ``flame`` (flame chart by scope), ``timeline`` (bars per lane, lanes table),
``memory`` (live bytes curve, tensors live at the peak), ``roofline``, ``ops`` (chart and table),
``scopes`` (table), ``graph`` (Graphviz SVG coloured by time, collapsed when large), ``passes``
(the pass log, when the graph was optimized), ``notes``; and ``values`` (per-node value summaries with
a histogram each, nodes with NaN/Inf first) only when the run recorded them (``value_summaries=True``).

Figures come from ``graphscope.viz.figures`` and are drawn by the inlined plotly.js from a JSON
block; a script catches any error (a figure that fails to draw, a script error) and shows it in a
visible box at the top, so a broken report says so instead of showing blank space.
"""

from __future__ import annotations

import functools
import html
import json
import math
import os
from typing import Any

from graphscope.ir.spec import format_spec
from graphscope.profile.analysis import Report, analyze, format_bytes, format_ns
from graphscope.profile.events import RunProfile

SECTIONS = ("summary", "recommendations", "top-nodes", "flame", "timeline", "memory", "roofline", "ops", "scopes",
            "graph", "passes", "notes")
# Sections present only when the profile holds their data (``values``: the run's value summaries).
OPTIONAL_SECTIONS = ("values",)
MAX_VALUE_ROWS = 200
FIGURES = ("fig-top", "fig-flame", "fig-timeline", "fig-iterations", "fig-memory", "fig-roofline", "fig-ops")
MAX_GRAPH_BOXES = 300  # the graph section collapses scopes past this many boxes
_SECTION_TITLES = {
    "summary": "Summary", "recommendations": "Recommendations", "top-nodes": "Slowest nodes", "flame": "Flame chart",
    "timeline": "Timeline", "memory": "Memory", "roofline": "Roofline", "ops": "Op types", "scopes": "Name scopes",
    "graph": "Graph", "passes": "Optimization passes", "notes": "Notes", "values": "Value summaries",
}

_CSS = """
:root { --fg:#1d1d1f; --muted:#666; --line:#e2e2e2; --accent:#c0392b; --bg:#fafafa; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color:var(--fg); background:var(--bg); }
header { background:#20232a; color:#fff; padding:18px 28px; }
header h1 { margin:0 0 4px; font-size:22px; font-weight:600; }
header .sub { color:#c8c8c8; font-size:13px; }
nav { position:sticky; top:0; z-index:10; background:#fff; border-bottom:1px solid var(--line); padding:8px 28px;
      display:flex; flex-wrap:wrap; gap:14px; font-size:13px; }
nav a { color:#2c5aa0; text-decoration:none; }
main { padding:8px 28px 40px; max-width:1500px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; margin:18px 0; padding:14px 18px; }
section > h2 { margin:0 0 10px; font-size:17px; }
.cards { display:grid; grid-template-columns:repeat(auto-fill, minmax(210px, 1fr)); gap:10px; }
.card { border:1px solid var(--line); border-radius:6px; padding:8px 12px; background:#fcfcfc; }
.card .k { color:var(--muted); font-size:12px; } .card .v { font-size:18px; font-weight:600; }
.card .d { font-size:12px; color:var(--muted); }
table { border-collapse:collapse; width:100%; font-size:12.5px; margin:8px 0; }
th, td { padding:4px 8px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
th { background:#f3f3f3; font-weight:600; position:sticky; top:36px; }
td.n, th.n { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tr:nth-child(even) td { background:#fbfbfb; }
.bar { display:inline-block; height:8px; background:var(--accent); border-radius:2px; vertical-align:middle; margin-right:4px; }
.badge { display:inline-block; padding:0 6px; border-radius:9px; font-size:11px; background:#eee; margin-right:6px; }
.b-compute-bound { background:#fadbd8; } .b-memory-bound { background:#d6eaf8; } .b-overhead-bound { background:#e5e5e5; }
.recs li { margin:6px 0; } .muted { color:var(--muted); }
.figure { width:100%; min-height:260px; }
.graph { overflow:auto; max-height:1100px; border:1px solid var(--line); border-radius:6px; background:#fff; padding:6px; }
.graph.fit svg { width:100%; height:auto; }
button.toggle { font-size:12px; padding:2px 8px; margin-bottom:6px; cursor:pointer; }
#gs-errors { background:#fdecea; border:1px solid #e74c3c; color:#922; padding:10px 16px; margin:12px 28px; border-radius:6px; }
code { font-size:12px; background:#f4f4f4; padding:0 3px; border-radius:3px; }
"""

_HEAD_SCRIPT = """
window.gsErrors = [];
function gsShowErrors() {
  var box = document.getElementById('gs-errors');
  if (!box || !window.gsErrors.length) return;
  box.hidden = false;
  var ul = box.querySelector('ul'); ul.textContent = '';
  window.gsErrors.forEach(function (m) {
    var li = document.createElement('li'); li.className = 'gs-error'; li.textContent = m; ul.appendChild(li);
  });
  document.body.setAttribute('data-gs-status', 'error');
}
window.addEventListener('error', function (e) { window.gsErrors.push('script error: ' + (e.message || e)); gsShowErrors(); });
window.addEventListener('unhandledrejection', function (e) {
  window.gsErrors.push('error: ' + (e.reason && e.reason.message || e.reason)); gsShowErrors();
});
"""

_RENDER_SCRIPT = """
(function () {
  var figs;
  try { figs = JSON.parse(document.getElementById('gs-figures').textContent); }
  catch (e) { window.gsErrors.push('cannot read the figures: ' + e.message); gsShowErrors(); return; }
  if (typeof Plotly === 'undefined') { window.gsErrors.push('plotly.js did not load'); gsShowErrors(); return; }
  var config = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ['sendDataToCloud'] };
  var done = Object.keys(figs).map(function (id) {
    var el = document.getElementById(id);
    if (!el) { window.gsErrors.push('no element for figure ' + id); return Promise.resolve(); }
    try {
      return Plotly.newPlot(el, figs[id].data, figs[id].layout, config).catch(function (e) {
        window.gsErrors.push('figure ' + id + ': ' + e.message);
      });
    } catch (e) { window.gsErrors.push('figure ' + id + ': ' + e.message); return Promise.resolve(); }
  });
  Promise.all(done).then(function () {
    gsShowErrors();
    if (!window.gsErrors.length) document.body.setAttribute('data-gs-status', 'ok');
    document.body.setAttribute('data-gs-figures', String(document.querySelectorAll('.js-plotly-plot').length));
  });
})();
"""


@functools.lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped with the plotly package (inlined: no CDN, opens offline)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _num(x: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if x is None or not isinstance(x, (int, float)) or not math.isfinite(x) else fmt.format(x)


def _src(source: str | None) -> str:
    if not source:
        return ""
    path, _, line = source.rpartition(":")
    short = f"{os.path.basename(path)}:{line}" if path else source
    return f'<span title="{_e(source)}">{_e(short)}</span>'


def _table(headers: list[str], rows: list[list[str]], numeric: set[str] = frozenset()) -> str:
    head = "".join(f'<th class="n">{_e(h)}</th>' if h in numeric else f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for r in rows:
        cells = "".join(f'<td class="n">{c}</td>' if h in numeric else f"<td>{c}</td>" for h, c in zip(headers, r))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _card(key: str, value: str, detail: str = "") -> str:
    return (f'<div class="card"><div class="k">{_e(key)}</div><div class="v">{_e(value)}</div>'
            + (f'<div class="d">{_e(detail)}</div>' if detail else "") + "</div>")


def _section(sid: str, body: str, title: str | None = None) -> str:
    return f'<section id="{sid}"><h2>{_e(title or _SECTION_TITLES[sid])}</h2>{body}</section>'


def _fig_div(fid: str) -> str:
    return f'<div id="{fid}" class="figure"></div>'


# ---------------------------------------------------------------------------------------------
# Sections


def _summary(profile: RunProfile, r: Report) -> str:
    t, m, o, p = r.timing, r.memory, r.overhead, r.peaks
    flops = sum(n.flops for n in r.nodes)
    moved = sum(n.bytes_moved for n in r.nodes)
    rate = f"{flops / t.median_ns:.2f} GFLOP/s achieved" if t.median_ns and flops and math.isfinite(t.median_ns) else ""
    cards = [
        _card("iteration (median)", format_ns(t.median_ns),
              f"{100 * t.ci_level:.0f}% CI {format_ns(t.ci_low_ns)} – {format_ns(t.ci_high_ns)}; "
              f"p10–p90 {format_ns(t.p10_ns)} – {format_ns(t.p90_ns)}"),
        _card("measured iterations", str(t.iterations),
              f"{t.warmup} warm-up excluded" + (f" (median {format_ns(t.warmup_median_ns)})" if t.warmup else "")),
        _card("node time", format_ns(t.node_total_ns), f"{t.nodes_timed} nodes timed; every % is of this"),
        _card("peak memory", format_bytes(m.peak_bytes),
              f"intermediates; inputs {format_bytes(m.input_bytes)}, constants {format_bytes(m.constant_bytes)}"),
        _card("work per iteration", f"{flops / 1e9:.3g} GFLOP", f"{format_bytes(moved)} moved; {rate}".strip("; ")),
        _card("critical path", format_ns(r.schedule.critical_path_ns),
              f"parallelism {_num(r.schedule.parallelism, '{:.2f}')}x; gaps {_num(100 * r.schedule.gap_share)}% of the run"),
        _card("profiler cost", f"{format_ns(o.profiler_ns)}/node",
              f"{_num(100 * t.profiler_overhead_share)}% of the iteration; timer resolution {format_ns(o.timer_resolution_ns)}"),
        _card("machine peaks", f"{p.flops_per_s / 1e9:.0f} GFLOP/s", f"{p.bytes_per_s / 1e9:.1f} GB/s ({p.source})"),
    ]
    machine = ", ".join(f"{k} {v}" for k, v in r.machine.items())
    meta = profile.metadata
    extra = []
    if meta.get("graph_file"):
        extra.append(f"graph file <code>{_e(meta['graph_file'])}</code>")
    if "optimization_level" in meta:
        extra.append(f"optimization level {_e(meta['optimization_level'])}")
    if meta.get("seed") is not None:
        extra.append(f"input seed {_e(meta['seed'])}")
    lines = f'<p class="muted">backend {_e(r.backend)}; {_e(machine)}' + ("; " + "; ".join(extra) if extra else "") + "</p>"
    return _section("summary", f'<div class="cards">{"".join(cards)}</div>{lines}' + _fig_div("fig-iterations"))


def _recommendations(r: Report) -> str:
    if not r.recommendations:
        return _section("recommendations", '<p class="muted">None: no pattern above the thresholds.</p>')
    items = []
    for rec in r.recommendations:
        saving = f"saves ~{format_ns(rec.saving_ns)}" if rec.saving_ns else f"frees {format_bytes(rec.saving_bytes)}"
        items.append(f'<li><span class="badge">{_e(rec.kind)}</span><b>{_e(saving)}</b> — {_e(rec.message)}</li>')
    return _section("recommendations", f'<ol class="recs">{"".join(items)}</ol>')


def _top_nodes(r: Report, top: int) -> str:
    rows = []
    top_pct = max((n.pct for n in r.nodes), default=0.0) or 1.0
    for k, n in enumerate(r.top(top), 1):
        bar = f'<span class="bar" style="width:{max(1, round(60 * n.pct / top_pct))}px"></span>'
        rows.append([str(k), f"%{n.id} {_e(n.name)}", _e(n.op), _e(n.scope), _e(format_spec(n.dtype, n.shape)),
                     ("~" if n.unreliable else "") + format_ns(n.median_ns),
                     f"{format_ns(n.p10_ns)} – {format_ns(n.p90_ns)}", bar + _num(n.pct), _num(n.gflops, "{:.2f}"),
                     _num(n.gbps, "{:.2f}"), f'<span class="badge b-{_e(n.bound)}">{_e(n.bound)}</span>', _src(n.source)])
    table = _table(["#", "node", "op", "scope", "shape", "median", "p10 – p90", "%", "GFLOP/s", "GB/s", "bound", "source"],
                   rows, {"#", "median", "p10 – p90", "%", "GFLOP/s", "GB/s"})
    more = f'<p class="muted">{len(r.nodes) - top} more nodes in the JSON report.</p>' if len(r.nodes) > top else ""
    return _section("top-nodes", _fig_div("fig-top") + table + more,
                    f"Slowest nodes ({min(top, len(r.nodes))} of {len(r.nodes)})")


def _timeline(r: Report) -> str:
    body = _fig_div("fig-timeline")
    lanes = r.schedule.lanes
    if lanes:
        rows = [[_e(ln.lane), str(ln.nodes), format_ns(ln.busy_ns), format_ns(ln.gap_ns), format_ns(ln.idle_ns),
                 _num(100 * ln.busy_share)] for ln in lanes]
        body += _table(["lane", "nodes", "busy", "gaps", "idle", "busy %"], rows, {"nodes", "busy", "gaps", "idle", "busy %"})
    return _section("timeline", body)


def _memory(r: Report) -> str:
    m = r.memory
    body = _fig_div("fig-memory")
    if m.planned_peak_bytes:
        body += (f'<p>planned peak {format_bytes(m.planned_peak_bytes)}; measured / planned '
                 f'{_num(m.measured_over_planned, "{:.2f}")}</p>')
    if m.peak_tensors:
        rows = [[f"%{t.node_id} {_e(t.name)}", _e(t.op), _e(format_spec(t.dtype, t.shape)), format_bytes(t.bytes),
                 _num(t.pct_of_peak),
                 "-" if t.produced_index is None else f"node {t.produced_index + 1}",
                 "output" if t.is_output else ("-" if t.last_use_index is None else f"node {t.last_use_index + 1}"),
                 _src(t.source)] for t in m.peak_tensors[:25]]
        body += "<h3>Tensors live at the peak</h3>" + _table(
            ["tensor", "op", "shape", "bytes", "% of peak", "made at", "last read", "source"], rows, {"bytes", "% of peak"})
    return _section("memory", body)


def _ops(r: Report) -> str:
    rows = [[_e(g.key), str(g.count), format_ns(g.total_ns), format_ns(g.median_ns), _num(g.pct), f"{g.flops / 1e9:.3g}",
             format_bytes(g.bytes_moved)] for g in r.by_op]
    return _section("ops", _fig_div("fig-ops") + _table(
        ["op", "nodes", "total", "median", "%", "GFLOP", "moved"], rows, {"nodes", "total", "median", "%", "GFLOP", "moved"}))


def _scopes(r: Report) -> str:
    rows = []
    for s in r.by_scope:
        label = "(whole graph)" if not s.scope else "&nbsp;&nbsp;" * (s.depth - 1) + _e(s.scope.rsplit("/", 1)[-1])
        rows.append([f'<span title="{_e(s.scope)}">{label}</span>', str(s.count), format_ns(s.total_ns), _num(s.pct),
                     format_ns(s.self_ns), _num(s.self_pct)])
    return _section("scopes", _table(["scope", "nodes", "total", "%", "self", "self %"], rows,
                                     {"nodes", "total", "%", "self", "self %"}))


def _graph(profile: RunProfile, graph_svg: str | None, max_boxes: int) -> str:
    note = ""
    if graph_svg is None:
        from graphscope.viz.dot import GraphvizError, svg_for_html, to_dot

        rendering = to_dot(profile, color="time", max_nodes=max_boxes)
        if rendering.notes:
            note = f'<p class="muted">{_e("; ".join(rendering.notes))}</p>'
        try:
            graph_svg = svg_for_html(rendering)
        except GraphvizError as exc:
            return _section("graph", f'<p class="muted">No graph image: {_e(exc)}</p>')
    legend = ('<p class="muted">Boxes are nodes (ellipses: inputs, grey: constants, double border: outputs) in '
              'clusters by name scope, filled darker for a larger share of node time; hover for source lines.</p>')
    toggle = ('<button class="toggle" type="button" onclick="document.getElementById(\'gs-graph\').classList.toggle(\'fit\')">'
              'fit to width / actual size</button>')
    return _section("graph", legend + note + toggle + f'<div class="graph" id="gs-graph">{graph_svg}</div>')


def _passes(profile: RunProfile) -> str:
    log = profile.pass_log or []
    if not log:
        return _section("passes", '<p class="muted">The profiled graph was not optimized (no pass log).</p>')
    rows = []
    for p in log:
        counts = [str(len(p.get(k, []))) for k in ("removed", "merged", "folded", "rewritten", "fused", "blocked")]
        ms = _num(1e3 * float(p.get("seconds", 0) or 0), "{:.1f}")
        rows.append([_e(p.get("name", "?")), "yes" if p.get("changed") else "no", *counts,
                     f"{p.get('nodes_before', '?')} → {p.get('nodes_after', '?')}", ms])
    return _section("passes", _table(["pass", "changed", "removed", "merged", "folded", "rewritten", "fused", "blocked",
                                      "nodes", "ms"], rows,
                                     {"removed", "merged", "folded", "rewritten", "fused", "blocked", "ms"}))


def _histogram_svg(counts: list[int], edges: list[float], width: int = 120, height: int = 22) -> str:
    """A value histogram as a small inline SVG (bars scaled to the fullest bin; the title gives the range)."""
    top = max(counts, default=0)
    if top <= 0 or not edges:
        return ""
    w = width / len(counts)
    bars = "".join(
        f'<rect x="{k * w:.1f}" y="{height - max(1.0, height * c / top):.1f}" width="{max(w - 1, 1):.1f}" '
        f'height="{max(1.0, height * c / top):.1f}"><title>{_e(f"{edges[k]:.4g} .. {edges[k + 1]:.4g}: {c}")}</title></rect>'
        for k, c in enumerate(counts) if c)
    return (f'<svg class="hist" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="histogram from {edges[0]:.4g} to {edges[-1]:.4g}" fill="#c0392b">{bars}</svg>')


def _stat(x: float | None) -> str:
    if x is None:
        return "-"
    return _e(f"{x:.4g}" if x == 0 or 1e-3 <= abs(x) < 1e5 else f"{x:.2e}")


def _values(profile: RunProfile) -> str:
    """The run's value summaries: nodes with NaN/Inf first (marked), then in graph order."""
    sums = profile.value_summaries
    pos = {nid: k for k, nid in enumerate(profile.nodes)}
    ids = sorted(sums, key=lambda nid: (not (sums[nid].nan_count or sums[nid].inf_count), pos.get(nid, len(pos))))
    bad = sum(1 for v in sums.values() if v.nan_count or v.inf_count)
    rows = []
    for nid in ids[:MAX_VALUE_ROWS]:
        v, info = sums[nid], profile.nodes.get(nid)
        flag = '<span class="badge b-compute-bound">NaN/Inf</span>' if v.nan_count or v.inf_count else ""
        rows.append([f"{flag}%{nid} {_e(info.name if info else '')}", _e(info.op if info else ""),
                     _e(format_spec(v.dtype, list(v.shape))), _stat(v.min), _stat(v.max), _stat(v.mean), _stat(v.std),
                     str(v.nan_count), str(v.inf_count), _histogram_svg(v.hist_counts, v.hist_edges)])
    intro = (f'<p class="muted">{len(sums)} nodes summarized' + (f", {bad} with NaN or Inf" if bad else ", all finite")
             + "; min, max, mean and std are over the finite values.</p>")
    more = f'<p class="muted">{len(ids) - MAX_VALUE_ROWS} more nodes in the profile.</p>' if len(ids) > MAX_VALUE_ROWS else ""
    return _section("values", intro + _table(["node", "op", "shape", "min", "max", "mean", "std", "NaN", "Inf", "histogram"],
                                             rows, {"min", "max", "mean", "std", "NaN", "Inf"}) + more)


def _notes(r: Report, extra: list[str]) -> str:
    notes = list(r.notes) + extra
    body = "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>" if notes else '<p class="muted">None.</p>'
    return _section("notes", body)


def figures_for(profile: RunProfile, report: Report, top: int = 15) -> dict[str, Any]:
    """The report's figures by element id."""
    from graphscope.viz import figures as F

    return {
        "fig-top": F.top_nodes(report, top), "fig-flame": F.flame_chart(report), "fig-timeline": F.timeline(profile),
        "fig-iterations": F.iteration_times(profile), "fig-memory": F.memory_curve(report),
        "fig-roofline": F.roofline(report), "fig-ops": F.op_breakdown(report),
    }


def html_report(profile: RunProfile, report: Report | None = None, *, top: int = 25, graph_svg: str | None = None,
                max_graph_boxes: int = MAX_GRAPH_BOXES, title: str | None = None) -> str:
    """The whole report as one HTML string."""
    from graphscope import __version__

    if not isinstance(profile, RunProfile):
        raise TypeError(f"an HTML report is made from a RunProfile, not a {type(profile).__name__}")
    r = report if report is not None else analyze(profile)
    figs = figures_for(profile, r, min(top, 20))
    fig_json = "{" + ",".join(f"{json.dumps(k)}:{f.to_json()}" for k, f in figs.items()) + "}"
    fig_json = fig_json.replace("</", "<\\/").replace("<!--", "<\\!--")
    sections = [
        _summary(profile, r), _recommendations(r), _top_nodes(r, top),
        _section("flame", '<p class="muted">Width is median time; the graph at the bottom, scopes above it, nodes on top. '
                          'Click a block to zoom in.</p>' + _fig_div("fig-flame")),
        _timeline(r), _memory(r), *([_values(profile)] if profile.value_summaries else []),
        _section("roofline", _fig_div("fig-roofline")), _ops(r), _scopes(r),
        _graph(profile, graph_svg, max_graph_boxes), _passes(profile), _notes(r, []),
    ]
    shown = [s for s in SECTIONS[:6]] + (["values"] if profile.value_summaries else []) + list(SECTIONS[6:])
    nav = "".join(f'<a href="#{s}">{_e(_SECTION_TITLES[s])}</a>' for s in shown)
    heading = title or f"graphscope report: {r.graph_name}"
    sub = (f"{_e(r.backend)} · {r.timing.iterations} iterations · median {format_ns(r.timing.median_ns)} · "
           f"peak {format_bytes(r.memory.peak_bytes)} · graphscope {_e(__version__)}")
    return "".join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="graphscope {_e(__version__)}">',
        f"<title>{_e(heading)}</title><style>{_CSS}</style>",
        f"<script>{_HEAD_SCRIPT}</script>",
        f'<script type="text/javascript">{plotly_js()}</script>',
        "</head><body>",
        f'<header><h1>{_e(heading)}</h1><div class="sub">{sub}</div></header>',
        f"<nav>{nav}</nav>",
        '<div id="gs-errors" hidden><b>Parts of this report failed to render:</b><ul></ul></div>',
        "<main>", *sections, "</main>",
        f'<script type="application/json" id="gs-figures">{fig_json}</script>',
        f"<script>{_RENDER_SCRIPT}</script>",
        "</body></html>\n",
    ])


def save_html_report(profile: RunProfile, path: str | os.PathLike, *, report: Report | None = None, **kwargs: Any) -> None:
    """Write the HTML report of ``profile`` to ``path`` (atomically)."""
    from graphscope.formats._io import atomic_write

    allowed = {k: v for k, v in kwargs.items() if k in ("top", "graph_svg", "max_graph_boxes", "title")}
    data = html_report(profile, report, **allowed).encode("utf-8")
    atomic_write(path, lambda f: f.write(data))


__all__ = ["FIGURES", "OPTIONAL_SECTIONS", "SECTIONS", "figures_for", "html_report", "plotly_js", "save_html_report"]
