"""Graph files for the CLI tests, built with the IR directly (no sample files)."""

from __future__ import annotations

import pytest
from cli_graphs import failing_graph, model_graph

import graphscope as gs


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.gsg"
    gs.save(model_graph(), path)
    return path


@pytest.fixture
def failing_file(tmp_path):
    path = tmp_path / "fails.gsg"
    gs.save(failing_graph(), path)
    return path
