"""File formats, by name: the native graph archive (.gsg), the profile file (.gsprof), and exporters.

A format is one module plus one ``register_format`` call below. Modules are imported only when a
file of theirs is read or written, so an exporter with an optional dependency (ONNX) costs nothing
until used. The CLI takes its choices from this registry.

    from graphscope.formats import load_any, save_any
    graph = load_any("model.gsg")            # dispatches on the suffix
    save_any(profile, "run.gsprof")
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

from graphscope.errors import GraphFormatError


@dataclass(frozen=True)
class FileFormat:
    """A file format: ``kind`` is what it holds ("graph" or "profile"); ``load``/``save`` are
    "module:function" strings (None when the format is write-only or read-only)."""

    name: str
    suffix: str
    kind: str
    load: str | None
    save: str | None
    description: str = ""

    def _resolve(self, target: str | None, verb: str) -> Any:
        if target is None:
            raise GraphFormatError(f"format '{self.name}' ({self.suffix}) cannot {verb} files")
        module, _, func = target.partition(":")
        return getattr(importlib.import_module(module), func)

    def load_file(self, path: str | os.PathLike) -> Any:
        return self._resolve(self.load, "read")(path)

    def save_file(self, obj: Any, path: str | os.PathLike) -> None:
        self._resolve(self.save, "write")(obj, path)


FORMATS: dict[str, FileFormat] = {}


def register_format(fmt: FileFormat) -> FileFormat:
    if not fmt.suffix.startswith("."):
        raise ValueError(f"format '{fmt.name}': suffix must start with '.', got {fmt.suffix!r}")
    clash = [f.name for f in FORMATS.values() if f.suffix == fmt.suffix and f.name != fmt.name]
    if clash:
        raise ValueError(f"format '{fmt.name}': suffix {fmt.suffix} is already used by '{clash[0]}'")
    FORMATS[fmt.name] = fmt
    return fmt


def get_format(name: str) -> FileFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format '{name}' (known: {', '.join(sorted(FORMATS))})") from None


def formats(kind: str | None = None, *, readable: bool = False, writable: bool = False) -> list[FileFormat]:
    """Registered formats, optionally only those holding ``kind`` or able to read/write."""
    return [
        f for f in FORMATS.values()
        if (kind is None or f.kind == kind) and (not readable or f.load) and (not writable or f.save)
    ]


def format_for_path(path: str | os.PathLike, *, readable: bool = False, writable: bool = False) -> FileFormat:
    """The format whose suffix ends ``path`` (longest suffix wins: ``.trace.json`` before ``.json``).

    Raises GraphFormatError ("cannot load ...") for an unknown suffix when ``readable``, else ValueError.
    """
    name = os.fspath(path).lower()
    candidates = formats(readable=readable, writable=writable)
    matches = [f for f in candidates if name.endswith(f.suffix.lower())]
    if not matches:
        known = ", ".join(f"{f.suffix} ({f.description or f.name})" for f in candidates)
        suffix = os.path.splitext(name)[1]
        what = f"unknown file type '{suffix}'" if suffix else "no file suffix to tell its type"
        if readable:
            raise GraphFormatError(f"cannot load '{os.fspath(path)}': {what}; readable types: {known}")
        raise ValueError(f"cannot save '{os.fspath(path)}': {what}; writable types: {known}")
    return max(matches, key=lambda f: len(f.suffix))


def load_any(path: str | os.PathLike) -> Any:
    """Load a graph or profile, choosing the format by the file's suffix."""
    return format_for_path(path, readable=True).load_file(path)


def save_any(obj: Any, path: str | os.PathLike) -> None:
    """Save a graph or profile, choosing the format by the file's suffix."""
    fmt = format_for_path(path, writable=True)
    want = _kind_type(fmt.kind)
    if want is not None and not isinstance(obj, want):
        raise TypeError(f"format '{fmt.name}' ({fmt.suffix}) holds a {fmt.kind}, not a {type(obj).__name__}")
    fmt.save_file(obj, path)


def _kind_type(kind: str) -> type | None:
    if kind == "graph":
        from graphscope.ir.graph import Graph

        return Graph
    if kind == "profile":
        from graphscope.profile.events import RunProfile

        return RunProfile
    return None


register_format(FileFormat("graphscope-graph", ".gsg", "graph", "graphscope.formats.native:load",
                           "graphscope.formats.native:save", "graphscope graph"))
register_format(FileFormat("graphscope-profile", ".gsprof", "profile", "graphscope.formats.profile_file:load_profile",
                           "graphscope.formats.profile_file:save_profile", "graphscope profile"))

# ONNX models, both directions (needs the [onnx] extra; imported only when an .onnx file is read or written).
register_format(FileFormat("onnx", ".onnx", "graph", "graphscope.formats.onnx_import:load",
                           "graphscope.formats.onnx_export:save", "ONNX model"))

# Reports of a profile (write-only). The name is the CLI's option: `graphscope profile|report --json/--html/--trace`.
# Each save function takes (profile, path) and optional keywords (report=<a Report already made>, ...).
register_format(FileFormat("json", ".json", "report", None, "graphscope.formats.report_json:save_report_json",
                           "JSON report (versioned schema)"))
register_format(FileFormat("html", ".html", "report", None, "graphscope.viz.html:save_html_report",
                           "self-contained HTML report"))
register_format(FileFormat("trace", ".chrome-trace.json", "report", None,
                           "graphscope.formats.chrome_trace:save_chrome_trace", "Chrome trace for Perfetto"))

# Graph renderings (write-only; `graphscope render -o`): save functions take a graphscope.viz.dot.Rendering.
register_format(FileFormat("svg", ".svg", "rendering", None, "graphscope.viz.dot:save_rendering", "SVG image"))
register_format(FileFormat("png", ".png", "rendering", None, "graphscope.viz.dot:save_rendering", "PNG image"))
register_format(FileFormat("dot", ".dot", "rendering", None, "graphscope.viz.dot:save_rendering", "Graphviz DOT text"))

__all__ = ["FORMATS", "FileFormat", "format_for_path", "formats", "get_format", "load_any", "register_format", "save_any"]
