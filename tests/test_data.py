"""numgrad.utils.data: datasets, samplers, collation and DataLoader (its
layout, laziness and errors against PyTorch: tests/utils/)."""
import collections

import numpy as np
import pytest

import numgrad
from numgrad.utils.data import (BatchSampler, ConcatDataset, DataLoader,
                                Dataset, IterableDataset, RandomSampler,
                                SequentialSampler, Subset,
                                SubsetRandomSampler, TensorDataset,
                                WeightedRandomSampler, default_collate,
                                default_convert, random_split)


def _xy(n=10):
    x = numgrad.tensor(np.arange(n * 3, dtype=np.float32).reshape(n, 3))
    y = numgrad.tensor(np.arange(n))
    return x, y


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.array([i, i * i], dtype=np.float32), i

    def __len__(self):
        return self.n


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


# ---- datasets ---------------------------------------------------------------

def test_tensor_dataset():
    x, y = _xy()
    ds = TensorDataset(x, y)
    assert len(ds) == 10
    xi, yi = ds[4]
    np.testing.assert_array_equal(xi.numpy(), [12, 13, 14])
    assert yi.item() == 4
    with pytest.raises(AssertionError, match="Size mismatch"):
        TensorDataset(x, numgrad.tensor(np.arange(3)))


def test_subset_concat_and_add():
    ds = Squares(5)
    sub = Subset(ds, [4, 0, 2])
    assert len(sub) == 3
    assert sub[0][1] == 4 and sub[2][1] == 2
    cat = ds + Squares(3)
    assert isinstance(cat, ConcatDataset)
    assert len(cat) == 8
    assert cat[5][1] == 0 and cat[7][1] == 2 and cat[-1][1] == 2
    with pytest.raises(ValueError, match="exceed dataset length"):
        cat[-9]


def test_random_split_lengths_and_fractions():
    numgrad.manual_seed(0)
    ds = Squares(10)
    a, b = random_split(ds, [3, 7])
    assert (len(a), len(b)) == (3, 7)
    assert sorted(a.indices + b.indices) == list(range(10))

    parts = random_split(range(30), [0.3, 0.3, 0.4])
    assert [len(p) for p in parts] == [9, 9, 12]
    parts = random_split(range(11), [0.5, 0.5])
    assert [len(p) for p in parts] == [6, 5]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [3, 3])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(range(2), [1.0, 0.0])


def test_random_split_reproducible():
    first = random_split(range(20), [10, 10],
                         generator=numgrad.Generator().manual_seed(7))
    second = random_split(range(20), [10, 10],
                          generator=numgrad.Generator().manual_seed(7))
    assert first[0].indices == second[0].indices
    # NumPy generators are still taken as they are.
    numpy_split = random_split(range(20), [10, 10],
                               generator=np.random.default_rng(7))
    assert numpy_split[0].indices == random_split(
        range(20), [10, 10], generator=np.random.default_rng(7))[0].indices
    numgrad.manual_seed(3)
    a = random_split(range(20), [5, 15])[0].indices
    numgrad.manual_seed(3)
    assert random_split(range(20), [5, 15])[0].indices == a


# ---- samplers ---------------------------------------------------------------

