"""CUDA forwards of the fused losses (``numgrad/ops/loss.py``) and the
device half of cross entropy's backward.

``cross_entropy_rows`` is a softmax row kernel (``softmax.max_sumexp``)
that keeps one value per row; ``binary_cross_entropy`` is elementwise, so
it is the CPU formula written with pointwise ops, which the fuser turns
into one kernel (broadcast weights included)."""
import math

import numba
from numba import cuda

from ...backends import to_device
from ...backends.cuda.array import DeviceArray
from ...backends.cuda.launch import (block_size, device_function, grid_for,
                                     launch)
from ...tensor import Tensor
from .. import loss as cpu
from .. import pointwise as pw
from . import twin
from .reduce import BLOCK
from .softmax import max_sumexp, row_kernel


@device_function
def _cross_entropy_rows(x, target, weight, weighted, ignore_index, out,
                        cache):
    for row in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
        top, total = max_sumexp(x, row, 0, cache)
        if cuda.threadIdx.x == 0:
            y = target[row]
            ignored = y == ignore_index
            safe = 0 if ignored else y
            w = 0.0 if ignored else (weight[safe] if weighted else 1.0)
            out[row] = (math.log(total) + top - x[row, safe, 0]) * w


@cuda.jit(cache=True)
def cross_entropy_rows_f32(x, target, weight, weighted, ignore_index, out):
    cache = cuda.shared.array(BLOCK, numba.float32)
    _cross_entropy_rows(x, target, weight, weighted, ignore_index, out,
                        cache)


@cuda.jit(cache=True)
def cross_entropy_rows_f64(x, target, weight, weighted, ignore_index, out):
    cache = cuda.shared.array(BLOCK, numba.float64)
    _cross_entropy_rows(x, target, weight, weighted, ignore_index, out,
                        cache)


@cuda.jit(cache=True)
def cross_entropy_terms(target, weight, weighted, ignore_index, w,
                        one_hot):
    n, classes = one_hot.shape
    for k in range(cuda.grid(1), n * classes, cuda.gridsize(1)):
        row = k // classes
        col = k % classes
        y = target[row]
        ignored = y == ignore_index
        safe = 0 if ignored else y
        one_hot[row, col] = 1 if col == safe else 0
        if col == 0:
            w[row] = 0 if ignored else (weight[safe] if weighted else 1)


def _class_arrays(target, weight, dtype, device):
    """The targets and class weights on ``device`` (the loss functions
    may pass host arrays), and a stand-in for absent weights (a kernel
    argument cannot be None)."""
    target = to_device(target, device)
    if weight is None:
        return target, DeviceArray.empty((1,), dtype), False
    return target, to_device(weight, device), True


@twin("cross_entropy_rows")
def cross_entropy_rows(ctx, x, *, target, weight, ignore_index):
    n, classes = x.shape
    out = DeviceArray.empty((n,), x.dtype)
    if n == 0:
        return out
    if classes == 0:
        raise ValueError("zero-size array to reduction operation maximum "
                         "which has no identity")
    target, weight, weighted = _class_arrays(target, weight, x.dtype,
                                             x.device)
    kernel = row_kernel(x, cross_entropy_rows_f32, cross_entropy_rows_f64)
    blocks, _ = grid_for(n, 1)
    launch(kernel, (blocks, block_size(classes)), x[:, :, None], target,
           weight, weighted, int(ignore_index), out)
    return out


def cross_entropy_backward_terms(x, target, weight, ignore_index):
    """For (N, C) logits ``x`` (a Tensor): w[y] per row (0 where ignored)
    and the targets' one-hot rows, as CUDA arrays."""
    shape, dtype = tuple(x.shape), x.dtype.np
    target, weight, weighted = _class_arrays(target, weight, dtype,
                                             x.device)
    w = DeviceArray.empty(shape[:1], dtype)
    one_hot = DeviceArray.empty(shape, dtype)
    if one_hot.size:
        launch(cross_entropy_terms, grid_for(one_hot.size), target, weight,
               weighted, int(ignore_index), w, one_hot)
    return w, one_hot


@twin("binary_cross_entropy")
def binary_cross_entropy(ctx, x, target, weight):
    x, target = Tensor._make(x), Tensor._make(target)
    log_x = pw.clamp_min(pw.log(x), cpu._LOG_FLOOR)
    log_1mx = pw.clamp_min(pw.log1p(-x), cpu._LOG_FLOOR)
    loss = -(target * log_x + (1 - target) * log_1mx)
    if weight is not None:
        loss = loss * Tensor._make(weight)
    return loss.to(x.dtype)._value()
