"""The ``graphscope`` command: describe graph and profile files, profile graphs, write reports and renderings.

    graphscope info model.gsg
    graphscope run model.gsg --repeat 20 --top 15 --save-profile run.gsprof
    graphscope run model.gsg --level 2 --check-numerics --capture 'attn/*' --dump out/ --summaries
    graphscope explain model.gsg --levels 0,1,2,3
    graphscope profile model.gsg --level 2 --repeat 20 --html report.html --trace trace.json --json report.json
    graphscope report run.gsprof --html report.html
    graphscope compare base.gsprof new.gsprof
    graphscope render model.gsg --optimized -o graph.svg --color time
    graphscope export model.gsg --level 2 --onnx model.onnx --opset 17

The report outputs (--json, --html, --trace) are the formats of kind "report" in
``graphscope.formats``, ``render -o`` takes the suffixes of kind "rendering", and ``export`` the
writable formats of kind "graph" (--onnx, --gsg): a format registered there appears here without a
change to this file. Every command that reads a graph reads any readable graph format (.gsg, .onnx).

Exit codes: 0 success; 2 a usage error or a file that cannot be read or written (one line on
stderr); 1 the graph failed while running (the node's message on stderr); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _UsageError(Exception):
    """A problem with the command line or its files: exit code 2."""


# ---------------------------------------------------------------------------------------------
# formatting


def fmt_time(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.0f} ns"


def fmt_bytes(n: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def fmt_count(n: float, unit: str = "") -> str:
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {prefix}{unit}"
    return f"{int(n)} {unit}".rstrip()


def _short_spec(shape: Sequence[int], dtype: str) -> str:
    from graphscope.ir.spec import TensorSpec

    try:
        return TensorSpec(tuple(shape), dtype).short()
    except TypeError:
        return f"{dtype}[{','.join(map(str, shape))}]"


def _short_source(source: str | None) -> str:
    if not source:
        return ""
    path, _, line = source.rpartition(":")
    return f"{os.path.basename(path)}:{line}" if path else source


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _consoles(markup: bool = True) -> tuple[Any, Any]:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:  # rich would exit 1; main() ends quietly instead
            self.quiet = True
            raise BrokenPipeError

    out = _Console(highlight=False, markup=markup, emoji=markup)
    err = _Console(stderr=True, highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = 200  # piped or captured: do not squeeze tables into 80 columns
    return out, err


def _table(*columns: str, title: str | None = None, right: Sequence[str] = ()) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for c in columns:
        table.add_column(c, justify="right" if c in right else "left", overflow="fold")
    return table


def _text(value: Any) -> Any:
    """User-provided strings as plain Text, so '[...]' in a node name is never read as markup."""
    from rich.text import Text

    return Text(str(value))


# ---------------------------------------------------------------------------------------------
# loading


def _load(path: str, want: str | None = None) -> Any:
    """A graph or profile by suffix; GraphFormatError for unreadable files, _UsageError for the wrong kind."""
    from graphscope.formats import format_for_path

    fmt = format_for_path(path, readable=True)
    if want is not None and fmt.kind != want:
        suffixes = ", ".join(f.suffix for f in _formats(want, readable=True))
        raise _UsageError(f"'{path}' is a {fmt.kind} file; this command needs a {want} ({suffixes})")
    return fmt.load_file(path)


def _formats(kind: str, **flags: bool) -> list[Any]:
    from graphscope.formats import formats

    return formats(kind, **flags)


# ---------------------------------------------------------------------------------------------
# graphscope info


def cmd_info(args: argparse.Namespace) -> int:
    from graphscope.profile.events import RunProfile

    obj = _load(args.file)
    out, _ = _consoles()
    if isinstance(obj, RunProfile):
        print_profile_header(out, obj, source=args.file)
        print_profile(out, obj, top=args.top, source=args.file)
    else:
        print_graph_info(out, obj, source=args.file)
    return EXIT_OK


def print_graph_info(out: Any, graph: Any, source: str = "") -> None:
    from rich.table import Table

    from graphscope.ir.ops import get_op

    compute = [n for n in graph.nodes if n.op not in ("placeholder", "constant")]
    constants = [n for n in graph.nodes if n.op == "constant"]
    flops, moved = graph.total_cost()
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("graph", _text(f"{graph.name}" + (f"  ({source})" if source else "")))
    for label, nodes in (("inputs", graph.inputs), ("outputs", graph.outputs)):
        text = ", ".join(f"%{n.id} {n.name}: {n.spec.short()}" for n in nodes) or "none"
        head.add_row(label, _text(text))
    head.add_row("nodes", f"{len(graph)} ({_plural(len(compute), 'compute node')}, {_plural(len(constants), 'constant')}, "
                          f"{_plural(len(graph.inputs), 'input')})")
    params = graph.parameter_count()
    head.add_row("parameters", f"{params:,} ({fmt_bytes(sum(n.spec.nbytes for n in constants))})")
    head.add_row("per run", f"{fmt_count(flops, 'FLOP')}, {fmt_bytes(moved)} moved (estimated from the cost rules)")
    if graph.metadata.get("pass_log"):
        head.add_row("passes", _text(", ".join(str(p.get("pass", p.get("name", "?"))) if isinstance(p, dict) else str(p)
                                               for p in graph.metadata["pass_log"])))
    out.print(head)

    by_op: dict[str, list[int]] = {}  # op -> [nodes, FLOPs]
    by_scope: dict[str, list[int]] = {}  # scope -> [nodes, FLOPs] (inputs excluded: they have no scope)
    for n in graph.nodes:
        f = get_op(n.op).estimate_cost([i.spec for i in n.inputs], n.spec, n.attrs)[0]
        groups = [by_op.setdefault(n.op, [0, 0])]
        if n.op != "placeholder":
            groups.append(by_scope.setdefault(n.scope or "(top level)", [0, 0]))
        for acc in groups:
            acc[0] += 1
            acc[1] += f
    out.print()
    ops = _table("op", "count", "FLOPs", "% FLOPs", title="Ops", right=("count", "FLOPs", "% FLOPs"))
    for op, (count, f) in sorted(by_op.items(), key=lambda kv: (-kv[1][0], kv[0])):
        ops.add_row(op, str(count), fmt_count(f), f"{100 * f / flops:.1f}" if flops else "-")
    out.print(ops)
    if len(by_scope) > 1 or "(top level)" not in by_scope:
        limit = 25
        scopes = _table("scope", "nodes", "FLOPs", title="Scopes", right=("nodes", "FLOPs"))
        for scope, (count, f) in sorted(by_scope.items())[:limit]:
            scopes.add_row(_text(scope), str(count), fmt_count(f))
        out.print(scopes)
        if len(by_scope) > limit:
            out.print(f"... and {len(by_scope) - limit} more scopes")


# ---------------------------------------------------------------------------------------------
# graphscope run


def random_inputs(graph: Any, seed: int) -> list[np.ndarray]:
    """Inputs of the declared specs: standard-normal floats, ints in 1..9, random bools (no zero tensors)."""
    rng = np.random.default_rng(seed)
    values = []
    for n in graph.inputs:
        dt, shape = n.spec.dtype, n.spec.shape
        if dt.kind == "f":
            values.append(rng.standard_normal(shape).astype(dt))
        elif dt.kind in "iu":
            values.append(rng.integers(1, 10, size=shape).astype(dt))
        elif dt.kind == "b":
            values.append(rng.random(shape) < 0.5)
        else:  # pragma: no cover - TensorSpec admits no other kind
            raise _UsageError(f"input '{n.name}' has dtype {dt.name}, which random inputs do not cover")
    return values


def cmd_run(args: argparse.Namespace) -> int:
    save_fmt = None
    if args.save_profile:
        save_fmt = _check_output(args.save_profile)
    if args.dump and not args.capture:
        raise _UsageError("--dump needs --capture PATTERN: the nodes whose values to write")
    if args.dump:
        from graphscope.debug.capture import check_dump_target

        try:
            check_dump_target(args.dump)
        except OSError as exc:
            raise _UsageError(str(exc)) from None
    graph = _load(args.file, want="graph")
    out, err = _consoles()
    debug = bool(args.check_numerics or args.capture or args.summaries)
    if args.level > 0:
        graph, _ = _optimize(graph, args.level, out)
    result = None
    try:
        if debug:
            result = _debug_run(graph, err, args)
            profile = result.profile
        else:
            profile = _profile_run(graph, err, seed=args.seed, repeat=args.repeat, warmup=args.warmup, backend=args.backend)
    except _RunFailed as exc:
        _error(str(exc))
        return EXIT_RUN_FAILED
    profile.metadata.update({"command": "graphscope run", "graph_file": os.path.abspath(args.file), "seed": args.seed})
    if args.level > 0:
        profile.metadata["optimization_level"] = args.level
    print_profile(out, profile, top=args.top, source=args.file)
    if args.check_numerics:
        out.print(_text(f"check_numerics: every float value of {profile.metadata['debug']['checked_nodes']} nodes (and the "
                        "inputs and constants) is finite"))
    if args.summaries:
        from graphscope.profile.text import value_summary_renderables

        out.print()
        for part in value_summary_renderables(profile, max(args.top, 20)):
            out.print(part)
    if result is not None and args.capture:
        _report_capture(out, graph, result, args)
    if save_fmt is not None:
        _save_profile(out, save_fmt, profile, args.save_profile)
    return EXIT_OK


def _optimize(graph: Any, level: int, out: Any = None) -> tuple[Any, Any]:
    """``gs.optimize(graph, level)`` for a command: a failure ends the command (exit 1, one line); with ``out``
    one line says what changed. (gs.optimize records each fused node's original nodes, so a NumericsError
    inside one names the original node.)"""
    import graphscope as gs
    from graphscope.errors import GraphscopeError

    try:
        opt, log = gs.optimize(graph, level=level)
    except (GraphscopeError, AssertionError) as exc:
        raise _RunFailed(f"optimization at level {level} failed: {exc}") from None
    if out is not None:
        changed = [p.summary().split(" (")[0] for p in log.passes if p.changed]
        out.print(_text(f"optimized '{graph.name}' at level {level}: {log.nodes_before} -> {log.nodes_after} nodes"
                        + (f" ({'; '.join(changed)})" if changed else " (no change)")))
    return opt, log


def _debug_run(graph: Any, err: Any, args: argparse.Namespace) -> Any:
    """A profiled run with the debugging options of ``graphscope run`` (the RunResult, captured values included)."""
    import graphscope as gs
    from graphscope.errors import BackendUnavailableError, GraphscopeError, NodeExecutionError

    inputs = random_inputs(graph, args.seed)
    try:
        with err.status(f"running '{graph.name}' with checks") if err.is_terminal else _no_status():
            return gs.run(graph, inputs, profile=True, repeat=args.repeat, warmup=args.warmup, backend=args.backend,
                          check_numerics=args.check_numerics, capture=args.capture or None,
                          value_summaries=args.summaries)
    except BackendUnavailableError as exc:
        raise _UsageError(str(exc)) from None
    except ValueError as exc:  # a capture pattern that selects nothing
        raise _UsageError(str(exc)) from None
    except (NodeExecutionError, gs.NumericsError) as exc:
        raise _RunFailed(str(exc)) from None
    except GraphscopeError as exc:
        raise _RunFailed(f"run failed: {exc}") from None


def _no_status() -> Any:
    import contextlib

    return contextlib.nullcontext()


def _report_capture(out: Any, graph: Any, result: Any, args: argparse.Namespace) -> None:
    from graphscope.debug import dump_captured, format_summary, summarize

    table = _table("node", "op", "value", title=f"Captured {_plural(len(result.captured), 'value')}")
    ops = {n.name: n.op for n in graph.nodes}
    for name, value in result.captured.items():
        table.add_row(_text(name), ops.get(name, ""), _text(format_summary(summarize(value))))
    out.print(table)
    if args.dump:
        try:
            files = dump_captured(result.captured, args.dump, graph,
                                  extra={"graph_file": os.path.abspath(args.file), "seed": args.seed})
        except OSError as exc:
            raise _UsageError(str(exc)) from None
        out.print(_text(f"wrote {_plural(len(files) - 1, 'value')} and index.json to {args.dump}"))


# ---------------------------------------------------------------------------------------------
# graphscope explain


def cmd_explain(args: argparse.Namespace) -> int:
    import graphscope as gs
    from graphscope.errors import GraphscopeError, NodeExecutionError

    try:
        levels = sorted({int(x) for x in args.levels.split(",") if x.strip()})
    except ValueError:
        raise _UsageError(f"--levels takes comma-separated levels such as 0,1,2,3, got '{args.levels}'") from None
    graph = _load(args.file, want="graph")
    out, err = _consoles(markup=False)
    inputs = random_inputs(graph, args.seed)
    try:
        with err.status(f"explaining '{graph.name}' (eager and {len(levels)} levels)") if err.is_terminal else _no_status():
            ex = gs.explain(graph, inputs, levels=levels, repeat=args.repeat, parallel=not args.no_parallel)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    except (NodeExecutionError, GraphscopeError, AssertionError) as exc:
        _error(f"explain failed: {exc}")
        return EXIT_RUN_FAILED
    out.print(str(ex))
    return EXIT_OK


def _add_explain_parser(sub: Any, graph_suffixes: str) -> None:
    ex = sub.add_parser(
        "explain", help="eager NumPy vs the graph at each optimization level, and where the difference comes from",
        description="Run a graph's nodes eagerly, one NumPy reference call after another (what eager code does), and "
                    "as a graph at each optimization level, on random inputs; print times, memory and allocations per "
                    "level and split the best level's difference into dispatch overhead, cleanup passes, fusion, "
                    "memory planning and parallel overlap, with the measured numbers.",
    )
    ex.add_argument("file", metavar="FILE", help=f"the graph ({graph_suffixes})")
    ex.add_argument("--levels", default="0,1,2,3", metavar="L,L,...",
                    help="optimization levels to compare; 0 is required (default: %(default)s)")
    ex.add_argument("--repeat", type=_positive, default=5, metavar="N",
                    help="interleaved timing rounds; times are medians (default: %(default)s)")
    ex.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the random inputs (default: %(default)s)")
    ex.add_argument("--no-parallel", action="store_true", help="skip the parallel=True runs at the best level")
    ex.set_defaults(handler=cmd_explain)


class _RunFailed(Exception):
    """The graph failed while running (or optimizing): exit code 1 with this message."""


def _profile_run(graph: Any, err: Any, *, seed: int, repeat: int, warmup: int, backend: str = "numpy",
                 parallel: bool = False, what: str = "running", summaries: bool = False, executor: Any = None) -> Any:
    """A RunProfile of ``graph`` on random inputs, with a progress bar on a terminal's stderr."""
    import graphscope as gs
    from graphscope.errors import BackendUnavailableError, GraphscopeError, NodeExecutionError

    inputs = random_inputs(graph, seed)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    total = warmup + repeat
    extra: dict[str, Any] = {"parallel": True} if parallel else {}
    if summaries:
        extra["value_summaries"] = True
    if executor is not None:
        extra["executor"] = executor
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task(f"{what} '{graph.name}'", total=total)
            result = gs.run(graph, inputs, profile=True, repeat=repeat, warmup=warmup, backend=backend,
                            progress=lambda: bar.advance(task), **extra)
    except BackendUnavailableError as exc:
        raise _UsageError(str(exc)) from None
    except NodeExecutionError as exc:
        raise _RunFailed(str(exc)) from None
    except GraphscopeError as exc:
        raise _RunFailed(f"run failed: {exc}") from None
    return result.profile


