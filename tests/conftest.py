import os

import numpy as np
import pytest

import numgrad


@pytest.fixture(autouse=True)
def _seed():
    numgrad.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")
