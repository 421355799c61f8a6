"""Plain-text rendering of a Report or a Comparison with rich tables.

``format_report`` returns plain text (no colour codes: for files, tests and logs);
``print_report`` writes to a console, with colour when it is a terminal.
"""

from __future__ import annotations

import io
import math
import os
import sys
from typing import IO

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from graphscope.profile.analysis import DeviceReport, Report, format_bytes, format_ns, format_spec
from graphscope.profile.compare import Comparison
from graphscope.profile.events import RunProfile, ValueSummary


def _src(source: str | None) -> str:
    if not source:
        return ""
    path, _, line = source.rpartition(":")
    return f"{os.path.basename(path)}:{line}" if path else source


def _num(x: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if x is None or not math.isfinite(x) else fmt.format(x)


def _table(title: str, *columns: str) -> Table:
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, box=None, header_style="bold")
    for c in columns:
        t.add_column(c, justify="right" if c in {"#", "median", "total", "%", "self %", "nodes", "GFLOP/s", "GB/s",
                                                  "bytes", "% peak", "before", "after", "delta", "change", "busy",
                                                  "gaps", "busy %", "count", "host", "device"} else "left",
                     overflow="fold")
    return t


def report_renderables(report: Report, top: int = 10, profile: RunProfile | None = None) -> list:
    """The report's parts; ``profile`` (the one the report was made from) adds its value summaries, if any."""
    t = report.timing
    o = report.overhead
    p = report.peaks
    head = Text()
    head.append(f"graphscope profile: {report.graph_name} ({report.backend})\n", style="bold")
    warm = f", {t.warmup} warm-up excluded (median {format_ns(t.warmup_median_ns)})" if t.warmup else ", no warm-up"
    head.append(f"  iterations  {t.iterations} measured{warm}\n")
    head.append(f"  iteration   {format_ns(t.median_ns)} median, {100 * t.ci_level:.0f}% CI "
                f"[{format_ns(t.ci_low_ns)}, {format_ns(t.ci_high_ns)}], p10-p90 {format_ns(t.p10_ns)}-{format_ns(t.p90_ns)}\n")
    head.append(f"  node time   {format_ns(t.node_total_ns)} in {t.nodes_timed} nodes (every % below is of this)\n")
    head.append(f"  measuring   timer resolution {format_ns(o.timer_resolution_ns)}; profiler cost "
                f"{format_ns(o.profiler_ns)}/node ({format_ns(t.profiler_overhead_ns)} per iteration, "
                f"{_num(100 * t.profiler_overhead_share)}%); fixed per-op cost {format_ns(o.plain_node_ns)}\n")
    head.append(f"  peaks       {p.flops_per_s / 1e9:.0f} GFLOP/s (f32 matmul), {p.bytes_per_s / 1e9:.1f} GB/s "
                f"(copy) [{p.source}]")
    out: list = [head, Text()]

    nodes = _table("Top nodes by self time", "#", "node", "op", "shape", "median",
                   "p10-p90", "%", "GFLOP/s", "GB/s", "bound", "source")
    for k, r in enumerate(report.top(top), 1):
        mark = "~" if r.unreliable else ""
        nodes.add_row(str(k), f"%{r.id} {r.name}", r.op, format_spec(r.dtype, r.shape), mark + format_ns(r.median_ns),
                      f"{format_ns(r.p10_ns)}-{format_ns(r.p90_ns)}", _num(r.pct), _num(r.gflops, "{:.2f}"),
                      _num(r.gbps, "{:.2f}"), r.bound, _src(r.source))
    out += [nodes, Text()]

    ops = _table("By op type", "op", "nodes", "total", "median", "%")
    for g in report.by_op[:top]:
        ops.add_row(g.key, str(g.count), format_ns(g.total_ns), format_ns(g.median_ns), _num(g.pct))
    scopes = _table("By name scope", "scope", "nodes", "total", "%", "self %")
    for s in report.by_scope[: max(top, 15)]:
        label = "(all)" if not s.scope else "  " * (s.depth - 1) + s.scope.rsplit("/", 1)[-1]
        scopes.add_row(label, str(s.count), format_ns(s.total_ns), _num(s.pct), _num(s.self_pct))
    out += [ops, Text(), scopes, Text()]

    sc = report.schedule
    sched = Text("Schedule\n", style="bold")
    sched.append(f"  critical path {format_ns(sc.critical_path_ns)} through {len(sc.critical_path)} nodes of "
                 f"{format_ns(sc.node_total_ns)} node time: parallelism {_num(sc.parallelism, '{:.2f}')}x\n")
    sched.append(f"  gaps between nodes (interpreter overhead) {format_ns(sc.gap_ns)}, {_num(100 * sc.gap_share)}% "
                 f"of the run")
    out += [sched, Text()]
    if len(sc.lanes) > 1:
        lanes = _table("Lanes", "lane", "nodes", "busy", "gaps", "busy %")
        for ln in sc.lanes:
            lanes.add_row(ln.lane, str(ln.nodes), format_ns(ln.busy_ns), format_ns(ln.gap_ns), _num(100 * ln.busy_share))
        out += [lanes, Text()]

    m = report.memory
    mem = Text("Memory\n", style="bold")
    at = f" at %{m.peak_node} (node {m.peak_index + 1})" if m.peak_node is not None and m.peak_index is not None else ""
    mem.append(f"  peak {format_bytes(m.peak_bytes)} of intermediates{at}; inputs {format_bytes(m.input_bytes)}, "
               f"constants {format_bytes(m.constant_bytes)}")
    if m.planned_peak_bytes:
        mem.append(f"; planned peak {format_bytes(m.planned_peak_bytes)} (measured/planned "
                   f"{_num(m.measured_over_planned, '{:.2f}')})")
    out.append(mem)
    if m.peak_tensors:
        live = _table("Tensors live at the peak", "tensor", "op", "shape", "bytes", "% peak", "made at", "last read",
                      "source")
        for tr in m.peak_tensors[:8]:
            live.add_row(f"%{tr.node_id} {tr.name}", tr.op, format_spec(tr.dtype, tr.shape), format_bytes(tr.bytes),
                         _num(tr.pct_of_peak), "-" if tr.produced_index is None else f"node {tr.produced_index + 1}",
                         "output" if tr.is_output else ("-" if tr.last_use_index is None else f"node {tr.last_use_index + 1}"),
                         _src(tr.source))
        out += [Text(), live]
    out.append(Text())
    if report.device is not None:
        out += device_renderables(report, top)
    if profile is not None and profile.value_summaries:
        out += value_summary_renderables(profile, max(top, 20))

    recs = Text("Recommendations\n", style="bold")
    if not report.recommendations:
        recs.append("  none: no pattern above the thresholds\n")
    for k, rec in enumerate(report.recommendations, 1):
        saving = f"saves ~{format_ns(rec.saving_ns)}" if rec.saving_ns else f"frees {format_bytes(rec.saving_bytes)}"
        recs.append(f"  {k}. [{rec.kind}] ({saving}) {rec.message}\n")
    out.append(recs)
    if report.notes:
        notes = Text("Notes\n", style="bold")
        for n in report.notes:
            notes.append(f"  - {n}\n")
        out.append(notes)
    return out


