"""Reductions with ``dim``/``keepdim``.  Forward kernels are NumPy's
(pairwise-summed, vectorised); backward broadcasts the gradient back,
written with differentiable ops."""
import builtins
import collections

import numpy as np

from .. import dtypes
from ..backends import filled
from ..tensor import Tensor
from . import pointwise as pw
from .arith import float16_in_float32
from ._dims import keepdim_shape, reduce_dims, wrap_dim
from .registry import op
from .shape import expand, reshape

# max below is torch.max; the builtin is needed too.
builtins_max = builtins.max


def wide(np_dtype):
    """The dtype NumPy should compute in: float16 sums and products run
    in float32, as PyTorch's do (NumPy adds float16 in float16 along
    strided axes, and squares overflow float16 past 256)."""
    return np.float32 if np_dtype == np.float16 else np_dtype


def _grad_to_input(g, ctx):
    """Reshape a reduced gradient to keepdim form and expand it."""
    shape = ctx.input_shape
    g = reshape(g, keepdim_shape(shape, ctx.dims))
    return expand(g, shape)


@op("sum")
def _sum(ctx, x, dims, keepdim, dtype, input_shape, precomputed=None):
    ctx.input_shape, ctx.dims = input_shape, dims
    if precomputed is not None:
        return _total_array(precomputed, dtype, input_shape, keepdim)
    total = np.sum(x, axis=dims, keepdims=keepdim, dtype=wide(dtype.np))
    return dtypes.cast_array(np.asarray(total), dtype.np, copy=False)


def _total_array(total, dtype, input_shape, keepdim):
    shape = (1,) * len(input_shape) if keepdim else ()
    return dtypes.cast_array(np.full(shape, total), dtype.np)


def _fused_total(input, dims, dtype):
    """A full sum over a pending fused chain runs inside the chain's loop."""
    if input._expr is None or len(dims) != input.dim() \
            or dtype is not input.dtype:
        return None
    from ..fusion import recorder
    return recorder.fused_total(input)


@_sum.backward
def _(ctx, g):
    return (_grad_to_input(g, ctx),)


def _accumulate_dtype(x, dtype):
    if dtype is not None:
        return dtypes.as_dtype(dtype)
    if not x.dtype.is_floating_point:
        return dtypes.int64
    return x.dtype


def sum(input, dim=None, keepdim=False, *, dtype=None):
    if isinstance(input, (list, tuple)):
        raise TypeError("sum(): argument 'input' must be Tensor")
    dims = reduce_dims(dim, input.dim())
    dtype = _accumulate_dtype(input, dtype)
    return _sum(input, dims=dims, keepdim=keepdim, dtype=dtype,
                input_shape=input._shape,
                precomputed=_fused_total(input, dims, dtype))


@op("mean")
def _mean(ctx, x, dims, keepdim, dtype, input_shape, precomputed=None):
    ctx.input_shape, ctx.dims = input_shape, dims
    ctx.count = int(np.prod([input_shape[d] for d in dims],
                            dtype=np.int64))
    if precomputed is not None:
        return _total_array(precomputed / builtins_max(ctx.count, 1),
                            dtype, input_shape, keepdim)
    return np.asarray(np.mean(x, axis=dims, keepdims=keepdim),
                      dtype=x.dtype)


@_mean.backward
def _(ctx, g):
    return (_grad_to_input(g / ctx.count, ctx),)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be "
            "either a floating point or complex dtype. Got: "
            f"{input.dtype.name.capitalize()}")
    dims = reduce_dims(dim, input.dim())
    return _mean(input, dims=dims, keepdim=keepdim, dtype=input.dtype,
                 input_shape=input._shape,
                 precomputed=_fused_total(input, dims, input.dtype))


@op("prod", save=("x", "out"))
def _prod(ctx, x, dims, keepdim):
    ctx.input_shape, ctx.dims = x.shape, dims
    ctx.keepdim = keepdim
    half = x.dtype == np.float16
    r = np.prod(x.astype(np.float32) if half else x, axis=dims,
                keepdims=keepdim)
    return dtypes.cast_array(np.asarray(r), x.dtype) if half \
        else np.asarray(r)


@_prod.backward
def _(ctx, g):
    x, out = ctx.x, ctx.out
    g = _grad_to_input(g, ctx)
    out = _grad_to_input(out, ctx)
    values = x.detach()
    zero = values == 0
    if not any(zero).item():
        return (g * out / x,)
    # With zeros, out / x is undefined: the product of the others is 0
    # where another element of the group is 0, else the product of the
    # group's nonzero elements, over x unless x is the zero.
    nonzero = pw.where(zero, 1.0, values)
    nonzero_prod = _prod(nonzero, dims=ctx.dims, keepdim=True)
    zeros = _sum(zero, dims=ctx.dims, keepdim=True, dtype=dtypes.int64,
                 input_shape=values._shape)
    others = pw.where(zeros - zero > 0, 0.0, nonzero_prod / nonzero)
    return (g * others,)


