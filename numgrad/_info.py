"""finfo and iinfo: the numeric limits of numgrad's dtypes, with
torch.finfo / torch.iinfo's attributes, argument rules and printing."""
import builtins

import numpy as np

from . import dtypes

_DEFAULT = object()  # finfo() means the default dtype; finfo(None) is wrong


def _dtype_argument(kind, value, python_types):
    """The numgrad dtype a finfo/iinfo argument names.  Like PyTorch,
    take numgrad dtypes and the Python type the kind stands for, and
    nothing else (no strings, no NumPy dtypes)."""
    if isinstance(value, dtypes.dtype):
        return value
    if isinstance(value, type) and value in python_types:
        return python_types[value]
    raise TypeError(f"{kind}(): argument 'type' (position 1) must be "
                    f"numgrad.dtype, not {type(value).__name__}")


class _Limits:
    """Read-only attributes, equal when their dtypes are (PyTorch's
    info objects compare so and, having __eq__, are unhashable)."""
    __slots__ = ()

    def __setattr__(self, name, value):
        raise AttributeError(f"attribute '{name}' of 'numgrad."
                             f"{type(self).__name__}' objects is not "
                             "writable")

    def _set(self, **values):
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __eq__(self, other):
        return type(other) is type(self) and other.dtype == self.dtype

    __hash__ = None

    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name):g}"
                           for name in self._shown)
        return f"{type(self).__name__}({fields}, dtype={self.dtype})"


class finfo(_Limits):
    """Limits of a floating-point dtype (the default dtype if none is
    given).  ``resolution`` is 10 ** -precision, as PyTorch defines it;
    ``tiny`` is ``smallest_normal``."""
    __slots__ = ("bits", "eps", "max", "min", "tiny", "smallest_normal",
                 "resolution", "dtype")
    _shown = ("resolution", "min", "max", "eps", "smallest_normal", "tiny")

    def __init__(self, type=_DEFAULT):
        if type is _DEFAULT:
            type = dtypes.get_default_dtype()
        # Python's float is a C double whatever the default dtype is.
        d = _dtype_argument("finfo", type, {builtins.float: dtypes.float64})
        if not d.is_floating_point:
            raise TypeError("numgrad.finfo() requires a floating point "
                            "input type. Use numgrad.iinfo to handle "
                            f"'{d}'")
        info = np.finfo(d.np)
        self._set(bits=int(info.bits), eps=float(info.eps),
                  max=float(info.max), min=float(info.min),
                  tiny=float(info.smallest_normal),
                  smallest_normal=float(info.smallest_normal),
                  resolution=10.0 ** -int(info.precision), dtype=d.name)


class iinfo(_Limits):
    """Limits of an integer dtype (``bool`` has none, as in PyTorch)."""
    __slots__ = ("bits", "max", "min", "dtype")
    _shown = ("min", "max")

    def __init__(self, type):
        d = _dtype_argument("iinfo", type, {builtins.int: dtypes.int64})
        if d is dtypes.bool_:
            raise TypeError("numgrad.bool is not supported by "
                            "numgrad.iinfo")
        if d.is_floating_point:
            raise TypeError("numgrad.iinfo() requires an integer input "
                            "type. Use numgrad.finfo to handle "
                            f"'{d}'")
        info = np.iinfo(d.np)
        self._set(bits=int(info.bits), max=int(info.max),
                  min=int(info.min), dtype=d.name)
