"""Datasets, samplers and the DataLoader, laid out as ``torch.utils.data``:
``dataset``, ``sampler``, ``dataloader`` and ``_utils.collate`` hold what
they hold in PyTorch, so its import paths work unchanged.  They import
one way: dataloader, then sampler, then dataset."""
from .dataloader import (DataLoader, default_collate, default_convert,
                         get_worker_info)
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset,
                      Subset, TensorDataset, random_split)
from .sampler import (BatchSampler, RandomSampler, Sampler,
                      SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)

__all__ = [
    "BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader",
    "Dataset", "IterableDataset", "RandomSampler", "Sampler",
    "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
    "WeightedRandomSampler", "default_collate", "default_convert",
    "get_worker_info", "random_split",
]
