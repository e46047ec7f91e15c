"""The restricted unpickler and the stand-ins a checkpoint pickle may name.

Only the handful of globals that describe tensors, storages, dtypes and
``collections.OrderedDict`` resolve, to local side-effect free stand-ins;
any other global raises :class:`pickle.UnpicklingError`.  Before the C
unpickler runs, a scan checks every length and memo index the pickle
claims, since the C unpickler allocates what an opcode claims before it
finds the data missing.
"""
import collections
import io
import pickle
import pickletools
import struct

import numpy as np

from ._common import (CorruptCheckpointError, check_shape, corrupt,
                      remaining)

NEVER_EXEC = "numgrad never executes code from a checkpoint"


class _Frozen:
    """Base for every object a pickle can reach: attributes cannot be set
    from outside (pickle's BUILD opcode would otherwise let a checkpoint
    rewrite the shared stand-ins, e.g. remap ``torch.FloatStorage``)."""

    __slots__ = ()

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def _set(self, **kw):
        for k, v in kw.items():
            object.__setattr__(self, k, v)


class _Func(_Frozen):
    """Read-only wrapper for the functions a pickle may call."""

    __slots__ = ("_fn", "__name__")

    def __init__(self, fn):
        self._set(_fn=fn, __name__=fn.__name__)

    def __call__(self, *args):
        return self._fn(*args)

    def __repr__(self):
        return f"<numgrad stand-in for torch._utils.{self.__name__}>"


class DType(_Frozen):
    """Stand-in for a ``torch.dtype`` (e.g. the global ``torch.float32``)."""

    __slots__ = ("name", "np", "convert", "itemsize")

    def __init__(self, name, np_dtype, convert=None, itemsize=None):
        # np: little-endian storage dtype as found in checkpoints, or None
        # when numpy cannot represent it.  convert: 'bfloat16' / 'float16'
        # -> converted to float32 when loaded
        np_dtype = None if np_dtype is None else np.dtype(np_dtype)
        self._set(name=name, np=np_dtype, convert=convert,
                  itemsize=itemsize or np_dtype.itemsize)

    def __repr__(self):
        return "torch." + self.name

    def __reduce__(self):  # never pickled by us; keep it inert
        raise TypeError("torch dtype stand-ins are not picklable")


def _make_dtypes():
    table = {}

    def add(names, np_dtype, convert=None, itemsize=None):
        d = DType(names[0], np_dtype, convert, itemsize)
        for n in names:
            table[n] = d

    add(("float32", "float"), "<f4")
    add(("float64", "double"), "<f8")
    add(("float16", "half"), "<f2", "float16")
    add(("bfloat16",), "<u2", "bfloat16")
    add(("int64", "long"), "<i8")
    add(("int32", "int"), "<i4")
    add(("int16", "short"), "<i2")
    add(("int8",), "i1")
    add(("uint8",), "u1")
    add(("bool",), "?")
    add(("complex64", "cfloat"), "<c8")
    add(("complex128", "cdouble"), "<c16")
    add(("uint16",), "<u2")
    add(("uint32",), "<u4")
    add(("uint64",), "<u8")
    # dtypes numpy cannot represent: recognised, refused when loaded; the
    # item size still checks the storage record's length
    for names, itemsize in ((("complex32", "chalf"), 4), (("qint32",), 4),
                            (("bits16",), 2)):
        add(names, None, itemsize=itemsize)
    for n in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz",
              "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2",
              "qint8", "quint8", "quint4x2", "quint2x4", "bits1x8",
              "bits2x4", "bits4x2", "bits8"):
        add((n,), None, itemsize=1)
    return table


DTYPES = _make_dtypes()


class StorageType(_Frozen):
    """Stand-in for ``torch.FloatStorage`` & co (used as a type tag only)."""

    __slots__ = ("name", "dtype")

    def __init__(self, name, dtype):
        self._set(name=name, dtype=dtype)  # dtype None for TypedStorage

    def __repr__(self):
        return "torch." + self.name

    def __reduce__(self):
        raise TypeError("torch storage stand-ins are not picklable")