def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    numgrad.manual_seed(0)
    order = list(RandomSampler(range(6)))
    assert sorted(order) == list(range(6))
    numgrad.manual_seed(0)
    assert list(RandomSampler(range(6))) == order
    seeded = list(RandomSampler(range(6),
                                generator=numgrad.Generator().manual_seed(0)))
    assert seeded == numgrad.randperm(
        6, generator=numgrad.Generator().manual_seed(0)).tolist()

    with_replacement = list(RandomSampler(range(3), replacement=True,
                                          num_samples=20))
    assert len(with_replacement) == 20
    assert set(with_replacement) <= {0, 1, 2}
    longer = list(RandomSampler(range(4), num_samples=10))
    assert len(longer) == 10 and sorted(longer[:4]) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="num_samples should be a positive"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(range(3), replacement=1)

    assert sorted(SubsetRandomSampler([5, 7, 9])) == [5, 7, 9]
    weighted = list(WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 50))
    assert len(weighted) == 50 and set(weighted) <= {1, 3}
    assert sorted(WeightedRandomSampler([1, 1, 1], 3,
                                        replacement=False)) == [0, 1, 2]

    assert list(BatchSampler(range(7), 3, False)) == [[0, 1, 2], [3, 4, 5],
                                                      [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3
    assert len(BatchSampler(range(7), 3, True)) == 2
    with pytest.raises(ValueError, match="batch_size should be a positive"):
        BatchSampler(range(7), 0, False)


# ---- collation --------------------------------------------------------------

def test_default_collate_types():
    out = default_collate([1.5, 2.5])
    assert out.dtype == numgrad.float64 and out.tolist() == [1.5, 2.5]
    out = default_collate([1, 2])
    assert out.dtype == numgrad.int64
    assert default_collate([True, False]).dtype == numgrad.bool
    assert default_collate(["a", "b"]) == ["a", "b"]
    out = default_collate([np.float32(1), np.float32(2)])
    assert out.dtype == numgrad.float32

    arrays = [np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)]
    out = default_collate(arrays)
    assert out.shape == (2, 2, 3) and out.dtype == numgrad.float32

    batch = default_collate([(np.ones(2), 1, "x"), (np.zeros(2), 2, "y")])
    assert isinstance(batch, list) and len(batch) == 3
    assert batch[0].shape == (2, 2) and batch[1].tolist() == [1, 2]
    assert batch[2] == ("x", "y")  # as in PyTorch: the zipped tuple

    batch = default_collate([{"a": 1.0, "b": [1, 2]},
                             {"a": 2.0, "b": [3, 4]}])
    assert batch["a"].tolist() == [1.0, 2.0]
    assert [t.tolist() for t in batch["b"]] == [[1, 3], [2, 4]]

    Point = collections.namedtuple("Point", "x y")
    batch = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(batch, Point)
    assert batch.x.tolist() == [1, 3] and batch.y.tolist() == [2.0, 4.0]

    tensors = [numgrad.tensor([1.0, 2.0]), numgrad.tensor([3.0, 4.0])]
    out = default_collate(tensors)
    assert isinstance(out, numgrad.Tensor)
    assert out.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="stack expects each tensor to be "
                       "equal size"):
        default_collate([numgrad.ones(2), numgrad.ones(3)])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="default_collate: batch must "
                       "contain"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate: batch must "
                       "contain"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_default_collate_matches_torch(torch):
    from torch.utils.data import default_collate as t_collate
    samples = [(np.full((2, 2), i, np.float32), i, float(i) / 2,
                {"k": np.int32(i)}) for i in range(4)]
    ours = default_collate(samples)
    theirs = t_collate(samples)
    assert len(ours) == len(theirs)
    for a, b in zip(ours[:3], theirs[:3]):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert a.dtype.name == str(b.dtype).split(".")[-1]
    np.testing.assert_array_equal(ours[3]["k"].numpy(),
                                  theirs[3]["k"].numpy())


def test_collate_keeps_autograd():
    w = numgrad.tensor(np.ones(3), requires_grad=True)
    batch = default_collate([w * 2, w * 3])
    assert batch.requires_grad
    batch.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.full(3, 5.0))


def test_default_convert():
    out = default_convert((np.ones(2), [np.float64(3.0)], "s"))
    assert isinstance(out, list)
    assert isinstance(out[0], numgrad.Tensor)
    assert isinstance(out[1][0], numgrad.Tensor)
    assert out[2] == "s"


# ---- DataLoader -------------------------------------------------------------

def test_dataloader_batching():
    x, y = _xy(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert [b[0].shape for b in batches] == [(4, 3), (4, 3), (2, 3)]
    assert batches[2][1].tolist() == [8, 9]
    assert batches[0][0].dtype == numgrad.float32
    assert batches[0][1].dtype == numgrad.int64
    np.testing.assert_array_equal(batches[1][0].numpy(), x.numpy()[4:8])


def test_dataloader_drop_last():
    x, y = _xy(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True)
    batches = list(loader)
    assert len(loader) == 2 and len(batches) == 2
    assert all(b[0].shape == (4, 3) for b in batches)


def test_dataloader_shuffle():
    x, y = _xy(50)
    ds = TensorDataset(x, y)
    numgrad.manual_seed(0)
    loader = DataLoader(ds, batch_size=8, shuffle=True)
    epoch1 = np.concatenate([b[1].numpy() for b in loader])
    epoch2 = np.concatenate([b[1].numpy() for b in loader])
    assert sorted(epoch1.tolist()) == list(range(50))
    assert sorted(epoch2.tolist()) == list(range(50))
    assert epoch1.tolist() != list(range(50))
    assert epoch1.tolist() != epoch2.tolist()
    # Samples stay paired with their labels.
    for xb, yb in loader:
        np.testing.assert_array_equal(xb.numpy(), x.numpy()[yb.numpy()])

    # numgrad.manual_seed makes shuffling reproducible.
    numgrad.manual_seed(0)
    again = np.concatenate([b[1].numpy() for b in loader])
    assert again.tolist() == epoch1.tolist()
    # So does an explicit generator.
    runs = [np.concatenate([b[1].numpy() for b in DataLoader(
        ds, batch_size=8, shuffle=True,
        generator=numgrad.Generator().manual_seed(5))]) for _ in range(2)]
    assert runs[0].tolist() == runs[1].tolist()


def test_dataloader_shuffle_drop_last_lengths():
    x, y = _xy(23)
    loader = DataLoader(TensorDataset(x, y), batch_size=5, shuffle=True,
                        drop_last=True)
    seen = [b[1].numpy() for b in loader]
    assert len(seen) == len(loader) == 4
    assert len(set(np.concatenate(seen).tolist())) == 20


def test_fast_tensor_dataset_path_matches_collate():
    x, y = _xy(12)
    ds = TensorDataset(x, y)
    sub = Subset(ds, [11, 3, 5, 7, 0])
    for dataset in (ds, sub):
        fast = list(DataLoader(dataset, batch_size=4))
        slow = list(DataLoader(dataset, batch_size=4,
                               collate_fn=lambda b: default_collate(b)))
        assert len(fast) == len(slow)
        for fb, sb in zip(fast, slow):
            assert isinstance(fb, list) and isinstance(sb, list)
            for f, s in zip(fb, sb):
                assert f.dtype == s.dtype and f.shape == s.shape
                np.testing.assert_array_equal(f.numpy(), s.numpy())
    # Batches own their data.
    batch = next(iter(DataLoader(ds, batch_size=2)))
    batch[0].numpy()[...] = -1
    assert x.numpy().min() == 0


def test_tensor_dataset_with_grad_tensors():
    w = numgrad.tensor(np.ones((4, 2)), requires_grad=True)
    batches = list(DataLoader(TensorDataset(w * 2), batch_size=3))
    assert batches[0][0].requires_grad
    sum(b[0].sum() for b in batches).backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.full((4, 2), 2.0))


