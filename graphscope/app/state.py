"""What the dashboard server holds: model sources, profiled runs, one workspace per browser session.

A browser session is identified by a random id kept in the page's sessionStorage (``app-session``
store); every callback passes it here, and a workspace only ever lists its own uploads and runs, so
two sessions never see or overwrite each other's work. Sources given on the command line (the
samples, FILES) are shared and read-only: a profile file given there is a run every session sees.
Workspaces are capped (least recently used dropped) so a long-running server does not grow without
bound.
"""

from __future__ import annotations

import glob
import itertools
import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphscope.app.jobs import JobManager

log = logging.getLogger(__name__)
SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_SESSIONS = 64
MAX_RUNS_PER_SESSION = 24
MAX_UPLOADS_PER_SESSION = 16
DEFAULT_MAX_UPLOAD_BYTES = 200 * 2**20


def new_session_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Source:
    """A model the user can open or profile: a bundled sample, a file, or an upload."""

    key: str  # "sample:<name>", "file:<path>" or "upload:<id>"
    label: str
    kind: str  # "graph" or "profile"
    origin: str  # "sample", "file" or "upload"
    path: str | None = None
    build: Callable[[], Any] | None = None  # a sample without a built file: made in memory
    obj: Any = None  # the loaded Graph or RunProfile
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def load(self) -> Any:
        """The Graph or RunProfile, loaded once (the same loaders as the CLI: graphscope.formats)."""
        with self._lock:
            if self.obj is None:
                if self.path is not None:
                    from graphscope.formats import load_any

                    self.obj = load_any(self.path)
                elif self.build is not None:
                    self.obj = self.build()
                else:  # pragma: no cover - every source has one of them
                    raise ValueError(f"source {self.key} has nothing to load")
            return self.obj


