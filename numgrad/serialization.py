"""Reading and writing checkpoints without importing torch.

Supported formats
-----------------
* PyTorch zip format (``torch.save`` default since torch 1.6): a zip archive
  with ``<archive>/data.pkl``, ``<archive>/data/<key>`` raw storages,
  ``<archive>/byteorder`` and ``<archive>/version``.
* PyTorch legacy format (``_use_new_zipfile_serialization=False``): magic
  number pickle, protocol version pickle, sys-info pickle, the main pickle,
  the pickled list of storage keys, then every storage as ``int64 numel``
  followed by its raw bytes.
* numpy ``.npz`` archives (and single ``.npy`` files).
* safetensors files.

Pickles are read with a restricted unpickler: only the handful of globals that
describe tensors, storages, dtypes and ``collections.OrderedDict`` are
resolved, and they resolve to local, side-effect free stand-ins.  Any other
global raises :class:`pickle.UnpicklingError`; numgrad never executes code
from a checkpoint.

Writing produces the PyTorch zip format (readable by ``torch.load`` with
``weights_only=True``), or ``.npz`` / ``.safetensors`` when the target path
has that suffix.  The pickle is emitted by a small hand-written protocol-2
opcode writer, so no torch import is needed.
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import numpy as np

__all__ = ["load", "save", "load_arrays"]

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
_STORAGE_ALIGNMENT = 64

_NEVER_EXEC = "numgrad never executes code from a checkpoint"


# ---------------------------------------------------------------------------
# dtype / storage stand-ins used while unpickling
# ---------------------------------------------------------------------------

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


class _DType(_Frozen):
    """Stand-in for a ``torch.dtype`` (e.g. the global ``torch.float32``)."""

    __slots__ = ("name", "np", "convert")

    def __init__(self, name, np_dtype, convert=None):
        # np: little-endian storage dtype as found in checkpoints, or None
        # when numpy cannot represent it.  convert: 'bfloat16' / 'float16'
        # -> converted to float32 on materialisation
        self._set(name=name,
                  np=None if np_dtype is None else np.dtype(np_dtype),
                  convert=convert)

    def __repr__(self):
        return "torch." + self.name

    def __reduce__(self):  # never pickled by us; keep it inert
        raise TypeError("torch dtype stand-ins are not picklable")


def _make_dtypes():
    table = {}

    def add(names, np_dtype, convert=None):
        d = _DType(names[0], np_dtype, convert)
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
    # dtypes numpy cannot represent: recognised, refused when materialised
    for n in ("complex32", "chalf", "float8_e4m3fn", "float8_e5m2",
              "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
              "float4_e2m1fn_x2", "qint8", "quint8", "qint32", "quint4x2",
              "quint2x4", "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16"):
        add((n,), None)
    return table


_DTYPES = _make_dtypes()


class _StorageType(_Frozen):
    """Stand-in for ``torch.FloatStorage`` & co (used as a type tag only)."""

    __slots__ = ("name", "dtype")

    def __init__(self, name, dtype):
        self._set(name=name, dtype=dtype)  # dtype None for TypedStorage

    def __repr__(self):
        return "torch." + self.name

    def __reduce__(self):
        raise TypeError("torch storage stand-ins are not picklable")


_STORAGE_TYPES = {
    name: _StorageType(name, _DTYPES[dt]) for name, dt in (
        ("FloatStorage", "float32"), ("DoubleStorage", "float64"),
        ("HalfStorage", "float16"), ("BFloat16Storage", "bfloat16"),
        ("LongStorage", "int64"), ("IntStorage", "int32"),
        ("ShortStorage", "int16"), ("CharStorage", "int8"),
        ("ByteStorage", "uint8"), ("BoolStorage", "bool"),
        ("ComplexFloatStorage", "complex64"),
        ("ComplexDoubleStorage", "complex128"),
    )
}
_UNTYPED_STORAGE = _StorageType("UntypedStorage", _DTYPES["uint8"])
_TYPED_STORAGE = _StorageType("TypedStorage", None)


class _Storage(_Frozen):
    """A loaded (or, for the legacy format, not yet loaded) storage.

    ``data`` holds the raw little/big-endian bytes; legacy-format storages are
    created while unpickling and filled in afterwards, so tensors are built
    lazily.  ``root``/``byte_offset`` describe legacy storage views.
    """

    __slots__ = ("dtype", "numel", "data", "root", "byte_offset", "byteorder",
                 "refs")

    def __init__(self, dtype, numel, data=None, root=None, byte_offset=0,
                 byteorder="<"):
        # refs: number of tensors built directly on this storage; a storage
        # used by exactly one tensor may hand its buffer over without a copy
        self._set(dtype=dtype, numel=numel, data=data, root=root,
                  byte_offset=byte_offset, byteorder=byteorder, refs=0)

    def buffer(self):
        if self.root is not None:
            buf = self.root.buffer()
            itemsize = self.dtype.np.itemsize
            return buf[self.byte_offset:self.byte_offset + self.numel * itemsize]
        if self.data is None:
            raise RuntimeError("corrupt checkpoint: storage data was never "
                               "loaded")
        return self.data

    def typed(self, dtype):
        """1-D numpy view of the storage bytes interpreted as ``dtype``."""
        if dtype.np is None:
            raise RuntimeError(
                f"numgrad cannot load tensors of dtype {dtype!r} (numpy has "
                "no equivalent)")
        npdt = dtype.np
        if npdt.itemsize > 1:
            npdt = npdt.newbyteorder(self.byteorder)
        buf = memoryview(self.buffer()).cast("B")
        return np.frombuffer(buf, dtype=npdt, count=len(buf) // npdt.itemsize)


def _bfloat16_to_float32(u16):
    u16 = np.asarray(u16, dtype=np.uint16)
    return (u16.astype(np.uint32) << 16).view(np.float32)


def _finish_array(arr, dtype):
    """Owned, native-endian, contiguous array; half/bfloat16 -> float32."""
    if dtype.convert == "bfloat16":
        return np.ascontiguousarray(_bfloat16_to_float32(arr))
    if dtype.convert == "float16":
        return np.array(arr, dtype=np.float32, order="C")
    return np.array(arr, dtype=dtype.np.newbyteorder("="), order="C")


def _as_int(x, what):
    if isinstance(x, bool) or not isinstance(x, int):
        raise pickle.UnpicklingError(
            f"corrupt checkpoint: {what} must be an int, got {type(x).__name__}")
    return x


class _LazyTensor(_Frozen):
    """A tensor described by the pickle, materialised once storages are read."""

    __slots__ = ("storage", "offset", "size", "stride", "dtype",
                 "requires_grad", "_array")

    def __init__(self, storage, offset, size, stride, dtype,
                 requires_grad=False):
        if not isinstance(storage, _Storage):
            raise pickle.UnpicklingError(
                "corrupt checkpoint: tensor rebuilt from "
                f"{type(storage).__name__}, expected a storage")
        if not isinstance(size, (tuple, list)) or \
                not isinstance(stride, (tuple, list)):
            raise pickle.UnpicklingError(
                "corrupt checkpoint: tensor size/stride must be tuples")
        if len(size) != len(stride):
            raise pickle.UnpicklingError(
                "corrupt checkpoint: tensor size and stride differ in length")
        if not isinstance(dtype, _DType):
            raise pickle.UnpicklingError(
                "corrupt checkpoint: tensor dtype is not a torch dtype")
        self._set(storage=storage,
                  offset=_as_int(offset, "storage_offset"),
                  size=tuple(_as_int(s, "size") for s in size),
                  stride=tuple(_as_int(s, "stride") for s in stride),
                  dtype=dtype, requires_grad=bool(requires_grad), _array=None)
        storage._set(refs=storage.refs + 1)

    def materialize(self):
        if self._array is not None:
            return self._array
        dtype = self.dtype
        base = self.storage.typed(dtype)
        size, stride, offset = self.size, self.stride, self.offset
        if any(s < 0 for s in size):
            raise pickle.UnpicklingError(
                f"corrupt checkpoint: negative tensor size {size}")
        if 0 in size:
            arr = np.empty(size, dtype=base.dtype)
        else:
            # only the strides of dims longer than 1 matter; zero the others
            stride = tuple(st if sz > 1 else 0 for sz, st in zip(size, stride))
            if offset < 0 or any(st < 0 for st in stride):
                raise pickle.UnpicklingError(
                    "corrupt checkpoint: negative storage offset or stride")
            last = offset + sum((sz - 1) * st for sz, st in zip(size, stride))
            if last >= base.shape[0]:
                raise pickle.UnpicklingError(
                    f"corrupt checkpoint: tensor of size {size}, stride "
                    f"{self.stride} and offset {offset} reads past the end of "
                    f"its storage ({base.shape[0]} elements)")
            if self._owns_whole(base, size, stride, offset):
                # the only tensor on a mutable storage that it covers exactly
                # in C order: use the freshly read buffer, no copy needed
                self._set(_array=base.reshape(size))
                return self._array
            item = base.itemsize
            arr = np.lib.stride_tricks.as_strided(
                base[offset:], shape=size,
                strides=tuple(st * item for st in stride), writeable=False)
        self._set(_array=_finish_array(arr, dtype))
        return self._array

    def _owns_whole(self, base, size, stride, offset):
        st = self.storage
        if st.refs != 1 or st.root is not None or self.dtype.convert or \
                offset != 0 or not base.flags.writeable or \
                not base.dtype.isnative or \
                base.shape[0] != int(np.prod(size, dtype=object)):
            return False
        expected = tuple(s if n > 1 else 0
                         for n, s in zip(size, _contig_strides(size)))
        return stride == expected


def _rebuild_tensor(storage, storage_offset, size, stride):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError(
            "corrupt checkpoint: _rebuild_tensor expects a storage")
    if storage.dtype is None:
        raise pickle.UnpicklingError(
            "corrupt checkpoint: storage of unknown dtype")
    return _LazyTensor(storage, storage_offset, size, stride, storage.dtype)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
                       backward_hooks, metadata=None):
    t = _rebuild_tensor(storage, storage_offset, size, stride)
    t._set(requires_grad=bool(requires_grad))
    return t


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad,
                       backward_hooks, dtype, metadata=None):
    return _LazyTensor(storage, storage_offset, size, stride, dtype,
                       requires_grad)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    if not isinstance(data, _LazyTensor):
        raise pickle.UnpicklingError(
            "corrupt checkpoint: _rebuild_parameter expects a tensor")
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
    for name, st in _STORAGE_TYPES.items():
        allowed[("torch", name)] = st
        # legacy checkpoints saved from GPU tensors; loaded onto the CPU
        allowed[("torch.cuda", name)] = st
    for name, dt in _DTYPES.items():
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
            f"storages, dtypes and containers can be loaded ({_NEVER_EXEC})")

    def persistent_load(self, pid):
        if self._persistent_load_fn is None:
            raise pickle.UnpicklingError(
                "unexpected persistent id in checkpoint pickle")
        return self._persistent_load_fn(pid)


def _decode_ascii(s):
    return s.decode("ascii") if isinstance(s, bytes) else s


def _check_storage_pid(pid, n):
    if not isinstance(pid, tuple) or len(pid) < 1:
        raise pickle.UnpicklingError(
            "corrupt checkpoint: persistent id must be a tuple")
    typename = _decode_ascii(pid[0])
    if typename != "storage":
        raise pickle.UnpicklingError(
            f"unsupported persistent id type {typename!r} in checkpoint "
            f"(only 'storage' is supported; {_NEVER_EXEC})")
    if len(pid) != n:
        raise pickle.UnpicklingError(
            f"corrupt checkpoint: storage persistent id has {len(pid)} "
            f"fields, expected {n}")
    storage_type = pid[1]
    if not isinstance(storage_type, _StorageType):
        raise pickle.UnpicklingError(
            "corrupt checkpoint: persistent id does not name a storage type")
    if storage_type.dtype is None:
        raise pickle.UnpicklingError(
            "corrupt checkpoint: storage type without a dtype")
    return storage_type


# ---------------------------------------------------------------------------
# format readers (all return a structure containing _LazyTensor / arrays)
# ---------------------------------------------------------------------------

def _load_torch_zip(zf):
    names = zf.namelist()
    prefix = None
    first = names[0].split("/", 1)[0] if names else None
    candidates = [n[:-len("data.pkl")] for n in names
                  if n.endswith("/data.pkl") and n.count("/") == 1]
    if not candidates:
        raise RuntimeError("not a PyTorch checkpoint: zip archive has no "
                           "'<archive>/data.pkl' record")
    for c in candidates:
        if c[:-1] == first:
            prefix = c
            break
    if prefix is None:
        prefix = candidates[0]
    name_set = set(names)

    byteorder = "<"
    if prefix + "byteorder" in name_set:
        mark = zf.read(prefix + "byteorder").strip()
        if mark == b"big":
            byteorder = ">"
        elif mark != b"little":
            raise RuntimeError(f"unknown byteorder {mark!r} in checkpoint")

    storages = {}

    def persistent_load(pid):
        storage_type = _check_storage_pid(pid, 5)
        key = _decode_ascii(pid[2])
        numel = _as_int(pid[4], "storage numel")
        if not isinstance(key, str):
            raise pickle.UnpicklingError("corrupt checkpoint: storage key "
                                         "must be a string")
        st = storages.get(key)
        if st is None:
            record = f"{prefix}data/{key}"
            if record not in name_set:
                raise RuntimeError(
                    f"corrupt checkpoint: missing storage record {record!r}")
            data = _read_record(zf, record)
            dtype = storage_type.dtype
            nbytes = numel * (dtype.np.itemsize if dtype.np is not None
                              else 1)
            if numel < 0 or len(data) < nbytes:
                raise RuntimeError(
                    f"corrupt checkpoint: storage {record!r} holds "
                    f"{len(data)} bytes, expected {nbytes}")
            st = _Storage(dtype, numel, data=data, byteorder=byteorder)
            storages[key] = st
        return st

    with zf.open(prefix + "data.pkl") as fh:
        data = fh.read()
    return _RestrictedUnpickler(io.BytesIO(data), persistent_load).load()


def _read_exact(fh, n, what):
    """Exactly ``n`` bytes from ``fh`` as a fresh (mutable) bytearray."""
    buf = bytearray(n)
    got = 0
    view = memoryview(buf)
    readinto = getattr(fh, "readinto", None)
    while got < n:
        if readinto is not None:
            k = readinto(view[got:])
        else:
            chunk = fh.read(n - got)
            k = len(chunk)
            view[got:got + k] = chunk
        if not k:
            raise RuntimeError(f"corrupt checkpoint: truncated {what}")
        got += k
    return buf


def _read_record(zf, name):
    """Bytes of a zip record; uncompressed records are read straight from
    the archive into a bytearray (one copy, no CRC pass)."""
    info = zf.getinfo(name)
    fh = zf.fp
    if info.compress_type == zipfile.ZIP_STORED and fh is not None and \
            info.flag_bits & 0x1 == 0:
        try:
            pos = fh.tell()
            fh.seek(info.header_offset)
            header = fh.read(30)
            if len(header) == 30 and header[:4] == b"PK\x03\x04":
                n, e = struct.unpack("<HH", header[26:30])
                fh.seek(info.header_offset + 30 + n + e)
                data = _read_exact(fh, info.file_size, f"record {name!r}")
                fh.seek(pos)
                return data
            fh.seek(pos)
        except (OSError, ValueError):
            pass
    return zf.read(name)


def _load_torch_legacy(fh):
    def plain():
        return _RestrictedUnpickler(fh).load()

    try:
        magic = plain()
    except pickle.UnpicklingError:
        raise
    except Exception as e:
        raise RuntimeError(f"not a PyTorch checkpoint ({e})") from None
    if magic != MAGIC_NUMBER:
        raise RuntimeError("not a PyTorch checkpoint: invalid magic number")
    version = plain()
    if version != PROTOCOL_VERSION:
        raise RuntimeError(f"unsupported legacy protocol version {version!r}")
    plain()  # sys info (endianness, type sizes)

    storages = {}

    def persistent_load(pid):
        storage_type = _check_storage_pid(pid, 6)
        root_key = _decode_ascii(pid[2])
        numel = _as_int(pid[4], "storage numel")
        view_metadata = pid[5]
        dtype = storage_type.dtype
        st = storages.get(root_key)
        if st is None:
            st = _Storage(dtype, numel)
            storages[root_key] = st
        if view_metadata is not None:
            if not isinstance(view_metadata, tuple) or len(view_metadata) != 3:
                raise pickle.UnpicklingError(
                    "corrupt checkpoint: bad storage view metadata")
            view_key, offset, view_size = view_metadata
            view_key = _decode_ascii(view_key)
            view = storages.get(view_key)
            if view is None:
                offset = _as_int(offset, "view offset")
                view_size = _as_int(view_size, "view size")
                if offset < 0 or view_size < 0:
                    raise pickle.UnpicklingError(
                        "corrupt checkpoint: bad storage view metadata")
                item = dtype.np.itemsize if dtype.np is not None else 1
                view = _Storage(dtype, view_size, root=st,
                                byte_offset=offset * item)
                storages[view_key] = view
            return view
        return st

    result = _RestrictedUnpickler(fh, persistent_load).load()
    keys = plain()
    if not isinstance(keys, list):
        raise RuntimeError("corrupt checkpoint: storage key list missing")
    for key in keys:
        key = _decode_ascii(key)
        st = storages.get(key)
        if st is None or st.root is not None:
            raise RuntimeError(f"corrupt checkpoint: unknown storage {key!r}")
        (numel,) = struct.unpack("<q", _read_exact(fh, 8, "storage header"))
        item = st.dtype.np.itemsize if st.dtype.np is not None else 1
        if numel < 0:
            raise RuntimeError("corrupt checkpoint: negative storage size")
        st._set(numel=numel,
                data=_read_exact(fh, numel * item, f"storage {key!r}"))
    return result


_SAFETENSORS_DTYPES = {
    "F64": (np.dtype("<f8"), None), "F32": (np.dtype("<f4"), None),
    "F16": (np.dtype("<f2"), "float16"), "BF16": (np.dtype("<u2"), "bfloat16"),
    "I64": (np.dtype("<i8"), None), "I32": (np.dtype("<i4"), None),
    "I16": (np.dtype("<i2"), None), "I8": (np.dtype("i1"), None),
    "U8": (np.dtype("u1"), None), "BOOL": (np.dtype("?"), None),
    "U16": (np.dtype("<u2"), None), "U32": (np.dtype("<u4"), None),
    "U64": (np.dtype("<u8"), None),
    "C64": (np.dtype("<c8"), None), "C128": (np.dtype("<c16"), None),
}


def _load_safetensors(fh, start, total):
    fh.seek(start)
    (n,) = struct.unpack("<Q", _read_exact(fh, 8, "safetensors header"))
    try:
        header = json.loads(_read_exact(fh, n, "safetensors header"))
    except ValueError as e:
        raise RuntimeError(f"corrupt safetensors header: {e}") from None
    if not isinstance(header, dict):
        raise RuntimeError("corrupt safetensors header: not a JSON object")
    data_start = start + 8 + n
    data_len = total - 8 - n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype_s = info["dtype"]
            shape = tuple(int(s) for s in info["shape"])
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise RuntimeError(
                f"corrupt safetensors header entry {name!r}") from None
        if dtype_s not in _SAFETENSORS_DTYPES:
            raise RuntimeError(
                f"unsupported safetensors dtype {dtype_s!r} for {name!r}")
        npdt, convert = _SAFETENSORS_DTYPES[dtype_s]
        if any(s < 0 for s in shape):
            raise RuntimeError(f"corrupt safetensors shape for {name!r}")
        count = int(np.prod(shape, dtype=object))
        if not (0 <= begin <= end <= data_len) or \
                end - begin != count * npdt.itemsize:
            raise RuntimeError(
                f"corrupt safetensors data offsets for {name!r}")
        fh.seek(data_start + begin)
        raw = _read_exact(fh, end - begin, f"safetensors tensor {name!r}")
        arr = np.frombuffer(raw, dtype=npdt, count=count).reshape(shape)
        if convert == "bfloat16":
            arr = _bfloat16_to_float32(arr)
        elif convert == "float16":
            arr = arr.astype(np.float32)
        # raw is a fresh bytearray: the array may keep it without a copy
        out[name] = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    return out


def _load_npz(fh):
    with np.load(fh, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _load_structure(fh):
    """Detect the format of ``fh`` (seekable, at position 0 of the data)."""
    start = fh.tell()
    total = fh.seek(0, os.SEEK_END) - start
    fh.seek(start)
    head = fh.read(16)
    fh.seek(start)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        with zipfile.ZipFile(fh) as zf:
            names = zf.namelist()
            if any(n.endswith("/data.pkl") and n.count("/") == 1
                   for n in names):
                return _load_torch_zip(zf)
            if names and all(n.endswith(".npy") for n in names):
                fh.seek(start)
                return _load_npz(fh)
            if any("/code/" in n or n.endswith("/constants.pkl")
                   for n in names):
                raise RuntimeError(
                    "this looks like a TorchScript archive (torch.jit.save); "
                    "only torch.save checkpoints are supported")
            raise RuntimeError("unrecognised zip archive: neither a PyTorch "
                               "checkpoint nor an .npz file")
    if head[:6] == b"\x93NUMPY":
        return np.load(fh, allow_pickle=False)
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if 2 <= n <= total - 8 and head[8:9] == b"{":
            return _load_safetensors(fh, start, total)
    if head[:1] == b"\x80":
        return _load_torch_legacy(fh)
    if total > 262:
        fh.seek(start + 257)
        if fh.read(5) == b"ustar":
            raise RuntimeError(
                "the pre-0.4 PyTorch tar checkpoint format is not supported")
    raise RuntimeError("unrecognised checkpoint format (expected a PyTorch "
                       "zip or legacy checkpoint, .npz or safetensors file)")


class _Opened:
    """Context manager yielding a seekable binary file positioned at 0."""

    def __init__(self, f):
        self.f = f
        self.close = False

    def __enter__(self):
        f = self.f
        if isinstance(f, (str, bytes, os.PathLike)):
            fh = open(f, "rb")
            self.close = True
            self.fh = fh
            return fh
        if not hasattr(f, "read"):
            raise TypeError("expected a path or a binary file object, got "
                            f"{type(f).__name__}")
        seekable = getattr(f, "seekable", None)
        if seekable is not None and seekable():
            try:
                pos = f.tell()
            except (OSError, ValueError):
                pos = None
            if pos == 0:
                self.fh = f
                return f
        data = f.read()
        if isinstance(data, str):
            raise TypeError("expected a binary file object, got a text one")
        self.fh = io.BytesIO(data)
        return self.fh

    def __exit__(self, *exc):
        if self.close:
            self.fh.close()
        return False


def _convert(obj, leaf, memo):
    """Rebuild containers, replacing tensors by ``leaf(lazy_or_array)``."""
    oid = id(obj)
    if oid in memo:
        return memo[oid]
    if isinstance(obj, (_LazyTensor, np.ndarray)):
        res = leaf(obj)
    elif isinstance(obj, _Storage):
        res = leaf(_LazyTensor(obj, 0, (obj.numel,), (1,), obj.dtype))
    elif isinstance(obj, _DType):
        res = obj.np.newbyteorder("=") if obj.np is not None else obj.name
    elif type(obj) is collections.OrderedDict:
        res = collections.OrderedDict()
        memo[oid] = res
        for k, v in obj.items():
            res[_convert(k, leaf, memo)] = _convert(v, leaf, memo)
        for k, v in vars(obj).items():
            vars(res)[k] = _convert(v, leaf, memo)
    elif type(obj) is dict:
        res = {}
        memo[oid] = res
        for k, v in obj.items():
            res[_convert(k, leaf, memo)] = _convert(v, leaf, memo)
    elif type(obj) is list:
        res = []
        memo[oid] = res
        res.extend(_convert(v, leaf, memo) for v in obj)
    elif type(obj) is tuple:
        res = tuple(_convert(v, leaf, memo) for v in obj)
    elif type(obj) in (set, frozenset):
        res = type(obj)(_convert(v, leaf, memo) for v in obj)
    else:
        res = obj
    memo[oid] = res
    return res


def _load_with(f, leaf):
    """Load ``f`` and rebuild its structure with ``leaf(array, requires_grad)``
    in place of every tensor."""
    def convert(x):
        if isinstance(x, _LazyTensor):
            return leaf(x.materialize(), x.requires_grad)
        return leaf(x, False)

    with _Opened(f) as fh:
        structure = _load_structure(fh)
        # materialise while the file is open (legacy/safetensors data is read
        # eagerly, zip storages were read into memory by persistent_load)
        return _convert(structure, convert, {})


def load_arrays(f):
    """Load a checkpoint, returning its structure with numpy arrays.

    ``f`` is a path or a binary file object holding a PyTorch (zip or
    legacy), ``.npz``/``.npy`` or safetensors file.  Containers
    (dict/OrderedDict, list, tuple) and scalars are kept; every tensor becomes
    an owned, C-contiguous numpy array (float16/bfloat16 become float32).
    """
    return _load_with(f, lambda array, requires_grad: array)


def _check_map_location(map_location):
    """The device to load tensors to, or None for the CPU."""
    if map_location is None or callable(map_location) or \
            isinstance(map_location, dict):
        return None
    if isinstance(map_location, bytes):
        map_location = map_location.decode("ascii")
    loc = str(map_location)
    if loc == "cpu" or loc.startswith("cpu:"):
        return None
    if loc.startswith("cuda"):
        from .backends import resolve
        try:
            return resolve(loc)
        except RuntimeError as exc:
            raise RuntimeError(
                f"numgrad.load(map_location={map_location!r}): a CUDA device "
                f"was requested but it is not available ({exc}); use "
                "map_location='cpu'") from None
    raise RuntimeError(f"numgrad.load: unsupported map_location "
                       f"{map_location!r} (use None, 'cpu' or 'cuda')")


def load(f, map_location=None, weights_only=True):
    """Load a checkpoint as numgrad Tensors (see :func:`load_arrays`).

    Only data is ever loaded: ``weights_only`` must be True (or left
    default); pickled code is refused with :class:`pickle.UnpicklingError`.
    ``map_location`` may be None, ``'cpu'``, a dict or a callable (all load
    to the CPU), or a CUDA device (``'cuda'``, ``'cuda:0'``, a
    ``numgrad.device``): tensors are then copied to it.
    """
    if weights_only is False:
        raise ValueError(
            "numgrad.load does not support weights_only=False: numgrad never "
            "executes pickle code, it only reads tensors, storages and "
            "containers (dict/OrderedDict/list/tuple/scalars)")
    device = _check_map_location(map_location)
    import numgrad
    from_numpy = numgrad.from_numpy

    def to_tensor(array, requires_grad):
        t = from_numpy(array)
        if device is not None:
            t = t.to(device)
        if requires_grad and hasattr(t, "requires_grad_"):
            t = t.requires_grad_(True)
        return t

    return _load_with(f, to_tensor)


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------

# numpy dtype -> (legacy storage class name or None, torch dtype name)
_SAVE_DTYPES = {
    np.dtype(np.float32): ("FloatStorage", "float32"),
    np.dtype(np.float64): ("DoubleStorage", "float64"),
    np.dtype(np.float16): ("HalfStorage", "float16"),
    np.dtype(np.int64): ("LongStorage", "int64"),
    np.dtype(np.int32): ("IntStorage", "int32"),
    np.dtype(np.int16): ("ShortStorage", "int16"),
    np.dtype(np.int8): ("CharStorage", "int8"),
    np.dtype(np.uint8): ("ByteStorage", "uint8"),
    np.dtype(np.bool_): ("BoolStorage", "bool"),
    np.dtype(np.complex64): ("ComplexFloatStorage", "complex64"),
    np.dtype(np.complex128): ("ComplexDoubleStorage", "complex128"),
    # newer dtypes: saved as UntypedStorage + _rebuild_tensor_v3
    np.dtype(np.uint16): (None, "uint16"),
    np.dtype(np.uint32): (None, "uint32"),
    np.dtype(np.uint64): (None, "uint64"),
}


def _tensor_array(x, host_copies=None):
    """numpy array for a tensor-like leaf, or None if ``x`` is not one.

    A CUDA tensor's values are copied to the host (checkpoints hold host
    data, loadable without a GPU).  With ``host_copies`` (a dict kept for
    one save), views of the same device allocation become views of one
    host copy of it, so the storage plan shares their storage as it does
    for NumPy views (tied weights stay tied)."""
    if isinstance(x, np.ndarray):
        return x
    numgrad = sys.modules.get("numgrad")
    tensor_cls = getattr(numgrad, "Tensor", None) if numgrad else None
    if tensor_cls is None or not isinstance(x, tensor_cls):
        return None
    arr = x.detach()._value()
    if isinstance(arr, np.ndarray):
        return arr
    if host_copies is None or arr.size == 0:
        return arr.copy_to_host()
    owner = arr.owner()
    host = host_copies.get(id(owner))
    if host is None:
        host = host_copies[id(owner)] = owner.copy_to_host()
    return np.ndarray(arr.shape, arr.dtype, buffer=host,
                      offset=arr.offset - owner.offset, strides=arr.strides)


def _requires_grad(x):
    return bool(getattr(x, "requires_grad", False)) and \
        not isinstance(x, np.ndarray)


def _root(arr):
    root = arr
    while isinstance(root.base, np.ndarray):
        root = root.base
    return root


class _StoragePlan:
    """Assigns arrays to storages, sharing a storage between views of the
    same contiguous base array (as torch does for views/tied weights)."""

    def __init__(self, arrays):
        self.storages = []      # list of contiguous little-endian arrays
        self.by_root = {}       # id(root) -> storage index
        counts = collections.Counter(id(_root(a)) for a in arrays)
        self._shared = {rid for rid, c in counts.items() if c > 1}
        self._keep = []

    def place(self, arr):
        """Returns (key, storage array, offset, stride) for ``arr``."""
        root = _root(arr)
        item = arr.dtype.itemsize
        if (id(root) in self._shared or root is arr) and \
                root.dtype == arr.dtype and root.flags.c_contiguous and \
                root.dtype.isnative:
            byte_off = arr.__array_interface__["data"][0] - \
                root.__array_interface__["data"][0]
            ok = byte_off >= 0 and byte_off % item == 0 and \
                all(s >= 0 and s % item == 0 for s in arr.strides)
            if ok and arr.size:
                last = byte_off // item + sum(
                    (n - 1) * (s // item) for n, s in zip(arr.shape, arr.strides))
                ok = last < root.size
            if ok:
                idx = self.by_root.get(id(root))
                if idx is None:
                    idx = len(self.storages)
                    self.storages.append(root.reshape(-1))
                    self.by_root[id(root)] = idx
                    self._keep.append(root)
                stride = tuple(s // item if n > 1 else _contig_stride(arr.shape, d)
                               for d, (n, s) in enumerate(zip(arr.shape,
                                                              arr.strides)))
                return str(idx), self.storages[idx], byte_off // item, stride
        data = np.ascontiguousarray(arr)
        if not data.dtype.isnative or data.dtype.byteorder == ">":
            data = data.astype(data.dtype.newbyteorder("<"))
        idx = len(self.storages)
        self.storages.append(data.reshape(-1))
        return str(idx), self.storages[idx], 0, _contig_strides(arr.shape)


def _contig_strides(shape):
    strides = []
    acc = 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(strides))


def _contig_stride(shape, d):
    return _contig_strides(shape)[d]


class _PickleWriter:
    """Minimal protocol-2 pickle writer producing torch.save-compatible
    ``data.pkl`` (GLOBAL opcodes name torch functions; nothing is imported)."""

    def __init__(self, plan, arrays):
        self.out = bytearray(b"\x80\x02")
        self.plan = plan
        self.arrays = arrays    # id(leaf) -> numpy array
        self._active = set()

    def result(self):
        return bytes(self.out) + b"."

    def global_(self, module, name):
        self.out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"

    def save(self, obj):
        w = self.out
        if obj is None:
            w += b"N"
        elif obj is True:
            w += b"\x88"
        elif obj is False:
            w += b"\x89"
        elif isinstance(obj, np.generic) and not isinstance(obj, np.ndarray):
            self.save(obj.item())
        elif isinstance(obj, int):
            obj = int(obj)
            if 0 <= obj < 256:
                w += b"K" + bytes((obj,))
            elif 0 <= obj < 65536:
                w += b"M" + struct.pack("<H", obj)
            elif -2 ** 31 <= obj < 2 ** 31:
                w += b"J" + struct.pack("<i", obj)
            else:
                enc = pickle.encode_long(obj)
                if len(enc) < 256:
                    w += b"\x8a" + bytes((len(enc),)) + enc
                else:
                    w += b"\x8b" + struct.pack("<i", len(enc)) + enc
        elif isinstance(obj, float):
            w += b"G" + struct.pack(">d", float(obj))
        elif isinstance(obj, str):
            b = str(obj).encode("utf-8", "surrogatepass")
            w += b"X" + struct.pack("<I", len(b)) + b
        elif id(obj) in self.arrays:
            self.save_tensor(obj, self.arrays[id(obj)])
        elif isinstance(obj, (dict, list, tuple)):
            if id(obj) in self._active:
                raise ValueError("numgrad.save: cannot save a recursive "
                                 "container")
            self._active.add(id(obj))
            try:
                self.save_container(obj)
            finally:
                self._active.discard(id(obj))
        else:
            raise TypeError(
                f"numgrad.save cannot save objects of type "
                f"{type(obj).__name__}; supported: Tensors, numpy arrays, "
                "dict/OrderedDict/list/tuple, str, int, float, bool, None")

    def save_tuple(self, items):
        w = self.out
        if not items:
            w += b")"
            return
        if len(items) <= 3:
            for it in items:
                self.save(it)
            w += (b"\x85", b"\x86", b"\x87")[len(items) - 1]
            return
        w += b"("
        for it in items:
            self.save(it)
        w += b"t"

    def save_container(self, obj):
        w = self.out
        if isinstance(obj, collections.OrderedDict):
            self.global_("collections", "OrderedDict")
            w += b")R"
            self._save_items(obj)
            state = {k: v for k, v in vars(obj).items()
                     if isinstance(k, str)}
            if state:
                self.save(state)
                w += b"b"
        elif isinstance(obj, dict):
            w += b"}"
            self._save_items(obj)
        elif isinstance(obj, list):
            w += b"]"
            if obj:
                w += b"("
                for v in obj:
                    self.save(v)
                w += b"e"
        else:
            self.save_tuple(tuple(obj))

    def _save_items(self, d):
        if not d:
            return
        self.out += b"("
        for k, v in d.items():
            self.save(k)
            self.save(v)
        self.out += b"u"

    def save_tensor(self, leaf, arr):
        storage_name, dtype_name = _SAVE_DTYPES[arr.dtype.newbyteorder("=")]
        key, storage, offset, stride = self.plan.place(arr)
        v3 = storage_name is None
        self.global_("torch._utils",
                     "_rebuild_tensor_v3" if v3 else "_rebuild_tensor_v2")
        w = self.out
        w += b"("
        # persistent id: ('storage', <storage type>, key, 'cpu', numel)
        w += b"("
        self.save("storage")
        if v3:
            self.global_("torch.storage", "UntypedStorage")
        else:
            self.global_("torch", storage_name)
        self.save(key)
        self.save("cpu")
        self.save(storage.nbytes if v3 else storage.size)
        w += b"tQ"
        self.save(int(offset))
        self.save_tuple(tuple(int(n) for n in arr.shape))
        self.save_tuple(tuple(int(s) for s in stride))
        self.save(_requires_grad(leaf) and arr.dtype.kind in "fc")
        self.global_("collections", "OrderedDict")
        w += b")R"
        if v3:
            self.global_("torch", dtype_name)
        w += b"tR"


def _collect_arrays(obj, arrays, leaves, active, host_copies):
    arr = _tensor_array(obj, host_copies)
    if arr is not None:
        if arr.dtype.newbyteorder("=") not in _SAVE_DTYPES:
            raise TypeError(f"numgrad.save: unsupported tensor dtype "
                            f"{arr.dtype}")
        arrays[id(obj)] = arr
        leaves.append(obj)
        return
    if isinstance(obj, (dict, list, tuple)):
        if id(obj) in active:
            raise ValueError("numgrad.save: cannot save a recursive container")
        active.add(id(obj))
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for k, v in items:
            if isinstance(obj, dict):
                _collect_arrays(k, arrays, leaves, active, host_copies)
            _collect_arrays(v, arrays, leaves, active, host_copies)
        if isinstance(obj, collections.OrderedDict):
            for v in vars(obj).values():
                _collect_arrays(v, arrays, leaves, active, host_copies)
        active.discard(id(obj))


def _aligned_extra(header_offset, name, zip64):
    base = header_offset + 30 + len(name.encode("utf-8")) + (20 if zip64 else 0)
    pad = (-(base + 4)) % _STORAGE_ALIGNMENT
    return struct.pack("<HH", 0x4246, pad) + b"Z" * pad


def _write_record(zf, name, data, align=False):
    data = memoryview(data).cast("B")
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = len(data)
    info.external_attr = 0o600 << 16
    zip64 = len(data) * 1.05 > zipfile.ZIP64_LIMIT
    if align:
        info.extra = _aligned_extra(zf.start_dir, name, zip64)
    with zf.open(info, "w", force_zip64=zip64) as out:
        out.write(data)


def _save_torch_zip(obj, fh):
    arrays, leaves = {}, []
    _collect_arrays(obj, arrays, leaves, set(), {})
    plan = _StoragePlan(list(arrays.values()))
    writer = _PickleWriter(plan, arrays)
    writer.save(obj)
    pkl = writer.result()
    archive = "archive/"
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED,
                         allowZip64=True) as zf:
        _write_record(zf, archive + "data.pkl", pkl)
        _write_record(zf, archive + ".storage_alignment",
                      str(_STORAGE_ALIGNMENT).encode())
        _write_record(zf, archive + "byteorder", b"little")
        for i, st in enumerate(plan.storages):
            st = np.ascontiguousarray(st)
            if st.dtype.byteorder == ">" or (st.dtype.byteorder == "=" and
                                             sys.byteorder == "big"):
                st = st.astype(st.dtype.newbyteorder("<"))
            _write_record(zf, f"{archive}data/{i}", st.view(np.uint8)
                          if st.size else b"", align=True)
        _write_record(zf, archive + "version", b"3\n")
        serial = "".join(str(b % 10) for b in os.urandom(40))
        _write_record(zf, archive + ".data/serialization_id", serial.encode())


def _flat_arrays(obj, fmt):
    if not isinstance(obj, dict):
        raise TypeError(f"numgrad.save to {fmt} needs a flat dict of "
                        "name -> tensor")
    out = {}
    for k, v in obj.items():
        arr = _tensor_array(v)
        if not isinstance(k, str) or arr is None:
            raise TypeError(f"numgrad.save to {fmt} needs a flat dict of "
                            f"str -> tensor (bad entry {k!r})")
        out[k] = arr
    return out


_SAFETENSORS_NAMES = {
    np.dtype("<f8"): "F64", np.dtype("<f4"): "F32", np.dtype("<f2"): "F16",
    np.dtype("<i8"): "I64", np.dtype("<i4"): "I32", np.dtype("<i2"): "I16",
    np.dtype("i1"): "I8", np.dtype("u1"): "U8", np.dtype("?"): "BOOL",
    np.dtype("<u2"): "U16", np.dtype("<u4"): "U32", np.dtype("<u8"): "U64",
    np.dtype("<c8"): "C64",
}


def _save_safetensors(arrays, fh):
    header, blobs, offset = {}, [], 0
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        le = arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 \
            else arr.dtype
        if le not in _SAFETENSORS_NAMES:
            raise TypeError(f"numgrad.save: dtype {arr.dtype} cannot be "
                            "stored in safetensors")
        arr = arr.astype(le, copy=False)
        header[name] = {"dtype": _SAFETENSORS_NAMES[le],
                        "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        blobs.append(arr)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    fh.write(struct.pack("<Q", len(text)))
    fh.write(text)
    for arr in blobs:
        if arr.nbytes:
            fh.write(memoryview(arr.reshape(-1).view(np.uint8)))


def save(obj, f):
    """Save ``obj`` in PyTorch's zip checkpoint format.

    ``obj`` is a (nested) dict/OrderedDict/list/tuple of numgrad Tensors,
    numpy arrays and scalars.  The file can be read by ``torch.load`` (also
    with ``weights_only=True``) and by :func:`load`.  When ``f`` is a path
    ending in ``.npz`` or ``.safetensors`` a flat dict of tensors is written in
    that format instead.
    """
    if isinstance(f, (str, bytes, os.PathLike)):
        path = os.fsdecode(f)
        lower = path.lower()
        if lower.endswith(".npz"):
            np.savez(path, **_flat_arrays(obj, ".npz"))
            return
        if lower.endswith(".safetensors"):
            arrays = _flat_arrays(obj, ".safetensors")
            with open(path, "wb") as fh:
                _save_safetensors(arrays, fh)
            return
        with open(path, "wb") as fh:
            _save_torch_zip(obj, fh)
        return
    if not hasattr(f, "write"):
        raise TypeError("expected a path or a binary file object, got "
                        f"{type(f).__name__}")
    _save_torch_zip(obj, f)
