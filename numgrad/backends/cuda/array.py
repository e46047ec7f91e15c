"""DeviceArray: the storage of a CUDA tensor.

A strided view (shape, byte strides, byte offset) over a block of the
caching pool, with the part of NumPy's ndarray interface that numgrad's
shape code uses: ``reshape``, ``transpose``, basic indexing, broadcasting,
``flags``, ``base``.  So view ops run the same forward code on both
devices, and only ops that compute need a CUDA twin.

Kernels receive ``.raw``: the Numba device array for the view (built on
first use).  Elementwise copies and casts go through the fuser's CUDA
template, so a copy into a strided or broadcast view is one kernel."""
import numpy as np

from . import numba_cuda, simulated
from .memory import pool


class Flags:
    __slots__ = ("c_contiguous", "writeable")

    def __init__(self, c_contiguous, writeable):
        self.c_contiguous = c_contiguous
        self.writeable = writeable


def contiguous_strides(shape, itemsize):
    strides = []
    step = itemsize
    for d in reversed(shape):
        strides.append(step)
        step *= max(d, 1)
    return tuple(reversed(strides))


class DeviceArray:
    __slots__ = ("buffer", "offset", "shape", "strides", "dtype", "_owner",
                 "_raw", "writeable", "__weakref__")

    def __init__(self, buffer, offset, shape, strides, dtype, owner,
                 writeable=True):
        self.buffer = buffer
        self.offset = offset
        self.shape = tuple(int(d) for d in shape)
        self.strides = tuple(int(s) for s in strides)
        self.dtype = dtype
        # The array that allocated ``buffer``: views keep it (and so the
        # pool block) alive.
        self._owner = owner
        self._raw = None
        self.writeable = writeable

    @classmethod
    def empty(cls, shape, dtype):
        dtype = np.dtype(dtype)
        shape = tuple(int(d) for d in shape)
        array = cls(None, 0, shape, contiguous_strides(shape, dtype.itemsize),
                    dtype, None)
        size = 1
        for d in shape:
            size *= d
        array.buffer = pool.allocate(array, size * dtype.itemsize)
        return array

    @classmethod
    def from_host(cls, host):
        # (np.ascontiguousarray would turn a 0-d array into shape (1,).)
        host = np.require(host, requirements="C")
        array = cls.empty(host.shape, host.dtype)
        if host.size:
            array.raw.copy_to_device(host)
        return array

    # ---- ndarray metadata -------------------------------------------
    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        size = 1
        for d in self.shape:
            size *= d
        return size

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    @property
    def flags(self):
        return Flags(self.is_contiguous(), self.writeable)

    @property
    def base(self):
        return self._owner

    @property
    def device(self):
        from .. import device
        return device("cuda", 0)

    def is_contiguous(self):
        if self.size <= 1:
            return True
        return all(s == c for s, c, d in zip(
            self.strides, contiguous_strides(self.shape, self.itemsize),
            self.shape) if d != 1)

    def owner(self):
        return self._owner if self._owner is not None else self

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return (f"DeviceArray(shape={self.shape}, dtype={self.dtype}, "
                f"strides={self.strides})")

    # ---- the numba view -----------------------------------------------
    @property
    def raw(self):
        raw = self._raw
        if raw is None:
            raw = self._raw = _numba_view(self)
        return raw

    # ---- views ---------------------------------------------------------
    def _view(self, shape, strides, offset=None, writeable=None):
        return DeviceArray(self.buffer, self.offset if offset is None
                           else offset, shape, strides, self.dtype,
                           self.owner(),
                           self.writeable if writeable is None
                           else writeable)

    def as_strided(self, shape, strides, offset=None):
        """A view of the same buffer with the given shape, byte strides and
        byte offset (default: this view's); the caller keeps it inside the
        buffer, as with NumPy's as_strided."""
        return self._view(tuple(shape), tuple(strides), offset)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = _infer_shape(shape, self.size)
        if shape == self.shape:
            return self._view(shape, self.strides)
        source = self if self.is_contiguous() else self.copy()
        return source._view(shape,
                            contiguous_strides(shape, self.itemsize))

    def ravel(self):
        return self.reshape(-1)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if not axes:
            axes = tuple(reversed(range(self.ndim)))
        return self._view([self.shape[a] for a in axes],
                          [self.strides[a] for a in axes])

    @property
    def T(self):
        return self.transpose()

    def swapaxes(self, a, b):
        axes = list(range(self.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return self.transpose(axes)

    def __getitem__(self, index):
        if not isinstance(index, tuple):
            index = (index,)
        if any(i is Ellipsis for i in index):
            at = next(k for k, i in enumerate(index) if i is Ellipsis)
            used = sum(1 for i in index if i is not None and i is not
                       Ellipsis)
            index = (index[:at] + (slice(None),) * (self.ndim - used)
                     + index[at + 1:])
        shape, strides = [], []
        offset = self.offset
        axis = 0
        for i in index:
            if i is None:
                shape.append(1)
                strides.append(0)
                continue
            if axis >= self.ndim:
                raise IndexError(f"too many indices for tensor of dimension "
                                 f"{self.ndim}")
            size, stride = self.shape[axis], self.strides[axis]
            if isinstance(i, slice):
                start, stop, step = i.indices(size)
                count = len(range(start, stop, step))
                if count:
                    offset += start * stride
                shape.append(count)
                strides.append(stride * step)
            elif isinstance(i, (int, np.integer)):
                k = int(i)
                if not -size <= k < size:
                    raise IndexError(
                        f"index {k} is out of bounds for dimension {axis} "
                        f"with size {size}")
                offset += (k % size) * stride
            else:
                raise TypeError(
                    "DeviceArray supports basic indexing only; advanced "
                    "indexing goes through numgrad's index op")
            axis += 1
        shape += self.shape[axis:]
        strides += self.strides[axis:]
        return self._view(shape, strides, offset)

    def __setitem__(self, index, value):
        view = self[index]
        if isinstance(value, DeviceArray):
            copy_into(view, value)
        elif isinstance(value, np.ndarray):
            copy_into(view, DeviceArray.from_host(value))
        else:
            view.fill(value)

    def broadcast_to(self, shape):
        shape = tuple(shape)
        lead = len(shape) - self.ndim
        strides = [0] * lead
        for d, (size, stride) in enumerate(zip(self.shape, self.strides)):
            target = shape[lead + d]
            if size == target:
                strides.append(stride)
            elif size == 1:
                strides.append(0)
            else:
                raise ValueError(f"cannot broadcast shape {self.shape} to "
                                 f"{shape}")
        return self._view(shape, strides, writeable=False)

    # ---- copies --------------------------------------------------------
    def copy(self):
        return self.astype(self.dtype)

    def astype(self, dtype, copy=True):
        dtype = np.dtype(dtype)
        if not copy and dtype == self.dtype:
            return self
        out = DeviceArray.empty(self.shape, dtype)
        copy_into(out, self)
        return out

    def copy_to_host(self):
        source = self if self.is_contiguous() else self.copy()
        host = np.empty(self.shape, self.dtype)
        if host.size:
            source.raw.copy_to_host(host)
        return host

    def fill(self, value):
        from ...fusion.executor import run_device_fill
        run_device_fill(self, value)


def copy_into(target, source):
    """Writes ``source`` (broadcast, cast) into ``target``'s view."""
    from ...fusion.executor import run_device_copy
    run_device_copy(target, source)


def broadcast_to(array, shape):
    return array.broadcast_to(shape)


def _infer_shape(shape, size):
    shape = [int(d) for d in shape]
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in shape:
        known = 1
        for d in shape:
            if d != -1:
                known *= d
        shape[shape.index(-1)] = size // known if known else 0
    total = 1
    for d in shape:
        total *= d
    if total != size:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of "
                           f"size {size}")
    return tuple(shape)


def _numba_view(array):
    cuda = numba_cuda()
    if simulated():
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
        host = np.ndarray(array.shape, array.dtype, buffer=array.buffer._ary,
                          offset=array.offset, strides=array.strides)
        return FakeCUDAArray(host)
    from numba.cuda.cudadrv.devicearray import DeviceNDArray
    data = array.buffer.gpu_data.view(array.offset)
    del cuda
    return DeviceNDArray(array.shape, array.strides, array.dtype,
                         gpu_data=data)