def _save_profile(out: Any, fmt: Any, profile: Any, path: str) -> None:
    try:
        fmt.save_file(profile, path)
    except OSError as exc:
        raise _UsageError(f"cannot write '{path}': {exc.strerror or exc}") from None
    out.print(f"profile saved to {path}", markup=False)


def _writable_format(path: str, kind: str, action: str) -> Any:
    """The registered format that writes ``kind`` ("profile", "graph", "rendering") to ``path``, checked
    before any long work; ``action`` completes the error ("save a profile as", "render to" ...)."""
    from graphscope.formats import format_for_path

    suffixes = ", ".join(f.suffix for f in _formats(kind, writable=True))
    try:
        fmt = format_for_path(path, writable=True)
    except ValueError:
        suffix = os.path.splitext(path)[1] or "(none)"
        raise _UsageError(f"cannot {action} '{path}': unknown file type '{suffix}' (use one of {suffixes})") from None
    if fmt.kind != kind:
        raise _UsageError(f"cannot {action} '{path}': {fmt.suffix} holds a {fmt.kind} (use {suffixes})")
    _check_target(path)
    return fmt


def _check_output(path: str) -> Any:
    """The profile format for ``path``, checked before a long run rather than after it."""
    return _writable_format(path, "profile", "save a profile as")


