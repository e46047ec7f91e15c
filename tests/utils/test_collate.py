"""collate and default_collate_fn_map, extended as PyTorch's documentation
shows, and the DataLoader's direct gather for TensorDataset giving way
wherever it could differ from collating sample by sample."""
import numpy as np
import pytest

import numgrad
from numgrad.utils.data import DataLoader, Subset, TensorDataset
from numgrad.utils.data._utils.collate import (collate, default_collate,
                                               default_collate_fn_map)


class Point:
    def __init__(self, x):
        self.x = x


def _collate_points(batch, *, collate_fn_map=None):
    return [p.x for p in batch]


@pytest.fixture
def points_in_default_map():
    default_collate_fn_map[Point] = _collate_points
    yield
    del default_collate_fn_map[Point]


def test_custom_map_through_collate(torch):
    from torch.utils.data._utils.collate import collate as torch_collate
    batch = [(Point(1), 2.0), (Point(3), 4.0)]
    ours = collate(batch, collate_fn_map={Point: _collate_points,
                                          float: lambda b, **_: sum(b)})
    theirs = torch_collate(batch, collate_fn_map={
        Point: _collate_points, float: lambda b, **_: sum(b)})
    assert ours == theirs == [[1, 3], 6.0]
    with pytest.raises(TypeError, match="default_collate: batch must"):
        collate([Point(1)], collate_fn_map=None)


def test_extending_default_collate(points_in_default_map):
    batch = default_collate([{"p": Point(1), "y": 1},
                             {"p": Point(2), "y": 5}])
    assert batch["p"] == [1, 2] and batch["y"].tolist() == [1, 5]


def test_collate_int_fn_keeps_bools_and_floats(torch):
    from torch.utils.data import default_collate as torch_default
    for batch in ([True, False], [1, 2], [1, 2.5]):
        ours, theirs = default_collate(batch), torch_default(batch)
        assert ours.dtype.name == str(theirs.dtype).split(".")[-1]
        assert ours.tolist() == theirs.tolist()


def test_customised_tensor_collation_reaches_tensor_datasets():
    calls = []

    def count_and_stack(batch, *, collate_fn_map=None):
        calls.append(len(batch))
        return numgrad.stack(batch)

    ds = TensorDataset(numgrad.arange(6))
    was = default_collate_fn_map[numgrad.Tensor]
    default_collate_fn_map[numgrad.Tensor] = count_and_stack
    try:
        batches = [b.tolist() for (b,) in DataLoader(ds, batch_size=4)]
    finally:
        default_collate_fn_map[numgrad.Tensor] = was
    assert batches == [[0, 1, 2, 3], [4, 5]] and calls == [4, 2]


def test_subclass_indexing_is_honoured():
    class Doubled(TensorDataset):
        def __getitem__(self, index):
            return tuple(t[index] * 2 for t in self.tensors)

    ds = Doubled(numgrad.arange(5))
    assert [b.tolist() for (b,) in DataLoader(ds, batch_size=3)] == \
        [[0, 2, 4], [6, 8]]
    sub = Subset(ds, [4, 0])
    assert [b.tolist() for (b,) in DataLoader(sub, batch_size=2)] == [[8, 0]]


def test_direct_gather_of_nested_subsets_and_arrays():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    ds = TensorDataset(x, numgrad.arange(10))
    nested = Subset(Subset(ds, [9, 7, 5, 3, 1]), [4, 0, 2])
    xb, yb = next(iter(DataLoader(nested, batch_size=3)))
    assert yb.tolist() == [1, 9, 5]
    np.testing.assert_array_equal(xb.numpy(), x[[1, 9, 5]])
    assert xb.dtype == numgrad.float32
