"""softmax and log_softmax: one numerically stable row kernel each, with
backward written in differentiable ops."""
import numpy as np

from ..dtypes import cast_array
from ._dims import wrap_dim
from .reduce import sum as _sum, wide
from . import pointwise as pw
from .registry import op


@op("softmax", save=("out",))
def _softmax(ctx, x, dim):
    if x.size == 0:
        return np.empty_like(x)
    shifted = x.astype(wide(x.dtype), copy=False)
    shifted = shifted - np.max(shifted, axis=dim, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= np.sum(shifted, axis=dim, keepdims=True)
    return cast_array(shifted, x.dtype, copy=False)


@_softmax.backward
def _(ctx, g):
    y = ctx.out
    dim = ctx.params["dim"]
    return (y * (g - _sum(g * y, dim, keepdim=True)),)


@op("log_softmax", save=("out",))
def _log_softmax(ctx, x, dim):
    if x.size == 0:
        return np.empty_like(x)
    shifted = x.astype(wide(x.dtype), copy=False)
    shifted = shifted - np.max(shifted, axis=dim, keepdims=True)
    shifted -= np.log(np.sum(np.exp(shifted), axis=dim, keepdims=True))
    return cast_array(shifted, x.dtype, copy=False)


@_log_softmax.backward
def _(ctx, g):
    y = ctx.out
    dim = ctx.params["dim"]
    return (g - pw.exp(y) * _sum(g, dim, keepdim=True),)


def _prepare(input, dim, dtype):
    if dtype is not None:
        input = input.to(dtype)
    if not input.dtype.is_floating_point:
        input = input.float()
    if dim is None:
        dim = 0 if input.dim() in (0, 1, 3) else 1
    return input, wrap_dim(dim, input.dim())


def softmax(input, dim=None, dtype=None):
    input, dim = _prepare(input, dim, dtype)
    if input.dim() == 0:
        return _softmax(input.reshape(1), dim=0).reshape(())
    return _softmax(input, dim=dim)


def log_softmax(input, dim=None, dtype=None):
    input, dim = _prepare(input, dim, dtype)
    if input.dim() == 0:
        return _log_softmax(input.reshape(1), dim=0).reshape(())
    return _log_softmax(input, dim=dim)
