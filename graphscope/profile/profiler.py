"""The embedded profiler: ``with gs.profile(warmup=2, repeat=10) as prof:`` or ``@gs.profile(...)``.

While active it records

* every graph run (``gs.run``, and so every ``@gs.function`` call): it subscribes to
  ``graphscope.runtime.run.recorders``, which makes each run profiled and hands over its RunProfile;
* every eager ``gs.ops`` call (outside a trace), through ``graphscope.trace.tensor.eager_observers``.

Warm-up and repeats, per graph: the first ``warmup`` runs (iterations) of each graph are warm-up
(their wall times kept apart in ``RunProfile.warmup_ns``), the next ``repeat`` runs are recorded,
and runs beyond those are *not* recorded, only counted (``metadata["profiler"]["dropped"]``, also
noted in the report): the statistics describe the steady state and memory stays bounded whatever
the length of the loop. ``repeat=None`` records every run. A graph whose structure changes (a new
``graph.version``) counts as a new graph.

Eager calls have no graph, so each distinct call site (op, name scope, source line, output shape
and dtype) is a node of one profile named ``"eager"`` (lane ``"eager"``); warm-up and repeat apply
to each call site's calls, and measured iteration ``k`` holds the ``k``-th measured call of every
site. ``NodeInfo.attrs["calls"]`` counts every call seen.

Profiled runs are slower than plain ones by the profiler's own per-node cost; every report prints
it (``calibration.measure_overhead``). Runs made with ``gs.run(..., profile=True)`` are returned to
their caller and not recorded here.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from graphscope.profile.events import NodeEvent, NodeInfo, RunProfile

EAGER = "eager"


@dataclass
class _GraphRecord:
    key: str
    graph: Any
    version: int
    first: RunProfile  # nodes, inputs, outputs, machine: the same for every run of this graph version
    iterations: list[list[NodeEvent]] = field(default_factory=list)
    iteration_ns: list[int] = field(default_factory=list)
    warmup_ns: list[int] = field(default_factory=list)
    seen: int = 0
    dropped: int = 0
    peak_bytes: int = 0
    peak_live: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class _EagerSite:
    id: int
    name: str
    op: str
    scope: str
    source: str | None
    shape: tuple[int, ...]
    dtype: str
    seen: int = 0
    dropped: int = 0
    warmup_ns: list[int] = field(default_factory=list)
    samples: list[tuple[int, int, int, int, int]] = field(default_factory=list)  # t0, t1, bytes, flops, moved


class Profiler:
    """Records graph runs and eager op calls while active. Make one with ``profile()``."""

    def __init__(self, warmup: int = 2, repeat: int | None = 10, eager: bool = True) -> None:
        if warmup < 0 or (repeat is not None and repeat < 1):
            raise ValueError(f"profile(warmup={warmup}, repeat={repeat}): warmup must be >= 0 and repeat >= 1 (or None)")
        self.warmup = warmup
        self.repeat = repeat
        self.eager = eager
        self._lock = threading.RLock()
        self._depth = 0
        self._graphs: list[_GraphRecord] = []
        self._sites: dict[tuple, _EagerSite] = {}
        self._site_names: set[str] = set()
        self._observer = self._on_eager

    # -- activation ---------------------------------------------------------------------------
    def __enter__(self) -> Profiler:
        from graphscope.runtime.run import recorders
        from graphscope.trace.tensor import eager_observers

        with self._lock:
            self._depth += 1
            if self._depth == 1:
                recorders.append(self)
                if self.eager:
                    eager_observers.append(self._observer)
        return self

    def __exit__(self, *exc: object) -> None:
        from graphscope.runtime.run import recorders
        from graphscope.trace.tensor import eager_observers

        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                _remove(recorders, self)
                _remove(eager_observers, self._observer)

    @property
    def active(self) -> bool:
        return self._depth > 0

    def __call__(self, fn: Callable) -> Callable:
        """Use as a decorator: each call of ``fn`` runs with the profiler active (``wrapper.profiler``)."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        wrapper.profiler = self  # type: ignore[attr-defined]
        return wrapper

    # -- recording ----------------------------------------------------------------------------
    def record(self, graph: Any, profile: RunProfile) -> None:
        """The recorder protocol of ``graphscope.runtime.run.recorders``: one profiled run."""
        with self._lock:
            rec = self._record_for(graph, profile)
            for ns in profile.warmup_ns:  # the run's own warm-up iterations are runs of the graph too
                rec.warmup_ns.append(ns)
                rec.seen += 1
            recorded = False
            for events, ns in zip(profile.iterations, profile.iteration_ns):
                if rec.seen < self.warmup:
                    rec.warmup_ns.append(ns)
                elif self.repeat is None or len(rec.iterations) < self.repeat:
                    rec.iterations.append(events)
                    rec.iteration_ns.append(ns)
                    recorded = True
                else:
                    rec.dropped += 1
                rec.seen += 1
            if recorded and profile.peak_bytes >= rec.peak_bytes:
                rec.peak_bytes, rec.peak_live = profile.peak_bytes, list(profile.peak_live)

    def _record_for(self, graph: Any, profile: RunProfile) -> _GraphRecord:
        version = getattr(graph, "version", 0)
        for rec in self._graphs:
            if rec.graph is graph and rec.version == version:
                return rec
        rec = _GraphRecord(self._unique_key(profile.graph_name), graph, version, profile)
        self._graphs.append(rec)
        return rec

    def _unique_key(self, name: str) -> str:
        taken = {r.key for r in self._graphs} | {EAGER}
        key, k = name, 1
        while key in taken:
            k += 1
            key = f"{name}#{k}"
        return key

    def _on_eager(self, op: str, scope: str, out: Any, t0: int, t1: int, *extra: Any) -> None:
        from graphscope.trace.source import user_source

        source = user_source(2)
        shape = tuple(int(d) for d in np.shape(out))
        dtype = getattr(out, "dtype", None)
        dtype = np.dtype(dtype).name if dtype is not None else type(out).__name__
        nbytes = int(getattr(out, "nbytes", 0))
        flops, moved = _eager_cost(op, out, nbytes, extra)
        key = (op, scope, source, shape, dtype)
        with self._lock:
            site = self._sites.get(key)
            if site is None:
                base = f"{scope}/{op}" if scope else op
                name, k = base, 0
                while name in self._site_names:
                    k += 1
                    name = f"{base}_{k}"
                self._site_names.add(name)
                site = self._sites[key] = _EagerSite(len(self._sites), name, op, scope, source, shape, dtype)
            site.seen += 1
            if site.seen <= self.warmup:
                site.warmup_ns.append(t1 - t0)
            elif self.repeat is None or len(site.samples) < self.repeat:
                site.samples.append((t0, t1, nbytes, flops, moved))
            else:
                site.dropped += 1

    # -- results ------------------------------------------------------------------------------
    @property
    def profiles(self) -> dict[str, RunProfile]:
        """One merged RunProfile per graph (keyed by graph name, ``name#2`` for a second graph of the
        same name), plus ``"eager"`` for eager op calls; graphs still in warm-up are left out."""
        with self._lock:
            out = {rec.key: self._graph_profile(rec) for rec in self._graphs if rec.iterations}
            eager = self._eager_profile()
        if eager is not None:
            out[EAGER] = eager
        return out

    def _meta(self, seen: int, recorded: int, dropped: int) -> dict[str, Any]:
        return {"profiler": {"warmup": self.warmup, "repeat": self.repeat, "runs": seen, "recorded": recorded,
                             "dropped": dropped}}

    def _graph_profile(self, rec: _GraphRecord) -> RunProfile:
        f = rec.first
        return RunProfile(
            graph_name=f.graph_name, backend=f.backend, nodes=f.nodes, iterations=list(rec.iterations),
            iteration_ns=list(rec.iteration_ns), warmup_ns=list(rec.warmup_ns), peak_bytes=rec.peak_bytes,
            peak_live=list(rec.peak_live), input_bytes=f.input_bytes, constant_bytes=f.constant_bytes,
            inputs=list(f.inputs), outputs=list(f.outputs), machine=dict(f.machine), pass_log=f.pass_log,
            metadata={**f.metadata, **self._meta(rec.seen, len(rec.iterations), rec.dropped)},
        )

    def _eager_profile(self) -> RunProfile | None:
        sites = [s for s in self._sites.values() if s.samples]
        if not sites:
            return None
        nodes = {s.id: NodeInfo(s.id, s.name, s.op, s.scope, s.source, s.shape, s.dtype, (), (), {"calls": s.seen})
                 for s in sites}
        iterations, iteration_ns = [], []
        for k in range(max(len(s.samples) for s in sites)):
            calls = [(s, s.samples[k]) for s in sites if len(s.samples) > k]
            base = min(c[1][0] for c in calls)
            events = sorted((NodeEvent(s.id, t0 - base, t1 - base, EAGER, nb, 0, fl, mv)
                             for s, (t0, t1, nb, fl, mv) in calls), key=lambda e: e.start_ns)
            iterations.append(events)
            iteration_ns.append(max(e.end_ns for e in events))
        warm = [sum(s.warmup_ns[k] for s in sites if len(s.warmup_ns) > k)
                for k in range(max(len(s.warmup_ns) for s in sites))]
        from graphscope.backends import get_backend

        return RunProfile(
            graph_name=EAGER, backend="numpy", nodes=nodes, iterations=iterations, iteration_ns=iteration_ns,
            warmup_ns=warm, machine=get_backend("numpy").info(),
            metadata={**self._meta(sum(s.seen for s in sites), len(iterations), sum(s.dropped for s in sites)),
                      "eager": True},
        )

    def _select(self, graph: Any) -> dict[str, RunProfile]:
        profiles = self.profiles
        if graph is None:
            return profiles
        if isinstance(graph, str):
            if graph not in profiles:
                raise KeyError(f"no profile '{graph}' recorded (recorded: {', '.join(profiles) or 'none'})")
            return {graph: profiles[graph]}
        with self._lock:
            keys = [r.key for r in self._graphs if r.graph is graph]
        if not keys:  # a gs.function: its graphs carry its name
            name = getattr(graph, "name", None)
            with self._lock:
                keys = [r.key for r in self._graphs if getattr(r.graph, "name", None) == name]
        keys = [k for k in keys if k in profiles]
        if not keys:
            raise KeyError(f"nothing recorded for {graph!r} (recorded: {', '.join(profiles) or 'none'})")
        return {k: profiles[k] for k in keys}

    def analysis(self, graph: Any = None, peaks: Any = None, overhead: Any = None) -> Any:
        """The Report of one recorded profile: ``graph`` is a key of ``profiles``, a Graph or a
        ``gs.function`` (its latest graph); may be omitted when only one profile was recorded."""
        from graphscope.profile.analysis import analyze

        chosen = self._select(graph)
        if not chosen:
            raise ValueError("nothing was recorded: run a graph, a gs.function or a gs.ops call while profiling")
        if len(chosen) > 1 and graph is None:
            raise ValueError(f"{len(chosen)} profiles were recorded ({', '.join(chosen)}): pass graph=<one of them>")
        return analyze(list(chosen.values())[-1], peaks=peaks, overhead=overhead)

    def report(self, graph: Any = None, file: IO[str] | None = None, top: int = 10, peaks: Any = None) -> str:
        """Print the text report of every recorded profile (or of ``graph``); returns it as plain text."""
        from graphscope.profile.analysis import analyze
        from graphscope.profile.text import format_report, print_report

        chosen = self._select(graph)
        texts = []
        if not chosen:
            msg = "graphscope profile: nothing recorded\n"
            (file or sys.stdout).write(msg)
            return msg
        for prof in chosen.values():
            rep = analyze(prof, peaks=peaks)
            print_report(rep, file=file, top=top)
            texts.append(format_report(rep, top=top))
        return "\n".join(texts)

    def save(self, path: str, graph: Any = None) -> list[str]:
        """Save the recorded profile(s) as ``.gsprof`` files; returns the paths written.

        With several profiles and no ``graph``, each goes to ``<stem>.<key><ext>``. The machine's
        peaks and the profiler's overhead go into ``metadata`` so the file reads the same elsewhere.
        """
        from graphscope.formats.profile_file import save_profile

        return self._write(path, graph, save_profile, ".gsprof")

    def export_chrome_trace(self, path: str, graph: Any = None, max_events: int | None = None) -> list[str]:
        """Write the recorded profile(s) as Chrome trace JSON (opens in Perfetto / chrome://tracing)."""
        from graphscope.formats.chrome_trace import save_chrome_trace

        kwargs = {} if max_events is None else {"max_events": max_events}
        return self._write(path, graph, lambda prof, out: save_chrome_trace(prof, out, **kwargs), ".json")

    def to_html(self, path: str, graph: Any = None) -> list[str]:
        """Write a self-contained HTML report per recorded profile (Plotly inlined: opens offline)."""
        from graphscope.viz.html import save_html_report

        return self._write(path, graph, save_html_report, ".html")

    def _write(self, path: str, graph: Any, writer: Callable[[RunProfile, str], None], default_ext: str) -> list[str]:
        from graphscope.profile.calibration import machine_peaks, measure_overhead

        chosen = self._select(graph)
        if not chosen:
            raise ValueError("nothing was recorded: there is no profile to write")
        extra = {"peaks": machine_peaks().to_dict(), "overhead": measure_overhead().to_dict()}
        paths = []
        stem, ext = os.path.splitext(path)
        for key, prof in chosen.items():
            prof.metadata = {**prof.metadata, **extra}
            out = path if len(chosen) == 1 else f"{stem}.{_safe(key)}{ext or default_ext}"
            writer(prof, out)
            paths.append(out)
        return paths

    def reset(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._graphs.clear()
            self._sites.clear()
            self._site_names.clear()

    def __repr__(self) -> str:
        state = "active" if self.active else "inactive"
        return f"<graphscope.profile warmup={self.warmup} repeat={self.repeat} {state}: {', '.join(self.profiles) or 'empty'}>"


def _remove(items: list, obj: Any) -> None:
    for k, x in enumerate(items):
        if x is obj or x == obj:
            del items[k]
            return


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in key)


