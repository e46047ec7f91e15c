import os

import numpy as np
import pytest

import numgrad


@pytest.fixture(autouse=True)
def _seed():
    numgrad.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(params=["eager", "fused"])
def fusion_mode(request, monkeypatch):
    """Each op run on its own, or every chain, however small, recorded
    and fused."""
    from numgrad.fusion import recorder
    was = numgrad.fusion.is_enabled()
    monkeypatch.setattr(recorder, "MIN_ELEMENTS", 0)
    numgrad.fusion.set_enabled(request.param == "fused")
    yield request.param
    numgrad.fusion.set_enabled(was)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")
