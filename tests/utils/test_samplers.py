"""Samplers: lazy draws (memory stays small however many samples are
asked for), one permutation per pass, seeded determinism shared with
randperm and random_split, and PyTorch's lengths and errors."""
import itertools
import tracemalloc

import numpy as np
import pytest

import numgrad
from numgrad.utils.data import (BatchSampler, DataLoader, RandomSampler,
                                SubsetRandomSampler, TensorDataset,
                                WeightedRandomSampler, random_split)

HUGE = 10 ** 10  # as indices, 80 GB: drawn up front it could not fit


def _peak_bytes(run):
    """Peak memory traced while ``run()`` executes; NumPy reports its
    array buffers to tracemalloc."""
    tracemalloc.start()
    try:
        result = run()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def _head(sampler, count=100):
    return list(itertools.islice(iter(sampler), count))


def _seeded(seed=0):
    return numgrad.Generator().manual_seed(seed)


# ---- laziness ---------------------------------------------------------------

def test_random_sampler_with_replacement_draws_lazily():
    sampler = RandomSampler(range(1000), replacement=True, num_samples=HUGE)
    assert len(sampler) == HUGE
    peak, head = _peak_bytes(lambda: _head(sampler))
    assert len(head) == 100 and all(0 <= i < 1000 for i in head)
    assert peak < 1 << 20


def test_random_sampler_without_replacement_holds_one_pass():
    sampler = RandomSampler(range(1000), num_samples=HUGE)
    peak, head = _peak_bytes(lambda: _head(sampler, 2500))
    assert sorted(head[:1000]) == list(range(1000))
    assert sorted(head[1000:2000]) == list(range(1000))
    assert peak < 1 << 20


def test_short_last_pass_of_a_large_dataset_stays_small():
    sampler = RandomSampler(range(10 ** 9), num_samples=100)
    peak, drawn = _peak_bytes(lambda: list(sampler))
    assert len(set(drawn)) == 100 and all(0 <= i < 10 ** 9 for i in drawn)
    assert peak < 1 << 20


def test_weighted_sampler_with_replacement_draws_lazily():
    sampler = WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], HUGE)
    peak, head = _peak_bytes(lambda: _head(sampler, 2000))
    assert set(head) == {1, 3}
    assert 0.6 < head.count(3) / len(head) < 0.9
    assert peak < 1 << 20


# ---- passes and lengths -----------------------------------------------------

def test_num_samples_above_length_gives_whole_permutations(torch):
    from torch.utils.data import RandomSampler as TorchRandomSampler
    ours = RandomSampler(range(5), num_samples=12)
    theirs = TorchRandomSampler(range(5), num_samples=12)
    drawn = list(ours)
    assert len(ours) == len(theirs) == len(drawn) == 12
    assert sorted(drawn[:5]) == sorted(drawn[5:10]) == list(range(5))
    assert len(set(drawn[10:])) == 2


@pytest.mark.parametrize("kwargs", [
    {}, {"replacement": True}, {"num_samples": 7},
    {"replacement": True, "num_samples": 3000},
])
def test_random_sampler_lengths_as_torch(torch, kwargs):
    from torch.utils.data import RandomSampler as TorchRandomSampler
    ours = RandomSampler(range(9), **kwargs)
    assert len(ours) == len(TorchRandomSampler(range(9), **kwargs))
    assert len(list(ours)) == len(ours)


def test_weighted_without_replacement_fills_with_zero_weights(torch):
    # PyTorch's multinomial takes zero-weight entries last rather than
    # refusing, once the others run out.
    drawn = list(WeightedRandomSampler([1.0, 0.0, 1.0], 3,
                                       replacement=False))
    assert sorted(drawn[:2]) == [0, 2] and drawn[2] == 1
    counts = np.bincount([i for _ in range(300) for i in
                          WeightedRandomSampler([1.0, 9.0], 1, False)])
    assert counts[1] > counts[0]


# ---- determinism ------------------------------------------------------------

def test_one_seed_one_order_everywhere():
    n = 17
    expected = numgrad.randperm(n, generator=_seeded(3)).tolist()
    assert list(RandomSampler(range(n), generator=_seeded(3))) == expected
    assert list(SubsetRandomSampler(range(n),
                                    generator=_seeded(3))) == expected
    assert random_split(range(n), [n], generator=_seeded(3))[0].indices \
        == expected
    loader = DataLoader(TensorDataset(numgrad.arange(n)), batch_size=5,
                        shuffle=True, generator=_seeded(3))
    assert [i for (b,) in loader for i in b.tolist()] == expected