def _check_target(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise _UsageError(f"cannot write '{path}': directory '{directory}' does not exist")
    if os.path.isdir(path):
        raise _UsageError(f"cannot write '{path}': it is a directory")


def print_profile_header(out: Any, profile: Any, source: str = "") -> None:
    from rich.table import Table

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("profile", _text(f"of graph '{profile.graph_name}'" + (f"  ({source})" if source else "")))
    machine = ", ".join(f"{k} {v}" for k, v in profile.machine.items() if k != "backend")
    head.add_row("backend", _text(f"{profile.backend} ({machine})" if machine else profile.backend))
    head.add_row("runs", f"{len(profile.iterations)} measured, {len(profile.warmup_ns)} warm-up")
    head.add_row("memory", f"inputs {fmt_bytes(profile.input_bytes)}, constants {fmt_bytes(profile.constant_bytes)}, "
                           f"peak of the run {fmt_bytes(profile.peak_bytes)}")
    if profile.metadata:
        head.add_row("recorded", _text(", ".join(f"{k}={v}" for k, v in profile.metadata.items())))
    out.print(head)
    out.print()


def print_profile(out: Any, profile: Any, *, top: int, source: str = "") -> None:
    """The slowest nodes and a summary line, from a RunProfile (fresh or loaded from a file)."""
    times = profile.node_times_ns()
    medians = {nid: statistics.median(ts) for nid, ts in times.items()}
    last = {e.node_id: e for e in (profile.iterations[-1] if profile.iterations else [])}
    total = profile.total_ns
    ranked = sorted(medians, key=lambda nid: -medians[nid])[:top]
    title = f"Slowest {len(ranked)} of {len(medians)} nodes — '{profile.graph_name}' on {profile.backend}"
    table = _table("#", "node", "op", "scope", "source", "shape", "median", "%", "p10", "p90", "allocated", "FLOPs",
                   title=title, right=("#", "median", "%", "p10", "p90", "allocated", "FLOPs"))
    for rank, nid in enumerate(ranked, 1):
        info = profile.nodes[nid]
        p10, p90 = np.percentile(times[nid], [10, 90])
        e = last.get(nid)
        table.add_row(
            str(rank), _text(info.name), info.op, _text(info.scope), _text(_short_source(info.source)),
            _short_spec(info.shape, info.dtype), fmt_time(medians[nid]),
            f"{100 * medians[nid] / total:.1f}" if total else "-", fmt_time(p10), fmt_time(p90),
            fmt_bytes(e.bytes_allocated) if e else "-", fmt_count(e.flops) if e else "-",
        )
    out.print(table)
    out.print(_text(summary_line(profile)))


def summary_line(profile: Any) -> str:
    n, w = len(profile.iterations), len(profile.warmup_ns)
    flops = sum(e.flops for e in (profile.iterations[-1] if profile.iterations else []))
    parts = [f"median total {fmt_time(profile.total_ns)} over {n} run{'s' * (n != 1)} ({w} warm-up)"]
    if flops and profile.total_ns:
        parts.append(f"{fmt_count(flops, 'FLOP')} ({fmt_count(flops / profile.total_ns * 1e9, 'FLOP/s')})")
    peak = f"peak memory {fmt_bytes(profile.peak_bytes)}"
    if profile.peak_live:
        shown = [f"{profile.nodes[nid].name} {fmt_bytes(b)}" if nid in profile.nodes else f"%{nid} {fmt_bytes(b)}"
                 for nid, b in profile.peak_live[:5]]
        more = len(profile.peak_live) - len(shown)
        peak += " (live: " + ", ".join(shown) + (f", +{more} more" if more > 0 else "") + ")"
    parts.append(peak)
    return " · ".join(parts)


# ---------------------------------------------------------------------------------------------
# graphscope profile / report / compare: the analysis report and its files


def _report_formats() -> list[Any]:
    """The registered report outputs (--json, --html, --trace, ...): write-only formats of kind "report"."""
    return _formats("report", writable=True)


def _check_report_outputs(args: argparse.Namespace) -> list[tuple[Any, str]]:
    """(format, path) for every report output asked for, checked before any long work."""
    outputs = []
    for fmt in _report_formats():
        path = getattr(args, f"out_{fmt.name}", None)
        if path:
            _check_target(path)
            outputs.append((fmt, path))
    return outputs


def _exporter(fmt: Any) -> Any:
    """The save function of a registered format (called with keyword options the registry's save_file cannot pass)."""
    import importlib

    module, _, func = fmt.save.partition(":")
    return getattr(importlib.import_module(module), func)


def _analyze(profile: Any, err: Any) -> Any:
    from graphscope.profile.analysis import analyze

    if not err.is_terminal:
        return analyze(profile)
    with err.status("analyzing (the first run on a machine measures its peaks, about a second)"):
        return analyze(profile)


def _print_report(report: Any, top: int, profile: Any = None) -> None:
    """The report in the terminal; ``profile`` (the one it was made from) adds its value summaries, if any."""
    from rich.console import Group

    from graphscope.profile.text import report_renderables

    out, _ = _consoles(markup=False)
    out.print(Group(*report_renderables(report, top, profile)))


def _write_reports(outputs: list[tuple[Any, str]], profile: Any, report: Any, args: argparse.Namespace) -> list[str]:
    """Write the report files; returns one line per file for the caller to print (after the report, so a
    reader that closes the pipe early, `graphscope profile ... | head`, still gets every file)."""
    _, err = _consoles()
    done = []
    for fmt, path in outputs:
        save = _exporter(fmt)
        try:
            if err.is_terminal:
                with err.status(f"writing {fmt.description} to {path}"):
                    save(profile, path, report=report, max_events=args.max_events, top=max(args.top, 25))
            else:
                save(profile, path, report=report, max_events=args.max_events, top=max(args.top, 25))
        except OSError as exc:
            raise _UsageError(f"cannot write '{path}': {exc.strerror or exc}") from None
        done.append(f"wrote {fmt.description} to {path} ({fmt_bytes(os.path.getsize(path))})")
    return done


def _executor(args: argparse.Namespace) -> Any:
    """The Dask / data-parallel executor that --dask and --replicas ask for (None for a run in this process)."""
    if not (getattr(args, "dask", None) or getattr(args, "replicas", None)):
        return None
    from graphscope.distribute import cli_support
    from graphscope.distribute.errors import ClusterUnavailableError, DistributedError, MissingExtraError

    if args.summaries:
        raise _UsageError("--summaries observes a run in this process: it cannot be combined with --dask or --replicas")
    if args.parallel:
        raise _UsageError("--parallel runs branches on this process's threads: drop it with --dask or --replicas")
    try:
        executor = cli_support.executor_from_args(args)
    except (MissingExtraError, ClusterUnavailableError) as exc:
        raise _UsageError(str(exc)) from None
    except DistributedError as exc:
        raise _UsageError(f"cannot set up the distributed run: {exc}") from None
    out, _ = _consoles()
    out.print(_text(f"running on {cli_support.describe(executor)}"))
    return executor


def cmd_profile(args: argparse.Namespace) -> int:

    save_fmt = _check_output(args.save_profile) if args.save_profile else None
    outputs = _check_report_outputs(args)
    graph = _load(args.file, want="graph")
    out, err = _consoles()
    if args.level > 0:
        graph, _ = _optimize(graph, args.level, out)
    executor = _executor(args)
    try:
        profile = _profile_run(graph, err, seed=args.seed, repeat=args.repeat, warmup=args.warmup, backend=args.backend,
                               parallel=args.parallel, what="profiling", summaries=args.summaries, executor=executor)
    except _RunFailed as exc:
        _error(str(exc))
        return EXIT_RUN_FAILED
    finally:
        if executor is not None:
            executor.close()
    profile.metadata.update({"command": "graphscope profile", "graph_file": os.path.abspath(args.file), "seed": args.seed,
                             "optimization_level": args.level})
    report = _analyze(profile, err)
    if save_fmt is not None:
        try:
            save_fmt.save_file(profile, args.save_profile)
        except OSError as exc:
            raise _UsageError(f"cannot write '{args.save_profile}': {exc.strerror or exc}") from None
    done = _write_reports(outputs, profile, report, args)
    out.print()
    _print_report(report, args.top, profile)
    if save_fmt is not None:
        out.print(f"profile saved to {args.save_profile}", markup=False)
    for line in done:
        out.print(_text(line))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    outputs = _check_report_outputs(args)
    profile = _load(args.file, want="profile")
    _, err = _consoles()
    report = _analyze(profile, err)
    done = _write_reports(outputs, profile, report, args)
    _print_report(report, args.top, profile)
    out, _ = _consoles()
    for line in done:
        out.print(_text(line))
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from rich.console import Group

    from graphscope.profile.compare import compare
    from graphscope.profile.text import comparison_renderables

    if args.json:
        _check_target(args.json)
    before = _load(args.before, want="profile")
    after = _load(args.after, want="profile")
    comparison = compare(before, after)
    out, _ = _consoles(markup=False)
    out.print(Group(*comparison_renderables(comparison, args.top)))
    if args.json:
        from graphscope.formats.report_json import save_comparison_json

        try:
            save_comparison_json(comparison, args.json)
        except OSError as exc:
            raise _UsageError(f"cannot write '{args.json}': {exc.strerror or exc}") from None
        out.print(_text(f"wrote the comparison to {args.json}"))
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# graphscope render


def _rendering_format(path: str) -> Any:
    return _writable_format(path, "rendering", "render to")


def _stage_path(path: str, k: int, name: str, suffix: str) -> str:
    stem = path[: -len(suffix)] if path.lower().endswith(suffix.lower()) else path
    return f"{stem}.{k}-{name}{suffix}"


def cmd_render(args: argparse.Namespace) -> int:
    from graphscope.profile.events import RunProfile
    from graphscope.viz import dot

    fmt = _rendering_format(args.output)
    obj = _load(args.file)
    is_profile = isinstance(obj, RunProfile)
    if is_profile and (args.optimized or args.diff or args.stages):
        raise _UsageError(f"'{args.file}' is a profile: --optimized, --diff and --stages need a graph file "
                          f"({', '.join(f.suffix for f in _formats('graph', readable=True))})")
    profile = _load(args.profile, want="profile") if args.profile else (obj if is_profile else None)
    color = args.color or ("time" if profile is not None else "none")
    out, err = _consoles()
    graph, optimized, log = obj, None, None
    if not is_profile and (args.optimized or args.diff or args.stages):
        optimized, log = _optimize(obj, args.level)
    how = ""
    if color != "none" and profile is None:
        target = optimized if optimized is not None else graph
        try:
            profile = _profile_run(target, err, seed=args.seed, repeat=args.repeat, warmup=1, what="profiling")
        except _RunFailed as exc:
            _error(str(exc))
            return EXIT_RUN_FAILED
        how = f", {color} from {args.repeat} profiled runs on random inputs"
    elif color != "none":
        how = f", {color} from {args.profile or args.file}"
    options = {"profile": profile, "color": color, "collapse_depth": args.collapse_depth,
               "max_nodes": args.max_nodes or None, "show_constants": not args.no_constants}
    if args.stages:
        jobs = [(_stage_path(args.output, k, name, fmt.suffix), r)
                for k, (name, r) in enumerate(dot.stage_renderings(graph, args.level, **options))]
    elif args.diff:
        jobs = [(args.output, dot.diff_dot(graph, optimized, pass_log=log, after_label=f"after level {args.level}",
                                           **options))]
    else:
        jobs = [(args.output, dot.to_dot(optimized if optimized is not None else graph, **options))]
    for path, rendering in jobs:
        try:
            if err.is_terminal and fmt.name != "dot":
                with err.status(f"laying out {rendering.boxes} boxes for {path}"):
                    fmt.save_file(rendering, path)
            else:
                fmt.save_file(rendering, path)
        except dot.GraphvizError as exc:
            raise _UsageError(str(exc)) from None
        except OSError as exc:
            raise _UsageError(f"cannot write '{path}': {exc.strerror or exc}") from None
        depth = f", scopes collapsed at depth {rendering.collapse_depth}" if rendering.collapse_depth else ""
        chains = ", chains merged" if rendering.chains_merged else ""
        out.print(_text(f"wrote {path}: {rendering.summary}{depth}{chains}{how}"))
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# graphscope export


def _export_formats() -> list[Any]:
    """The writable graph formats (--onnx, --graphscope-graph/--gsg, ...): the registry's, so a new one appears here."""
    return _formats("graph", writable=True)


def _export_flags(fmt: Any) -> list[str]:
    alias = fmt.suffix.lstrip(".")
    return [f"--{fmt.name}"] + ([f"--{alias}"] if alias != fmt.name and alias.isalnum() else [])


def _export_dest(fmt: Any) -> str:
    return "export_" + fmt.name.replace("-", "_")


def cmd_export(args: argparse.Namespace) -> int:
    from graphscope.errors import GraphscopeError

    targets = [(fmt, getattr(args, _export_dest(fmt))) for fmt in _export_formats() if getattr(args, _export_dest(fmt))]
    if not targets:
        wanted = ", ".join(f"{_export_flags(f)[0]} OUT{f.suffix}" for f in _export_formats())
        raise _UsageError(f"nothing to write: give at least one of {wanted}")
    for fmt, path in targets:
        if not path.lower().endswith(fmt.suffix):
            raise _UsageError(f"{_export_flags(fmt)[0]} writes {fmt.description} files ({fmt.suffix}), not '{path}'")
        if os.path.abspath(path) == os.path.abspath(args.file):
            raise _UsageError(f"'{path}' is the input file; write the export elsewhere")
        _check_target(path)
    graph = _load(args.file, want="graph")
    out, _ = _consoles()
    if args.level > 0:
        graph, _ = _optimize(graph, args.level, out)
    for fmt, path in targets:
        options = {"opset": args.opset, "external_data": True if args.external_data else None} if fmt.name == "onnx" else {}
        try:
            _exporter(fmt)(graph, path, **options)
        except OSError as exc:
            raise _UsageError(f"cannot write '{path}': {exc.strerror or exc}") from None
        except (GraphscopeError, ValueError, TypeError) as exc:  # OnnxExportError: an op that needs a newer opset ...
            raise _UsageError(f"cannot export '{args.file}' as {fmt.description}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - e.g. onnx.checker rejecting an export: a graphscope bug, not bad input
            _error(f"exporting '{args.file}' as {fmt.description} failed: {type(exc).__name__}: {exc}")
            return EXIT_RUN_FAILED
        size = os.path.getsize(path) + (os.path.getsize(path + ".data") if os.path.exists(path + ".data") else 0)
        out.print(_text(f"wrote {fmt.description} to {path} ({fmt_bytes(size)})"))
    return EXIT_OK


def _add_export_parser(sub: Any, graph_suffixes: str) -> None:
    from graphscope.formats.onnx_export import DEFAULT_OPSET
    from graphscope.passes.pipeline import LEVELS

    exp = sub.add_parser(
        "export", help="write a graph in another format (ONNX, .gsg)",
        description="Convert a graph file (optionally optimized at --level) to other graph formats, e.g. ONNX for ONNX "
                    "Runtime and the rest of the ONNX ecosystem. Each output is written atomically; an op that needs a "
                    "newer ONNX opset is named, with the opset to use.",
    )
    exp.add_argument("file", metavar="FILE", help=f"the graph to export ({graph_suffixes})")
    group = exp.add_argument_group("outputs (any combination)")
    for fmt in _export_formats():
        group.add_argument(*_export_flags(fmt), metavar="OUT", default=None, dest=_export_dest(fmt),
                           help=f"write the graph to OUT ({fmt.description}, e.g. model{fmt.suffix})")
    exp.add_argument("--level", type=int, choices=sorted(LEVELS), default=0,
                     help="optimize at this level first (default: %(default)s, the graph as it is)")
    exp.add_argument("--opset", type=int, default=DEFAULT_OPSET, metavar="N",
                     help="the ONNX opset to write, from 13 to the installed onnx's newest (default: %(default)s)")
    exp.add_argument("--external-data", action="store_true",
                     help="ONNX: store the weights in OUT.data beside the model (automatic above ~1.8 GB)")
    exp.set_defaults(handler=cmd_export)


# ---------------------------------------------------------------------------------------------
# graphscope dashboard


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the Dash dashboard (graphscope/app), imported only here: the CLI works without Dash."""
    import socket

    try:
        import dash  # noqa: F401
    except ImportError:
        raise _UsageError("the dashboard needs Dash: pip install 'graphscope-profiler[dashboard]'") from None
    if args.samples is not None and not os.path.isdir(args.samples):
        raise _UsageError(f"--samples '{args.samples}' is not a directory")
    for path in args.files:
        kind = _formats_kind(path)
        if kind not in ("graph", "profile"):
            raise _UsageError(f"'{path}' is a {kind} file; the dashboard opens graphs and profiles")
    try:  # a busy port is a usage error with the port's name, not a traceback from the server
        with socket.create_server((args.host, args.port)):
            pass
    except OSError as exc:
        raise _UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    from graphscope.app import main as serve

    return serve(args.host, args.port, args.samples, args.files, max_upload_bytes=args.max_upload_mb * 2**20)


def _formats_kind(path: str) -> str:
    from graphscope.formats import format_for_path

    return format_for_path(path, readable=True).kind


def _add_dashboard_parser(sub: Any) -> None:
    dash_ = sub.add_parser(
        "dashboard", help="open the web dashboard (needs the 'dashboard' extra)",
        description="Serve the graphscope dashboard at http://HOST:PORT/: pick a bundled sample or upload a graph or "
                    "profile, profile it in the background, and see the graph before and after optimization, the "
                    "timeline and flame chart, memory, bottlenecks, and two runs side by side. It listens on "
                    "127.0.0.1 only unless --host says otherwise.",
    )
    dash_.add_argument("files", nargs="*", metavar="FILE",
                       help="graphs (listed as models) or profiles (shown as runs) to open")
    dash_.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: %(default)s; 0.0.0.0 exposes it to the network)")
    dash_.add_argument("--port", type=_positive, default=8050, help="port (default: %(default)s)")
    dash_.add_argument("--samples", metavar="DIR", default=None,
                       help="directory of the sample graphs (sample_graphs/build.py writes them; missing ones are built "
                            "in memory) and of other graph or profile files to list")
    dash_.add_argument("--max-upload-mb", type=_positive, default=200, metavar="MB",
                       help="largest file the upload box accepts (default: %(default)s)")
    dash_.set_defaults(handler=cmd_dashboard)


# ---------------------------------------------------------------------------------------------
# graphscope optimize


def _planned_peak(graph: Any) -> int:
    """Peak bytes the runtime would hold for ``graph``'s values, estimated from the IR.

    With a memory plan (the memory_plan pass ran, level 2+): the arena plus the heap peak. Without
    one (levels 0 and 1): every value in its own buffer, freed after its last reader.
    """
    from graphscope.passes.memory_plan import plan_memory

    plan = plan_memory(graph)
    return plan.planned_peak_bytes if (graph.metadata.get("memory_plan") or {}).get("arena") else plan.lower_bound_bytes


def optimization_summary(before: Any, after: Any) -> list[tuple[str, str, str, str]]:
    """(what, before, after, after / before) rows comparing a graph with its optimized version."""
    from graphscope.passes.memory_plan import plan_memory

    def ratio(a: float, b: float) -> str:
        return f"{b / a:.2f}x" if a else "-"

    rows = []
    for label, key in (("nodes", lambda g: len(g)),
                       ("compute nodes", lambda g: sum(n.op not in ("placeholder", "constant") for n in g.nodes))):
        a, b = key(before), key(after)
        rows.append((label, str(a), str(b), ratio(a, b)))
    for label, fn in (("peak memory planned", _planned_peak), ("naive memory (every value kept)",
                                                               lambda g: plan_memory(g).naive_bytes)):
        a, b = fn(before), fn(after)
        rows.append((label, fmt_bytes(a), fmt_bytes(b), ratio(a, b)))
    (fa, ma), (fb, mb) = before.total_cost(), after.total_cost()
    rows.append(("estimated FLOPs per run", fmt_count(fa), fmt_count(fb), ratio(fa, fb)))
    rows.append(("estimated bytes moved per run", fmt_bytes(ma), fmt_bytes(mb), ratio(ma, mb)))
    return rows


def _graph_output(path: str) -> Any:
    """The writable graph format for ``path`` (checked before optimizing)."""
    return _writable_format(path, "graph", "write the optimized graph to")


def cmd_optimize(args: argparse.Namespace) -> int:
    from graphscope.errors import GraphscopeError

    fmt = _graph_output(args.output)
    graph = _load(args.file, want="graph")
    out, _ = _consoles()
    opt, log = _optimize(graph, args.level)
    out.print(_text(str(log)))
    out.print()
    table = _table("", "before", "after", "after / before", title=f"'{graph.name}' at level {args.level}",
                   right=("before", "after", "after / before"))
    for row in optimization_summary(graph, opt):
        table.add_row(*row)
    out.print(table)
    out.print(_text("peak memory planned: level 0/1 graphs free each value after its last reader; with a memory plan "
                    "(level 2+) it is the arena plus what kernels allocate (estimates from the IR; 'graphscope run' "
                    "measures)"))
    try:
        fmt.save_file(opt, args.output)  # the formats write atomically: the old file or the whole new one
    except OSError as exc:
        raise _UsageError(f"cannot write '{args.output}': {exc.strerror or exc}") from None
    except (GraphscopeError, ValueError, TypeError) as exc:  # e.g. an exporter without a form for an optimized op
        raise _UsageError(f"cannot write the optimized graph as {fmt.description} ('{args.output}'): {exc}") from None
    out.print(_text(f"wrote {args.output} ({fmt_bytes(os.path.getsize(args.output))})"))
    return EXIT_OK


def _add_optimize_parser(sub: Any, graph_suffixes: str) -> None:
    from graphscope.passes.pipeline import LEVELS

    opt = sub.add_parser(
        "optimize", help="optimize a graph file and save the result",
        description="Optimize a graph at --level and write it to OUT, atomically (OUT holds the old file or the\n"
                    "whole new one). Prints the pass log (per pass: what it removed, folded, merged, rewrote and\n"
                    "fused, by node id, and what it could not change and why) and a before/after summary: nodes,\n"
                    "peak memory planned, estimated FLOPs and bytes moved. The saved graph keeps the pass log and\n"
                    "every node's provenance (the ids of the original nodes it came from).",
        epilog="levels: 0 none; 1 exact cleanups (constant folding, algebraic simplification, CSE, dead code\n"
               "elimination); 2 adds elementwise fusion, pattern fusion (products with their epilogues) and the\n"
               "memory plan; 3 adds rewrites that are not bit-exact (x + 0.0 -> x)\n\n"
               "example:\n  graphscope optimize sample_graphs/transformer.gsg -o t.opt.gsg --level 2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    opt.add_argument("file", metavar="FILE", help=f"the graph to optimize ({graph_suffixes})")
    opt.add_argument("-o", "--output", metavar="OUT", required=True,
                     help="where to write the optimized graph; its suffix picks the format (e.g. t.opt.gsg)")
    opt.add_argument("--level", type=int, choices=sorted(LEVELS), default=2,
                     help="optimization level (default: %(default)s, the default of @gs.function)")
    opt.set_defaults(handler=cmd_optimize)


# ---------------------------------------------------------------------------------------------
# the parser


def _positive(text: str) -> int:
    return _int_at_least(text, 1)


def _non_negative(text: str) -> int:
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    import graphscope
    from graphscope.backends import available_backends

    graph_suffixes = ", ".join(f.suffix for f in _formats("graph", readable=True))
    profile_in = ", ".join(f.suffix for f in _formats("profile", readable=True))
    profile_out = ", ".join(f.suffix for f in _formats("profile", writable=True))
    parser = argparse.ArgumentParser(
        prog="graphscope",
        description="Inspect graphscope graph and profile files, profile a graph on random inputs, write reports "
                    "(text, JSON, HTML, Chrome trace), compare profiles and render graphs with Graphviz.",
        epilog="examples:\n"
               "  graphscope info model.gsg\n"
               "  graphscope run model.gsg --repeat 50 --top 10 --save-profile run.gsprof\n"
               "  graphscope run model.gsg --level 2 --check-numerics --capture 'attn/*' --dump out/\n"
               "  graphscope explain model.gsg\n"
               "  graphscope info run.gsprof\n"
               "  graphscope profile model.gsg --level 2 --html report.html --trace trace.json --json report.json\n"
               "  graphscope report run.gsprof --html report.html\n"
               "  graphscope compare base.gsprof new.gsprof\n"
               "  graphscope render model.gsg --optimized -o graph.svg --color time\n"
               "  graphscope optimize model.gsg -o model.opt.gsg --level 2\n\n"
               "exit codes: 0 ok, 1 the graph failed while running, 2 usage error or unreadable file,\n"
               "            130 interrupted",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version",
                        version=f"graphscope {graphscope.__version__} (numpy {np.__version__}, python {sys.version.split()[0]})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser(
        "info", help="describe a graph or profile file",
        description="Describe a graph file: inputs and outputs with their shapes, node and op counts, parameters, "
                    "estimated FLOPs and bytes moved per run, and scopes. Given a profile file, show its slowest nodes.",
    )
    info.add_argument("file", metavar="FILE", help=f"a graph ({graph_suffixes}) or a profile ({profile_in})")
    info.add_argument("--top", type=_positive, default=15, metavar="K",
                      help="for a profile: how many of the slowest nodes to list (default: %(default)s)")
    info.set_defaults(handler=cmd_info)

    run = sub.add_parser(
        "run", help="profile a graph on random inputs",
        description="Run a graph on random inputs of its declared shapes and dtypes (standard-normal floats, "
                    "integers from 1 to 9, random booleans), timing every node, then list the slowest nodes "
                    "and the run's total time and peak memory.",
    )
    run.add_argument("file", metavar="FILE", help=f"the graph to run ({graph_suffixes})")
    run.add_argument("--repeat", type=_positive, default=20, metavar="N",
                     help="measured runs; times are medians over them (default: %(default)s)")
    run.add_argument("--warmup", type=_non_negative, default=2, metavar="N",
                     help="runs before measuring, not recorded (default: %(default)s)")
    run.add_argument("--top", type=_positive, default=15, metavar="K",
                     help="how many of the slowest nodes to list (default: %(default)s)")
    run.add_argument("--seed", type=int, default=0, metavar="S",
                     help="seed of the random inputs (default: %(default)s)")
    run.add_argument("--backend", choices=available_backends(), default="numpy", metavar="NAME",
                     help=f"backend that runs the graph: {', '.join(available_backends())} (default: %(default)s)")
    run.add_argument("--save-profile", metavar="OUT", default=None,
                     help=f"also write the profile to OUT ({profile_out}), for the dashboard or 'graphscope info'")
    from graphscope.passes.pipeline import LEVELS

    run.add_argument("--level", type=int, choices=sorted(LEVELS), default=0,
                     help="optimize the graph at this level before running (default: %(default)s, as saved)")
    dbg = run.add_argument_group("debugging (one extra, observed run before the measured ones)")
    dbg.add_argument("--check-numerics", action="store_true",
                     help="stop at the first node whose float output holds NaN or Inf and name it (op, scope, source "
                          "line, input summaries); exit code 1")
    dbg.add_argument("--capture", action="append", default=[], metavar="PATTERN",
                     help="keep the values of the nodes PATTERN selects: a node name, a glob such as 'attn/*', '%%ID' or "
                          "'op:softmax' (repeatable)")
    dbg.add_argument("--dump", metavar="DIR", default=None,
                     help="write the captured values to DIR: one .npy per node and index.json (DIR is replaced as a "
                          "whole, never left half-written)")
    dbg.add_argument("--summaries", action="store_true",
                     help="record every node's value summary (shape, min/max/mean/std, NaN/Inf counts, histogram) in "
                          "the profile and list them")
    run.set_defaults(handler=cmd_run)
    _add_explain_parser(sub, graph_suffixes)
    _add_profile_parsers(sub, graph_suffixes, profile_in, profile_out)
    _add_export_parser(sub, graph_suffixes)
    _add_dashboard_parser(sub)
    _add_optimize_parser(sub, graph_suffixes)
    return parser


def _add_report_outputs(p: argparse.ArgumentParser) -> None:
    from graphscope.formats.chrome_trace import DEFAULT_MAX_EVENTS

    group = p.add_argument_group("report files (any combination)")
    for fmt in _report_formats():
        group.add_argument(f"--{fmt.name}", metavar="OUT", default=None, dest=f"out_{fmt.name}",
                           help=f"write the {fmt.description} to OUT (e.g. report{fmt.suffix})")
    group.add_argument("--max-events", type=_positive, default=DEFAULT_MAX_EVENTS, metavar="N",
                       help="size budget of the trace: past N events, iterations after the first few are aggregated "
                            "into one median iteration (default: %(default)s)")


def _add_profile_parsers(sub: Any, graph_suffixes: str, profile_in: str, profile_out: str) -> None:
    from graphscope.backends import available_backends
    from graphscope.passes.pipeline import LEVELS
    from graphscope.viz.dot import COLORS, DEFAULT_MAX_NODES

    levels = sorted(LEVELS)
    prof = sub.add_parser(
        "profile", help="optimize and profile a graph, print the bottleneck report, write report files",
        description="Optimize a graph at --level, run it on random inputs (like 'graphscope run') timing every node, "
                    "and print the bottleneck report: slowest nodes, time by op and scope, roofline bounds, critical "
                    "path, memory peak and recommendations. Optionally write the report as JSON, a self-contained "
                    "HTML page and a Chrome trace (open it in https://ui.perfetto.dev), and save the profile.",
    )
    prof.add_argument("file", metavar="FILE", help=f"the graph to profile ({graph_suffixes})")
    prof.add_argument("--level", type=int, choices=levels, default=2,
                      help="optimization level before running: 0 none, 1 exact cleanups, 2 adds fusion and memory "
                           "planning, 3 adds inexact rewrites (default: %(default)s)")
    prof.add_argument("--repeat", type=_positive, default=20, metavar="N",
                      help="measured runs; times are medians over them (default: %(default)s)")
    prof.add_argument("--warmup", type=_non_negative, default=2, metavar="N",
                      help="runs before measuring, not recorded (default: %(default)s)")
    prof.add_argument("--top", type=_positive, default=10, metavar="K",
                      help="how many of the slowest nodes the text report lists (default: %(default)s)")
    prof.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the random inputs (default: %(default)s)")
    prof.add_argument("--backend", choices=available_backends(), default="numpy", metavar="NAME",
                      help=f"backend that runs the graph: {', '.join(available_backends())} (default: %(default)s)")
    prof.add_argument("--summaries", action="store_true",
                      help="also record each node's value summary (min/max/mean/std, NaN/Inf counts, histogram) from one "
                           "extra unmeasured run; shown in the report and saved with --save-profile")
    prof.add_argument("--parallel", action="store_true",
                      help="run independent nodes side by side on a thread pool (one timeline lane per thread)")
    prof.add_argument("--save-profile", metavar="OUT", default=None,
                      help=f"also write the profile to OUT ({profile_out}), for 'graphscope report', 'compare' or the dashboard")
    _add_report_outputs(prof)
    from graphscope.distribute import cli_support  # imports no Dask: only the options

    cli_support.add_arguments(prof)
    prof.set_defaults(handler=cmd_profile)

    rep = sub.add_parser(
        "report", help="the bottleneck report of a saved profile, and its report files",
        description="Print the bottleneck report of a saved profile (the same report 'graphscope profile' prints) and "
                    "optionally write it as JSON, HTML or a Chrome trace. The peaks of the machine that made the "
                    "profile are used when it recorded them, else this machine's.",
    )
    rep.add_argument("file", metavar="PROFILE", help=f"a saved profile ({profile_in})")
    rep.add_argument("--top", type=_positive, default=10, metavar="K",
                     help="how many of the slowest nodes the text report lists (default: %(default)s)")
    _add_report_outputs(rep)
    rep.set_defaults(handler=cmd_report)

    cmp_ = sub.add_parser(
        "compare", help="what got faster or slower between two profiles",
        description="Compare two saved profiles (e.g. before and after a change, or a graph and its optimized "
                    "version): the overall speedup with confidence intervals, per-node changes (nodes matched by "
                    "name, then by provenance, so a fused node is compared with the nodes it replaced), per-op-type "
                    "changes, and the nodes only one side has. Deltas are NEW - BASE: positive is slower.",
    )
    cmp_.add_argument("before", metavar="BASE", help=f"the baseline profile ({profile_in})")
    cmp_.add_argument("after", metavar="NEW", help=f"the profile to compare with it ({profile_in})")
    cmp_.add_argument("--top", type=_positive, default=15, metavar="K",
                      help="how many nodes and op types to list (default: %(default)s)")
    cmp_.add_argument("--json", metavar="OUT", default=None,
                      help="also write the comparison as JSON (format 'graphscope-comparison') to OUT")
    cmp_.set_defaults(handler=cmd_compare)

    rendering_suffixes = ", ".join(f.suffix for f in _formats("rendering", writable=True))
    ren = sub.add_parser(
        "render", help="draw a graph with Graphviz (SVG, PNG or DOT)",
        description="Draw a graph (or a profile's graph) with nodes grouped in clusters by name scope, labelled with "
                    "op and shape, optionally coloured by time or memory share from a profile. Large graphs collapse "
                    "scopes into one box each (node count and summed time) so they stay readable and lay out fast. "
                    "--diff draws before and after optimization side by side with removed, merged, rewritten and "
                    "fused nodes marked; --stages writes one such drawing per pass of the level.",
    )
    ren.add_argument("file", metavar="FILE", help=f"a graph ({graph_suffixes}) or a profile ({profile_in})")
    ren.add_argument("-o", "--output", metavar="OUT", required=True,
                     help=f"the file to write; its suffix picks the format ({rendering_suffixes})")
    ren.add_argument("--optimized", action="store_true", help="draw the graph optimized at --level")
    ren.add_argument("--diff", action="store_true",
                     help="draw the graph before and after optimization at --level side by side, changes marked")
    ren.add_argument("--stages", action="store_true",
                     help="write one drawing per pipeline stage: OUT's name + '.0-original', '.1-<pass>', ... "
                          "(each pass as before | after)")
    ren.add_argument("--level", type=int, choices=levels, default=2,
                     help="optimization level for --optimized, --diff and --stages (default: %(default)s)")
    ren.add_argument("--profile", metavar="PROFILE", default=None,
                     help=f"a saved profile ({profile_in}) whose times or memory colour the nodes (matched by id and name)")
    ren.add_argument("--color", choices=COLORS, default=None,
                     help="fill nodes by their share of node time or of the memory peak; without --profile the graph "
                          "is profiled on random inputs first (default: time with a profile, else none)")
    ren.add_argument("--collapse-depth", type=_positive, default=None, metavar="N",
                     help="draw every name scope at depth N (1 = top-level scopes) as one box with its node count "
                          "and summed time")
    ren.add_argument("--max-nodes", type=_non_negative, default=DEFAULT_MAX_NODES, metavar="N",
                     help="without --collapse-depth, collapse scopes automatically (then linear chains) when more "
                          "than N boxes would be drawn; 0 never collapses (default: %(default)s)")
    ren.add_argument("--no-constants", action="store_true", help="leave constants (weights) out of the drawing")
    ren.add_argument("--repeat", type=_positive, default=3, metavar="N",
                     help="measured runs when profiling for --color without --profile (default: %(default)s)")
    ren.add_argument("--seed", type=int, default=0, metavar="S",
                     help="seed of the random inputs when profiling (default: %(default)s)")
    ren.set_defaults(handler=cmd_render)


def _error(message: str) -> None:
    print(f"graphscope: error: {' '.join(message.split())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script passes it to sys.exit)."""
    from graphscope.errors import GraphFormatError

    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version, usage errors
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if args.command is None:
            parser.print_usage(sys.stderr)
            _error("a command is required (try 'graphscope --help')")
            return EXIT_USAGE
        return args.handler(args)
    except KeyboardInterrupt:
        print("graphscope: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (GraphFormatError, _UsageError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except _RunFailed as exc:  # a run or an optimization that failed (its message names the node)
        _error(str(exc))
        return EXIT_RUN_FAILED
    except BrokenPipeError:  # `graphscope info x.gsg | head`: the reader left; not an error
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