STORAGE_TYPES = {
    name: StorageType(name, DTYPES[dt]) for name, dt in (
        ("FloatStorage", "float32"), ("DoubleStorage", "float64"),
        ("HalfStorage", "float16"), ("BFloat16Storage", "bfloat16"),
        ("LongStorage", "int64"), ("IntStorage", "int32"),
        ("ShortStorage", "int16"), ("CharStorage", "int8"),
        ("ByteStorage", "uint8"), ("BoolStorage", "bool"),
        ("ComplexFloatStorage", "complex64"),
        ("ComplexDoubleStorage", "complex128"),
    )
}
_UNTYPED_STORAGE = StorageType("UntypedStorage", DTYPES["uint8"])
_TYPED_STORAGE = StorageType("TypedStorage", None)


def _bfloat16_to_float32(u16):
    return (u16.astype(np.uint32) << 16).view(np.float32)


class Storage(_Frozen):
    """A storage of a checkpoint: raw bytes, or for the legacy format a
    view (``root``, ``byte_offset``) of another storage.

    Every tensor on a storage is a view of one array per dtype (cached in
    ``_typed``), so tensors that shared a storage when saved share memory
    once loaded, as with ``torch.load``.
    """

    __slots__ = ("name", "dtype", "numel", "data", "root", "byte_offset",
                 "byteorder", "_typed", "_swapped")

    def __init__(self, name, dtype, numel, data=None, root=None,
                 byte_offset=0, byteorder="<"):
        self._set(name=name, dtype=dtype, numel=numel, data=data, root=root,
                  byte_offset=byte_offset, byteorder=byteorder, _typed={},
                  _swapped=None)

    def typed(self, dtype):
        """1-D writable native-endian array of the storage as ``dtype``
        (float16/bfloat16 become float32)."""
        if dtype.np is None:
            raise RuntimeError(
                f"numgrad cannot load tensors of dtype {dtype!r} (numpy has "
                "no equivalent)")
        arr = self._typed.get(dtype.name)
        if arr is None:
            arr = self._view_of_root(dtype) if self.root is not None \
                else self._from_bytes(dtype)
            self._typed[dtype.name] = arr
        return arr

    def _view_of_root(self, dtype):
        base = self.root.typed(dtype)
        item = dtype.np.itemsize
        start = self.byte_offset // item
        if self.byte_offset % item or start + self.numel > base.shape[0]:
            raise corrupt(
                f"storage view {self.name!r} of {self.numel} elements at "
                f"element {start} lies outside storage {self.root.name!r} "
                f"({base.shape[0]} elements)")
        return base[start:start + self.numel]

    def _from_bytes(self, dtype):
        if self.data is None:
            raise corrupt(f"the data of storage {self.name!r} is missing")
        npdt = dtype.np
        arr = np.frombuffer(self.data, npdt.newbyteorder(self.byteorder),
                            count=len(self.data) // npdt.itemsize)
        if not arr.dtype.isnative:
            # swap the bytes once, in place, as torch does: later views
            # of another item size would read them wrongly
            if self._swapped not in (None, npdt.itemsize):
                raise corrupt(f"big-endian storage {self.name!r} is read "
                              "with dtypes of different sizes")
            if self._swapped is None:
                arr.byteswap(inplace=True)
                self._set(_swapped=npdt.itemsize)
            arr = arr.view(arr.dtype.newbyteorder("="))
        if dtype.convert == "bfloat16":
            return _bfloat16_to_float32(arr)
        if dtype.convert == "float16":
            return arr.astype(np.float32)
        return arr


def _as_int(x, what):
    if isinstance(x, bool) or not isinstance(x, int):
        raise corrupt(f"{what} must be an int, got {type(x).__name__}")
    return x


def _may_overlap(size, stride):
    """True unless every element has a memory location of its own (a
    sufficient test: each stride passes all smaller dimensions)."""
    reach = 0
    for st, n in sorted((st, n) for n, st in zip(size, stride) if n > 1):
        if st <= reach:
            return True
        reach += (n - 1) * st
    return False


class LazyTensor(_Frozen):
    """A tensor described by the pickle, built once storages are read."""

    __slots__ = ("storage", "offset", "size", "stride", "dtype",
                 "requires_grad", "_array")

    def __init__(self, storage, offset, size, stride, dtype,
                 requires_grad=False):
        if not isinstance(storage, Storage):
            raise corrupt(f"tensor rebuilt from {type(storage).__name__}, "
                          "expected a storage")
        if not isinstance(size, (tuple, list)) or \
                not isinstance(stride, (tuple, list)):
            raise corrupt("tensor size/stride must be tuples")
        if len(size) != len(stride):
            raise corrupt("tensor size and stride differ in length")
        if not isinstance(dtype, DType):
            raise corrupt("tensor dtype is not a torch dtype")
        self._set(storage=storage,
                  offset=_as_int(offset, "storage_offset"),
                  size=tuple(_as_int(s, "size") for s in size),
                  stride=tuple(_as_int(s, "stride") for s in stride),
                  dtype=dtype, requires_grad=bool(requires_grad), _array=None)

    def materialize(self):
        if self._array is None:
            self._set(_array=self._view())
        return self._array

    def _view(self):
        """A view of the storage, never a copy: a stride-0 tensor of 2**28
        elements stays the 4 bytes its file holds."""
        base = self.storage.typed(self.dtype)
        size, offset = self.size, self.offset
        what = f"tensor on storage {self.storage.name!r}"
        numel = check_shape(size, base.itemsize, what)
        if numel == 0:
            # torch checks no bounds for an empty tensor either
            return np.empty(size, base.dtype)
        # the stride of a dimension of length 1 is never used
        stride = tuple(st if n > 1 else 0 for n, st in zip(size, self.stride))
        if offset < 0 or any(st < 0 for st in stride):
            raise corrupt(f"{what} has a negative storage offset or stride "
                          f"(size {size}, stride {self.stride}, offset "
                          f"{offset})")
        needed = offset + 1 + sum((n - 1) * st for n, st in zip(size, stride))
        if needed > base.shape[0]:
            raise corrupt(
                f"{what}: size {size}, stride {self.stride} and storage "
                f"offset {offset} need {needed} elements but the storage "
                f"holds {base.shape[0]} (out of bounds for storage)")
        item = base.itemsize
        arr = np.ndarray(size, base.dtype, buffer=base, offset=offset * item,
                         strides=tuple(st * item for st in stride))
        if _may_overlap(size, stride):
            # elements share memory (an expanded tensor): numgrad's
            # expanded views are read-only, and torch refuses in-place
            # ops on them too
            arr.flags.writeable = False
        return arr


def _rebuild_tensor(storage, storage_offset, size, stride):
    if not isinstance(storage, Storage):
        raise corrupt("_rebuild_tensor expects a storage")
    return LazyTensor(storage, storage_offset, size, stride, storage.dtype)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
                       backward_hooks, metadata=None):
    t = _rebuild_tensor(storage, storage_offset, size, stride)
    t._set(requires_grad=bool(requires_grad))
    return t


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad,
                       backward_hooks, dtype, metadata=None):
    return LazyTensor(storage, storage_offset, size, stride, dtype,
                      requires_grad)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    if not isinstance(data, LazyTensor):
        raise corrupt("_rebuild_parameter expects a tensor")
    data._set(requires_grad=bool(requires_grad))
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return _rebuild_parameter(data, requires_grad, backward_hooks)


