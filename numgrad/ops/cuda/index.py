"""CUDA forwards of the indexing ops (``numgrad/ops/index.py``).

Basic indices (ints, slices, None, ...) are views, as on the CPU.  An
advanced index is planned on the host into one ``_Access``: for element
``o`` of the C-ordered result, the element it reads (or writes) is

    base[start + offsets[(o // inner) % offsets.size]
         + sum_d digit_d(o) * layout[1, d]]

where ``digit_d(o)`` are the digits of ``o`` in the sizes ``layout[0]``
and ``base`` is a 1-D array over every element the indexed view reaches.
The index arrays' contribution is precomputed into ``offsets``, so one
gather kernel and two scatter kernels (assignment, and ``cuda.atomic.add``
for gradients, where indices can repeat) serve ``x[index]`` and its
backward, ``x[index] = v`` and ``gather``/its backward alike.

Index arrays reach the kernels checked and wrapped to ``[0, size)`` (see
``device_index``), so the kernels never read out of bounds."""
import numpy as np
from numba import cuda

from ...backends.cuda.array import DeviceArray, copy_into
from ...backends.cuda.launch import device_function, grid_for, launch
from . import twin

# cuda.atomic.add's types; other dtypes accumulate in a wider one.
_ATOMIC = {np.dtype(t) for t in (np.float32, np.float64, np.int32,
                                  np.int64, np.uint32, np.uint64)}


# ---- kernels ------------------------------------------------------------
@cuda.jit(cache=True)
def _wrap_indices(out, indices, size, error):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        k = indices[i]
        if k < 0:
            k += size
        if k < 0 or k >= size:
            # Any offending value will do for the message.
            error[0] = 1
            error[1] = indices[i]
            k = 0
        out[i] = k


@cuda.jit(cache=True)
def _add_offsets(offsets, indices, stride):
    for i in range(cuda.grid(1), offsets.size, cuda.gridsize(1)):
        offsets[i] += indices[i] * stride