def _eager_cost(op: str, out: Any, nbytes: int, extra: tuple) -> tuple[int, int]:
    """FLOPs and bytes moved of an eager call from the op's cost rule.

    ``extra`` is ``(inputs, attrs)`` as ``run_eager`` passes them. Without them: no FLOPs, and the
    output bytes as bytes moved (a lower bound).
    """
    from graphscope.ir.ops import get_op
    from graphscope.ir.spec import TensorSpec

    try:
        if len(extra) < 2:
            return 0, nbytes
        arrays, attrs = extra[0], extra[1]
        specs = [TensorSpec.of(a) for a in arrays]
        flops, read, written = get_op(op).estimate_cost(specs, TensorSpec.of(out), attrs)
        return int(flops), int(read + written)
    except Exception:  # the cost is a nicety: never let it break the user's program
        return 0, nbytes


def profile(fn: Callable | None = None, *, warmup: int = 2, repeat: int | None = 10, eager: bool = True) -> Any:
    """Profile graph runs and eager op calls: a context manager and a decorator.

    ::

        with gs.profile(warmup=2, repeat=10) as prof:
            for _ in range(20):
                y = model(x)                 # a @gs.function: each call is a profiled graph run
        prof.report()                        # text report of every graph (and of eager calls)
        rep = prof.analysis()                # the Report (analysis.analyze) of the only graph
        prof.save("run.gsprof")

        @gs.profile(warmup=1, repeat=5)
        def step(x): ...
        step(x); step.profiler.report()

    See the module docstring for what happens to warm-up runs and runs beyond ``repeat``.
    """
    prof = Profiler(warmup=warmup, repeat=repeat, eager=eager)
    if fn is not None:
        return prof(fn)
    return prof


__all__ = ["Profiler", "profile"]
