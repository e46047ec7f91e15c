"""Movement ops: views, reshapes, concatenation.  Each backward is the
inverse movement, written with these same ops so it is differentiable."""
import numpy as np

from .. import dtypes
from ..tensor import Tensor
from ._dims import wrap_dim
from .registry import op


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def _infer_shape(shape, numel, input_shape):
    shape = list(shape)
    unknown = [i for i, s in enumerate(shape) if s == -1]
    if len(unknown) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"invalid shape dimension {s}")
            known *= s
    if unknown:
        if known == 0 or numel % known:
            raise RuntimeError(
                f"shape '{list(shape)}' is invalid for input of size "
                f"{numel}")
        shape[unknown[0]] = numel // known
    elif known != numel:
        raise RuntimeError(
            f"shape '{list(shape)}' is invalid for input of size {numel}")
    return tuple(shape)


# ---- reshape / view ------------------------------------------------------
@op("reshape", node_name="ViewBackward0", view=True)
def _reshape(ctx, x, shape, copy_ok=True):
    ctx.input_shape = x.shape
    if copy_ok:
        return x.reshape(shape)
    view = x.view()
    try:
        view.shape = shape
    except AttributeError:
        raise RuntimeError(
            "view size is not compatible with input tensor's size and "
            "stride (at least one dimension spans across two contiguous "
            "subspaces). Use .reshape(...) instead.") from None
    return view


@_reshape.backward
def _(ctx, g):
    return (reshape(g, ctx.input_shape),)


def reshape(input, *shape):
    shape = _infer_shape(_shape_arg(shape), input.numel(), input._shape)
    if shape == input._shape:
        return _reshape(input, shape=shape) if input._requires_grad \
            else _alias_view(input)
    return _reshape(input, shape=shape)


def _alias_view(t):
    out = Tensor._make(t._value())
    out._version = t._version
    return out


def view(input, *shape):
    if len(shape) == 1 and isinstance(shape[0], dtypes.dtype):
        raise NotImplementedError("view(dtype) is not supported")
    shape = _infer_shape(_shape_arg(shape), input.numel(), input._shape)
    return _reshape(input, shape=shape, copy_ok=False)


def flatten(input, start_dim=0, end_dim=-1):
    shape = input._shape
    if not shape:
        return reshape(input, 1)
    start = wrap_dim(start_dim, len(shape))
    end = wrap_dim(end_dim, len(shape))
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot "
                           "come after end_dim")
    middle = int(np.prod(shape[start:end + 1], dtype=np.int64))
    return reshape(input, shape[:start] + (middle,) + shape[end + 1:])


def unflatten(input, dim, sizes):
    dim = wrap_dim(dim, input.dim())
    shape = input._shape
    sizes = _infer_shape(tuple(sizes), shape[dim], None)
    return reshape(input, shape[:dim] + tuple(sizes) + shape[dim + 1:])


def squeeze(input, dim=None):
    shape = input._shape
    if dim is None:
        new = tuple(s for s in shape if s != 1)
    else:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        dims = {wrap_dim(d, len(shape)) for d in dims} if shape else set()
        new = tuple(s for i, s in enumerate(shape)
                    if not (i in dims and s == 1))
    return reshape(input, new)


def unsqueeze(input, dim):
    ndim = input.dim() + 1
    if not -ndim <= dim < ndim:
        raise IndexError(
            "Dimension out of range (expected to be in range of "
            f"[{-ndim}, {ndim - 1}], but got {dim})")
    dim %= ndim
    shape = input._shape
    return reshape(input, shape[:dim] + (1,) + shape[dim:])


# ---- permutations ---------------------------------------------------------
@op("permute", view=True)
def _permute(ctx, x, dims):
    ctx.dims = dims
    return x.transpose(dims)


@_permute.backward
def _(ctx, g):
    return (permute(g, tuple(np.argsort(ctx.dims))),)


def permute(input, *dims):
    dims = _shape_arg(dims)
    n = input.dim()
    if len(dims) != n:
        raise RuntimeError(
            "permute(sparse_coo): number of dimensions in the tensor input "
            "does not match the length of the desired ordering of "
            f"dimensions i.e. input.dim() = {n} is not equal to "
            f"len(dims) = {len(dims)}")
    dims = tuple(wrap_dim(d, n) for d in dims)
    if len(set(dims)) != n:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return _permute(input, dims=dims)


def transpose(input, dim0, dim1):
    n = input.dim()
    if n == 0:
        return input
    dims = list(range(n))
    a, b = wrap_dim(dim0, n), wrap_dim(dim1, n)
    dims[a], dims[b] = dims[b], dims[a]
    return _permute(input, dims=tuple(dims))


