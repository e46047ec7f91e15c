"""Factories: tensor, as_tensor, from_numpy, zeros, ones, full, empty,
arange, linspace, eye, rand, randn, randint and their *_like twins."""
import numpy as np

from . import dtypes
from . import random as _random
from .backends import filled, resolve, to_device
from .tensor import Tensor


def _infer_dtype(data):
    if isinstance(data, Tensor):
        return data.dtype
    if isinstance(data, (np.ndarray, np.generic)):
        # As in PyTorch, a NumPy scalar keeps its dtype (np.float16(1)).
        return dtypes.from_numpy_dtype(data.dtype)
    arr = np.asarray(data)
    if arr.dtype.kind == "f":
        return dtypes.get_default_dtype()
    if arr.dtype.kind in "iu":
        return dtypes.int64
    if arr.dtype.kind == "b":
        return dtypes.bool_
    if arr.dtype == object:
        flat = [x for x in _flatten(data)]
        if any(isinstance(x, Tensor) and x.dtype.is_floating_point
               or isinstance(x, float) for x in flat):
            return dtypes.get_default_dtype()
        return dtypes.int64
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def _flatten(data):
    if isinstance(data, (list, tuple)):
        for x in data:
            yield from _flatten(x)
    else:
        yield data


def _to_array(data, dtype):
    dtype = dtypes.as_dtype(dtype)
    if isinstance(data, Tensor):
        arr = data._host()
    elif isinstance(data, (list, tuple)) and any(
            isinstance(x, Tensor) for x in _flatten(data)):
        arr = np.array([x.item() if isinstance(x, Tensor) else x
                        for x in _flatten(data)]).reshape(
            np.asarray(_shape_of(data)))
    else:
        arr = np.asarray(data)
    if arr.dtype == object:
        raise TypeError(f"can't convert {type(data).__name__} to a tensor: "
                        "ragged nested sequences are not supported")
    if dtype is dtypes.float16:
        arr = dtypes.cast_array(arr, np.float16)
    return np.array(arr, dtype=dtype.np, copy=True, order="C")


def _shape_of(data):
    shape = []
    while isinstance(data, (list, tuple)):
        shape.append(len(data))
        data = data[0] if data else None
    return shape


def tensor(data, dtype=None, device=None, requires_grad=False,
           pin_memory=False):
    if device is None and isinstance(data, Tensor):
        device = data.device
    target = resolve(device)
    dtype = dtypes.as_dtype(dtype) or _infer_dtype(data)
    t = Tensor._make(to_device(_to_array(data, dtype), target))
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None, device=None):
    target = resolve(device)
    dtype = dtypes.as_dtype(dtype)
    if isinstance(data, Tensor):
        return data.to(dtype=dtype, device=device)
    if isinstance(data, np.ndarray) and target.type == "cpu" and (
            dtype is None or dtype.np == data.dtype):
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dtypes.from_numpy_dtype(array.dtype)
    from .fusion import recorder
    recorder.mark_shared(array)  # the caller keeps writing through it
    return Tensor._make(array)


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)):
            raise TypeError("size must be a tuple of ints, but got "
                            f"{type(s).__name__}")
        if s < 0:
            raise RuntimeError("Trying to create tensor with negative "
                               f"dimension {s}: {list(size)}")
    return tuple(int(s) for s in size)


def _shape(dims, size, name):
    """The shape of ``f(2, 3)``, ``f((2, 3))`` or ``f(size=(2, 3))``."""
    if size is None:
        return _size(dims)
    if dims:
        raise TypeError(f"{name}() got multiple values for argument "
                        "'size'")
    return _size((size,))


def _finish(array, requires_grad, device=None):
    t = Tensor._make(to_device(array, resolve(device)))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float_dtype(dtype):
    return dtypes.as_dtype(dtype) or dtypes.get_default_dtype()


def _filled(shape, value, dtype, device, requires_grad):
    t = Tensor._make(filled(shape, value, dtype.np, resolve(device)))
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*dims, size=None, dtype=None, device=None, requires_grad=False,
          out=None):
    return _filled(_shape(dims, size, "zeros"), 0, _float_dtype(dtype),
                   device, requires_grad)


def ones(*dims, size=None, dtype=None, device=None, requires_grad=False,
         out=None):
    return _filled(_shape(dims, size, "ones"), 1, _float_dtype(dtype),
                   device, requires_grad)


