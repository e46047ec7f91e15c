"""CUDA forwards of the reductions (``numgrad/ops/reduce.py``) and of
``sum_to_size``, and the device paths of the reduce functions that bypass
the op table (argmax/argmin, all/any, count_nonzero).

Every reduction is one scheme.  The input is viewed, without a copy where
its strides allow, as ``(outer, length, inner)``: the reduced dims
collapsed into the middle axis, the kept dims around it.  Each output
element ``(o, i)`` combines its ``length`` values, each first mapped by a
*pre* step (``|v|``, ``v * v``...), and the combined value goes through a
*post* step (divide by the count, root) on its way to the output.  Two
kernels do this, chosen by the memory layout:

``block``   one block per output element, threads striding along the
            reduced axis, then a shared-memory tree.  Reads coalesce when
            the reduced axis is the fast one (a row sum).
``thread``  one thread per output element, consecutive threads on
            consecutive ``inner`` elements.  Reads coalesce when the kept
            axis is the fast one (a column sum: every bias gradient).

Both split a long reduced axis into ``parts`` chunks when there are too
few outputs to fill the GPU (a full sum has one): a pass writes the
partial results, ``(outer, parts, inner)`` in the accumulator dtype, and
the next pass reduces those.  Sums of floating inputs accumulate in
float64, of integers in int64 (as NumPy's integer sums do); the
accumulator lives in a one-element local array, so every update is a store
cast to the accumulator's dtype and an integer reduction never goes
through float64 even though its kernel compiles the floating pre steps.
Where reduced dims cannot be collapsed into one strided axis the
reduction runs in stages, each a run of dims that can."""
import math

import numba
import numpy as np
from numba import cuda

from ...backends.cuda.array import DeviceArray
from ...backends.cuda.launch import (block_size, device_function, grid_for,
                                     launch, properties)
from .. import reduce as cpu
from .._dims import keepdim_shape
from . import twin

# Pre steps: what each element contributes.
ELEMENT, ABS, SQUARE, ABS_POW, NONZERO = range(5)
# Combining operations.
SUM, PROD, MAX, MIN = range(4)
# Post steps, applied on the way to the final output.
NONE, DIVIDE, SQRT, ROOT = range(4)

# Shared memory per block, in elements: room for the largest block a
# device allows, so any launch configuration is safe.
BLOCK = 1024
# Fewest elements per chunk for which splitting a reduced axis over more
# blocks (threads) pays for the extra pass.
MIN_BLOCK_CHUNK = 8192
MIN_THREAD_CHUNK = 256

INT64_MIN = int(np.iinfo(np.int64).min)
INT64_MAX = int(np.iinfo(np.int64).max)


# ---- device functions ---------------------------------------------------
@device_function
def _combine(a, b, op):
    if op == SUM:
        return a + b
    if op == PROD:
        return a * b
    # NaN wins, as in NumPy's max/min.
    if op == MAX:
        return a if (a >= b or a != a) else b
    return a if (a <= b or a != a) else b


@device_function
def _accumulate(acc, v, op, pre, p):
    # One store per branch (no shared temporary), so an integer value
    # is never unified with the floating steps' results.
    if pre == ELEMENT:
        acc[0] = _combine(acc[0], v, op)
    elif pre == ABS:
        acc[0] = _combine(acc[0], abs(v), op)
    elif pre == SQUARE:
        acc[0] = _combine(acc[0], v * v, op)
    elif pre == ABS_POW:
        acc[0] = _combine(acc[0], abs(v) ** p, op)
    else:
        acc[0] = _combine(acc[0], 1 if v != 0 else 0, op)


@device_function
def _finish(out, o, part, i, value, post, p):
    if post == DIVIDE:
        out[o, part, i] = value / p
    elif post == SQRT:
        out[o, part, i] = math.sqrt(value)
    elif post == ROOT:
        out[o, part, i] = value ** (1.0 / p)
    else:
        out[o, part, i] = value


