"""``graphscope dashboard``: its errors, and the installed command serving the app from any directory."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from graphscope.cli import main


def test_without_dash_it_names_the_extra_and_exits_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "dash", None)  # `import dash` raises ImportError
    assert main(["dashboard"]) == 2
    err = capsys.readouterr().err
    assert err == "graphscope: error: the dashboard needs Dash: pip install 'graphscope-profiler[dashboard]'\n"


def test_bad_files_and_busy_ports_are_usage_errors(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "bad.gsg").write_bytes(b"not a zip")
    assert main(["dashboard", str(tmp_path / "notes.txt")]) == 2
    assert "unknown file type '.txt'" in capsys.readouterr().err
    assert main(["dashboard", "--samples", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert main(["dashboard", "--port", str(s.getsockname()[1])]) == 2
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err
    with socket.socket() as s:  # a free port: the unreadable graph stops it before it serves
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["dashboard", "--port", str(port), str(tmp_path / "bad.gsg")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphscope: error: cannot load '") and "bad.gsg': not a graphscope graph archive" in err


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read()


@pytest.mark.slow
def test_the_installed_command_serves_the_app_from_any_directory(tmp_path):
    exe = shutil.which("graphscope", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("the graphscope console script is not installed next to this Python")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRAPHSCOPE_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([exe, "dashboard", "--port", str(port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, page = _get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the dashboard did not start: {proc.communicate()[0]}") from None
                time.sleep(0.2)
        assert status == 200 and b"/assets/style.css" in page and b"/assets/graph.js" in page
        assert _get(f"http://127.0.0.1:{port}/assets/style.css")[1].startswith(b"/* The dashboard's styles")
        layout = _get(f"http://127.0.0.1:{port}/_dash-layout")[1]
        assert b"app-session" in layout
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert f"graphscope dashboard on http://127.0.0.1:{port}/ (6 models" in out