def empty(*dims, size=None, dtype=None, device=None, requires_grad=False,
          memory_format=None):
    return _filled(_shape(dims, size, "empty"), None, _float_dtype(dtype),
                   device, requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = (dtypes.bool_ if isinstance(fill_value, bool) else
                 dtypes.int64 if isinstance(fill_value, int) else
                 dtypes.get_default_dtype())
    return _filled(_size((size,) if isinstance(size, int) else
                         (tuple(size),)), fill_value, dtypes.as_dtype(dtype),
                   device, requires_grad)


def _like(input, dtype):
    return dtypes.as_dtype(dtype) or input.dtype


def zeros_like(input, *, dtype=None, device=None, requires_grad=False,
               memory_format=None):
    return _filled(input._shape, 0, _like(input, dtype),
                   device or input.device, requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False,
              memory_format=None):
    return _filled(input._shape, 1, _like(input, dtype),
                   device or input.device, requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False,
               memory_format=None):
    return _filled(input._shape, None, _like(input, dtype),
                   device or input.device, requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None,
              requires_grad=False, memory_format=None):
    return _filled(input._shape, fill_value, _like(input, dtype),
                   device or input.device, requires_grad)


def rand_like(input, *, generator=None, dtype=None, device=None,
              requires_grad=False):
    # Random numbers come from the host generator on every device, so a
    # seed gives the same values on the CPU and the GPU.
    d = _like(input, dtype)
    rng = _random.generator(generator)
    return _finish(rng.random(input._shape).astype(d.np),
                   requires_grad, device or input.device)


def randn_like(input, *, generator=None, dtype=None, device=None,
               requires_grad=False):
    d = _like(input, dtype)
    rng = _random.generator(generator)
    return _finish(rng.standard_normal(input._shape).astype(d.np),
                   requires_grad, device or input.device)


def arange(start, end=None, step=1, *, dtype=None, device=None,
           requires_grad=False):
    if end is None:
        start, end = 0, start
    values = [start, end, step]
    if dtype is None:
        floating = any(isinstance(v, float) or (isinstance(v, Tensor)
                       and v.dtype.is_floating_point) for v in values)
        dtype = dtypes.get_default_dtype() if floating else dtypes.int64
    dtype = dtypes.as_dtype(dtype)
    if step == 0:
        raise RuntimeError("step must be nonzero")
    values = [v.item() if isinstance(v, Tensor) else v for v in values]
    n = int(np.ceil((values[1] - values[0]) / values[2]))
    array = (values[0] + np.arange(max(n, 0)) * values[2])
    return _finish(array.astype(dtype.np), requires_grad, device)


def linspace(start, end, steps, *, dtype=None, device=None,
             requires_grad=False):
    return _finish(np.linspace(start, end, steps).astype(
        _float_dtype(dtype).np), requires_grad, device)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None,
             requires_grad=False):
    return _finish(np.logspace(start, end, steps, base=base).astype(
        _float_dtype(dtype).np), requires_grad, device)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    return _finish(np.eye(n, m, dtype=_float_dtype(dtype).np),
                   requires_grad, device)


def rand(*dims, size=None, generator=None, dtype=None, device=None,
         requires_grad=False):
    shape = _shape(dims, size, "rand")
    d = _float_dtype(dtype)
    return _finish(_random.generator(generator).random(shape).astype(d.np),
                   requires_grad, device)


def randn(*dims, size=None, generator=None, dtype=None, device=None,
          requires_grad=False):
    shape = _shape(dims, size, "randn")
    rng = _random.generator(generator)
    return _finish(rng.standard_normal(shape).astype(
        _float_dtype(dtype).np), requires_grad, device)


def _integers(rng, low, high, shape):
    if low >= high:  # PyTorch checks even when nothing is drawn
        raise RuntimeError("random_ expects 'from' to be less than 'to', "
                           f"but got from={low} >= to={high}")
    return rng.integers(low, high, shape)


def randint(low=0, high=None, size=None, *, generator=None, dtype=None,
            device=None, requires_grad=False):
    if size is None and isinstance(high, (tuple, list)):
        low, high, size = 0, low, high  # randint(high, size)
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    d = dtypes.as_dtype(dtype) or dtypes.int64
    values = _integers(_random.generator(generator), low, high,
                       _size((size,)))
    return _finish(values.astype(d.np), requires_grad, device)


def randint_like(input, low=0, high=None, *, generator=None, dtype=None):
    if high is None:
        low, high = 0, low
    values = _integers(_random.generator(generator), low, high,
                       input._shape)
    return _finish(values.astype(_like(input, dtype).np), False,
                   input.device)


def randperm(n, *, generator=None, dtype=None, device=None,
             requires_grad=False):
    (n,) = _size((n,))
    d = dtypes.as_dtype(dtype) or dtypes.int64
    rng = _random.generator(generator)
    return _finish(rng.permutation(n).astype(d.np), requires_grad, device)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None,
           device=None, requires_grad=False):
    rng = _random.generator(generator)
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        shape = np.broadcast_shapes(getattr(mean, "_shape", ()),
                                    getattr(std, "_shape", ()))
        like = mean if isinstance(mean, Tensor) else std
        noise = _finish(rng.standard_normal(shape).astype(like.dtype.np),
                        False, like.device)
        return mean + std * noise
    if size is None:
        raise TypeError("normal() missing required argument 'size' (mean "
                        "and std are both numbers)")
    if not std >= 0.0:
        raise RuntimeError("normal expects std >= 0.0, but found std "
                           f"{std:g}")
    values = rng.normal(mean, std, _size((size,)))
    return _finish(values.astype(_float_dtype(dtype).np), requires_grad,
                   device)


def nonzero(input, *, as_tuple=False):
    # The result's size depends on the values: a host round trip, as in
    # PyTorch (which synchronises for it too).
    idx = np.nonzero(input._host())
    if as_tuple:
        return tuple(_finish(i.astype(np.int64), False, input.device)
                     for i in idx)
    return _finish(np.stack(idx, axis=1).astype(np.int64), False,
                   input.device)
