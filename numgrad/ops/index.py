"""Indexing: ``getitem`` (ints, slices, None, ..., masks, integer arrays),
its scatter-add backward, ``index_put`` for ``__setitem__``, gather."""
import numpy as np

from ..backends.cuda.array import DeviceArray
from ..tensor import Tensor
from ._dims import wrap_dim
from .registry import op


def _convert_index(index, input):
    """Tensors inside an index become arrays; lists stay advanced.  For a
    CUDA ``input`` every index array moves to (or is checked on) the
    device, masks becoming integer arrays (see ``device_index``)."""
    if isinstance(index, tuple):
        index = tuple(_convert_one(i) for i in index)
    else:
        index = _convert_one(index)
    if input.device.type == "cuda":
        from .cuda.index import device_index
        return device_index(input._shape, index)
    parts = index if isinstance(index, tuple) else (index,)
    if any(isinstance(p, DeviceArray) for p in parts):
        raise RuntimeError("indices should be either on cpu or on the same "
                           "device as the indexed tensor (cpu)")
    return index


def _convert_one(i):
    if isinstance(i, Tensor):
        arr = i._value()
        if arr.dtype.kind == "f":
            raise IndexError("tensors used as indices must be long, int, "
                             "byte or bool tensors")
        return arr
    if isinstance(i, list):
        return np.asarray(i)
    return i


def _is_basic(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice,
                                                          np.integer))
               for i in parts)


def _check_bounds(shape, index):
    parts = index if isinstance(index, tuple) else (index,)
    dim = 0
    for i in parts:
        if i is None:
            continue
        if i is Ellipsis:
            dim = len(shape) - sum(1 for p in parts
                                   if p is not None and p is not Ellipsis
                                   ) + dim
            continue
        if isinstance(i, (int, np.integer)) and not isinstance(i, bool):
            if dim >= len(shape):
                raise IndexError(
                    f"too many indices for tensor of dimension "
                    f"{len(shape)}")
            if not -shape[dim] <= i < shape[dim]:
                raise IndexError(
                    f"index {i} is out of bounds for dimension {dim} with "
                    f"size {shape[dim]}")
        dim += 1 if not (isinstance(i, np.ndarray) and i.dtype == bool) \
            else i.ndim


@op("index", node_name="SelectBackward0", view=True)
def _getitem(ctx, x, index):
    ctx.input_shape = x.shape
    try:
        out = x[index]
    except IndexError as e:
        raise IndexError(str(e).replace("array", "tensor")) from None
    return np.asarray(out)


@_getitem.backward
def _(ctx, g):
    return (_index_backward(g, index=ctx.params["index"],
                            shape=ctx.input_shape),)


@op("index_backward")
def _index_backward(ctx, g, index, shape):
    out = np.zeros(shape, dtype=g.dtype)
    if _is_basic(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


@_index_backward.backward
def _(ctx, gg):
    return (_getitem(gg, index=ctx.params["index"]),)


def getitem(input, index):
    index = _convert_index(index, input)
    _check_bounds(input._shape, index)
    return _getitem(input, index=index)


@op("index_put")
def _index_put(ctx, x, values, index):
    ctx.values_shape = values.shape
    out = x.copy()
    out[index] = values
    return out


@_index_put.backward
def _(ctx, g):
    from .shape import sum_to_size
    index = ctx.params["index"]
    grad_x = _masked_index(g, index) if ctx.needs_input_grad[0] else None
    grad_v = None
    if ctx.needs_input_grad[1]:
        grad_v = sum_to_size(_getitem(g, index=index), ctx.values_shape)
    return grad_x, grad_v


@op("index_fill_zero", node_name="IndexPutBackward0")
def _zero_at(ctx, g, index):
    out = g.copy()
    out[index] = 0
    return out


@_zero_at.backward
def _(ctx, gg):
    return (_zero_at(gg, index=ctx.params["index"]),)


def _masked_index(g, index):
    return _zero_at(g, index=index)


def setitem(tensor, index, value):
    """``tensor[index] = value``, in place."""
    from ..creation import _to_array
    from .inplace import commit_inplace, check_inplace
    index = _convert_index(index, tensor)
    _check_bounds(tensor._shape, index)
    if not isinstance(value, Tensor):
        value = Tensor._make(_to_array(value, tensor.dtype))
    check_inplace(tensor)
    value = value.to(tensor.dtype, device=tensor.device)
    shape = _result_shape(tensor._shape, index)
    try:
        np.broadcast_shapes(shape, value._shape)
    except ValueError:
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {list(value.shape)} "
            "cannot be broadcast to indexing result of shape "
            f"{list(shape)}") from None
    result = _index_put(tensor, value, index=index)
    commit_inplace(tensor, result)


