"""Samplers, as ``torch.utils.data.sampler``: iterables over dataset
indices.

Random samplers draw lazily, a chunk or one pass's permutation at a
time, so memory does not grow with ``num_samples``
(``RandomSampler(data, True, num_samples=10**10)`` holds a few KiB)."""
import itertools
from typing import Generic, TypeVar

import numpy as np

from ... import random as _random
from ...tensor import Tensor

__all__ = ["BatchSampler", "RandomSampler", "Sampler", "SequentialSampler",
           "SubsetRandomSampler", "WeightedRandomSampler"]

_T_co = TypeVar("_T_co", covariant=True)

# Indices drawn per NumPy call: large enough to amortise the call, small
# enough that a sampler's memory stays constant (PyTorch draws 32).
_CHUNK = 1024


def _stream(generator):
    """The NumPy stream a random sampler draws from.  Without a generator,
    as in PyTorch, a private stream seeded once from the global generator
    when iteration starts, so other draws during an epoch (dropout, say)
    leave the order alone."""
    if generator is None:
        seed = int(_random.generator().integers(2 ** 63))
        return np.random.default_rng(seed)
    return _random.generator(generator)


def _ints(array):
    """An index array's entries as Python ints, converted a chunk at a
    time (a list of Python ints costs several times the array)."""
    return itertools.chain.from_iterable(
        array[start:start + _CHUNK].tolist()
        for start in range(0, len(array), _CHUNK))


def _drawn_in_chunks(draw, count):
    """``count`` indices from ``draw(size)``, called lazily for ``_CHUNK``
    at a time."""
    full, rest = divmod(count, _CHUNK)
    sizes = itertools.chain(itertools.repeat(_CHUNK, full),
                            [rest] if rest else [])
    return itertools.chain.from_iterable(draw(size).tolist()
                                         for size in sizes)


def _check_positive_int(name, value):
    if (not isinstance(value, int) or isinstance(value, bool)
            or value <= 0):
        raise ValueError(f"{name} should be a positive integer value, but "
                         f"got {name}={value}")


class Sampler(Generic[_T_co]):
    """Base class of samplers: iterables over dataset indices.  Generic,
    so ``Sampler[int]`` reads as in PyTorch."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler[int]):
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """A fresh random order per pass, or ``num_samples`` draws with
    replacement.  Without replacement and ``num_samples`` above the
    dataset's length, whole permutations follow one another and the last
    is cut short."""

    def __init__(self, data_source, replacement=False, num_samples=None,
                 generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.replacement, bool):
            raise TypeError("replacement should be a boolean value, but got "
                            f"replacement={self.replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError("num_samples should be a positive integer value, "
                             f"but got num_samples={self.num_samples}")

    @property
    def num_samples(self):
        # The dataset's length is read each time: it may change.
        if self._num_samples is None:
            return len(self.data_source)
        return self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        rng = _stream(self.generator)
        if self.replacement:
            if n == 0:
                raise RuntimeError("random_ expects 'from' to be less than "
                                   "'to', but got from=0 >= to=0")
            yield from _drawn_in_chunks(lambda size: rng.integers(0, n, size),
                                        self.num_samples)
            return
        passes, rest = divmod(self.num_samples, n)
        for _ in range(passes):
            yield from _ints(rng.permutation(n))
        if rest:
            # A permutation's head: NumPy draws only the ``rest`` it needs
            # when that is a small part of ``n``.
            yield from _ints(rng.choice(n, rest, replace=False))

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given indices, in random order."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        rng = _random.generator(self.generator)
        for i in _ints(rng.permutation(len(self.indices))):
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


def _check_distribution(weights, num_samples, replacement):
    # PyTorch's multinomial checks, in its order and words.
    if not replacement and num_samples > len(weights):
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) "
                           "samples without replacement")
    if not (weights >= 0).all():  # NaN fails this too, as in PyTorch
        raise RuntimeError("invalid multinomial distribution (encountering "
                           "probability entry < 0)")
    if np.isinf(weights).any():
        raise RuntimeError("invalid multinomial distribution (encountering "
                           "probability entry = infinity or NaN)")
    if not weights.sum() > 0:
        raise RuntimeError("invalid multinomial distribution (sum of "
                           "probabilities <= 0)")


class WeightedRandomSampler(Sampler[int]):
    """``num_samples`` indices drawn with probabilities proportional to
    ``weights``.  With replacement they are drawn lazily, a chunk at a
    time; without, ``num_samples`` is at most ``len(weights)``."""

    def __init__(self, weights, num_samples, replacement=True,
                 generator=None):
        _check_positive_int("num_samples", num_samples)
        if not isinstance(replacement, bool):
            raise ValueError("replacement should be a boolean value, but got "
                             f"replacement={replacement}")
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 1:
            raise ValueError("weights should be a 1d sequence but given "
                             f"weights have shape {tuple(weights.shape)}")
        self.weights = Tensor._make(weights)
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self):
        weights = self.weights.numpy()
        _check_distribution(weights, self.num_samples, self.replacement)
        rng = _stream(self.generator)
        if self.replacement:
            yield from _drawn_in_chunks(_inverse_cdf(weights, rng),
                                        self.num_samples)
            return
        # Efraimidis-Spirakis: the largest weight / Exp(1) keys are a
        # weighted sample without replacement.  Zero weights key 0 and
        # come last, so (as in PyTorch) they fill any places left.
        keys = weights / rng.standard_exponential(len(weights))
        order = np.argsort(-keys, kind="stable")
        yield from _ints(order[:self.num_samples])

    def __len__(self):
        return self.num_samples


def _inverse_cdf(weights, rng):
    """``draw(size)``: indices at uniform points of the cumulative
    weights, which is how NumPy's ``choice(p=...)`` draws, without
    rebuilding the cumulative sum for each chunk."""
    cumulative = np.cumsum(weights)
    # A uniform draw times the total can round up to the total itself.
    last = int(np.flatnonzero(weights)[-1])

    def draw(size):
        points = rng.random(size) * cumulative[-1]
        found = np.searchsorted(cumulative, points, side="right")
        return np.minimum(found, last)
    return draw


class BatchSampler(Sampler[list]):
    """Groups another sampler's indices into lists of ``batch_size``."""

    def __init__(self, sampler, batch_size, drop_last):
        _check_positive_int("batch_size", batch_size)
        if not isinstance(drop_last, bool):
            raise ValueError("drop_last should be a boolean value, but got "
                             f"drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        sampler_iter = iter(self.sampler)
        if self.drop_last:
            # One iterator zipped with itself takes batch_size at a time.
            args = [sampler_iter] * self.batch_size
            for batch in zip(*args):
                yield [*batch]
        else:
            batch = [*itertools.islice(sampler_iter, self.batch_size)]
            while batch:
                yield batch
                batch = [*itertools.islice(sampler_iter, self.batch_size)]

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size
