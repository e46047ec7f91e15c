"""Fetching a batch from a dataset, as ``torch.utils.data._utils.fetch``.

For a ``TensorDataset``, or ``Subset`` s of one, collated by the default
``collate``, a batch is gathered with one fancy index per tensor instead
of indexing and stacking sample by sample: the result is the same."""
import numpy as np

from ....autograd import grad_mode
from ....tensor import Tensor
from ..dataset import Subset, TensorDataset
from .collate import collates_as_shipped, np_str_obj_array_pattern


class _IterableDatasetFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset_iter = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, possibly_batched_index):
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.dataset_iter))
        data = []
        for _ in possibly_batched_index:
            try:
                data.append(next(self.dataset_iter))
            except StopIteration:
                self.ended = True
                break
        if len(data) == 0 or (self.drop_last
                              and len(data) < len(possibly_batched_index)):
            raise StopIteration
        return self.collate_fn(data)


class _MapDatasetFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.may_gather = auto_collation and collates_as_shipped(collate_fn)

    def fetch(self, possibly_batched_index):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[possibly_batched_index])
        if self.may_gather:
            batch = _gather(self.dataset, possibly_batched_index)
            if batch is not None:
                return batch
        getitems = getattr(self.dataset, "__getitems__", None)
        if getitems:
            data = getitems(possibly_batched_index)
        else:
            data = [self.dataset[i] for i in possibly_batched_index]
        return self.collate_fn(data)


def _is_plain(dataset, cls, methods):
    """An instance of ``cls`` whose indexing is ``cls``'s own: a subclass
    that overrides it must be asked sample by sample."""
    return isinstance(dataset, cls) and all(
        getattr(type(dataset), name) is getattr(cls, name)
        for name in methods)


def _gather(dataset, indices):
    """The default-collated batch at ``indices``, or None when a direct
    gather could differ from it (not a plain TensorDataset underneath, a
    tensor recording gradients, strings or objects in an array)."""
    while _is_plain(dataset, Subset, ("__getitem__", "__getitems__")):
        indices = [dataset.indices[i] for i in indices]
        dataset = dataset.dataset
    if not _is_plain(dataset, TensorDataset, ("__getitem__",)):
        return None
    idx = np.asarray(indices, dtype=np.int64)
    batch = []
    for t in dataset.tensors:
        if isinstance(t, Tensor):
            if t._requires_grad and grad_mode.state.enabled:
                return None
            batch.append(Tensor._make(t._value()[idx]))
        elif isinstance(t, np.ndarray):
            if np_str_obj_array_pattern.search(t.dtype.str):
                return None
            batch.append(Tensor._make(np.ascontiguousarray(t[idx])))
        else:
            return None
    return batch