def device_renderables(report: Report, top: int = 10) -> list:
    """The GPU section: host dispatch vs device time per node, GPU memory, host<->device transfers."""
    d: DeviceReport = report.device  # type: ignore[assignment]
    head = Text(f"GPU ({d.device}, {d.streams} stream{'s' if d.streams != 1 else ''})\n", style="bold")
    why = "the GPU waits for Python's dispatch" if d.bound == "launch-bound" else "the GPU's work takes longer than its dispatch"
    head.append(f"  time        device {format_ns(d.device_ns)}, host dispatch {format_ns(d.dispatch_ns)} in {d.gpu_nodes} GPU "
                f"nodes: {d.bound} ({why})\n")
    head.append(f"              per node: {d.launch_bound_nodes} launch-bound, {d.device_bound_nodes} device-bound\n")
    pool = "-" if d.pool_peak_used_bytes is None else format_bytes(d.pool_peak_used_bytes)
    extra = [f"{format_bytes(d.pool_peak_total_bytes)} held"] if d.pool_peak_total_bytes is not None else []
    if d.pool_baseline_used_bytes is not None:
        extra.append(f"{format_bytes(d.pool_baseline_used_bytes)} before the run")
    extra_text = f" ({'; '.join(extra)})" if extra else ""
    head.append(f"  memory      GPU memory peak {pool} used in the CuPy pool{extra_text}\n")
    if d.device_peak_bytes is not None:
        head.append(f"              peak of the run's device tensors {format_bytes(d.device_peak_bytes)} (array sizes)\n")
    n_h2d = sum(t.direction == "h2d" for t in d.transfers)
    n_d2h = sum(t.direction == "d2h" for t in d.transfers)
    head.append(f"  transfers   {n_h2d} host-to-device ({format_bytes(d.h2d_bytes)}), {n_d2h} device-to-host "
                f"({format_bytes(d.d2h_bytes)}): device {format_ns(d.transfer_device_ns)}, host "
                f"{format_ns(d.transfer_dispatch_ns)}")
    out: list = [head, Text()]
    gpu_rows = sorted((r for r in report.nodes if r.device_ns is not None), key=lambda r: (-(r.device_ns or 0), r.id))
    t = _table("GPU nodes by device time (host = dispatch)", "#", "node", "op", "shape", "lane", "host", "device",
               "bound", "source")
    for k, r in enumerate(gpu_rows[:top], 1):
        t.add_row(str(k), f"%{r.id} {r.name}", r.op, format_spec(r.dtype, r.shape), r.lane, format_ns(r.median_ns),
                  format_ns(r.device_ns), r.device_bound or "-", _src(r.source))
    out += [t, Text()]
    if d.transfers:
        tr = _table("Transfers", "node", "direction", "bytes", "host", "device", "GB/s")
        for x in d.transfers[:top]:
            tr.add_row(f"%{x.node_id} {x.name}", x.direction, format_bytes(x.bytes), format_ns(x.dispatch_ns),
                       format_ns(x.device_ns), _num(x.gbps, "{:.2f}"))
        out += [tr, Text()]
    return out


