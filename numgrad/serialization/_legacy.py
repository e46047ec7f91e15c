"""Reading PyTorch's legacy format (``_use_new_zipfile_serialization=
False``): pickles of the magic number, the protocol version, the system
info, the main object and the list of storage keys, then every storage
as an ``int64`` element count followed by its little-endian bytes."""
import struct

from ._common import BoundedReader, corrupt, read_exact, remaining
from ._unpickle import (Storage, check_storage_pid, decode_ascii,
                        scan_pickle, unpickle)

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001


def _next_pickle(fh, what, persistent_load=None):
    start = fh.tell()
    scan_pickle(BoundedReader(fh), what)
    end = fh.tell()
    fh.seek(start)
    data = read_exact(fh, end - start, what)
    return unpickle(data, what, persistent_load, scanned=True)


def _view_loader(storages):
    def persistent_load(pid):
        dtype, root_key, numel = check_storage_pid(pid, 6)
        view_metadata = pid[5]
        st = storages.get(root_key)
        if st is None:
            st = storages[root_key] = Storage(root_key, dtype, numel)
        if view_metadata is None:
            return st
        if not isinstance(view_metadata, tuple) or len(view_metadata) != 3:
            raise corrupt("bad storage view metadata")
        view_key, offset, view_size = view_metadata
        view_key = decode_ascii(view_key)
        if not isinstance(view_key, str):
            raise corrupt("storage view key must be a string")
        view = storages.get(view_key)
        if view is None:
            if not all(isinstance(v, int) and v >= 0
                       for v in (offset, view_size)):
                raise corrupt(f"bad metadata of storage view {view_key!r}")
            # checked against the root once its data is read
            view = storages[view_key] = Storage(
                view_key, dtype, view_size, root=st,
                byte_offset=offset * dtype.itemsize)
        return view
    return persistent_load


def load(fh):
    """The unpickled structure of the legacy file ``fh``."""
    magic = _next_pickle(fh, "legacy checkpoint header")
    if type(magic) is not int or magic != MAGIC_NUMBER:
        raise corrupt("invalid magic number: not a PyTorch checkpoint")
    version = _next_pickle(fh, "legacy checkpoint header")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise RuntimeError(f"unsupported legacy protocol version {version!r}")
    _next_pickle(fh, "legacy checkpoint header")  # sys info; data is LE
    storages = {}
    result = _next_pickle(fh, "checkpoint pickle", _view_loader(storages))
    keys = _next_pickle(fh, "storage key list")
    if not isinstance(keys, list):
        raise corrupt("storage key list missing")
    for key in keys:
        key = decode_ascii(key)
        st = storages.get(key) if isinstance(key, str) else None
        if st is None or st.root is not None:
            raise corrupt(f"unknown storage {key!r}")
        (numel,) = struct.unpack(
            "<q", read_exact(fh, 8, f"size of storage {key!r}"))
        nbytes = numel * st.dtype.itemsize
        left = remaining(fh)
        if numel < 0 or nbytes > left:
            raise corrupt(f"storage {key!r} is truncated: it claims {numel} "
                          f"elements ({nbytes} bytes) but only {left} bytes "
                          "remain in the file")
        st._set(numel=numel,
                data=read_exact(fh, nbytes, f"storage {key!r}"))
    return result