def prod(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    dims = reduce_dims(dim, input.dim())
    return _prod(input, dims=dims, keepdim=keepdim)


@op("amax", save=("x", "out"))
def _amax(ctx, x, dims, keepdim, largest):
    ctx.input_shape, ctx.dims = x.shape, dims
    fn = np.max if largest else np.min
    return np.asarray(fn(x, axis=dims, keepdims=keepdim))


@_amax.backward
def _(ctx, g):
    x = ctx.x
    out = _grad_to_input(ctx.out, ctx)
    mask = (x == out).to(g.dtype)
    count = reshape(sum(mask, ctx.dims), keepdim_shape(ctx.input_shape,
                                                        ctx.dims))
    return (_grad_to_input(g, ctx) * mask / count,)


def amax(input, dim=(), keepdim=False):
    dims = extreme_dims("amax", input, dim)
    return _amax(input, dims=dims, keepdim=keepdim, largest=True)


def amin(input, dim=(), keepdim=False):
    dims = extreme_dims("amin", input, dim)
    return _amax(input, dims=dims, keepdim=keepdim, largest=False)


def extreme_dims(name, input, dim, wrapped_in_message=False):
    """The dims a max/min-like reduction runs over, refused as PyTorch
    refuses them: an extreme of no elements has no value."""
    if dim is None or dim == ():
        if input.numel() == 0:
            raise RuntimeError(
                f"{name}(): Expected reduction dim to be specified for "
                "input.numel() == 0. Specify the reduction dim with the "
                "'dim' argument.")
        return tuple(range(input.dim()))
    dims = reduce_dims(dim, input.dim())
    for given in (dim if isinstance(dim, (tuple, list)) else (dim,)):
        d = wrap_dim(given, input.dim())
        if input.dim() and input._shape[d] == 0:
            shown = d if wrapped_in_message else given
            raise IndexError(f"{name}(): Expected reduction dim {shown} to "
                             "have non-zero size.")
    return dims


MinMax = collections.namedtuple("return_types", ["values", "indices"])


def _arg_extreme(input, dim, keepdim, largest):
    name = "argmax" if largest else "argmin"
    if dim is None and input.numel() == 0:
        raise IndexError(f"{name}(): Expected reduction dim to be specified "
                         "for input.numel() == 0.")
    if dim is not None:
        extreme_dims(name, input, dim, wrapped_in_message=True)
    arr = input._value()
    if not isinstance(arr, np.ndarray):
        return _arg_extreme_device(arr, dim, keepdim, largest)
    fn = np.argmax if largest else np.argmin
    if dim is None:
        idx = np.asarray(fn(arr.reshape(-1)), dtype=np.int64)
        if keepdim:
            idx = idx.reshape((1,) * arr.ndim)
        return Tensor._make(idx)
    d = wrap_dim(dim, arr.ndim)
    idx = fn(arr, axis=d, keepdims=True) if arr.ndim else np.zeros((),
                                                                   np.int64)
    if not keepdim and arr.ndim:
        idx = np.squeeze(idx, axis=d)
    return Tensor._make(np.asarray(idx, dtype=np.int64))


def _arg_extreme_device(arr, dim, keepdim, largest):
    from .cuda.reduce import arg_extreme
    if dim is None:
        idx = arg_extreme(arr, None, largest)
        return Tensor._make(idx.reshape((1,) * arr.ndim) if keepdim else idx)
    if not arr.ndim:
        return Tensor._make(filled((), 0, np.int64, arr.device))
    d = wrap_dim(dim, arr.ndim)
    idx = arg_extreme(arr, d, largest)
    if keepdim:
        idx = idx.reshape(keepdim_shape(arr.shape, (d,)))
    return Tensor._make(idx)


def argmax(input, dim=None, keepdim=False):
    return _arg_extreme(input, dim, keepdim, True)


def argmin(input, dim=None, keepdim=False):
    return _arg_extreme(input, dim, keepdim, False)


def _max_min(input, dim, keepdim, other, largest):
    if isinstance(dim, Tensor):
        other, dim = dim, None
    if other is not None:
        return pw.maximum(input, other) if largest else \
            pw.minimum(input, other)
    name = "max" if largest else "min"
    if dim is None:
        return _amax(input, dims=extreme_dims(name, input, None),
                     keepdim=False, largest=largest)
    from .index import take_along_dim
    extreme_dims(name, input, dim, wrapped_in_message=True)
    d = wrap_dim(dim, input.dim())
    indices = _arg_extreme(input, d, True, largest)
    values = take_along_dim(input, indices, d)
    if not keepdim and input.dim():
        values = values.squeeze(d)
        indices = indices.squeeze(d)
    return MinMax(values, indices)


def max(input, dim=None, keepdim=False, *, other=None):
    return _max_min(input, dim, keepdim, other, True)


def min(input, dim=None, keepdim=False, *, other=None):
    return _max_min(input, dim, keepdim, other, False)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    if unbiased is None:
        return 1
    return 1 if unbiased else 0


@float16_in_float32()
def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if isinstance(dim, bool):
        unbiased, dim = dim, None
    dims = reduce_dims(dim, input.dim())
    n = int(np.prod([input._shape[d] for d in dims], dtype=np.int64))
    centered = input - mean(input, dims, keepdim=True)
    denominator = builtins_max(n - _correction(unbiased, correction), 0)
    return sum(centered * centered, dims, keepdim=keepdim) / denominator


@float16_in_float32()
def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return pw.sqrt(var(input, dim, unbiased, keepdim,
                       correction=correction))


def var_mean(input, dim=None, unbiased=None, keepdim=False, *,
             correction=None):
    return (var(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim, keepdim))


def std_mean(input, dim=None, unbiased=None, keepdim=False, *,
             correction=None):
    return (std(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim, keepdim))




@op("norm", save=("x", "out"), node_name="NormBackward1")
def _norm(ctx, x, p, dims, keepdim):
    ctx.input_shape, ctx.dims = x.shape, dims
    a = np.abs(x).astype(wide(x.dtype), copy=False)
    if p == float("inf"):
        r = np.max(a, axis=dims, keepdims=keepdim)
    elif p == 0:
        r = np.sum(a != 0, axis=dims, keepdims=keepdim).astype(x.dtype)
    elif p == 2:
        r = np.sqrt(np.sum(a * a, axis=dims, keepdims=keepdim))
    else:
        r = np.sum(a ** p, axis=dims, keepdims=keepdim) ** (1.0 / p)
    return dtypes.cast_array(np.asarray(r), x.dtype, copy=False)


@_norm.backward
def _(ctx, g):
    x, p = ctx.x, ctx.params["p"]
    g = _grad_to_input(g, ctx)
    out = _grad_to_input(ctx.out, ctx)
    if p == 0:
        return (g * 0,)
    if p == float("inf"):
        mask = (pw.abs(x) == out).to(g.dtype)
        count = reshape(sum(mask, ctx.dims),
                        keepdim_shape(ctx.input_shape, ctx.dims))
        return (g * pw.sign(x) * mask / count,)
    if p == 1:
        return (g * pw.sign(x),)
    if p == 2:
        scale = pw.where(out == 0, 0.0, 1 / out)
        return (g * x * scale,)
    scale = pw.where(out == 0, 0.0, 1 / out ** (p - 1))
    return (g * x * pw.abs(x) ** (p - 2) * scale,)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    if p == "fro" or p is None:
        p = 2
    p = float(p)
    return _norm(input, p=p, dims=reduce_dims(dim, input.dim()),
                 keepdim=keepdim)


def logsumexp(input, dim, keepdim=False):
    dims = reduce_dims(dim, input.dim())
    if 0 in [input._shape[d] for d in dims]:
        # The sum of no terms is 0: -inf, with no maximum to shift by.
        return pw.log(sum(pw.exp(input), dims, keepdim=keepdim))
    with_max = amax(input, dims, keepdim=True).detach()
    with_max = pw.where(pw.abs(with_max) == float("inf"), 0.0, with_max) \
        if input.dtype.is_floating_point else with_max
    total = sum(pw.exp(input - with_max), dims, keepdim=True)
    result = pw.log(total) + with_max
    if not keepdim:
        result = reshape(result, tuple(s for i, s in
                                       enumerate(input._shape)
                                       if i not in dims))
    return result


def _logical(input, dim, keepdim, every):
    arr = input._value()
    if not isinstance(arr, np.ndarray):
        from .cuda.reduce import logical
        return Tensor._make(logical(arr, reduce_dims(dim, arr.ndim),
                                    keepdim, every))
    arr = arr.astype(bool)
    axis = None if dim is None else reduce_dims(dim, arr.ndim)
    fn = arr.all if every else arr.any
    return Tensor._make(np.asarray(fn(axis=axis, keepdims=keepdim)))


def all(input, dim=None, keepdim=False):
    return _logical(input, dim, keepdim, True)


def any(input, dim=None, keepdim=False):
    return _logical(input, dim, keepdim, False)


def count_nonzero(input, dim=None):
    arr = input._value()
    if not isinstance(arr, np.ndarray):
        from .cuda import reduce as device
        return Tensor._make(device.count_nonzero(
            arr, reduce_dims(dim, arr.ndim)))
    axis = None if dim is None else reduce_dims(dim, arr.ndim)
    return Tensor._make(np.asarray(np.count_nonzero(arr, axis=axis),
                                   dtype=np.int64))
