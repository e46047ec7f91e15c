"""finfo and iinfo against torch.finfo / torch.iinfo: every attribute,
the printed form, the default dtype and the refused arguments."""
import pytest
import torch

import numgrad as ng

FLOATS = ["float16", "float32", "float64"]
INTEGERS = ["uint8", "int8", "int16", "int32", "int64"]
FINFO_FIELDS = ("bits", "eps", "max", "min", "tiny", "smallest_normal",
                "resolution", "dtype")
IINFO_FIELDS = ("bits", "max", "min", "dtype")


def _same(ours, theirs, fields):
    for name in fields:
        mine, reference = getattr(ours, name), getattr(theirs, name)
        assert type(mine) is type(reference), name
        assert mine == reference, name
    assert repr(ours) == repr(theirs)
    assert str(ours) == str(theirs)


@pytest.mark.parametrize("name", FLOATS)
def test_finfo_matches_torch(name):
    _same(ng.finfo(getattr(ng, name)), torch.finfo(getattr(torch, name)),
          FINFO_FIELDS)


@pytest.mark.parametrize("name", INTEGERS)
def test_iinfo_matches_torch(name):
    _same(ng.iinfo(getattr(ng, name)), torch.iinfo(getattr(torch, name)),
          IINFO_FIELDS)


def test_python_types_and_default_dtype_as_torch():
    _same(ng.finfo(float), torch.finfo(float), FINFO_FIELDS)
    _same(ng.iinfo(int), torch.iinfo(int), IINFO_FIELDS)
    _same(ng.finfo(), torch.finfo(), FINFO_FIELDS)
    try:
        for lib in (ng, torch):
            lib.set_default_dtype(lib.float64)
        _same(ng.finfo(), torch.finfo(), FINFO_FIELDS)
        # a Python float stays float64 whatever the default
        assert ng.finfo(float).bits == 64
    finally:
        for lib in (ng, torch):
            lib.set_default_dtype(lib.float32)
    assert ng.finfo().dtype == "float32"


def test_info_objects_compare_and_stay_read_only_as_torch():
    for lib in (ng, torch):
        assert lib.finfo() == lib.finfo(lib.float32)
        assert lib.finfo(lib.float16) != lib.finfo(lib.float32)
        assert lib.iinfo(lib.int32) == lib.iinfo(lib.int32)
        assert isinstance(lib.finfo(lib.float64), lib.finfo)
        with pytest.raises(TypeError, match="unhashable"):
            hash(lib.finfo())
        with pytest.raises(AttributeError, match="not writable"):
            lib.finfo().eps = 1.0
        with pytest.raises(AttributeError, match="not writable"):
            lib.iinfo(lib.int8).max = 1


@pytest.mark.parametrize("make, argument, words", [
    ("finfo", "int32", "requires a floating point input type"),
    ("finfo", "bool", "requires a floating point input type"),
    ("iinfo", "float32", "requires an integer input type"),
    ("iinfo", "bool", "bool is not supported by"),
    ("finfo", "'float32'", "argument 'type' (position 1) must be"),
    ("finfo", "None", "argument 'type' (position 1) must be"),
    ("iinfo", "None", "argument 'type' (position 1) must be"),
])
def test_refused_arguments_as_torch(make, argument, words):
    for lib in ("ng", "torch"):
        value = argument if argument[0] in "'N" else f"{lib}.{argument}"
        with pytest.raises(TypeError) as error:
            eval(f"{lib}.{make}({value})")
        assert words in str(error.value), lib


def test_iinfo_needs_its_argument_as_torch():
    for lib in (ng, torch):
        with pytest.raises(TypeError, match="missing 1 required positional"):
            lib.iinfo()