_BLOCKS = " ▁▂▃▄▅▆▇█"


def sparkline(counts: list[int]) -> str:
    """A histogram as one line of block characters (empty bins blank, the fullest a full block)."""
    top = max(counts, default=0)
    if top <= 0:
        return ""
    return "".join(_BLOCKS[0 if c == 0 else max(1, round(8 * c / top))] for c in counts)


def _stat(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}" if x == 0 or 1e-3 <= abs(x) < 1e5 else f"{x:.2e}"


def value_summary_renderables(profile: RunProfile, limit: int = 20) -> list:
    """The value summaries a run recorded (``gs.run(..., value_summaries=True)``): nodes with NaN/Inf first,
    then in graph order, at most ``limit`` rows."""
    sums: dict[int, ValueSummary] = profile.value_summaries
    order = list(profile.nodes)
    pos = {nid: k for k, nid in enumerate(order)}
    ids = sorted(sums, key=lambda nid: (not (sums[nid].nan_count or sums[nid].inf_count), pos.get(nid, len(pos))))
    bad = sum(1 for s in sums.values() if s.nan_count or s.inf_count)
    title = f"Value summaries ({len(sums)} nodes" + (f", {bad} with NaN/Inf" if bad else ", all finite") + \
        "; min/max/mean/std of the finite values)"
    t = _table(title, "node", "op", "shape", "min", "max", "mean", "std", "NaN", "Inf", "histogram")
    for nid in ids[:limit]:
        s, info = sums[nid], profile.nodes.get(nid)
        label = f"%{nid} {info.name}" if info else f"%{nid}"
        t.add_row(label, info.op if info else "", format_spec(s.dtype, list(s.shape)), _stat(s.min), _stat(s.max), _stat(s.mean),
                  _stat(s.std), str(s.nan_count), str(s.inf_count), sparkline(s.hist_counts))
    out: list = [t]
    if len(ids) > limit:
        out.append(Text(f"  ... {len(ids) - limit} more nodes in the profile"))
    out.append(Text())
    return out


