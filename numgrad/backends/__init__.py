"""Devices.  The CPU backend runs NumPy arrays and Numba ``@njit``
kernels; a CUDA backend plugs in behind the same interface."""


class device:
    __slots__ = ("type", "index")

    def __init__(self, spec, index=None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if isinstance(spec, int):
            spec, index = "cuda", spec
        kind, _, number = str(spec).partition(":")
        if kind not in ("cpu", "cuda"):
            raise RuntimeError(
                "Expected one of cpu, cuda device type at start of device "
                f"string: {spec}")
        self.type = kind
        self.index = int(number) if number else index

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return (isinstance(other, device) and self.type == other.type
                and (self.index or 0) == (other.index or 0))

    def __hash__(self):
        return hash((self.type, self.index or 0))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"


CPU = device("cpu")


def resolve(spec):
    """A ``device`` for a user's device argument (None means the CPU);
    naming CUDA loads the CUDA backend or explains why it cannot."""
    if spec is None:
        return CPU
    d = device(spec)
    if d.type == "cuda":
        from . import cuda
        cuda.require()
        index = 0 if d.index is None else d.index
        count = len(cuda.numba_cuda().gpus)
        if index >= count:
            raise RuntimeError(
                f"CUDA error: invalid device ordinal (device {d}, "
                f"{count} device(s) available)")
        return device("cuda", index)
    return CPU


def device_of(array):
    """The device an array (NumPy or DeviceArray) lives on."""
    import numpy as np
    return CPU if isinstance(array, np.ndarray) else array.device


def to_device(array, target):
    """``array`` (NumPy or DeviceArray) on device ``target``: the same
    object if it is already there, else a copy."""
    import numpy as np
    on_host = isinstance(array, np.ndarray)
    if target.type == "cpu":
        return array if on_host else array.copy_to_host()
    if not on_host:
        return array
    from .cuda.array import DeviceArray
    return DeviceArray.from_host(array)


def filled(shape, value, np_dtype, target):
    """A new array of ``shape`` filled with ``value`` (None: uninitialised)
    on ``target``, made there (no host-to-device copy)."""
    import numpy as np
    from ..dtypes import check_fill_value
    check_fill_value(value, np_dtype)
    if target.type == "cpu":
        if value is None:
            return np.empty(shape, np_dtype)
        return np.full(shape, value, np_dtype)
    from .cuda.array import DeviceArray
    array = DeviceArray.empty(shape, np_dtype)
    if value is not None:
        array.fill(value)
    return array


def copy_into(target, source):
    """Write ``source`` (broadcast, cast) into the array ``target``."""
    import numpy as np
    if isinstance(target, np.ndarray):
        with np.errstate(over="ignore"):  # as in PyTorch: inf, no warning
            np.copyto(target, to_device(source, CPU), casting="unsafe")
    else:
        from .cuda.array import copy_into as device_copy_into
        device_copy_into(target, to_device(source, target.device))


def shares_memory(a, b):
    """Whether two arrays (of either kind) may overlap in memory."""
    import numpy as np
    a_host, b_host = isinstance(a, np.ndarray), isinstance(b, np.ndarray)
    if a_host and b_host:
        return np.may_share_memory(a, b)
    return not (a_host or b_host) and a.buffer is b.buffer
