"""Collation, as ``torch.utils.data._utils.collate``: ``collate`` walks
containers and hands each leaf type to its function in a
``collate_fn_map``; ``default_collate`` uses ``default_collate_fn_map``,
which users may extend as in PyTorch.  ``default_convert`` turns one
unbatched sample's NumPy values into tensors."""
import collections.abc
import copy
import re

import numpy as np

from .... import dtypes
from ....autograd import grad_mode
from ....creation import tensor
from ....ops.shape import stack
from ....tensor import Tensor

np_str_obj_array_pattern = re.compile(r"[SaUO]")

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, "
    "dicts or lists; found {}")


def _tensor_from_array(array):
    return Tensor._make(np.ascontiguousarray(array))


def _stacked(arrays, shapes, element_dtypes):
    """One NumPy stack of equal-shaped arrays, in the dtype PyTorch's
    promotion gives them."""
    for i, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise RuntimeError(
                "stack expects each tensor to be equal size, but got "
                f"{list(shapes[0])} at entry 0 and {list(shape)} at entry "
                f"{i}")
    result_dtype = element_dtypes[0]
    for dtype in element_dtypes:
        if dtype is not result_dtype:
            result_dtype = dtypes.promote_types(result_dtype, dtype)
    stacked = np.stack(arrays)
    return Tensor._make(stacked.astype(result_dtype.np, copy=False))


def collate_tensor_fn(batch, *, collate_fn_map=None):
    if grad_mode.state.enabled and any(t._requires_grad for t in batch):
        return stack(batch, 0)  # recorded, so gradients reach the samples
    # Not recording: one NumPy stack instead of the op's machinery.
    return _stacked([t._value() for t in batch], [t._shape for t in batch],
                    [t._dtype for t in batch])


def collate_numpy_array_fn(batch, *, collate_fn_map=None):
    elem = batch[0]
    if np_str_obj_array_pattern.search(elem.dtype.str) is not None:
        raise TypeError(default_collate_err_msg_format.format(elem.dtype))
    if collate_fn_map is None or (
            collate_fn_map.get(Tensor) is not collate_tensor_fn):
        # As PyTorch: arrays become tensors, collated as the map says.
        return collate([_tensor_from_array(a) for a in batch],
                       collate_fn_map=collate_fn_map)
    # What collate_tensor_fn would do, without a tensor per sample.
    element_dtypes = [dtypes.from_numpy_dtype(elem.dtype)] * len(batch)
    if any(a.dtype != elem.dtype for a in batch):
        element_dtypes = [dtypes.from_numpy_dtype(a.dtype) for a in batch]
    return _stacked(batch, [a.shape for a in batch], element_dtypes)


def collate_numpy_scalar_fn(batch, *, collate_fn_map=None):
    return _tensor_from_array(np.array(batch))


def collate_float_fn(batch, *, collate_fn_map=None):
    return tensor(batch, dtype=dtypes.float64)


def collate_int_fn(batch, *, collate_fn_map=None):
    # Bools arrive here too (bool is an int): they stay bool, as in
    # PyTorch, and a float among the ints makes the batch floating.
    return tensor(batch)


def collate_str_fn(batch, *, collate_fn_map=None):
    return batch


default_collate_fn_map = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}
_PRISTINE_COLLATE_FN_MAP = dict(default_collate_fn_map)


def collates_as_shipped(collate_fn):
    """Whether ``collate_fn`` is ``default_collate`` with the map as
    numgrad ships it, so a batch may be gathered some faster way that
    gives the same result."""
    return (collate_fn is default_collate
            and default_collate_fn_map == _PRISTINE_COLLATE_FN_MAP)


def _leaf_fn(elem, collate_fn_map):
    if collate_fn_map is None:
        return None
    if type(elem) in collate_fn_map:
        return collate_fn_map[type(elem)]
    for collate_type, fn in collate_fn_map.items():
        if isinstance(elem, collate_type):
            return fn
    return None


def collate(batch, *, collate_fn_map=None):
    """Collates a batch of samples: leaves go to their function in
    ``collate_fn_map`` (by exact type, else the first key they are an
    instance of); mappings, namedtuples and sequences are collated field
    by field (tuples become lists, as in PyTorch)."""
    elem = batch[0]
    elem_type = type(elem)
    leaf_fn = _leaf_fn(elem, collate_fn_map)
    if leaf_fn is not None:
        return leaf_fn(batch, collate_fn_map=collate_fn_map)

    def each(samples):
        return collate(samples, collate_fn_map=collate_fn_map)

    if isinstance(elem, collections.abc.Mapping):
        return _like_mapping(elem, {key: each([d[key] for d in batch])
                                    for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return elem_type(*(each(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        it = iter(batch)
        elem_size = len(next(it))
        if not all(len(e) == elem_size for e in it):
            raise RuntimeError(
                "each element in list of batch should be of equal size")
        items = [each(samples) for samples in zip(*batch)]
        return items if isinstance(elem, tuple) else _like_sequence(elem,
                                                                    items)
    raise TypeError(default_collate_err_msg_format.format(elem_type))


def _like_mapping(original, values):
    """``values`` in a mapping of ``original``'s type (a copy, when it is
    mutable, so extra state comes along); a dict when the type cannot be
    built from one."""
    try:
        if isinstance(original, collections.abc.MutableMapping):
            clone = copy.copy(original)
            clone.update(values)
            return clone
        return type(original)(values)
    except TypeError:
        return values


def _like_sequence(original, items):
    """``items`` in a sequence of ``original``'s type, as
    ``_like_mapping``; a list when the type cannot be built."""
    try:
        if isinstance(original, collections.abc.MutableSequence):
            clone = copy.copy(original)
            for i, item in enumerate(items):
                clone[i] = item
            return clone
        return type(original)(items)
    except TypeError:
        return items


def default_collate(batch):
    """Collate a list of samples into a batch, as PyTorch does: tensors and
    NumPy arrays are stacked along a new first dimension, Python floats
    become a float64 tensor and ints an int64 tensor, strings stay a list,
    and dicts, namedtuples, tuples and lists are collated field by field
    (tuples become lists).  Extend it through ``default_collate_fn_map``.
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)


def default_convert(data):
    """Convert one unbatched sample: NumPy arrays and scalars become
    tensors, containers are converted element by element."""
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        if np_str_obj_array_pattern.search(data.dtype.str) is not None:
            return data
        return _tensor_from_array(data)
    if isinstance(data, (np.bool_, np.number)):
        return _tensor_from_array(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _like_mapping(data, {key: default_convert(data[key])
                                    for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(
            data, (str, bytes)):
        return _like_sequence(data, [default_convert(d) for d in data])
    return data
