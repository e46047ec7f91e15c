"""The global generator behind rand, randn, randint, dropout and init."""
import os

import numpy as np


def _entropy_seed():
    # As PyTorch's default generator: each process starts from its own
    # 64-bit seed, so unseeded programs differ from run to run; one
    # urandom read keeps ``import numgrad`` fast.
    return int.from_bytes(os.urandom(8), "little")


_seed = [_entropy_seed()]
_state = [np.random.default_rng(_seed[0])]


def manual_seed(seed):
    _seed[0] = int(seed)
    _state[0] = np.random.default_rng(int(seed))
    return _state[0]


def seed():
    s = _entropy_seed()
    manual_seed(s)
    return s


def initial_seed():
    return _seed[0]


def generator():
    return _state[0]


def get_rng_state():
    return _state[0].bit_generator.state


def set_rng_state(state):
    _state[0].bit_generator.state = state
