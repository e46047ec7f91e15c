"""Writing checkpoints: PyTorch's zip format (readable by ``torch.load``
with ``weights_only=True``), or ``.npz`` / ``.safetensors`` by suffix.

The pickle is emitted by a small hand-written protocol-2 opcode writer,
so no torch import is needed.  Everything is checked and serialised
before the target is touched; a path is written through a temporary
file in its directory that then replaces it, so a refused object or a
failed write never leaves a checkpoint half-written.
"""
import collections
import io
import os
import pickle
import secrets
import stat
import struct
import sys
import zipfile

import numpy as np

from . import _npz, _safetensors

_STORAGE_ALIGNMENT = 64

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
    while True:
        base = root.base
        if not isinstance(base, np.ndarray):
            # as_strided hides its input in a wrapper's .base
            base = getattr(base, "base", None)
        if not isinstance(base, np.ndarray):
            return root
        root = base


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
        # a root no larger than the view (an expanded tensor) is cheaper
        # to write than the view's copy, and keeps its stride 0
        if (id(root) in self._shared or root.size <= arr.size) and \
                root.dtype == arr.dtype and root.flags.c_contiguous and \
                root.dtype.isnative:
            byte_off = arr.__array_interface__["data"][0] - \
                root.__array_interface__["data"][0]
            ok = byte_off >= 0 and byte_off % item == 0 and \
                all(s >= 0 and s % item == 0 for s in arr.strides)
            if ok and arr.size:
                last = byte_off // item + sum(
                    (n - 1) * (s // item)
                    for n, s in zip(arr.shape, arr.strides))
                ok = last < root.size
            if ok:
                idx = self.by_root.get(id(root))
                if idx is None:
                    idx = len(self.storages)
                    self.storages.append(root.reshape(-1))
                    self.by_root[id(root)] = idx
                    self._keep.append(root)
                stride = tuple(
                    s // item if n > 1 else _contig_stride(arr.shape, d)
                    for d, (n, s) in enumerate(zip(arr.shape, arr.strides)))
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
    base = header_offset + 30 + len(name.encode("utf-8")) + \
        (20 if zip64 else 0)
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


def _torch_zip_parts(obj):
    """The pickle and storages of ``obj``: every refusal happens here."""
    arrays, leaves = {}, []
    _collect_arrays(obj, arrays, leaves, set(), {})
    plan = _StoragePlan(list(arrays.values()))
    writer = _PickleWriter(plan, arrays)
    writer.save(obj)
    return writer.result(), plan.storages


def _write_torch_zip(parts, fh):
    pkl, storages = parts
    archive = "archive/"
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED,
                         allowZip64=True) as zf:
        _write_record(zf, archive + "data.pkl", pkl)
        _write_record(zf, archive + ".storage_alignment",
                      str(_STORAGE_ALIGNMENT).encode())
        _write_record(zf, archive + "byteorder", b"little")
        for i, st in enumerate(storages):
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


def _serializer(obj, path):
    """A function writing ``obj`` to a binary file, in the format the
    suffix of ``path`` names; raises for what that format cannot hold."""
    lower = (path or "").lower()
    if lower.endswith(".npz"):
        arrays = _npz.check(_flat_arrays(obj, ".npz"))
        return lambda fh: _npz.write(arrays, fh)
    if lower.endswith(".safetensors"):
        checked = _safetensors.check(_flat_arrays(obj, ".safetensors"))
        return lambda fh: _safetensors.write(checked, fh)
    parts = _torch_zip_parts(obj)
    return lambda fh: _write_torch_zip(parts, fh)


def _temporary_beside(path):
    """A new file next to ``path`` (same filesystem, so os.replace is
    atomic), created with the mode open() would give: 0o666 - umask."""
    folder, name = os.path.split(os.path.abspath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"numgrad.save: no free temporary name in {folder}")


def _write_atomically(path, write):
    if os.path.islink(path):
        path = os.path.realpath(path)   # replace the file, keep the link
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        # a device or pipe (/dev/null): replacing it would put a regular
        # file in its place, so it is written as open() would
        with open(path, "wb") as fh:
            write(fh)
        return
    fd, tmp = _temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, stat.S_IMODE(mode))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save(obj, f):
    """Save ``obj`` in PyTorch's zip checkpoint format.

    ``obj`` is a (nested) dict/OrderedDict/list/tuple of numgrad Tensors,
    numpy arrays and scalars.  The file can be read by ``torch.load`` (also
    with ``weights_only=True``) and by :func:`numgrad.load`.  When ``f`` is
    a path ending in ``.npz`` or ``.safetensors`` a flat dict of tensors is
    written in that format instead.

    A path is replaced atomically (its permission bits kept); a file
    object receives the whole checkpoint in one write.  Either way an
    object that cannot be saved raises before anything is written.
    """
    if isinstance(f, (str, bytes, os.PathLike)):
        path = os.fsdecode(f)
        _write_atomically(path, _serializer(obj, path))
        return
    if not hasattr(f, "write"):
        raise TypeError("expected a path or a binary file object, got "
                        f"{type(f).__name__}")
    buf = io.BytesIO()
    _serializer(obj, None)(buf)
    f.write(buf.getbuffer())