# A real device function even under the simulator, unlike the helpers
# above: kernels of other modules (softmax) call it, and only a simulated
# device function is given the launching kernel's fake ``cuda`` module.
@cuda.jit(device=True, inline="always")
def tree(cache, op):
    """Combine ``cache[:blockDim.x]`` into ``cache[0]``; every thread of
    the block must call it.  Halving with the odd element carried, so any
    block size works."""
    t = cuda.threadIdx.x
    active = cuda.blockDim.x
    while active > 1:
        half = (active + 1) // 2
        if t < active - half:
            cache[t] = _combine(cache[t], cache[t + half], op)
        cuda.syncthreads()
        active = half


@device_function
def _block_reduce(x, out, op, pre, post, p, init, acc, cache):
    outer, n, inner = x.shape
    parts = out.shape[1]
    chunk = (n + parts - 1) // parts
    t = cuda.threadIdx.x
    for task in range(cuda.blockIdx.x, outer * parts * inner,
                      cuda.gridDim.x):
        i = task % inner
        rest = task // inner
        part = rest % parts
        o = rest // parts
        start = part * chunk
        stop = min(n, start + chunk)
        acc[0] = init
        for r in range(start + t, stop, cuda.blockDim.x):
            _accumulate(acc, x[o, r, i], op, pre, p)
        cache[t] = acc[0]
        cuda.syncthreads()
        tree(cache, op)
        if t == 0:
            _finish(out, o, part, i, cache[0], post, p)
        # cache[0] is read before the next task overwrites the cache.
        cuda.syncthreads()


@device_function
def _thread_reduce(x, out, op, pre, post, p, init, acc):
    outer, n, inner = x.shape
    parts = out.shape[1]
    chunk = (n + parts - 1) // parts
    for task in range(cuda.grid(1), outer * parts * inner,
                      cuda.gridsize(1)):
        i = task % inner
        rest = task // inner
        part = rest % parts
        o = rest // parts
        start = part * chunk
        acc[0] = init
        for r in range(start, min(n, start + chunk)):
            _accumulate(acc, x[o, r, i], op, pre, p)
        _finish(out, o, part, i, acc[0], post, p)


@device_function
def _better(v, k, best, best_k, largest):
    """Whether candidate (v, k) beats (best, best_k) for argmax/argmin:
    a NaN beats any number, ties go to the first index, and k < 0 marks
    an empty candidate."""
    if k < 0:
        return False
    if best_k < 0:
        return True
    if best != best:
        return v != v and k < best_k
    if v != v:
        return True
    if v == best:
        return k < best_k
    return v > best if largest else v < best


@device_function
def _block_arg(x, out, largest, values, indices):
    outer, n, inner = x.shape
    t = cuda.threadIdx.x
    for task in range(cuda.blockIdx.x, outer * inner, cuda.gridDim.x):
        o = task // inner
        i = task % inner
        best_k = -1
        for r in range(t, n, cuda.blockDim.x):
            if _better(x[o, r, i], r, values[t], best_k, largest):
                values[t] = x[o, r, i]
                best_k = r
        indices[t] = best_k
        cuda.syncthreads()
        active = cuda.blockDim.x
        while active > 1:
            half = (active + 1) // 2
            if t < active - half and _better(values[t + half],
                                             indices[t + half], values[t],
                                             indices[t], largest):
                values[t] = values[t + half]
                indices[t] = indices[t + half]
            cuda.syncthreads()
            active = half
        if t == 0:
            out[o, i] = indices[0]
        cuda.syncthreads()


# ---- kernels --------------------------------------------------------------
# Each pair differs only in the accumulator dtype (shared and local arrays
# need a fixed one).
@cuda.jit(cache=True)
def block_reduce_float(x, out, op, pre, post, p, init):
    acc = cuda.local.array(1, numba.float64)
    cache = cuda.shared.array(BLOCK, numba.float64)
    _block_reduce(x, out, op, pre, post, p, init, acc, cache)