@device_function
def _element(o, start, layout, offsets, inner):
    at = start + offsets[(o // inner) % offsets.size]
    rest = o
    for d in range(layout.shape[1] - 1, -1, -1):
        size = layout[0, d]
        at += (rest % size) * layout[1, d]
        rest //= size
    return at


@cuda.jit(cache=True)
def _gather(out, base, start, layout, offsets, inner):
    for o in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[o] = base[_element(o, start, layout, offsets, inner)]


@cuda.jit(cache=True)
def _scatter(values, base, start, layout, offsets, inner):
    for o in range(cuda.grid(1), values.size, cuda.gridsize(1)):
        base[_element(o, start, layout, offsets, inner)] = values[o]


@cuda.jit(cache=True)
def _scatter_add(values, base, start, layout, offsets, inner):
    for o in range(cuda.grid(1), values.size, cuda.gridsize(1)):
        cuda.atomic.add(base, _element(o, start, layout, offsets, inner),
                        values[o])


# ---- index normalisation ------------------------------------------------
def checked_indices(indices, size, dim):
    """``indices`` (a NumPy or device integer array) as an int64
    DeviceArray wrapped to ``[0, size)``; IndexError if one is out of
    range.  Device indices are checked by a kernel whose verdict is read
    back: a synchronisation, the price of never reading out of bounds
    (PyTorch's device-side assert stops the process instead)."""
    if indices.dtype.kind not in "iu":
        raise IndexError("tensors used as indices must be long, int, byte "
                         "or bool tensors")
    if isinstance(indices, np.ndarray):
        bad = (indices < -size) | (indices >= size)
        if bad.any():
            _out_of_bounds(indices[bad].flat[0], dim, size)
        return DeviceArray.from_host(
            np.where(indices < 0, indices + size, indices).astype(np.int64))
    out = DeviceArray.empty(indices.shape, np.int64)
    if out.size:
        dense = indices if indices.is_contiguous() else indices.copy()
        error = DeviceArray.from_host(np.zeros(2, np.int64))
        launch(_wrap_indices, grid_for(out.size), out.reshape(-1),
               dense.reshape(-1), int(size), error)
        failed, value = error.copy_to_host()
        if failed:
            _out_of_bounds(value, dim, size)
    return out


def _out_of_bounds(value, dim, size):
    raise IndexError(f"index {int(value)} is out of bounds for dimension "
                     f"{dim} with size {size}")


def device_index(shape, index):
    """``index`` for a CUDA tensor of ``shape``, every array in it an
    int64 DeviceArray of in-range, non-negative indices (NumPy arrays and
    lists are moved to the device).  A boolean mask becomes the integer
    arrays of its True positions, NumPy's own rule; their number decides
    the result's shape, so the mask is read on the host (PyTorch
    synchronises there too)."""
    parts = index if isinstance(index, tuple) else (index,)
    consumed = sum(p.ndim if _is_mask(p) else 1 for p in parts
                   if p is not None and p is not Ellipsis)
    out = []
    dim = 0
    for p in parts:
        if p is None or p is Ellipsis:
            out.append(p)
            if p is Ellipsis:
                dim += len(shape) - consumed
            continue
        width = p.ndim if _is_mask(p) else 1
        if dim + width > len(shape):
            raise IndexError(f"too many indices for tensor of dimension "
                             f"{len(shape)}")
        if _is_mask(p):
            out += _mask_indices(p, shape, dim)
        elif isinstance(p, (np.ndarray, DeviceArray)):
            out.append(checked_indices(p, shape[dim], dim))
        else:
            out.append(p)
        dim += width
    return tuple(out)


def _is_mask(p):
    return isinstance(p, (np.ndarray, DeviceArray)) and p.dtype == np.bool_


def _mask_indices(mask, shape, dim):
    host = mask if isinstance(mask, np.ndarray) else mask.copy_to_host()
    if host.ndim == 0:
        raise IndexError("a 0-dimensional boolean index is not supported "
                         "for CUDA tensors")
    for k, n in enumerate(host.shape):
        if n != shape[dim + k]:
            raise IndexError(
                f"The shape of the mask {list(host.shape)} at index {k} "
                f"does not match the shape of the indexed tensor "
                f"{list(shape)} at index {dim + k}")
    return [DeviceArray.from_host(i.astype(np.int64))
            for i in np.nonzero(host)]


def is_advanced(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, DeviceArray) for p in parts)


# ---- planning -----------------------------------------------------------
class _Access:
    """The elements of ``target`` that a result of ``shape`` reads or
    writes, in the form the kernels take (see the module docstring)."""

    def __init__(self, target, shape, sizes, strides, offsets, inner):
        self.shape = tuple(shape)
        self.size = int(np.prod(self.shape, dtype=np.int64))
        self.base, self.start = _flat(target)
        self.layout = DeviceArray.from_host(np.array([sizes, strides],
                                                     np.int64))
        self.offsets = offsets
        self.inner = int(inner)

    def _run(self, kernel, array):
        launch(kernel, grid_for(self.size), array.reshape(-1), self.base,
               self.start, self.layout, self.offsets, self.inner)

    def gather(self):
        out = DeviceArray.empty(self.shape, self.base.dtype)
        if self.size:
            self._run(_gather, out)
        return out

    def scatter(self, values):
        if self.size:
            self._run(_scatter, _dense(values, self.shape, self.base.dtype))

    def scatter_add(self, values):
        if self.size:
            self._run(_scatter_add,
                      _dense(values, self.shape, self.base.dtype))


def _flat(view):
    """A 1-D array over every element ``view`` reaches (strides may be
    negative or zero), and the position of ``view``'s first element in
    it, in elements."""
    item = view.itemsize
    if any(n == 0 for n in view.shape):
        return view.as_strided((0,), (item,)), 0
    low = sum(s * (n - 1) for n, s in zip(view.shape, view.strides) if s < 0)
    high = sum(s * (n - 1) for n, s in zip(view.shape, view.strides)
               if s > 0)
    base = view.as_strided(((high - low) // item + 1,), (item,),
                           offset=view.offset + low)
    return base, -low // item


def _dense(values, shape, dtype):
    """``values`` broadcast to ``shape`` and cast, C-contiguous."""
    if values.shape == tuple(shape) and values.dtype == dtype \
            and values.is_contiguous():
        return values
    out = DeviceArray.empty(shape, dtype)
    copy_into(out, values)
    return out


def _offsets(count, parts):
    """Sum of ``indices * stride`` over ``parts``, each ``indices``
    broadcast to ``count`` elements (C order) of the result."""
    offsets = DeviceArray.empty((count,), np.int64)
    offsets.fill(0)
    if count:
        for indices, shape, stride in parts:
            flat = _dense(indices, shape, np.dtype(np.int64)).reshape(-1)
            launch(_add_offsets, grid_for(count), offsets, flat,
                   int(stride))
    return offsets


def _select(array, index):
    """The ``_Access`` of ``array[index]``, ``index`` advanced.

    NumPy's rule: the index arrays (and, alongside them, integers, as 0-d
    arrays) broadcast to one shape, which replaces the dimensions they
    index -- in place if they are adjacent in the index (an Ellipsis or
    None between them separates them), else at the front."""
    parts = index if isinstance(index, tuple) else (index,)
    consumed = sum(p is not None and p is not Ellipsis for p in parts)
    key, advanced, positions = [], [], []
    for at, p in enumerate(parts):
        if p is Ellipsis:
            key += [slice(None)] * (array.ndim - consumed)
        elif p is None or isinstance(p, slice):
            key.append(p)
        else:
            positions.append(at)
            advanced.append((len(key), p))
            key.append(slice(None))
    if not any(p is Ellipsis for p in parts):
        key += [slice(None)] * (array.ndim - consumed)
    view = array[tuple(key)]
    arrays = [p for _, p in advanced if isinstance(p, DeviceArray)]
    try:
        picked = tuple(np.broadcast_shapes(*(a.shape for a in arrays)))
    except ValueError:
        raise IndexError(
            "shape mismatch: indexing tensors could not be broadcast "
            "together with shapes " + ", ".join(
                str(list(a.shape)) for a in arrays)) from None
    item = array.itemsize
    dims = {d for d, _ in advanced}
    adjacent = positions == list(range(positions[0],
                                       positions[0] + len(positions)))
    split = advanced[0][0] if adjacent else -1
    front = [d for d in range(view.ndim) if d not in dims and d < split]
    back = [d for d in range(view.ndim) if d not in dims and d > split]
    count = int(np.prod(picked, dtype=np.int64))
    sizes = ([view.shape[d] for d in front] + [count]
             + [view.shape[d] for d in back])
    strides = ([view.strides[d] // item for d in front] + [0]
               + [view.strides[d] // item for d in back])
    shape = (tuple(view.shape[d] for d in front) + picked
             + tuple(view.shape[d] for d in back))
    # Integers are fixed offsets: fold them into the view's start.
    fixed = [(d, p) for d, p in advanced if not isinstance(p, DeviceArray)]
    key = [slice(None)] * view.ndim
    for d, p in fixed:
        at = int(p) % view.shape[d]
        key[d] = slice(at, at + 1)
    view = view[tuple(key)]
    offsets = _offsets(count, [(p, picked, view.strides[d] // item)
                               for d, p in advanced
                               if isinstance(p, DeviceArray)])
    inner = int(np.prod([view.shape[d] for d in back], dtype=np.int64))
    return _Access(view, shape, sizes, strides, offsets, inner)


def _along(array, indices, dim):
    """The ``_Access`` of ``take_along_axis(array, indices, dim)``: the
    result has ``indices``' shape, and ``indices`` picks along ``dim``
    (``ops.index.gather`` has checked that it fits inside ``array``)."""
    item = array.itemsize
    strides = [s // item for s in array.strides]
    offsets = _offsets(indices.size, [(indices, indices.shape,
                                       strides[dim])])
    strides[dim] = 0
    return _Access(array, indices.shape, indices.shape, strides, offsets, 1)


def _zeros(shape, dtype):
    out = DeviceArray.empty(shape, dtype)
    out.fill(0)
    return out


def _accumulator(dtype):
    """The dtype a scatter-add accumulates ``dtype`` in."""
    if dtype in _ATOMIC:
        return dtype
    return np.dtype(np.float32 if dtype.kind == "f" else np.int64)


# ---- twins ----------------------------------------------------------------
@twin("index")
def index(ctx, x, index):
    ctx.input_shape = x.shape
    if not is_advanced(index):
        return x[index]
    return _select(x, index).gather()


@twin("index_backward")
def index_backward(ctx, g, index, shape):
    if not is_advanced(index):
        out = _zeros(shape, g.dtype)
        out[index] = g
        return out
    out = _zeros(shape, _accumulator(g.dtype))
    _select(out, index).scatter_add(g)
    return out.astype(g.dtype, copy=False)


@twin("index_put")
def index_put(ctx, x, values, index):
    ctx.values_shape = values.shape
    out = x.copy()
    if not is_advanced(index):
        out[index] = values
    else:
        _select(out, index).scatter(values)
    return out


@twin("index_fill_zero")
def index_fill_zero(ctx, g, index):
    out = g.copy()
    if not is_advanced(index):
        out[index] = 0
    else:
        _select(out, index).scatter(_zeros((), g.dtype))
    return out


@twin("gather")
def gather(ctx, x, index, dim, index_array):
    ctx.input_shape = x.shape
    return _along(x, index_array, dim).gather()


@twin("scatter_add_zeros")
def scatter_add_zeros(ctx, g, index_array, dim, shape):
    out = _zeros(shape, _accumulator(g.dtype))
    _along(out, index_array, dim).scatter_add(g)
    return out.astype(g.dtype, copy=False)