@pytest.mark.parametrize("make", [
    lambda g: RandomSampler(range(50), generator=g),
    lambda g: RandomSampler(range(50), True, 3000, generator=g),
    lambda g: SubsetRandomSampler(list(range(0, 100, 2)), generator=g),
    lambda g: WeightedRandomSampler(np.arange(1.0, 51.0), 3000,
                                    generator=g),
    lambda g: WeightedRandomSampler(np.arange(1.0, 51.0), 20, False,
                                    generator=g),
    lambda g: BatchSampler(RandomSampler(range(50), generator=g), 8, False),
])
def test_seeded_samplers_repeat(make):
    assert list(make(_seeded(5))) == list(make(_seeded(5)))
    assert list(make(_seeded(5))) != list(make(_seeded(6)))


def test_global_seed_repeats_and_a_pass_ignores_other_draws():
    numgrad.manual_seed(2)
    expected = list(RandomSampler(range(40), replacement=True,
                                  num_samples=3000))
    numgrad.manual_seed(2)
    it = iter(RandomSampler(range(40), replacement=True, num_samples=3000))
    first = list(itertools.islice(it, 1500))
    numgrad.rand(5000)  # dropout or init between batches, say
    assert first + list(it) == expected


def test_random_split_default_is_the_global_generator():
    numgrad.manual_seed(9)
    first = random_split(range(20), [5, 15])[0].indices
    numgrad.manual_seed(9)
    assert random_split(range(20), [5, 15])[0].indices == first


# ---- errors, against PyTorch -----------------------------------------------

def _raises_like(ours, theirs):
    with pytest.raises(Exception) as expected:
        theirs()
    with pytest.raises(expected.type) as got:
        ours()
    assert str(got.value) == str(expected.value)


CONSTRUCTION_ERRORS = [
    lambda d: d.RandomSampler(range(3), num_samples=0),
    lambda d: d.RandomSampler(range(3), num_samples=-1),
    lambda d: d.RandomSampler(range(3), num_samples=1.5),
    lambda d: d.RandomSampler(range(0)),
    lambda d: d.RandomSampler(range(3), replacement=1),
    lambda d: d.RandomSampler(range(3), replacement=None),
    lambda d: d.WeightedRandomSampler([1.0, 2.0], 0),
    lambda d: d.WeightedRandomSampler([1.0, 2.0], True),
    lambda d: d.WeightedRandomSampler([1.0, 2.0], "a"),
    lambda d: d.WeightedRandomSampler([1.0, 2.0], 2, replacement=1),
    lambda d: d.WeightedRandomSampler([[1.0, 2.0]], 2),
    lambda d: d.BatchSampler(range(3), 0, False),
    lambda d: d.BatchSampler(range(3), 1.5, False),
    lambda d: d.BatchSampler(range(3), True, False),
    lambda d: d.BatchSampler(range(3), 2, None),
    lambda d: d.random_split(range(4), [3, 3]),
    lambda d: d.random_split(range(4), [1.5, -0.5]),
]

ITERATION_ERRORS = [
    lambda d: d.RandomSampler(range(0), num_samples=3, replacement=True),
    lambda d: d.RandomSampler(range(0), num_samples=3),
    lambda d: d.WeightedRandomSampler([1.0, -1.0, 2.0], 2),
    lambda d: d.WeightedRandomSampler([0.0, 0.0], 2),
    lambda d: d.WeightedRandomSampler([1.0, float("inf")], 2),
    lambda d: d.WeightedRandomSampler([1.0, float("nan")], 2),
    lambda d: d.WeightedRandomSampler([], 2),
    lambda d: d.WeightedRandomSampler([1.0, 1.0], 3, replacement=False),
    lambda d: d.WeightedRandomSampler([], 1, replacement=False),
]


@pytest.mark.parametrize("make", CONSTRUCTION_ERRORS)
def test_argument_errors_as_torch(torch, make):
    import torch.utils.data as torch_data
    _raises_like(lambda: make(numgrad.utils.data),
                 lambda: make(torch_data))


@pytest.mark.parametrize("make", ITERATION_ERRORS)
def test_iteration_errors_as_torch(torch, make):
    import torch.utils.data as torch_data
    ours, theirs = make(numgrad.utils.data), make(torch_data)
    _raises_like(lambda: list(ours), lambda: list(theirs))


def test_wrong_generator_type(torch):
    with pytest.raises(TypeError, match="numgrad.Generator"):
        list(RandomSampler(range(3), generator=5))
    with pytest.raises(TypeError):
        list(torch.utils.data.RandomSampler(range(3), generator=5))
