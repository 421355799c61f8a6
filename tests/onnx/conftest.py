"""Fixtures of the ONNX tests (skipped as a whole where the ``[onnx]`` extra is not installed)."""

from __future__ import annotations

import pytest

pytest.importorskip("onnx", reason="the ONNX tests need the [onnx] extra")


@pytest.fixture(scope="session")
def node_tests():
    """ONNX's node test cases, built in memory once per session (about 5 s)."""
    from graphscope.formats.onnx_backend import load_node_tests

    return load_node_tests()