def test_dataloader_map_dataset_and_batch_size_none():
    loader = DataLoader(Squares(5), batch_size=2)
    batches = list(loader)
    assert len(batches) == 3
    assert batches[0][0].shape == (2, 2)
    assert batches[0][1].tolist() == [0, 1]
    assert batches[2][0].tolist() == [[4.0, 16.0]]

    unbatched = list(DataLoader(Squares(3), batch_size=None))
    assert len(unbatched) == 3
    assert isinstance(unbatched[1][0], numgrad.Tensor)
    assert unbatched[1][0].tolist() == [1.0, 1.0]
    assert unbatched[2][1] == 2


def test_dataloader_samplers_and_custom_collate():
    ds = Squares(10)
    loader = DataLoader(ds, batch_size=3, sampler=[9, 8, 7, 1])
    assert [b[1].tolist() for b in loader] == [[9, 8, 7], [1]]
    loader = DataLoader(ds, batch_sampler=[[0, 2], [4, 6, 8]])
    assert [b[1].tolist() for b in loader] == [[0, 2], [4, 6, 8]]
    assert len(loader) == 2
    loader = DataLoader(ds, batch_size=4, collate_fn=lambda b: len(b))
    assert list(loader) == [4, 4, 2]

    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually "
                       "exclusive"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0]])
    with pytest.raises(ValueError, match="batch_size=None option disables"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="num_workers option should be "
                       "non-negative"):
        DataLoader(ds, num_workers=-1)


def test_dataloader_iterable_dataset():
    loader = DataLoader(Stream(10), batch_size=4)
    assert [b.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7],
                                            [8, 9]]
    assert len(loader) == 3
    loader = DataLoader(Stream(10), batch_size=4, drop_last=True)
    assert [b.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(loader) == 2
    with pytest.raises(ValueError, match="expected unspecified shuffle"):
        DataLoader(Stream(3), shuffle=True)


def test_dataloader_dicts_of_arrays():
    class Records(Dataset):
        def __getitem__(self, i):
            return {"image": np.full((2, 2), i, np.float32), "label": i}

        def __len__(self):
            return 5

    batch = next(iter(DataLoader(Records(), batch_size=5)))
    assert batch["image"].shape == (5, 2, 2)
    assert batch["label"].dtype == numgrad.int64
    assert batch["label"].tolist() == [0, 1, 2, 3, 4]


def test_dataloader_iterator_protocol():
    x, y = _xy(6)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    it = iter(loader)
    assert len(it) == 2
    first = next(it)
    assert first[1].tolist() == [0, 1, 2, 3]
    assert next(it)[1].tolist() == [4, 5]
    with pytest.raises(StopIteration):
        next(it)


def test_dataloader_matches_torch_batches(torch):
    from torch.utils.data import DataLoader as TDataLoader
    ds = Squares(11)
    ours = list(DataLoader(ds, batch_size=4))
    theirs = list(TDataLoader(ds, batch_size=4))
    assert len(ours) == len(theirs)
    for (a0, a1), (b0, b1) in zip(ours, theirs):
        np.testing.assert_array_equal(a0.numpy(), b0.numpy())
        np.testing.assert_array_equal(a1.numpy(), b1.numpy())
        assert a1.dtype.name == str(b1.dtype).split(".")[-1]
