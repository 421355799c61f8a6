"""Fixtures of the report and rendering tests (helpers live in viz_helpers.py)."""

from __future__ import annotations

import os

import pytest
from viz_helpers import SampleRun, sample_run, two_lane_profile

from graphscope.profile.events import RunProfile


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Calibration and layout caches never touch the real home during tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRAPHSCOPE_CACHE_DIR", str(tmp_path_factory.mktemp("gs-cache")))
        yield os.environ["GRAPHSCOPE_CACHE_DIR"]


@pytest.fixture(scope="session")
def transformer_run() -> SampleRun:
    return sample_run("transformer")


@pytest.fixture(scope="session")
def mlp_run() -> SampleRun:
    return sample_run("mlp")


@pytest.fixture
def lanes_profile() -> RunProfile:
    return two_lane_profile()