def t(input):
    if input.dim() > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but "
                           f"self is {input.dim()}D")
    return transpose(input, 0, 1) if input.dim() == 2 else input


def mT(input):
    return transpose(input, -2, -1)


# ---- expand / sum_to_size ------------------------------------------------
@op("expand", view=True)
def _expand(ctx, x, shape):
    ctx.input_shape = x.shape
    return np.broadcast_to(x, shape)


@_expand.backward
def _(ctx, g):
    return (sum_to_size(g, ctx.input_shape),)


def expand(input, *sizes):
    sizes = list(_shape_arg(sizes))
    shape = input._shape
    if len(sizes) < len(shape):
        raise RuntimeError(
            f"expand({list(shape)}, size={sizes}): the number of sizes "
            "provided ({len(sizes)}) must be greater or equal to the number "
            f"of dimensions in the tensor ({len(shape)})")
    offset = len(sizes) - len(shape)
    for i, s in enumerate(sizes):
        if s == -1:
            if i < offset:
                raise RuntimeError("expand: -1 is not allowed in a leading, "
                                   "non-existing dimension")
            sizes[i] = shape[i - offset]
        elif i >= offset and shape[i - offset] not in (1, s):
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the "
                f"existing size ({shape[i - offset]}) at non-singleton "
                f"dimension {i}.  Target sizes: {sizes}.  Tensor sizes: "
                f"{list(shape)}")
    sizes = tuple(sizes)
    if sizes == shape:
        return input if not input._requires_grad else _expand(input,
                                                              shape=sizes)
    return _expand(input, shape=sizes)


def expand_as(input, other):
    return expand(input, other.shape)


@op("sum_to_size", node_name="SumBackward1")
def _sum_to_size(ctx, x, shape):
    ctx.input_shape = x.shape
    return sum_to_array(x, shape)


@_sum_to_size.backward
def _(ctx, g):
    return (expand(g, ctx.input_shape),)


def sum_to_array(x, shape):
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i]
        != 1)
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    return x.reshape(shape)


def sum_to_size(input, *shape):
    shape = _shape_arg(shape)
    if tuple(shape) == input._shape:
        return input
    return _sum_to_size(input, shape=tuple(shape))


# ---- copies -----------------------------------------------------------------
@op("clone")
def _clone(ctx, x):
    return x.copy()


@_clone.backward
def _(ctx, g):
    return (g,)


def clone(input, memory_format=None):
    return _clone(input)


def contiguous(input, memory_format=None):
    if input._value().flags.c_contiguous:
        return input
    return _clone(input)


@op("to_copy")
def _cast(ctx, x, dtype, device=None):
    """A copy converted to ``dtype`` and moved to ``device`` (None: the
    input's).  The CUDA twin is this same function: ``to_device`` and
    ``astype`` work on both kinds of array."""
    from ..backends import device_of, to_device
    ctx.input_dtype = x.dtype
    ctx.input_device = device_of(x)
    if device is None or device == ctx.input_device:
        return dtypes.cast_array(x, dtype.np)
    return dtypes.cast_array(to_device(x, device), dtype.np, copy=False)


@_cast.backward
def _(ctx, g):
    from ..dtypes import from_numpy_dtype
    return (_cast(g, dtype=from_numpy_dtype(ctx.input_dtype),
                  device=ctx.input_device),)


def to(input, *args, dtype=None, device=None, copy=False, non_blocking=False,
       memory_format=None):
    from ..backends import resolve, to_device
    for a in args:
        if isinstance(a, dtypes.dtype):
            dtype = a
        elif isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif a is not None:
            device = a
    target = input.device if device is None else resolve(device)
    dtype = dtypes.as_dtype(dtype) or input.dtype
    if dtype is input.dtype and target == input.device:
        return clone(input) if copy else input
    if input._requires_grad and not dtype.is_floating_point:
        return Tensor._make(to_device(input._value(), target).astype(
            dtype.np, copy=False))
    return _cast(input, dtype=dtype, device=target)


# ---- concatenation, repetition, flipping -------------------------------
@op("cat")
def _cat2(ctx, a, b, dim):
    ctx.split = a.shape[dim]
    return np.concatenate((a, b), axis=dim)


@_cat2.backward
def _(ctx, g):
    dim = ctx.params["dim"]
    n = g.shape[dim]
    return (narrow(g, dim, 0, ctx.split),
            narrow(g, dim, ctx.split, n - ctx.split))


