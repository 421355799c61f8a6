from __future__ import annotations

import pytest
from debug_models import MLP


@pytest.fixture
def mlp(rng) -> MLP:
    return MLP(rng)
