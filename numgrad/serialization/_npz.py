"""numpy ``.npz`` archives and single ``.npy`` files.

numpy's own reader allocates the array a header claims before it reads
the data, so the header is parsed here and checked against the bytes
the record holds first."""
import ast
import struct
import zipfile

import numpy as np
from numpy.lib import format as npy_format

from ._common import Regions, check_shape, corrupt, read_exact, \
    read_member, remaining

_MAGIC = b"\x93NUMPY"
# numpy's own limit: longer headers are refused as unsafe to evaluate
_MAX_HEADER = 10000
_KEYS = {"descr", "fortran_order", "shape"}


def _header(buf, what):
    """(header dict, offset of the data) of the .npy bytes ``buf``."""
    if len(buf) < 12 or buf[:6] != _MAGIC:
        raise corrupt(f"{what} is not a .npy file")
    major = buf[6]
    if major == 1:
        (length,) = struct.unpack("<H", buf[8:10])
        start = 10
    elif major in (2, 3):
        (length,) = struct.unpack("<I", buf[8:12])
        start = 12
    else:
        raise corrupt(f"{what}: unsupported .npy format version "
                      f"{major}.{buf[7]}")
    if length > _MAX_HEADER or start + length > len(buf):
        raise corrupt(f"{what}: header of {length} bytes is too long or "
                      "truncated")
    text = bytes(buf[start:start + length]).decode(
        "utf8" if major == 3 else "latin1", "replace")
    try:
        header = ast.literal_eval(text)
    except (SyntaxError, ValueError, TypeError, RecursionError):
        header = None
    if not isinstance(header, dict) or set(header) != _KEYS:
        raise corrupt(f"{what}: bad .npy header {text[:200]!r}")
    return header, start + length


def _dtype(descr, what):
    try:
        dtype = npy_format.descr_to_dtype(descr)
    except (TypeError, ValueError, KeyError, IndexError, SyntaxError):
        raise corrupt(f"{what}: bad dtype description {descr!r}") from None
    if dtype.hasobject:
        raise ValueError(f"{what}: Object arrays cannot be loaded when "
                         "allow_pickle=False (numgrad never unpickles)")
    if dtype.kind not in "biufc" or dtype.shape or dtype.names:
        raise ValueError(f"{what}: numgrad loads numeric arrays only, not "
                         f"dtype {dtype}")
    return dtype


def parse(buf, what):
    """The array held by the .npy bytes ``buf``: a view of ``buf``."""
    header, start = _header(buf, what)
    shape, fortran = header["shape"], header["fortran_order"]
    if not isinstance(shape, tuple) or \
            not all(type(n) is int for n in shape) or \
            not isinstance(fortran, bool):
        raise corrupt(f"{what}: bad .npy shape {shape!r} or order")
    dtype = _dtype(header["descr"], what)
    numel = check_shape(shape, dtype.itemsize, what)
    nbytes = numel * dtype.itemsize
    if nbytes > len(buf) - start:
        raise corrupt(f"{what} of shape {shape} and dtype {dtype} needs "
                      f"{nbytes} bytes but holds {len(buf) - start}")
    if numel == 0:
        return np.empty(shape, dtype.newbyteorder("="))
    arr = np.frombuffer(buf, dtype, count=numel, offset=start)
    arr = arr.reshape(shape, order="F" if fortran else "C")
    if not arr.dtype.isnative:
        arr.byteswap(inplace=True)     # buf is ours: no copy needed
        arr = arr.view(arr.dtype.newbyteorder("="))
    return arr


def load_npy(fh):
    return parse(read_exact(fh, remaining(fh), ".npy file"), ".npy file")


def load_npz(zf, file_end):
    regions = Regions()
    out = {}
    for info in zf.infolist():
        what = f"array {info.filename!r}"
        out[info.filename[:-4]] = parse(
            read_member(zf, info, regions, file_end), what)
    return out


def check(arrays):
    for name, arr in arrays.items():
        if arr.dtype.hasobject:
            raise TypeError(f"numgrad.save: {name!r} holds Python objects, "
                            "which .npz can only store as a pickle")
    return arrays


def write(arrays, fh):
    # np.savez's own way, minus its clash with an array named 'file'
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED,
                         allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as out:
                npy_format.write_array(out, np.asanyarray(arr),
                                       allow_pickle=False)
