"""safetensors files: a little-endian ``uint64`` header length, a JSON
header ``{name: {dtype, shape, data_offsets}}``, then the data."""
import json
import struct

import numpy as np

from ._common import check_shape, corrupt, read_exact

_DTYPES = {
    "F64": (np.dtype("<f8"), None), "F32": (np.dtype("<f4"), None),
    "F16": (np.dtype("<f2"), "float16"), "BF16": (np.dtype("<u2"), "bfloat16"),
    "I64": (np.dtype("<i8"), None), "I32": (np.dtype("<i4"), None),
    "I16": (np.dtype("<i2"), None), "I8": (np.dtype("i1"), None),
    "U8": (np.dtype("u1"), None), "BOOL": (np.dtype("?"), None),
    "U16": (np.dtype("<u2"), None), "U32": (np.dtype("<u4"), None),
    "U64": (np.dtype("<u8"), None),
    "C64": (np.dtype("<c8"), None), "C128": (np.dtype("<c16"), None),
}

_NAMES = {
    np.dtype("<f8"): "F64", np.dtype("<f4"): "F32", np.dtype("<f2"): "F16",
    np.dtype("<i8"): "I64", np.dtype("<i4"): "I32", np.dtype("<i2"): "I16",
    np.dtype("i1"): "I8", np.dtype("u1"): "U8", np.dtype("?"): "BOOL",
    np.dtype("<u2"): "U16", np.dtype("<u4"): "U32", np.dtype("<u8"): "U64",
    np.dtype("<c8"): "C64",
}


def looks_like(head, total):
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= total - 8 and head[8:9] == b"{"


def _entry(name, info, data_len):
    """(begin, end, name, numpy dtype, conversion, shape) of one tensor."""
    what = f"safetensors tensor {name!r}"
    if not isinstance(info, dict):
        raise corrupt(f"{what}: header entry is not an object")
    dtype_s, shape = info.get("dtype"), info.get("shape")
    offsets = info.get("data_offsets")
    if not isinstance(dtype_s, str) or dtype_s not in _DTYPES:
        raise corrupt(f"{what}: unsupported safetensors dtype {dtype_s!r}")
    if not isinstance(shape, list) or \
            not all(type(n) is int for n in shape):
        raise corrupt(f"{what}: shape {shape!r} is not a list of ints")
    if not isinstance(offsets, list) or len(offsets) != 2 or \
            not all(type(o) is int for o in offsets):
        raise corrupt(f"{what}: data_offsets {offsets!r} are not two ints")
    npdt, convert = _DTYPES[dtype_s]
    nbytes = check_shape(shape, npdt.itemsize, what) * npdt.itemsize
    begin, end = offsets
    if not 0 <= begin <= end <= data_len:
        raise corrupt(f"{what}: data offsets [{begin}, {end}] lie outside "
                      f"the {data_len} data bytes of the file")
    if end - begin != nbytes:
        raise corrupt(f"{what} of shape {shape} and dtype {dtype_s} needs "
                      f"{nbytes} bytes but its data offsets span "
                      f"{end - begin}")
    return begin, end, name, npdt, convert, tuple(shape)


def _entries(header, data_len):
    entries = sorted((_entry(name, info, data_len)
                      for name, info in header.items()
                      if name != "__metadata__"),
                     key=lambda e: (e[0], e[1]))
    # as the safetensors library requires: the tensors tile the data
    # exactly, so no byte is loaded twice and none hides between them
    pos = 0
    for begin, end, name, *_ in entries:
        if begin != pos:
            raise corrupt(f"safetensors tensor {name!r} starts at data byte "
                          f"{begin}, where the one before ends at {pos}")
        pos = end
    if pos != data_len:
        raise corrupt(f"safetensors tensors cover {pos} of the {data_len} "
                      "data bytes")
    return entries


def load(fh, start, total):
    fh.seek(start)
    (n,) = struct.unpack("<Q", read_exact(fh, 8, "safetensors header size"))
    text = read_exact(fh, n, "safetensors header")
    try:
        header = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise corrupt(f"safetensors header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise corrupt("safetensors header is not a JSON object")
    data_start = start + 8 + n
    out = {}
    for begin, end, name, npdt, convert, shape in _entries(
            header, total - 8 - n):
        fh.seek(data_start + begin)
        raw = read_exact(fh, end - begin, f"safetensors tensor {name!r}")
        count = (end - begin) // npdt.itemsize
        arr = np.frombuffer(raw, dtype=npdt, count=count).reshape(shape)
        if convert == "bfloat16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        elif convert == "float16":
            arr = arr.astype(np.float32)
        # raw is a fresh bytearray: the array may keep it without a copy
        out[name] = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    return out


def check(arrays):
    """Little-endian contiguous arrays and their safetensors dtype names,
    refusing a dtype safetensors cannot hold before anything is written."""
    out = []
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        le = arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 \
            else arr.dtype
        if le not in _NAMES:
            raise TypeError(f"numgrad.save: dtype {arr.dtype} cannot be "
                            "stored in safetensors")
        out.append((name, arr.astype(le, copy=False), _NAMES[le]))
    return out


def write(checked, fh):
    header, offset = {}, 0
    for name, arr, dtype_s in checked:
        header[name] = {"dtype": dtype_s, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    fh.write(struct.pack("<Q", len(text)))
    fh.write(text)
    for _, arr, _ in checked:
        if arr.nbytes:
            fh.write(memoryview(arr.reshape(-1).view(np.uint8)))