@dataclass
class Run:
    """A profiled run (or an opened graph, ``profile`` None) and what the pages show of it."""

    id: str
    label: str
    source_label: str
    original: Any = None  # the graph as loaded (None for a profile file: only its own node records)
    optimized: Any = None  # the graph that ran (None at level 0 or for a profile file)
    log: Any = None  # OptimizationLog of original -> optimized
    profile: Any = None  # RunProfile
    report: Any = None  # its Report
    level: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    trusted: bool = True  # made in this server from a known source: its source lines may be read from disk
    shared: bool = False  # from the command line: every session sees it
    created: float = field(default_factory=time.time)
    _stages: list[tuple[str, Any, list[dict]]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def graph(self) -> Any:
        """The graph the profile describes: the optimized one, else the original, else the profile's own."""
        if self.optimized is not None:
            return self.optimized
        if self.original is not None:
            return self.original
        return self.profile

    def stages(self) -> list[tuple[str, Any, list[dict]]]:
        """The optimization pipeline stage by stage (``viz.dot.stage_graphs``), computed once."""
        from graphscope.viz.dot import stage_graphs

        with self._lock:
            if self._stages is None:
                level = self.level if self.level else 2
                self._stages = stage_graphs(self.original, level) if self.original is not None else []
            return self._stages

    def summary(self) -> dict[str, Any]:
        p = self.profile
        row = {"id": self.id, "label": self.label, "source": self.source_label, "level": self.level,
               "backend": p.backend if p is not None else "", "created": time.strftime("%H:%M:%S", time.localtime(self.created))}
        if p is not None:
            row.update({"median_ms": p.total_ns / 1e6, "nodes": len(p.nodes), "peak_mib": p.peak_bytes / 2**20,
                        "iterations": len(p.iterations)})
        else:
            g = self.graph
            row.update({"nodes": len(g.nodes) if g is not None else 0})
        return row


class Workspace:
    """One browser session's uploads and runs."""

    def __init__(self, session: str) -> None:
        self.session = session
        self.sources: OrderedDict[str, Source] = OrderedDict()
        self.runs: OrderedDict[str, Run] = OrderedDict()
        self.lock = threading.Lock()
        self.used = time.time()

    def add_source(self, source: Source) -> None:
        with self.lock:
            self.sources[source.key] = source
            while len(self.sources) > MAX_UPLOADS_PER_SESSION:
                self.sources.popitem(last=False)

    def add_run(self, run: Run) -> None:
        with self.lock:
            self.runs[run.id] = run
            while len(self.runs) > MAX_RUNS_PER_SESSION:
                self.runs.popitem(last=False)


class AppState:
    """Everything the callbacks of one app share: sources, workspaces, jobs, the layout cache."""

    def __init__(self, samples_dir: str | None = None, files: Sequence[str] = (), *,
                 max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, workers: int = 2, max_sessions: int = MAX_SESSIONS) -> None:
        from graphscope.app.components.graph_view import LayoutCache

        self.samples_dir = samples_dir
        self.max_upload_bytes = int(max_upload_bytes)
        self.max_sessions = max_sessions
        self.shared_sources: OrderedDict[str, Source] = OrderedDict()
        self.shared_runs: OrderedDict[str, Run] = OrderedDict()
        self._sessions: OrderedDict[str, Workspace] = OrderedDict()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.jobs = JobManager(workers=workers)
        self.layouts = LayoutCache()
        self._add_samples(samples_dir)
        for path in files:
            self.add_file(path)

    # -- sources ---------------------------------------------------------------------------------
    def _add_samples(self, directory: str | None) -> None:
        from graphscope import samples

        for name in samples.names():
            path = os.path.join(directory, f"{name}.gsg") if directory else None
            have = path is not None and os.path.isfile(path)
            self.shared_sources[f"sample:{name}"] = Source(
                f"sample:{name}", f"sample: {name}", "graph", "sample", path=path if have else None,
                build=None if have else (lambda n=name: samples.build(n)[0]))
        if directory and os.path.isdir(directory):  # other graph or profile files next to the samples
            known = {os.path.abspath(s.path) for s in self.shared_sources.values() if s.path}
            for path in sorted(glob.glob(os.path.join(directory, "*"))):
                if os.path.abspath(path) not in known and _readable_kind(path) is not None:
                    try:
                        self.add_file(path)
                    except Exception as exc:  # one bad file in the folder does not stop the dashboard
                        log.warning("skipping %s: %s", path, exc)

    def add_file(self, path: str) -> Source | Run:
        """A graph file becomes a shared source; a profile file is loaded now and becomes a shared run.
        Unreadable files raise GraphFormatError (the CLI reports it before the server starts)."""
        from graphscope.formats import format_for_path

        fmt = format_for_path(path, readable=True)
        key = f"file:{os.path.abspath(path)}"
        src = Source(key, os.path.basename(path), fmt.kind, "file", path=path)
        if fmt.kind == "profile":
            from graphscope.profile.analysis import analyze

            profile = src.load()
            run = Run(self.next_run_id(), f"{os.path.basename(path)} (file)", os.path.basename(path), profile=profile,
                      report=analyze(profile), level=_profile_level(profile), trusted=False, shared=True)
            self.shared_runs[run.id] = run
            return run
        if fmt.kind != "graph":
            raise ValueError(f"'{path}' is a {fmt.kind} file, not a graph or a profile")
        src.load()  # a bad file is reported now, not at the first click
        self.shared_sources[key] = src
        return src

    def sources(self, session: str) -> list[Source]:
        ws = self.workspace(session)
        with ws.lock:
            own = list(ws.sources.values())
        return list(self.shared_sources.values()) + own

    def source(self, session: str, key: str | None) -> Source | None:
        if not key:
            return None
        if key in self.shared_sources:
            return self.shared_sources[key]
        ws = self.workspace(session)
        with ws.lock:
            return ws.sources.get(key)

    # -- sessions and runs -----------------------------------------------------------------------
    def workspace(self, session: str) -> Workspace:
        """The session's workspace (made on first use). Ids not made by ``new_session_id`` are refused."""
        if not isinstance(session, str) or not SESSION_ID.match(session):
            raise ValueError("not a dashboard session id")
        with self._lock:
            ws = self._sessions.get(session)
            if ws is None:
                ws = self._sessions[session] = Workspace(session)
                while len(self._sessions) > self.max_sessions:
                    self._sessions.popitem(last=False)
            else:
                self._sessions.move_to_end(session)
            ws.used = time.time()
            return ws

    def next_run_id(self) -> str:
        return f"r{next(self._ids)}-{uuid.uuid4().hex[:6]}"

    def runs(self, session: str) -> list[Run]:
        """The session's runs and the shared ones, oldest first."""
        ws = self.workspace(session)
        with ws.lock:
            own = list(ws.runs.values())
        return list(self.shared_runs.values()) + own

    def run(self, session: str, run_id: str | None) -> Run | None:
        if not run_id:
            return None
        if run_id in self.shared_runs:
            return self.shared_runs[run_id]
        ws = self.workspace(session)
        with ws.lock:
            return ws.runs.get(run_id)

    def latest_run(self, session: str, *, profiled: bool = False) -> Run | None:
        runs = [r for r in self.runs(session) if r.profile is not None or not profiled]
        return max(runs, key=lambda r: r.created) if runs else None


def _readable_kind(path: str) -> str | None:
    from graphscope.errors import GraphFormatError
    from graphscope.formats import format_for_path

    try:
        fmt = format_for_path(path, readable=True)
    except GraphFormatError:
        return None
    return fmt.kind if fmt.kind in ("graph", "profile") else None


def _profile_level(profile: Any) -> int | None:
    level = profile.metadata.get("optimization_level") if isinstance(profile.metadata, dict) else None
    return level if isinstance(level, int) else None


__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "AppState", "Run", "Source", "Workspace", "new_session_id"]