def format_value_summaries(profile: RunProfile, limit: int = 20, width: int = 140) -> str:
    """The value summaries table as plain text (empty string when the profile has none)."""
    if not profile.value_summaries:
        return ""
    console, buf = _plain_console(width)
    console.print(Group(*value_summary_renderables(profile, limit)))
    return buf.getvalue()


def _plain_console(width: int) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=False, color_system=None, width=width, markup=False, highlight=False,
                   emoji=False, soft_wrap=False), buf


def _console(file: IO[str] | None) -> Console:
    file = file or sys.stdout
    isatty = getattr(file, "isatty", None)
    tty = bool(isatty and isatty())
    # A terminal gets its own width and colour; a pipe or file gets wide plain text.
    return Console(file=file, markup=False, highlight=False, emoji=False, width=None if tty else 140,
                   color_system="auto" if tty else None)


def format_report(report: Report, top: int = 10, width: int = 140, profile: RunProfile | None = None) -> str:
    """The report as plain text (no colour codes); ``profile`` adds its value summaries, if any."""
    console, buf = _plain_console(width)
    console.print(Group(*report_renderables(report, top, profile)))
    return buf.getvalue()


def print_report(report: Report, file: IO[str] | None = None, top: int = 10, profile: RunProfile | None = None) -> None:
    """Print the report; with colour when ``file`` (default stdout) is a terminal."""
    _console(file).print(Group(*report_renderables(report, top, profile)))


def comparison_renderables(comp: Comparison, top: int = 10) -> list:
    head = Text()
    head.append(f"graphscope comparison: {comp.before_name} -> {comp.after_name}\n", style="bold")
    verdict = "faster" if comp.speedup > 1 else "slower"
    sig = "significant" if comp.significant else "within noise (confidence intervals overlap)"
    head.append(f"  iteration  {format_ns(comp.before_ns)} -> {format_ns(comp.after_ns)}: {_num(comp.speedup, '{:.2f}')}x "
                f"({verdict}, {sig})\n")
    head.append(f"  node time  {format_ns(comp.before_node_total_ns)} -> {format_ns(comp.after_node_total_ns)}")
    nodes = _table("Largest node changes", "node", "op", "before", "after", "delta", "change", "match")
    for d in comp.nodes[:top]:
        nodes.add_row(f"{d.name} (%{','.join(map(str, d.after_ids))})", d.op, format_ns(d.before_ns), format_ns(d.after_ns),
                      format_ns(d.delta_ns), "-" if d.change_pct is None else f"{d.change_pct:+.0f}%", d.match)
    ops = _table("By op type", "op", "count", "before", "after", "delta", "change")
    for d in comp.by_op[:top]:
        ops.add_row(d.op, f"{d.before_count}->{d.after_count}", format_ns(d.before_ns), format_ns(d.after_ns),
                    format_ns(d.delta_ns), "-" if d.change_pct is None else f"{d.change_pct:+.0f}%")
    out: list = [head, Text(), nodes, Text(), ops]
    for label, refs in (("Only before", comp.only_before), ("Only after", comp.only_after)):
        if refs:
            t = _table(label, "node", "op", "median")
            for r in refs[:top]:
                t.add_row(f"%{r.id} {r.name}", r.op, format_ns(r.median_ns))
            out += [Text(), t]
    return out


def format_comparison(comp: Comparison, top: int = 10, width: int = 140) -> str:
    console, buf = _plain_console(width)
    console.print(Group(*comparison_renderables(comp, top)))
    return buf.getvalue()


def print_comparison(comp: Comparison, file: IO[str] | None = None, top: int = 10) -> None:
    _console(file).print(Group(*comparison_renderables(comp, top)))


__all__ = ["format_comparison", "format_report", "format_value_summaries", "print_comparison", "print_report",
           "value_summary_renderables"]
