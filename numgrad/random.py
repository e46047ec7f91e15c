"""Generators: ``Generator``, the global ``default_generator``, and the
seeding functions that act on it (``manual_seed``, ``seed``, ...).

A Generator draws from a NumPy PCG64 stream, so numbers differ from
PyTorch's but one seed always gives the same numbers."""
import operator
import os

import numpy as np

from .backends import resolve
from .tensor import Tensor

__all__ = ["Generator", "default_generator", "manual_seed", "seed",
           "initial_seed", "get_rng_state", "set_rng_state", "generator"]

_SEED_RANGE = (-2 ** 63, 2 ** 64)  # what PyTorch's manual_seed accepts
_STATE_BYTES = 45  # seed 8, PCG64 state 16, inc 16, has_uint32 1, uint 4


def _entropy_seed():
    # As PyTorch's default generator: each process starts from its own
    # 64-bit seed, so unseeded programs differ from run to run; one
    # urandom read keeps ``import numgrad`` fast.
    return int.from_bytes(os.urandom(8), "little")


class Generator:
    """A source of random numbers, as ``torch.Generator``: pass it as
    ``generator=`` to random factories, samplers and ``random_split``.

    Numbers are drawn on the host whatever the device, so one seed gives
    the same values on the CPU and the GPU; ``device`` records where the
    generator is meant to be used."""

    def __init__(self, device="cpu"):
        self._device_spec = device
        resolve(device)  # refuse unknown devices now
        self._seed = _entropy_seed()
        self._rng = np.random.default_rng(self._seed)

    @property
    def device(self):
        return resolve(self._device_spec)

    def manual_seed(self, seed):
        """Seeds the generator and returns it, as PyTorch does."""
        if isinstance(seed, bool) or not hasattr(seed, "__index__"):
            raise RuntimeError("manual_seed expected a long, but got "
                               f"{type(seed).__name__}")
        seed = operator.index(seed)
        if not _SEED_RANGE[0] <= seed < _SEED_RANGE[1]:
            raise ValueError("Overflow when unpacking long long")
        # Negative seeds wrap to 64 bits, as in PyTorch's initial_seed().
        self._seed = seed % 2 ** 64
        # Reseeded in place: whoever holds the NumPy generator (from
        # ``generator()``) sees the new stream.
        self._rng.bit_generator.state = np.random.PCG64(self._seed).state
        return self

    def seed(self):
        """Reseeds from the OS's entropy and returns the new seed."""
        new_seed = _entropy_seed()
        self.manual_seed(new_seed)
        return new_seed

    def initial_seed(self):
        return self._seed

    def get_state(self):
        """The generator's state as a uint8 tensor (numgrad's own
        layout, not PyTorch's), for ``set_state`` on any Generator."""
        bits = self._rng.bit_generator.state
        raw = (self._seed.to_bytes(8, "little")
               + bits["state"]["state"].to_bytes(16, "little")
               + bits["state"]["inc"].to_bytes(16, "little")
               + bytes([bits["has_uint32"]])
               + bits["uinteger"].to_bytes(4, "little"))
        return Tensor._make(np.frombuffer(raw, np.uint8).copy())

    def set_state(self, new_state):
        """Restores a state from ``get_state``; returns the generator."""
        raw = _state_bytes(new_state)
        bits = {"bit_generator": "PCG64",
                "state": {"state": int.from_bytes(raw[8:24], "little"),
                          "inc": int.from_bytes(raw[24:40], "little")},
                "has_uint32": raw[40],
                "uinteger": int.from_bytes(raw[41:45], "little")}
        self._rng.bit_generator.state = bits
        self._seed = int.from_bytes(raw[:8], "little")
        return self

    def clone_state(self):
        """A new Generator on the same device, in the same state."""
        twin = Generator(self._device_spec)
        return twin.set_state(self.get_state())


def _state_bytes(new_state):
    if not hasattr(new_state, "__array__"):
        raise TypeError("expected a uint8 Tensor, but got "
                        f"{type(new_state).__name__}")
    array = np.asarray(new_state)
    if array.dtype != np.uint8:
        raise TypeError("RNG state must be a uint8 Tensor")
    if array.size != _STATE_BYTES:
        raise RuntimeError(
            f"Expected a Generator state of size {_STATE_BYTES} but found "
            f"the input RNG state size to be {array.size}")
    raw = array.reshape(-1).tobytes()
    if raw[40] > 1:
        raise RuntimeError("Invalid Generator state: not one produced by "
                           "Generator.get_state")
    return raw


default_generator = Generator()


def generator(source=None):
    """The NumPy generator that draws for ``source``: numgrad's global
    generator when None, a ``Generator``'s stream, or a
    ``numpy.random.Generator`` used as it is."""
    if source is None:
        return default_generator._rng
    if isinstance(source, Generator):
        return source._rng
    if isinstance(source, np.random.Generator):
        return source
    raise TypeError("generator must be a numgrad.Generator (or a "
                    "numpy.random.Generator), but got "
                    f"{type(source).__name__}")


def manual_seed(seed):
    """Seeds the global generator; returns it (``default_generator``)."""
    return default_generator.manual_seed(int(seed))


def seed():
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(new_state):
    default_generator.set_state(new_state)