@cuda.jit(cache=True)
def block_reduce_int(x, out, op, pre, post, p, init):
    acc = cuda.local.array(1, numba.int64)
    cache = cuda.shared.array(BLOCK, numba.int64)
    _block_reduce(x, out, op, pre, post, p, init, acc, cache)


@cuda.jit(cache=True)
def thread_reduce_float(x, out, op, pre, post, p, init):
    acc = cuda.local.array(1, numba.float64)
    _thread_reduce(x, out, op, pre, post, p, init, acc)


@cuda.jit(cache=True)
def thread_reduce_int(x, out, op, pre, post, p, init):
    acc = cuda.local.array(1, numba.int64)
    _thread_reduce(x, out, op, pre, post, p, init, acc)


@cuda.jit(cache=True)
def block_arg_float(x, out, largest):
    values = cuda.shared.array(BLOCK, numba.float64)
    indices = cuda.shared.array(BLOCK, numba.int64)
    _block_arg(x, out, largest, values, indices)


@cuda.jit(cache=True)
def block_arg_int(x, out, largest):
    values = cuda.shared.array(BLOCK, numba.int64)
    indices = cuda.shared.array(BLOCK, numba.int64)
    _block_arg(x, out, largest, values, indices)


@cuda.jit(cache=True)
def thread_arg(x, out, largest):
    outer, n, inner = x.shape
    for task in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        o = task // inner
        i = task % inner
        best = x[o, 0, i]
        best_k = 0
        for r in range(1, n):
            if _better(x[o, r, i], r, best, best_k, largest):
                best = x[o, r, i]
                best_k = r
        out[o, i] = best_k


# ---- views ----------------------------------------------------------------
def _collapse(shape, strides):
    """(size, stride) of dims, outermost first, read as one axis, or None
    where their strides do not allow it."""
    size, stride = 1, 0
    for d, s in zip(reversed(shape), reversed(strides)):
        if d == 1:
            continue
        if size > 1 and s != stride * size:
            return None
        if size == 1:
            stride = s
        size *= d
    return size, stride


def _three_axes(x, outer, middle, inner):
    """``x`` viewed as (outer, middle, inner), each a list of dims read as
    one axis, or None where a group cannot be collapsed."""
    shape, strides = [], []
    for group in (outer, middle, inner):
        if 0 in [x.shape[d] for d in group]:
            shape.append(0)
            strides.append(0)
            continue
        axis = _collapse([x.shape[d] for d in group],
                         [x.strides[d] for d in group])
        if axis is None:
            return None
        shape.append(axis[0])
        strides.append(axis[1])
    return x.as_strided(shape, strides)


def rows_view(x, dim):
    """``x`` as (dims before ``dim``, ``dim``, dims after): copied to
    contiguous memory where its strides do not allow the view."""
    dims = range(x.ndim)
    groups = ([d for d in dims if d < dim], [dim], [d for d in dims
                                                     if d > dim])
    view = _three_axes(x, *groups)
    return view if view is not None else _three_axes(x.copy(), *groups)


def _reduction_view(x, dims):
    """(outer, length, inner) with ``dims`` in the middle, the kept dims
    split around them in order; the reduced dims are ordered by stride,
    as their order does not matter.  Where a reduced dim is the fastest in
    memory the inner group is kept small (a row reduction, by block),
    else large, so that it holds the fastest kept dim (by thread)."""
    kept = [d for d in range(x.ndim) if d not in dims]
    middle = sorted(dims, key=lambda d: -abs(x.strides[d]))

    def fastest(group):
        return min((abs(x.strides[d]) for d in group if x.shape[d] > 1),
                   default=math.inf)
    if fastest(middle) <= fastest(kept):
        splits = range(len(kept), -1, -1)
    else:
        splits = range(len(kept) + 1)
    for k in splits:
        view = _three_axes(x, kept[:k], middle, kept[k:])
        if view is not None:
            return view
    return None


# ---- the reduction driver -------------------------------------------------
def _is_float(dtype):
    return np.dtype(dtype).kind == "f"


