"""Helpers of the dashboard tests: app factories, a generated large graph, screenshot checks."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import graphscope as gs


def make_app(files=(), **kwargs):
    from graphscope.app import create_app

    return create_app(None, files, **kwargs)  # samples built in memory: no dependence on sample_graphs/


def state_of(app):
    from graphscope.app.app import app_state

    return app_state(app)


def big_graph(blocks: int = 100, per: int = 100):
    """A graph of blocks * per + 2 nodes: ``block<k>/attn`` and ``block<k>/mlp`` scopes of per/2 nodes each,
    two interleaved chains of unary ops joined at the end of every block."""

    @gs.function(name="big")
    def big(x, y):
        h, g = x, y
        for b in range(blocks):
            with gs.name_scope(f"block{b}"):
                with gs.name_scope("attn"):
                    for _ in range(per // 4):
                        h = np.tanh(h)
                        g = np.negative(g)
                with gs.name_scope("mlp"):
                    for _ in range(per // 4 - 1):
                        h = np.tanh(h)
                        g = np.negative(g)
                    h = h + g
                    g = h * h
        return h

    x = np.ones((4, 4), np.float32)
    return big.get_graph(x, x)


def save_big_graph(path: Path, **kw) -> Path:
    gs.save(big_graph(**kw), str(path))
    return path


def screenshot_stats(png: Path) -> tuple[int, float]:
    """(distinct colours, share of pixels that are not near-white) of a PNG: a blank page has 1 and ~0."""
    from PIL import Image

    with Image.open(png) as im:
        rgb = im.convert("RGB")
        small = rgb.resize((rgb.width // 2, rgb.height // 2))
        colors = len(small.getcolors(maxcolors=1 << 20) or [])
        px = np.asarray(small, dtype=np.int16)
        non_white = float(np.mean(px.min(axis=2) < 235))
    return colors, non_white


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def severe_logs(dash_duo) -> list[dict]:
    """Browser console errors (SEVERE entries)."""
    return [e for e in dash_duo.get_logs() if e.get("level") == "SEVERE"]
