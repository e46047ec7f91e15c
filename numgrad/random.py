"""The global generator behind rand, randn, randint, dropout and init."""
import numpy as np

_state = [np.random.default_rng(0)]
_seed = [0]


def manual_seed(seed):
    _seed[0] = int(seed)
    _state[0] = np.random.default_rng(int(seed))
    return _state[0]


def seed():
    s = int(np.random.SeedSequence().entropy % (2 ** 63))
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
