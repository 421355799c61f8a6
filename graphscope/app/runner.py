"""The library calls behind the Run page: profile a graph, read an upload, export a report.

Everything here is what the CLI does (``graphscope profile``, ``graphscope.formats``), packaged for
a worker thread and for bytes that arrive from a browser. Uploads are written to a private temporary
file under a generated name (never the user's file name), read by the same loaders as the CLI
(zip/JSON readers that never unpickle or execute anything), then deleted.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphscope.app.state import AppState, Run, Source

UPLOAD_KINDS = ("graph", "profile")


@dataclass
class RunSettings:
    level: int = 2
    backend: str = "numpy"
    repeat: int = 5
    warmup: int = 1
    parallel: bool = False
    seed: int = 0
    value_summaries: bool = False

    def label(self) -> str:
        return (f"level {self.level} · {self.backend} · {self.repeat}x" + (" · parallel" if self.parallel else "")
                + (" · values" if self.value_summaries else ""))


def supports_value_summaries() -> bool:
    """Whether ``gs.run`` takes ``value_summaries=`` (the debugging feature that fills them)."""
    import graphscope as gs

    return "value_summaries" in inspect.signature(gs.run).parameters


def check_settings(s: RunSettings) -> None:
    """Refuse settings the library would refuse, with the page's words."""
    from graphscope.backends import available_backends
    from graphscope.passes.pipeline import LEVELS

    if s.level not in LEVELS:
        raise ValueError(f"optimization level must be one of {sorted(LEVELS)}, got {s.level}")
    if s.backend not in available_backends():
        raise ValueError(f"backend '{s.backend}' is not available here (available: {', '.join(available_backends())})")
    if not 1 <= s.repeat <= 1000:
        raise ValueError(f"repeats must be between 1 and 1000, got {s.repeat}")
    if not 0 <= s.warmup <= 100:
        raise ValueError(f"warm-up runs must be between 0 and 100, got {s.warmup}")


def profile_graph(graph: Any, s: RunSettings, progress: Callable[..., None]) -> tuple[Any, Any, Any, Any]:
    """(optimized graph or None, OptimizationLog or None, RunProfile, Report) of ``graph`` on random inputs.

    ``progress(stage, done=None, total=None)`` hears of each step; the run's iterations count up.
    """
    import graphscope as gs
    from graphscope.profile.analysis import analyze
    from graphscope.samples import random_inputs

    optimized, log = None, None
    if s.level > 0:
        progress(f"optimizing at level {s.level}")
        optimized, log = gs.optimize(graph, level=s.level)
    target = optimized if optimized is not None else graph
    inputs = random_inputs(target, s.seed)
    total = s.warmup + s.repeat
    progress(f"running {s.warmup} warm-up + {s.repeat} measured iterations", 0, total)
    done = [0]

    def step() -> None:
        done[0] += 1
        progress(f"iteration {done[0]} of {total}", done[0], total)

    extra: dict[str, Any] = {"parallel": True} if s.parallel else {}
    if s.value_summaries and supports_value_summaries():
        extra["value_summaries"] = True
    result = gs.run(target, inputs, profile=True, repeat=s.repeat, warmup=s.warmup, backend=s.backend, progress=step,
                    **extra)
    profile = result.profile
    profile.metadata.update({"command": "graphscope dashboard", "seed": s.seed, "optimization_level": s.level})
    progress("analyzing", total, total)
    return optimized, log, profile, analyze(profile)


def start_run(state: AppState, session: str, source: Source, s: RunSettings) -> str:
    """Submit a profiling job for ``session``; returns the job id (the run lands in its workspace)."""
    check_settings(s)
    ws = state.workspace(session)

    def work(progress: Any) -> str:
        progress(f"loading {source.label}")
        graph = source.load()
        if source.kind != "graph":
            raise ValueError(f"{source.label} is a {source.kind}, not a graph: it cannot be run")
        optimized, log, profile, report = profile_graph(graph, s, progress)
        if getattr(progress, "overlapped", False):
            profile.metadata["overlapped_runs"] = True  # the pages warn: its timings shared the CPUs
        run = Run(state.next_run_id(), f"{_name(source)} · {s.label()}", source.label, original=graph, optimized=optimized,
                  log=log, profile=profile, report=report, level=s.level, settings=vars(s).copy(),
                  trusted=source.origin != "upload")
        ws.add_run(run)
        return run.id

    return state.jobs.submit(session, f"{_name(source)} · {s.label()}", work).id


def open_graph(state: AppState, session: str, source: Source) -> Run:
    """Open a graph without running it (the Graph page shows it; profile pages ask for a run)."""
    graph = source.load()
    run = Run(state.next_run_id(), f"{_name(source)} · graph only", source.label, original=graph,
              trusted=source.origin != "upload")
    state.workspace(session).add_run(run)
    return run


def _name(source: Source) -> str:
    return source.label.removeprefix("sample: ")


# ---------------------------------------------------------------------------------------------
# Uploads


class UploadError(ValueError):
    """An upload that cannot be used; the message is shown in the page as is."""