def cat(tensors, dim=0):
    tensors = [t for t in tensors]
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of "
                           "Tensors")
    tensors = [t for t in tensors if not (t.dim() == 1 and t.numel() == 0)] \
        or tensors[:1]
    ref = tensors[0]
    dim = wrap_dim(dim, ref.dim())
    result_dtype = ref.dtype
    for i, t in enumerate(tensors):
        result_dtype = dtypes.promote_types(result_dtype, t.dtype)
        if t.dim() != ref.dim():
            raise RuntimeError(
                "Tensors must have same number of dimensions: got "
                f"{ref.dim()} and {t.dim()}")
        for d in range(ref.dim()):
            if d != dim and t._shape[d] != ref._shape[d]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension "
                    f"{dim}. Expected size {ref._shape[d]} but got size "
                    f"{t._shape[d]} for tensor number {i} in the list.")
    tensors = [to(t, result_dtype) for t in tensors]
    return _concat(tensors, dim)


def _concat(tensors, dim):
    if len(tensors) == 1:
        return clone(tensors[0])
    if not any(t._requires_grad for t in tensors):
        return Tensor._make(_concat_arrays([t._value() for t in tensors],
                                           dim, tensors[0].device))
    mid = len(tensors) // 2
    left, right = _concat(tensors[:mid], dim), _concat(tensors[mid:], dim)
    return _cat2(left, right, dim=dim)


def _concat_arrays(arrays, dim, device):
    """np.concatenate for arrays of one dtype on ``device`` (either
    kind): each one copied into its slice of the result."""
    from ..backends import copy_into, filled
    shape = list(arrays[0].shape)
    shape[dim] = sum(a.shape[dim] for a in arrays)
    out = filled(shape, None, arrays[0].dtype, device)
    lead = (slice(None),) * dim
    start = 0
    for a in arrays:
        copy_into(out[lead + (slice(start, start + a.shape[dim]),)], a)
        start += a.shape[dim]
    return out


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, t in enumerate(tensors):
        if t._shape != tensors[0]._shape:
            raise RuntimeError(
                "stack expects each tensor to be equal size, but got "
                f"{list(tensors[0]._shape)} at entry 0 and {list(t._shape)} "
                f"at entry {i}")
    n = tensors[0].dim() + 1
    if not -n <= dim < n:
        raise IndexError(
            "Dimension out of range (expected to be in range of "
            f"[{-n}, {n - 1}], but got {dim})")
    return cat([unsqueeze(t, dim) for t in tensors], dim % n)


def narrow(input, dim, start, length):
    dim = wrap_dim(dim, input.dim())
    index = [slice(None)] * input.dim()
    index[dim] = slice(start, start + length)
    return input[tuple(index)]


def split(tensor, split_size_or_sections, dim=0):
    dim = wrap_dim(dim, tensor.dim())
    size = tensor._shape[dim]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        sizes = [min(step, size - s) for s in range(0, size, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != size:
            raise RuntimeError(
                "split_with_sizes expects split_sizes to sum exactly to "
                f"{size} (input tensor's size at dimension {dim}), but got "
                f"split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        out.append(narrow(tensor, dim, start, s))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, "
                           f"got: {chunks}")
    size = input._shape[wrap_dim(dim, input.dim())]
    step = -(-size // chunks)
    return split(input, max(step, 1), dim)


def unbind(input, dim=0):
    dim = wrap_dim(dim, input.dim())
    return tuple(select(input, dim, i) for i in range(input._shape[dim]))


def select(input, dim, index):
    dim = wrap_dim(dim, input.dim())
    key = [slice(None)] * input.dim()
    key[dim] = index
    return input[tuple(key)]


@op("flip")
def _flip(ctx, x, dims):
    return np.flip(x, dims).copy()


@_flip.backward
def _(ctx, g):
    return (_flip(g, dims=ctx.params["dims"]),)


def flip(input, *dims):
    dims = _shape_arg(dims)
    dims = tuple(wrap_dim(d, input.dim()) for d in dims)
    return _flip(input, dims=dims)


@op("repeat")
def _repeat(ctx, x, repeats):
    ctx.input_shape = x.shape
    return np.tile(x, repeats)


@_repeat.backward
def _(ctx, g):
    repeats = ctx.params["repeats"]
    shape = ctx.input_shape
    shape = (1,) * (len(repeats) - len(shape)) + tuple(shape)
    split_shape = []
    for r, s in zip(repeats, shape):
        split_shape += [r, s]
    grad = reshape(g, tuple(split_shape))
    from .reduce import sum as _sum
    grad = _sum(grad, dim=tuple(range(0, len(split_shape), 2)))
    return (reshape(grad, ctx.input_shape),)


def repeat(input, *sizes):
    sizes = _shape_arg(sizes)
    if len(sizes) < input.dim():
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than "
            "number of dimensions of tensor")
    return _repeat(input, repeats=sizes)