def _initial(op, floating):
    if op == SUM:
        return 0.0 if floating else 0
    if op == PROD:
        return 1.0 if floating else 1
    if op == MAX:
        return -math.inf if floating else INT64_MIN
    return math.inf if floating else INT64_MAX


def _parts(tasks, length, capacity, min_chunk):
    if tasks >= capacity or length < 2 * min_chunk:
        return 1
    return min(-(-capacity // tasks), length // min_chunk)


def by_block(view):
    """Whether the block kernel suits the (outer, length, inner) view:
    its reduced axis is the faster one in memory."""
    return view.shape[2] == 1 or abs(view.strides[1]) <= abs(
        view.strides[2])


def _reduce_view(x, out, op, pre, post, p):
    """Reduce the (outer, length, inner) view ``x`` into ``out`` (outer, 1,
    inner), in several passes where the reduced axis is split."""
    outer, length, inner = x.shape
    props = properties()
    if by_block(x):
        parts = _parts(outer * inner, length, props["max_blocks"],
                       MIN_BLOCK_CHUNK)
    else:
        parts = _parts(outer * inner, length,
                       props["max_blocks"] * props["threads"],
                       MIN_THREAD_CHUNK)
    if parts > 1:
        floating = _is_float(out.dtype)
        partial = DeviceArray.empty((outer, parts, inner),
                                    np.float64 if floating else np.int64)
        _pass(x, partial, op, pre, NONE, p)
        _reduce_view(partial, out, op, ELEMENT, post, p)
    else:
        _pass(x, out, op, pre, post, p)


def _pass(x, out, op, pre, post, p):
    """One launch: (outer, length, inner) ``x`` into (outer, parts, inner)
    ``out``, the reduced axis split into ``parts`` chunks."""
    outer, length, inner = x.shape
    floating = _is_float(out.dtype)
    args = (x, out, op, pre, post, float(p), _initial(op, floating))
    if by_block(x):
        kernel = block_reduce_float if floating else block_reduce_int
        blocks, _ = grid_for(outer * out.shape[1] * inner, 1)
        chunk = -(-length // out.shape[1])
        launch(kernel, (blocks, block_size(chunk)), *args)
    else:
        kernel = thread_reduce_float if floating else thread_reduce_int
        launch(kernel, grid_for(outer * out.shape[1] * inner), *args)


def reduce(x, dims, out_dtype, op, pre=ELEMENT, post=NONE, p=0.0):
    """``x`` reduced over ``dims`` (a sorted tuple) into a new array of
    the kept dims; floating ``out_dtype`` accumulates in float64, any
    other in int64."""
    kept = [d for d in range(x.ndim) if d not in dims]
    out = DeviceArray.empty([x.shape[d] for d in kept], out_dtype)
    if out.size == 0:
        return out
    view = _reduction_view(x, dims)
    if view is None and not x.is_contiguous():
        return reduce(x.copy(), dims, out_dtype, op, pre, post, p)
    if view is None:
        # The reduced dims form several runs: reduce the last run, then
        # the rest of the (contiguous) intermediate.
        first = len(dims) - 1
        while first and dims[first - 1] == dims[first] - 1:
            first -= 1
        acc_dtype = np.float64 if _is_float(out_dtype) else np.int64
        partial = reduce(x, dims[first:], acc_dtype, op, pre, NONE, p)
        return reduce(partial, dims[:first], out_dtype, op, ELEMENT, post,
                      p)
    _reduce_view(view, out.reshape(view.shape[0], 1, view.shape[2]), op,
                 pre, post, p)
    return out


def _keep(out, input_shape, dims, keepdim):
    return out.reshape(keepdim_shape(input_shape, dims)) if keepdim else out


def numpy_reduce_dtype(dtype):
    """The dtype of NumPy's ``sum`` (and ``prod``) of a ``dtype`` array:
    integers widen to int64."""
    return np.zeros(0, dtype).sum().dtype


# ---- twins ---------------------------------------------------------------
@twin("sum_to_size")
def sum_to_size(ctx, x, shape):
    ctx.input_shape = x.shape
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i]
        != 1)
    if not axes:
        return x.reshape(shape)
    return reduce(x, axes, numpy_reduce_dtype(x.dtype), SUM).reshape(shape)


@twin("sum")
def sum_(ctx, x, dims, keepdim, dtype, input_shape, precomputed=None):
    ctx.input_shape, ctx.dims = input_shape, dims
    if precomputed is not None:
        return DeviceArray.from_host(cpu._total_array(
            precomputed, dtype, input_shape, keepdim))
    if not _is_float(dtype.np) and _is_float(x.dtype):
        # As NumPy: each element is cast, then the integers are summed.
        x = x.astype(dtype.np)
    return _keep(reduce(x, dims, dtype.np, SUM), input_shape, dims,
                 keepdim)


@twin("mean")
def mean(ctx, x, dims, keepdim, dtype, input_shape, precomputed=None):
    ctx.input_shape, ctx.dims = input_shape, dims
    ctx.count = int(np.prod([input_shape[d] for d in dims], dtype=np.int64))
    if precomputed is not None:
        return DeviceArray.from_host(cpu._total_array(
            precomputed / max(ctx.count, 1), dtype, input_shape, keepdim))
    return _keep(reduce(x, dims, x.dtype, SUM, post=DIVIDE, p=ctx.count),
                 input_shape, dims, keepdim)


@twin("prod")
def prod(ctx, x, dims, keepdim):
    ctx.input_shape, ctx.dims = x.shape, dims
    ctx.keepdim = keepdim
    out = reduce(x, dims, numpy_reduce_dtype(x.dtype), PROD)
    return _keep(out, x.shape, dims, keepdim)


@twin("amax")
def amax(ctx, x, dims, keepdim, largest):
    ctx.input_shape, ctx.dims = x.shape, dims
    out = reduce(x, dims, x.dtype, MAX if largest else MIN)
    return _keep(out, x.shape, dims, keepdim)


@twin("norm")
def norm(ctx, x, p, dims, keepdim):
    ctx.input_shape, ctx.dims = x.shape, dims
    if p == math.inf:
        out = reduce(x, dims, x.dtype, MAX, pre=ABS)
    elif p == 0:
        out = reduce(x, dims, x.dtype, SUM, pre=NONZERO)
    elif p == 1:
        out = reduce(x, dims, x.dtype, SUM, pre=ABS)
    elif p == 2:
        out = reduce(x, dims, x.dtype, SUM, pre=SQUARE, post=SQRT)
    else:
        out = reduce(x, dims, x.dtype, SUM, pre=ABS_POW, post=ROOT, p=p)
    return _keep(out, x.shape, dims, keepdim)


# ---- the reduce functions outside the op table -----------------------------
def arg_extreme(x, dim, largest):
    """argmax (argmin) over ``dim`` as an int64 array without that dim;
    ``dim`` None: over the flattened array, a 0-d result."""
    if dim is None:
        x, dim = x.reshape(-1), 0
    out = DeviceArray.empty(x.shape[:dim] + x.shape[dim + 1:], np.int64)
    if out.size == 0:
        return out
    view = rows_view(x, dim)
    outer, length, inner = view.shape
    out2 = out.reshape(outer, inner)
    if by_block(view):
        kernel = block_arg_float if _is_float(x.dtype) else block_arg_int
        blocks, _ = grid_for(outer * inner, 1)
        launch(kernel, (blocks, block_size(length)), view, out2,
               bool(largest))
    else:
        launch(thread_arg, grid_for(outer * inner), view, out2,
               bool(largest))
    return out


def logical(x, dims, keepdim, every):
    """all (``every``) or any over ``dims`` as a bool array."""
    # all: the minimum of x != 0 (1 over no elements); any: their count.
    out = reduce(x, dims, np.bool_, MIN if every else SUM, pre=NONZERO)
    return _keep(out, x.shape, dims, keepdim)


def count_nonzero(x, dims):
    return reduce(x, dims, np.int64, SUM, pre=NONZERO)
