"""Helpers shared by the file formats: atomic writes, JSON encoding, and field validation."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from graphscope.errors import GraphFormatError


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file so that ``path`` holds either the old content or the complete new one.

    ``write`` fills a temporary file in the same directory; it is flushed, fsynced and renamed over
    ``path``. If anything raises (``write`` itself, a full disk, Ctrl-C) the temporary file is removed
    and ``path`` is left untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    while True:
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:  # 0o666 minus the umask, like a plain open(): mkstemp would make the file 0600
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX; best effort)
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} value {value!r} cannot be stored as JSON")


def dumps(doc: Any, *, what: str, indent: int | None = None) -> bytes:
    """JSON bytes of ``doc``; tuples become lists, NumPy scalars Python numbers."""
    try:
        text = json.dumps(doc, default=_json_default, indent=indent, separators=None if indent else (",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot save {what}: {exc}") from None
    return text.encode("utf-8")


class Reader:
    """Validation of a parsed JSON document; every failure is a GraphFormatError naming the file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)

    def fail(self, reason: str) -> GraphFormatError:
        return GraphFormatError(f"cannot load '{self.path}': {reason}")

    def loads(self, data: bytes, member: str) -> Any:
        try:
            return json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise self.fail(f"{member} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            hint = " (the file looks truncated)" if exc.pos >= len(data.rstrip()) else ""
            raise self.fail(f"{member} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}{hint}") from None

    def field(self, obj: Any, key: str, kind: type | tuple[type, ...], where: str, *, optional: bool = False) -> Any:
        """``obj[key]`` checked to be of ``kind`` (bool is never accepted as an int)."""
        if not isinstance(obj, dict):
            raise self.fail(f"{where} must be a JSON object, found {type(obj).__name__}")
        if key not in obj:
            if optional:
                return None
            raise self.fail(f"{where} is missing required field '{key}'")
        value = obj[key]
        if optional and value is None:
            return None
        if not _is(value, kind):
            raise self.fail(f"{where}: field '{key}' must be {_kind_name(kind)}, found {_json_type(value)} {_clip(value)}")
        return value

    def int_list(self, obj: Any, key: str, where: str) -> list[int]:
        values = self.field(obj, key, list, where)
        for v in values:
            if not _is(v, int):
                raise self.fail(f"{where}: field '{key}' must be a list of integers, found {_json_type(v)} {_clip(v)}")
        return values

    def check_version(self, doc: Any, where: str, name: str, supported: int) -> int:
        fmt = self.field(doc, "format", str, where)
        if fmt != name:
            raise self.fail(f"{where}: format is '{fmt}', expected '{name}'")
        version = self.field(doc, "format_version", int, where)
        if version > supported:
            raise self.fail(
                f"{where}: format_version {version} is newer than this graphscope reads ({supported}); upgrade graphscope"
            )
        if version < 1:
            raise self.fail(f"{where}: invalid format_version {version}")
        return version


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, kinds)


_JSON_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
               bool: "a boolean", type(None): "null"}


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_JSON_NAMES.get(k, k.__name__) for k in kinds)


def _json_type(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _clip(value: Any, n: int = 40) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= n else text[: n - 3] + "..."
