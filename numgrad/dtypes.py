"""dtype objects and PyTorch's type-promotion rules."""
import numpy as np


class dtype:
    __slots__ = ("name", "np", "is_floating_point", "itemsize", "category")

    def __init__(self, name, np_dtype, category):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.itemsize = self.np.itemsize
        self.category = category  # 0 bool, 1 integer, 2 floating
        self.is_floating_point = category == 2

    @property
    def is_signed(self):
        return self.np.kind in "if"

    def __repr__(self):
        return "numgrad." + self.name

    def __reduce__(self):
        return (_by_name, (self.name,))


bool_ = dtype("bool", np.bool_, 0)
uint8 = dtype("uint8", np.uint8, 1)
int8 = dtype("int8", np.int8, 1)
int16 = dtype("int16", np.int16, 1)
int32 = dtype("int32", np.int32, 1)
int64 = dtype("int64", np.int64, 1)
float16 = dtype("float16", np.float16, 2)
float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)

ALL = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
_FROM_NUMPY = {d.np: d for d in ALL}
_NAMES = {d.name: d for d in ALL}

_default_float = [float32]


def _by_name(name):
    return _NAMES[name]


def get_default_dtype():
    return _default_float[0]


def set_default_dtype(d):
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the "
                        f"default type, got {d}")
    _default_float[0] = d


def from_numpy_dtype(np_dtype):
    try:
        return _FROM_NUMPY[np.dtype(np_dtype)]
    except KeyError:
        raise TypeError(
            f"can't convert np.ndarray of type {np.dtype(np_dtype)}. The "
            "only supported types are: float64, float32, float16, int64, "
            "int32, int16, int8, uint8, and bool.") from None


def promote_types(a, b):
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    return _FROM_NUMPY[np.promote_types(a.np, b.np)]


def scalar_category(value):
    if isinstance(value, (bool, np.bool_)):
        return 0
    if isinstance(value, (int, np.integer)):
        return 1
    return 2


_DEFAULT_FOR_CATEGORY = {0: bool_, 1: int64}


def result_type(*operands):
    """PyTorch's promotion: dimensioned tensors outrank zero-dim tensors,
    which outrank Python scalars, unless the lower rank has a higher
    category (bool < integer < floating)."""
    dim_type = zero_dim_type = scalar_cat = None
    for x in operands:
        d = getattr(x, "dtype", None)
        if d is None:
            cat = scalar_category(x)
            scalar_cat = cat if scalar_cat is None else max(scalar_cat, cat)
        elif x.ndim:
            dim_type = d if dim_type is None else promote_types(dim_type, d)
        else:
            zero_dim_type = (d if zero_dim_type is None
                             else promote_types(zero_dim_type, d))
    result = dim_type
    if zero_dim_type is not None and (
            result is None or zero_dim_type.category > result.category):
        result = zero_dim_type
    if scalar_cat is not None and (
            result is None or scalar_cat > result.category):
        result = _DEFAULT_FOR_CATEGORY.get(scalar_cat) or _default_float[0]
    return result


def cast_array(array, np_dtype, copy=True):
    """``array.astype(np_dtype)``, but float64 -> float16 through float32:
    PyTorch rounds twice there, and NumPy's direct rounding differs when
    a double lies just past a float16 tie.  Values past float16's range
    become inf quietly, as in PyTorch (NumPy would warn)."""
    if np_dtype != np.float16:
        return array.astype(np_dtype, copy=copy)
    with np.errstate(over="ignore"):
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        return array.astype(np_dtype, copy=copy)


def check_fill_value(value, np_dtype):
    """PyTorch refuses to fill float16 with a finite number past its
    range (65504) rather than store inf."""
    if np_dtype == np.float16 and isinstance(value, (int, float)) \
            and abs(value) > 65504 and abs(value) != float("inf"):
        raise RuntimeError("value cannot be converted to type c10::Half "
                           "without overflow")


def as_dtype(d):
    """Accept numgrad dtypes, NumPy dtypes and Python types."""
    if d is None or isinstance(d, dtype):
        return d
    if d is float:
        return _default_float[0]
    if d is int:
        return int64
    if d is bool:
        return bool_
    if isinstance(d, str) and d in _NAMES:
        return _NAMES[d]
    return from_numpy_dtype(d)
