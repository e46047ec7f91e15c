"""Hostile checkpoints: a load gives consistent arrays or a clean error,
and never allocates much more memory than the file holds.

The fuzzed files start as valid checkpoints that numgrad writes (torch
zip, safetensors, .npz) or a hand-built legacy torch file; hypothesis
then rewrites bytes, claimed sizes, strides, offsets and dtypes.  The
deterministic tests below them pin the hostile files of the bug reports.
"""
import io
import json
import os
import pickle
import struct
import tempfile
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

import numgrad
from numgrad import serialization as S

# what a hostile file may raise: S.CorruptCheckpointError is both a
# RuntimeError (what torch.load raises) and a pickle.UnpicklingError
CLEAN = (RuntimeError, ValueError, pickle.UnpicklingError)
MIB = 1 << 20
# room for the parsers' own Python objects (zip directory, pickle, JSON)
SLACK = 256 << 10
GIB = 1 << 30

FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                database=None,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


def _load(data, loader=S.load_arrays):
    """(result or the clean error raised, peak bytes allocated)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        try:
            out = loader(io.BytesIO(data))
        except CLEAN as exc:
            out = exc
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return out, peak


def _arrays(obj, found):
    if isinstance(obj, np.ndarray):
        found.append(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _arrays(k, found)
            _arrays(v, found)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            _arrays(v, found)
    return found


def _check(data):
    """Load ``data``: bounded memory, clean error or readable arrays."""
    out, peak = _load(bytes(data))
    event("loaded" if not isinstance(out, BaseException)
          else type(out).__name__)
    assert peak <= 16 * len(data) + SLACK, \
        f"{peak} bytes allocated to load a {len(data)}-byte file"
    if not isinstance(out, BaseException):
        for arr in _arrays(out, []):
            assert arr.dtype.isnative
            if arr.size:    # both ends lie inside the buffer
                assert arr[(0,) * arr.ndim] is not None
                assert arr[(-1,) * arr.ndim] is not None
    return out


# ---------------------------------------------------------------------------
# valid files to start from
# ---------------------------------------------------------------------------

def _pk_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _pk_int(v):
    if -2 ** 31 <= v < 2 ** 31:
        return b"J" + struct.pack("<i", v)
    enc = pickle.encode_long(v)
    return b"\x8a" + bytes((len(enc),)) + enc


def _pk_tuple(vals):
    return b"(" + b"".join(_pk_int(v) for v in vals) + b"t"


def _zip(records, method=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in records.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _torch_zip(pkl, storages):
    records = {"archive/data.pkl": pkl, "archive/byteorder": b"little"}
    for key, data in storages.items():
        records["archive/data/" + key] = data
    records["archive/version"] = b"3\n"
    return _zip(records)


def _flat():
    return {"w": np.arange(12, dtype=np.float32).reshape(3, 4),
            "i": np.array([1, -2, 3], np.int64),
            "h": np.array([0.5, -1], np.float16)}


def _saved(suffix):
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    obj = {"t": w.T, "row": w[1], "i": np.array([1, -2, 3], np.int64),
           "e": np.lib.stride_tricks.as_strided(w[0], (5, 4), (0, 4)),
           "h": np.array([0.5, -1], np.float16), "step": 3, "tag": "x"}
    if suffix == ".pt":
        buf = io.BytesIO()
        S.save(obj, buf)
        return buf.getvalue()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f" + suffix)
        S.save(_flat(), path)
        with open(path, "rb") as fh:
            return fh.read()


def _legacy_pid(key, numel, view=b"N"):
    return (b"(" + _pk_str("storage") + b"ctorch\nFloatStorage\n"
            + _pk_str(key) + _pk_str("cpu") + _pk_int(numel) + view + b"tQ")


def _legacy(numel=6, view=(2, 3), data=None):
    """Legacy torch file: 'w' on a root storage, 'v' on a view of it."""
    rebuild = b"ctorch._utils\n_rebuild_tensor_v2\n("
    tail = b"\x89ccollections\nOrderedDict\n)RtR"
    view_md = b"(" + _pk_str("v") + _pk_int(view[0]) + _pk_int(view[1]) + b"t"
    main = (b"\x80\x02}(" + _pk_str("w") + rebuild
            + _legacy_pid("root", numel) + b"K\x00K\x06\x85K\x01\x85" + tail
            + _pk_str("v") + rebuild + _legacy_pid("root", numel, view_md)
            + b"K\x00K\x03\x85K\x01\x85" + tail + b"u.")
    if data is None:
        data = np.arange(6, dtype="<f4").tobytes()
    return (pickle.dumps(S.MAGIC_NUMBER, protocol=2)
            + pickle.dumps(S.PROTOCOL_VERSION, protocol=2)
            + pickle.dumps({"little_endian": True}, protocol=2)
            + main + pickle.dumps(["root"], protocol=2)
            + struct.pack("<q", numel) + data)


BASES = {"zip": _saved(".pt"), "safetensors": _saved(".safetensors"),
         "npz": _saved(".npz"), "legacy": _legacy()}


def test_the_base_files_load():
    out = S.load_arrays(io.BytesIO(BASES["zip"]))
    np.testing.assert_array_equal(out["row"], [4, 5, 6, 7])
    assert out["e"].strides == (0, 4) and out["step"] == 3
    for kind in ("safetensors", "npz"):
        out = S.load_arrays(io.BytesIO(BASES[kind]))
        for k, v in _flat().items():
            np.testing.assert_array_equal(out[k], v)
    out = S.load_arrays(io.BytesIO(BASES["legacy"]))
    np.testing.assert_array_equal(out["v"], [2, 3, 4])
    assert np.shares_memory(out["v"], out["w"])


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------

@FUZZ
@given(kind=st.sampled_from(sorted(BASES)),
       edits=st.lists(st.tuples(st.integers(0, 1 << 20),
                                st.integers(0, 255)), max_size=6),
       cut=st.none() | st.integers(0, 1 << 20))
def test_mutated_bytes(kind, edits, cut):
    data = bytearray(BASES[kind])
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        del data[cut % (len(data) + 1):]
    _check(data)


def _zip_fields(data):
    """(offset, width) of every size/offset/count field of a zip."""
    fields = []
    pos = data.find(b"PK\x03\x04")
    while pos >= 0:
        fields += [(pos + o, w) for o, w in
                   ((8, 2), (18, 4), (22, 4), (26, 2), (28, 2))]
        pos = data.find(b"PK\x03\x04", pos + 4)
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        fields += [(pos + o, w) for o, w in
                   ((10, 2), (20, 4), (24, 4), (28, 2), (30, 2), (32, 2),
                    (42, 4))]
        pos = data.find(b"PK\x01\x02", pos + 4)
    end = data.rfind(b"PK\x05\x06")
    fields += [(end + o, w) for o, w in
               ((8, 2), (10, 2), (12, 4), (16, 4), (20, 2))]
    return fields


FIELDS = {"zip": _zip_fields(BASES["zip"]), "npz": _zip_fields(BASES["npz"]),
          "safetensors": [(0, 8)], "legacy": []}
BIG = st.sampled_from([0, 1, 2, 7, 8, 64, 255, 2 ** 16 - 1, 2 ** 28, GIB,
                       2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 62,
                       2 ** 63 - 1, 2 ** 64 - 1])


@FUZZ
@given(kind=st.sampled_from(["zip", "npz", "safetensors"]),
       which=st.integers(0, 1000), value=BIG | st.integers(0, 2 ** 64 - 1),
       delta=st.integers(-64, 64))
def test_rewritten_size_fields(kind, which, value, delta):
    data = bytearray(BASES[kind])
    pos, width = FIELDS[kind][which % len(FIELDS[kind])]
    if value < 256:     # near the true value: off-by-a-few claims
        old = int.from_bytes(data[pos:pos + width], "little")
        value = max(old + delta, 0)
    data[pos:pos + width] = (value % (1 << 8 * width)).to_bytes(width,
                                                                "little")
    _check(data)


CLAIM = st.integers(-3, 40) | st.sampled_from(
    [2 ** 28, 2 ** 31 - 1, 2 ** 32, 2 ** 40, 2 ** 62, 2 ** 63 - 1, 2 ** 63,
     2 ** 64, -2 ** 63])
# mostly a value that fits the file, else any claim
SMALL = st.integers(0, 5)
DIM = st.one_of(SMALL, SMALL, SMALL, CLAIM)
MOSTLY = st.sampled_from([True, True, True, False])
# storage type or v3 dtype -> (item size, numpy dtype to check values)
STORAGES = {"FloatStorage": (4, "<f4"), "DoubleStorage": (8, "<f8"),
            "LongStorage": (8, "<i8"), "HalfStorage": (2, None),
            "BFloat16Storage": (2, None), "BoolStorage": (1, None),
            "ByteStorage": (1, "u1")}
V3_DTYPES = {"float32": "<f4", "int16": "<i2", "uint16": "<u2",
             "complex64": "<c8", "bfloat16": None, "float8_e4m3fn": None,
             "bool": None}


@st.composite
def _tensor_case(draw):
    storage = draw(st.sampled_from(sorted(STORAGES)))
    v3 = draw(st.none() | st.sampled_from(sorted(V3_DTYPES)))
    itemsize = 1 if v3 else STORAGES[storage][0]
    numel = draw(st.one_of(st.integers(0, 24), st.integers(0, 24), CLAIM))
    nbytes = numel * itemsize
    if not (draw(MOSTLY) and 0 <= nbytes <= 256):
        nbytes = draw(st.integers(0, 64))
    ndim = draw(st.integers(0, 4))
    size = draw(st.lists(DIM, min_size=ndim, max_size=ndim))
    stride = draw(st.lists(DIM, min_size=ndim, max_size=ndim))
    return storage, v3, numel, nbytes, size, stride, draw(DIM)


@FUZZ
@given(case=_tensor_case())
def test_claimed_tensor_geometry(case):
    storage, v3, numel, nbytes, size, stride, offset = case
    if v3 is None:
        head = (b"ctorch._utils\n_rebuild_tensor_v2\n((" + _pk_str("storage")
                + b"ctorch\n" + storage.encode() + b"\n")
        dtype, npdt = b"", STORAGES[storage][1]
    else:
        head = (b"ctorch._utils\n_rebuild_tensor_v3\n((" + _pk_str("storage")
                + b"ctorch.storage\nUntypedStorage\n")
        dtype, npdt = b"ctorch\n" + v3.encode() + b"\n", V3_DTYPES[v3]
    pkl = (b"\x80\x02}" + _pk_str("w") + head + _pk_str("0")
           + _pk_str("cpu") + _pk_int(numel) + b"tQ" + _pk_int(offset)
           + _pk_tuple(size) + _pk_tuple(stride)
           + b"\x89ccollections\nOrderedDict\n)R" + dtype + b"tRs.")
    record = bytes(i % 251 for i in range(nbytes))
    out = _check(_torch_zip(pkl, {"0": record}))
    if isinstance(out, BaseException) or npdt is None:
        return
    arr = out["w"]
    assert arr.shape == tuple(size)
    item = np.dtype(npdt).itemsize
    flat = np.frombuffer(record[:nbytes // item * item], npdt)
    if arr.size:     # the first and last element are where torch has them
        last = tuple(n - 1 for n in size)
        at = offset + sum(i * s for i, s in zip(last, stride) if i)
        assert arr[last] == flat[at] and arr[(0,) * arr.ndim] == flat[offset]


ST_ITEMSIZE = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "U8": 1,
               "BOOL": 1, "C64": 8}
ST_BAD = {"dtype": st.sampled_from(["F8_E4M3", "X", "f32", 5, None]),
          "shape": st.lists(CLAIM, max_size=3) | st.just("3"),
          "data_offsets": st.lists(CLAIM, min_size=2, max_size=2)
          | st.lists(st.integers(0, 48), max_size=3)}


@st.composite
def _st_header(draw):
    """A valid header, then up to two fields rewritten."""
    header, pos = {}, 0
    for i in range(draw(st.integers(0, 4))):
        dtype = draw(st.sampled_from(sorted(ST_ITEMSIZE)))
        shape = draw(st.lists(st.integers(0, 3), max_size=3))
        nbytes = int(np.prod(shape)) * ST_ITEMSIZE[dtype]
        header[f"t{i}"] = {"dtype": dtype, "shape": shape,
                           "data_offsets": [pos, pos + nbytes]}
        pos += nbytes
    for _ in range(draw(st.sampled_from([0, 0, 1, 2])) if header else 0):
        entry = header[draw(st.sampled_from(sorted(header)))]
        field = draw(st.sampled_from(sorted(ST_BAD)))
        entry[field] = draw(ST_BAD[field])
    if not draw(MOSTLY):
        pos = draw(st.integers(0, 64))
    return header, pos


@FUZZ
@given(case=_st_header(), length=st.one_of(st.none(), st.none(), CLAIM))
def test_claimed_safetensors_header(case, length):
    header, nbytes = case
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    n = len(text) if length is None else length % 2 ** 64
    out = _check(struct.pack("<Q", n) + text + bytes(nbytes))
    if not isinstance(out, BaseException) and isinstance(out, dict):
        for name, arr in out.items():
            assert list(arr.shape) == header[name]["shape"]


DESCRS = {"<f4": 4, ">f8": 8, "|b1": 1, "<i8": 8, "<u2": 2, "<c16": 16,
          "O": 8, "<U3": 12, "|V0": 0, "|S0": 0, "[('a', '<f4')]": 4,
          "'<f4'": 4, "1": 1}


@st.composite
def _npy_case(draw):
    descr = draw(st.sampled_from(sorted(DESCRS)))
    shape = draw(st.lists(DIM, max_size=3))
    nbytes = int(np.prod(shape, dtype=object)) * DESCRS[descr]
    if not (draw(MOSTLY) and 0 <= nbytes <= 512):
        nbytes = draw(st.integers(0, 64))
    fortran = draw(st.sampled_from(["False", "True", "1"]))
    return descr, shape, fortran, nbytes


@FUZZ
@given(case=_npy_case(), bare=st.booleans(),
       version=st.sampled_from([1, 1, 2, 3, 9]))
def test_claimed_npy_header(case, bare, version):
    descr, shape, fortran, nbytes = case
    dq = descr if descr.startswith(("[", "'", "1")) else repr(descr)
    head = (f"{{'descr': {dq}, 'fortran_order': {fortran}, "
            f"'shape': {tuple(shape)!r}, }}").encode()
    head += b" " * (-(len(head) + 13) % 64) + b"\n"
    size = struct.pack("<H" if version == 1 else "<I", len(head))
    npy = (b"\x93NUMPY" + bytes((version, 0)) + size + head
           + bytes(i % 251 for i in range(nbytes)))
    out = _check(npy if bare else _zip({"x.npy": npy}))
    if not isinstance(out, BaseException):
        arr = out if bare else out["x"]
        assert arr.shape == tuple(shape)


# ---------------------------------------------------------------------------
# the hostile files of the bug reports, and their torch equivalents
# ---------------------------------------------------------------------------

def _tensor_file(size, stride, offset, numel, record):
    pkl = (b"\x80\x02}" + _pk_str("w")
           + b"ctorch._utils\n_rebuild_tensor_v2\n((" + _pk_str("storage")
           + b"ctorch\nFloatStorage\n" + _pk_str("0") + _pk_str("cpu")
           + _pk_int(numel) + b"tQ" + _pk_int(offset) + _pk_tuple(size)
           + _pk_tuple(stride) + b"\x89ccollections\nOrderedDict\n)RtRs.")
    return _torch_zip(pkl, {"0": record})


def _lying_member(data, name, claim):
    """``data`` with zip record ``name`` claiming ``claim`` bytes."""
    raw = bytearray(data)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    struct.pack_into("<II", raw, info.header_offset + 18, claim, claim)
    pos = raw.find(b"PK\x01\x02")
    while raw[pos + 46:pos + 46 + len(name)] != name.encode():
        pos = raw.find(b"PK\x01\x02", pos + 4)
    struct.pack_into("<II", raw, pos + 20, claim, claim)
    return bytes(raw)


HOSTILE = {
    "storage_claims_1gib": _tensor_file((2 ** 28,), (1,), 0, 2 ** 28,
                                        b"\0" * 4),
    "record_claims_1gib": _lying_member(
        _tensor_file((2,), (1,), 0, 2, b"\0" * 8), "archive/data/0", GIB),
    "pickle_claims_1gib": _lying_member(
        _tensor_file((2,), (1,), 0, 2, b"\0" * 8), "archive/data.pkl", GIB),
    "past_the_end": _tensor_file((3, 3), (3, 1), 0, 6, b"\0" * 24),
    "negative_stride": _tensor_file((2, 2), (-1, 1), 2, 6, b"\0" * 24),
    "negative_offset": _tensor_file((2,), (1,), -1, 6, b"\0" * 24),
    "overflowing_stride": _tensor_file((2, 2), (2 ** 62, 1), 0, 6,
                                       b"\0" * 24),
    "overflowing_size": _tensor_file((2 ** 40, 2 ** 40), (0, 0), 0, 1,
                                     b"\0" * 4),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_raises_cleanly_in_tiny_memory(name):
    data = HOSTILE[name]
    assert len(data) < 1000
    out, peak = _load(data)
    assert isinstance(out, RuntimeError), out
    assert peak < MIB
    if name == "storage_claims_1gib":
        # names the storage and both sizes
        assert "'0'" in str(out) and "1073741824" in str(out) and \
            "(4 bytes" in str(out)
    if name.endswith("claims_1gib") and name != "storage_claims_1gib":
        assert "1073741824" in str(out) and "archive/" in str(out)


def test_hostile_files_fail_in_torch_too(torch):
    for name, data in HOSTILE.items():
        with pytest.raises(RuntimeError):
            torch.load(io.BytesIO(data), weights_only=True)


def test_stride0_tensor_of_2_28_elements_loads_as_a_view(torch):
    data = _tensor_file((2 ** 28,), (0,), 0, 1,
                        np.float32(7).tobytes())
    assert len(data) < 700
    out, peak = _load(data)
    assert peak < MIB
    w = out["w"]
    assert w.shape == (2 ** 28,) and w.strides == (0,)
    assert not w.flags.writeable and w[0] == w[-1] == 7.0
    ref = torch.load(io.BytesIO(data), weights_only=True)["w"]
    assert ref.stride() == (0,) and ref.untyped_storage().nbytes() == 4
    t, peak = _load(data, numgrad.load)
    assert peak < MIB
    assert isinstance(t["w"], numgrad.Tensor)
    assert tuple(t["w"].shape) == (2 ** 28,)


@pytest.mark.parametrize("pkl", [
    b"\x80\x04B" + struct.pack("<I", GIB) + b"x.",                 # BINBYTES
    b"\x80\x04\x8e" + struct.pack("<Q", GIB) + b"x.",              # BINBYTES8
    b"\x80\x04\x8d" + struct.pack("<Q", 2 ** 63 + 1) + b"x.",  # BINUNICODE8
    b"\x80\x02Nr" + struct.pack("<I", 2 ** 28) + b".",             # memo
    b"\x80\x02Np99999999999\n.",                                   # PUT
    b"\x80\x04\x95" + struct.pack("<Q", 2 ** 62) + b"N.",          # FRAME
    b"\x80\x02\x8b" + struct.pack("<i", 2 ** 30) + b"x.",          # LONG4
], ids=["binbytes", "binbytes8", "binunicode8", "memo", "put", "frame",
        "long4"])
def test_pickle_claims_are_checked_before_allocation(pkl):
    data = _torch_zip(pkl, {})
    out, peak = _load(data)
    assert isinstance(out, pickle.UnpicklingError), out
    assert peak < MIB
    # a bare pickle goes through the legacy reader
    out, peak = _load(pkl)
    assert isinstance(out, CLEAN) and peak < MIB


def test_legacy_claims_are_checked_before_allocation():
    out, peak = _load(_legacy(numel=2 ** 40))
    assert isinstance(out, RuntimeError) and peak < MIB
    assert "'root'" in str(out) and str(2 ** 42) in str(out)
    out, peak = _load(_legacy(view=(4, 3)))        # view past the root
    assert isinstance(out, RuntimeError) and "'v'" in str(out)


def test_safetensors_claims_are_checked_before_allocation():
    header = b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
    out, peak = _load(struct.pack("<Q", GIB) + header + bytes(16))
    assert isinstance(out, RuntimeError) and peak < MIB
    bad = header.replace(b"[4]", b"[268435456]").replace(
        b"16]", b"1073741824]")
    out, peak = _load(struct.pack("<Q", len(bad)) + bad + bytes(16))
    assert isinstance(out, RuntimeError) and peak < MIB
    assert "'w'" in str(out) and "1073741824" in str(out)
    # two names for one region would load the same bytes twice
    two = (b'{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},'
           b'"b":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}')
    out, _ = _load(struct.pack("<Q", len(two)) + two + bytes(8))
    assert isinstance(out, RuntimeError) and "'b'" in str(out)


def test_npz_claims_are_checked_before_allocation():
    head = b"{'descr': '<f4', 'fortran_order': False, 'shape': (268435456,), }"
    head += b" " * (-(len(head) + 11) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head
    for data in (_zip({"x.npy": npy + bytes(16)}), npy + bytes(16)):
        out, peak = _load(data)
        assert isinstance(out, ValueError) or isinstance(out, RuntimeError)
        assert peak < MIB
        assert "1073741824" in str(out)


def _two_storages():
    tensors = b""
    for key in "01":
        tensors += (_pk_str(key) + b"ctorch._utils\n_rebuild_tensor_v2\n(("
                    + _pk_str("storage") + b"ctorch\nFloatStorage\n"
                    + _pk_str(key) + _pk_str("cpu") + _pk_int(2) + b"tQ"
                    + _pk_int(0) + _pk_tuple((2,)) + _pk_tuple((1,))
                    + b"\x89ccollections\nOrderedDict\n)RtR")
    pkl = b"\x80\x02}(" + tensors + b"u."
    return _torch_zip(pkl, {"0": bytes(8), "1": bytes(8)})


def test_zip_records_sharing_bytes_are_refused():
    data = bytearray(_two_storages())
    assert set(S.load_arrays(io.BytesIO(bytes(data)))) == {"0", "1"}
    first = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(
        "archive/data/0").header_offset
    pos = data.find(b"PK\x01\x02")
    while data[pos + 46:pos + 60] != b"archive/data/1":
        pos = data.find(b"PK\x01\x02", pos + 4)
    struct.pack_into("<I", data, pos + 42, first)   # '1' reuses '0'
    out, _ = _load(bytes(data))
    assert isinstance(out, RuntimeError) and "overlaps" in str(out)


def test_deflated_record_claiming_more_than_deflate_can_hold():
    data = bytearray(_zip({"archive/data.pkl": b"\x80\x02N."},
                          zipfile.ZIP_DEFLATED))
    assert S.load_arrays(io.BytesIO(bytes(data))) is None
    struct.pack_into("<I", data, 22, GIB)
    struct.pack_into("<I", data, data.find(b"PK\x01\x02") + 24, GIB)
    out, peak = _load(bytes(data))
    assert isinstance(out, RuntimeError) and peak < MIB
    assert "1073741824" in str(out)


def test_deep_nesting_is_a_clean_error():
    pkl = b"\x80\x02" + b"]" * 5001 + b"a" * 5000 + b"."
    out, _ = _load(_torch_zip(pkl, {}))
    assert isinstance(out, RuntimeError) and "nested" in str(out)


def test_tensor_as_dict_key_or_set_item_is_a_clean_error():
    tensor = (b"ctorch._utils\n_rebuild_tensor_v2\n((" + _pk_str("storage")
              + b"ctorch\nFloatStorage\n" + _pk_str("0") + _pk_str("cpu")
              + _pk_int(2) + b"tQ" + _pk_int(0) + _pk_tuple((2,))
              + _pk_tuple((1,)) + b"\x89ccollections\nOrderedDict\n)RtR")
    for pkl in (b"\x80\x02}" + tensor + b"K\x01s.",
                b"\x80\x04\x8f(" + tensor + b"\x90."):
        out, _ = _load(_torch_zip(pkl, {"0": bytes(8)}))
        assert isinstance(out, RuntimeError) and "hashable" in str(out)
