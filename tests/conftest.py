"""Shared test set-up: deterministic hypothesis runs, seeded RNGs, torch gating."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "edge", derandomize=True, max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("edge")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
