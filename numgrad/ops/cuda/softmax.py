"""CUDA forwards of softmax and log_softmax (``numgrad/ops/softmax.py``).

The input is viewed as (outer, length, inner) around the softmax dim (see
``reduce.rows_view``); each row's max, sum of exponentials and outputs are
one kernel: a block per row when the row is the fast memory axis, a thread
per row otherwise (a softmax over a leading dim).  The exponentials are
taken in the input's precision (float32 ``exp`` is many times faster than
float64 on most GPUs), their per-thread sums in float64."""
import math

import numba
import numpy as np
from numba import cuda

from ...backends.cuda.array import DeviceArray
from ...backends.cuda.launch import (block_size, device_function, grid_for,
                                     launch)
from . import twin
from .reduce import BLOCK, MAX, SUM, by_block, rows_view, tree


@device_function
def _maximum(a, b):
    return a if (a >= b or a != a) else b


# A real device function under the simulator too: the loss kernels call
# it (see ``reduce.tree``).
@cuda.jit(device=True, inline="always")
def max_sumexp(x, o, i, cache):
    """(max, sum of exp(v - max)) over row ``x[o, :, i]``, returned to
    every thread of the block, which must all call it."""
    t = cuda.threadIdx.x
    n = x.shape[1]
    m = x[o, 0, i]
    for r in range(t, n, cuda.blockDim.x):
        m = _maximum(m, x[o, r, i])
    cache[t] = m
    cuda.syncthreads()
    tree(cache, MAX)
    top = cache[0]
    cuda.syncthreads()
    total = 0.0
    for r in range(t, n, cuda.blockDim.x):
        total += math.exp(x[o, r, i] - top)
    cache[t] = total
    cuda.syncthreads()
    tree(cache, SUM)
    total = cache[0]
    # Every thread has read cache[0] before the caller reuses the cache.
    cuda.syncthreads()
    return top, total


@device_function
def _softmax_block(x, out, log, cache):
    outer, n, inner = x.shape
    for task in range(cuda.blockIdx.x, outer * inner, cuda.gridDim.x):
        o = task // inner
        i = task % inner
        top, total = max_sumexp(x, o, i, cache)
        log_total = math.log(total)
        for r in range(cuda.threadIdx.x, n, cuda.blockDim.x):
            shifted = x[o, r, i] - top
            if log:
                out[o, r, i] = shifted - log_total
            else:
                out[o, r, i] = math.exp(shifted) / total


@cuda.jit(cache=True)
def softmax_block_f32(x, out, log):
    cache = cuda.shared.array(BLOCK, numba.float32)
    _softmax_block(x, out, log, cache)


@cuda.jit(cache=True)
def softmax_block_f64(x, out, log):
    cache = cuda.shared.array(BLOCK, numba.float64)
    _softmax_block(x, out, log, cache)


@cuda.jit(cache=True)
def softmax_thread(x, out, log):
    outer, n, inner = x.shape
    for task in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        o = task // inner
        i = task % inner
        top = x[o, 0, i]
        for r in range(1, n):
            top = _maximum(top, x[o, r, i])
        total = 0.0
        for r in range(n):
            total += math.exp(x[o, r, i] - top)
        log_total = math.log(total)
        for r in range(n):
            shifted = x[o, r, i] - top
            if log:
                out[o, r, i] = shifted - log_total
            else:
                out[o, r, i] = math.exp(shifted) / total


def row_kernel(x, f32_kernel, f64_kernel):
    """The block kernel of ``x``'s precision: float64 rows reduce in
    float64 shared memory, narrower ones in float32."""
    return f64_kernel if x.dtype == np.float64 else f32_kernel


def _softmax(x, dim, log):
    out = DeviceArray.empty(x.shape, x.dtype)
    if x.size == 0:
        return out
    view = rows_view(x, dim)
    outer, length, inner = view.shape
    rows = out.reshape(view.shape)
    if by_block(view):
        kernel = row_kernel(x, softmax_block_f32, softmax_block_f64)
        blocks, _ = grid_for(outer * inner, 1)
        launch(kernel, (blocks, block_size(length)), view, rows, log)
    else:
        launch(softmax_thread, grid_for(outer * inner), view, rows, log)
    return out


@twin("softmax")
def softmax(ctx, x, dim):
    return _softmax(x, dim, False)


@twin("log_softmax")
def log_softmax(ctx, x, dim):
    return _softmax(x, dim, True)