def decode_upload(contents: str, filename: str, max_bytes: int) -> bytes:
    """The bytes of a dcc.Upload ``contents`` string (``data:<type>;base64,<data>``), size-checked."""
    if not isinstance(contents, str) or "," not in contents:
        raise UploadError(f"upload '{filename}' arrived incomplete (no data)")
    head, _, data = contents.partition(",")
    if not head.endswith(";base64"):
        raise UploadError(f"upload '{filename}' is not base64-encoded data")
    if len(data) * 3 // 4 > max_bytes + 3:  # before decoding: do not build an oversized buffer
        raise UploadError(too_large(filename, len(data) * 3 // 4, max_bytes))
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise UploadError(f"upload '{filename}' is corrupted (invalid base64 data)") from None
    if len(raw) > max_bytes:
        raise UploadError(too_large(filename, len(raw), max_bytes))
    if not raw:
        raise UploadError(f"upload '{filename}' is an empty file")
    return raw


def too_large(filename: str, size: int, max_bytes: int) -> str:
    return (f"upload '{filename}' is {_mib(size)}, over the {_mib(max_bytes)} limit "
            "(start the dashboard with a larger --max-upload-mb, or open the file with 'graphscope dashboard FILE')")


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB" if n >= 1024 else f"{int(n)} B"


def load_upload(raw: bytes, filename: str) -> tuple[str, Any]:
    """(kind, Graph or RunProfile) of uploaded bytes, read by ``graphscope.formats`` by the name's suffix.

    Errors name the uploaded file (not the temporary one) and say what is wrong.
    """
    from graphscope.errors import GraphFormatError
    from graphscope.formats import format_for_path, formats

    safe_name = os.path.basename(str(filename or "upload")).strip() or "upload"
    try:
        fmt = format_for_path(safe_name, readable=True)
    except GraphFormatError:
        known = ", ".join(f"{f.suffix} ({f.description or f.name})" for f in formats(readable=True) if f.kind in UPLOAD_KINDS)
        raise UploadError(f"cannot open '{safe_name}': not a graph or profile file name; upload one of: {known}") from None
    if fmt.kind not in UPLOAD_KINDS:  # pragma: no cover - every readable format is a graph or a profile today
        raise UploadError(f"cannot open '{safe_name}': a {fmt.kind} file is not a graph or a profile")
    fd, tmp = tempfile.mkstemp(prefix="graphscope-upload-", suffix=fmt.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        try:
            obj = fmt.load_file(tmp)
        except GraphFormatError as exc:
            raise UploadError(str(exc).replace(tmp, safe_name)) from None
        except ImportError as exc:  # an optional loader (ONNX) without its extra
            raise UploadError(f"cannot open '{safe_name}': {exc}") from None
        except Exception as exc:  # a loader bug must not take the server down; say what happened
            raise UploadError(f"cannot open '{safe_name}': {type(exc).__name__}: {str(exc).replace(tmp, safe_name)}") from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return fmt.kind, obj


def add_upload(state: AppState, session: str, contents: str, filename: str) -> tuple[str, Source | Run]:
    """Validate and load an upload into the session: a graph becomes a source, a profile a run.
    Returns (message, the new source or run); raises UploadError with the page's message."""
    from graphscope.profile.analysis import analyze

    raw = decode_upload(contents, filename, state.max_upload_bytes)
    kind, obj = load_upload(raw, filename)
    name = os.path.basename(str(filename))
    ws = state.workspace(session)
    key = f"upload:{state.next_run_id()}"
    if kind == "graph":
        src = Source(key, f"upload: {name}", "graph", "upload", obj=obj)
        ws.add_source(src)
        return f"loaded '{name}': graph '{obj.name}' with {len(obj.nodes)} nodes", src
    run = Run(state.next_run_id(), f"{name} (upload)", f"upload: {name}", profile=obj, report=analyze(obj),
              level=obj.metadata.get("optimization_level") if isinstance(obj.metadata.get("optimization_level"), int) else None,
              trusted=False)
    ws.add_run(run)
    return f"loaded '{name}': profile of '{obj.graph_name}', {len(obj.nodes)} nodes, {len(obj.iterations)} iterations", run


# ---------------------------------------------------------------------------------------------
# Downloads: the report exporters registered in graphscope.formats


EXPORTS = {"html": "html", "json": "json", "trace": "trace"}  # page button -> format name


def export_report(run: Run, fmt_name: str) -> tuple[str, bytes]:
    """(file name, bytes) of the run's report in a registered report format ("html", "json", "trace")."""
    import importlib

    from graphscope.formats import get_format

    if run.profile is None:
        raise ValueError("this view has no profile to report on: run it first")
    fmt = get_format(EXPORTS[fmt_name])
    module, _, func = str(fmt.save).partition(":")
    save = getattr(importlib.import_module(module), func)
    fd, tmp = tempfile.mkstemp(prefix="graphscope-export-", suffix=fmt.suffix)
    os.close(fd)
    try:
        save(run.profile, tmp, report=run.report)
        with open(tmp, "rb") as f:
            data = f.read()
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    base = "".join(c if c.isalnum() or c in "-_" else "_" for c in run.profile.graph_name) or "profile"
    return f"{base}-{run.id}{fmt.suffix}", data


__all__ = ["EXPORTS", "RunSettings", "UploadError", "add_upload", "check_settings", "decode_upload", "export_report",
           "load_upload", "open_graph", "profile_graph", "start_run", "supports_value_summaries"]