def _result_shape(shape, index):
    """The shape of ``x[index]`` for an ``x`` of ``shape``, from indexing a
    zero-strided stand-in; device index arrays stand in as zeros (their
    shapes, not their values, decide the result's)."""
    parts = index if isinstance(index, tuple) else (index,)
    parts = tuple(np.zeros(p.shape, np.intp) if isinstance(p, DeviceArray)
                  else p for p in parts)
    return np.broadcast_to(np.empty((), np.int8), shape)[parts].shape


@op("gather")
def _gather(ctx, x, index, dim, index_array):
    ctx.input_shape = x.shape
    # As torch: the result has the index's shape, which may be smaller
    # than the input's outside ``dim`` (NumPy would broadcast instead).
    window = tuple(slice(None) if d == dim else slice(0, n)
                   for d, n in enumerate(index_array.shape))
    return np.take_along_axis(x[window], index_array, axis=dim)


@_gather.backward
def _(ctx, g):
    index = ctx.params["index_array"]
    return (_scatter_add(g, index_array=index, dim=ctx.params["dim"],
                         shape=ctx.input_shape), None)


@op("scatter_add_zeros", node_name="ScatterAddBackward0")
def _scatter_add(ctx, g, index_array, dim, shape):
    out = np.zeros(shape, dtype=g.dtype)
    idx = list(np.indices(index_array.shape, sparse=True))
    idx[dim] = index_array
    np.add.at(out, tuple(idx), g)
    return out


@_scatter_add.backward
def _(ctx, gg):
    return (_gather_array(gg, ctx.params["index_array"], ctx.params["dim"]),)


def _gather_array(x, index_array, dim):
    return _gather(x, Tensor._make(index_array), dim=dim,
                   index_array=index_array)


def gather(input, dim, index):
    dim = wrap_dim(dim, input.dim())
    if index.dtype.is_floating_point or index.dtype.name == "bool":
        raise RuntimeError("gather(): Expected dtype int64 for index")
    if index.dim() != input.dim():
        raise RuntimeError("Index tensor must have the same number of "
                           "dimensions as input tensor")
    for d, (n, limit) in enumerate(zip(index._shape, input._shape)):
        if d != dim and n > limit:
            raise RuntimeError(
                f"Size does not match at dimension {d} expected index "
                f"{list(index._shape)} to be no larger than self "
                f"{list(input._shape)} apart from dimension {dim}")
    idx = index._value()
    if input.device.type == "cuda":
        from .cuda.index import checked_indices
        idx = checked_indices(idx, input._shape[dim], dim)
        index = Tensor._make(idx)
    return _gather(input, index, dim=dim, index_array=idx)


def take_along_dim(input, indices, dim):
    return gather(input, dim, indices)


def index_select(input, dim, index):
    dim = wrap_dim(dim, input.dim())
    key = [slice(None)] * input.dim()
    key[dim] = index._value().reshape(-1)
    return getitem(input, tuple(key))


def masked_fill(input, mask, value):
    from .pointwise import where
    if isinstance(value, Tensor):
        value = value.to(input.dtype)
    return where(mask, value, input)