def _torch_size(*args):
    return tuple(*args)


def _allowed_globals():
    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch", "Size"): _Func(_torch_size),
        ("torch.storage", "UntypedStorage"): _UNTYPED_STORAGE,
        ("torch", "UntypedStorage"): _UNTYPED_STORAGE,
        ("torch.storage", "TypedStorage"): _TYPED_STORAGE,
        ("torch", "TypedStorage"): _TYPED_STORAGE,
    }
    for fn in (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3,
               _rebuild_parameter, _rebuild_parameter_with_state):
        allowed[("torch._utils", fn.__name__)] = _Func(fn)
    for name, st in STORAGE_TYPES.items():
        allowed[("torch", name)] = st
        # legacy checkpoints saved from GPU tensors; loaded onto the CPU
        allowed[("torch.cuda", name)] = st
    for name, dt in DTYPES.items():
        allowed[("torch", name)] = dt
    return allowed


_ALLOWED_GLOBALS = _allowed_globals()


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler resolving only tensor/storage/dtype/container globals."""

    def __init__(self, file, persistent_load=None):
        super().__init__(file, encoding="utf-8")
        self._persistent_load_fn = persistent_load

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            pass
        raise pickle.UnpicklingError(
            f"refusing to unpickle global '{module}.{name}': only tensors, "
            f"storages, dtypes and containers can be loaded ({NEVER_EXEC})")

    def persistent_load(self, pid):
        if self._persistent_load_fn is None:
            raise pickle.UnpicklingError(
                "unexpected persistent id in checkpoint pickle")
        return self._persistent_load_fn(pid)


_MEMO_PUTS = ("PUT", "BINPUT", "LONG_BINPUT")


def scan_pickle(fh, what):
    """Walk the pickle at the position of ``fh`` up to its STOP opcode,
    checking what the C unpickler would otherwise allocate on trust:
    counted strings longer than the file (pickletools reads them from
    ``fh``, so its reads stay bounded), frames, and memo indices (the C
    memo grows to twice the largest index it is given)."""
    puts, top = 0, -1
    try:
        for op, arg, pos in pickletools.genops(fh):
            if op.name in _MEMO_PUTS:
                puts += 1
                top = max(top, arg)
            elif op.name == "MEMOIZE":
                puts += 1
            elif op.name == "FRAME" and arg > remaining(fh):
                raise ValueError(f"frame of {arg} bytes at position {pos} "
                                 "runs past the end of the pickle")
    except (ValueError, struct.error, OverflowError) as exc:
        raise CorruptCheckpointError(f"corrupt {what}: {exc}") from None
    if top >= puts:
        raise CorruptCheckpointError(
            f"corrupt {what}: memo index {top} but only {puts} memo "
            "entries are stored")


# what the C unpickler or a stand-in raises for a malformed pickle
_MALFORMED = (TypeError, AttributeError, IndexError, KeyError, ValueError,
              OverflowError, EOFError, struct.error)


def unpickle(data, what, persistent_load=None, scanned=False):
    """Unpickle the bytes ``data`` (one whole pickle) with the stand-ins."""
    if not scanned:
        scan_pickle(io.BytesIO(data), what)
    try:
        return _RestrictedUnpickler(io.BytesIO(data), persistent_load).load()
    except pickle.UnpicklingError:
        raise
    except _MALFORMED as exc:
        raise CorruptCheckpointError(
            f"corrupt {what}: {type(exc).__name__}: {exc}") from None


def decode_ascii(s):
    return s.decode("ascii") if isinstance(s, bytes) else s


def check_storage_pid(pid, n):
    if not isinstance(pid, tuple) or len(pid) < 1:
        raise corrupt("persistent id must be a tuple")
    typename = decode_ascii(pid[0])
    if typename != "storage":
        raise pickle.UnpicklingError(
            f"unsupported persistent id type {typename!r} in checkpoint "
            f"(only 'storage' is supported; {NEVER_EXEC})")
    if len(pid) != n:
        raise corrupt(f"storage persistent id has {len(pid)} fields, "
                      f"expected {n}")
    storage_type = pid[1]
    if not isinstance(storage_type, StorageType):
        raise corrupt("persistent id does not name a storage type")
    if storage_type.dtype is None:
        raise corrupt("storage type without a dtype")
    key = decode_ascii(pid[2])
    if not isinstance(key, str):
        raise corrupt("storage key must be a string")
    return storage_type.dtype, key, _as_int(pid[4], "storage numel")
