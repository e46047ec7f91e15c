"""numgrad.accelerator: torch.accelerator's device-agnostic calls, over
numgrad's one accelerator, CUDA (``numgrad.cuda``).

Without a usable GPU (or Numba's CUDA simulator) it answers as PyTorch's
CPU build does: no accelerator, no devices, and every call that needs a
device raises RuntimeError.  numgrad drives one GPU, ``cuda:0``, so the
current index is always 0.  Streams, graphs and ``memory_stats`` have no
numgrad counterpart and are left out."""
import warnings

from . import cuda as _cuda
from .backends import cuda as _backend, device as _device

_NONE_AVAILABLE = "Cannot access accelerator device when none is available."


def is_available():
    return _cuda.is_available()


def current_accelerator(check_available=False):
    """``device(type='cuda')`` or None.  PyTorch separates the build's
    accelerator (``check_available=False``) from a usable one; numgrad
    compiles its CUDA kernels when they are first used, so an accelerator
    is "built" exactly when it is usable and both answers agree."""
    return _device("cuda") if is_available() else None


def device_count():
    return _cuda.device_count()


def _require():
    if not is_available():
        raise RuntimeError(_NONE_AVAILABLE)


def _index(device):
    """The index ``device`` (None, int, str or device) names, checked
    against numgrad's one GPU."""
    _require()
    if device is None:
        return 0
    if isinstance(device, int):
        device = _device("cuda", device)
    device = _device(device)
    if device.type != "cuda":
        raise ValueError(f"{device.type} doesn't match the current "
                         "accelerator cuda.")
    _cuda.set_device(device)  # refuses any GPU but cuda:0
    return 0


def current_device_index():
    return _index(None)


def set_device_index(device, /):
    _index(device)


def current_device_idx():
    warnings.warn("Use `current_device_index` instead.", FutureWarning,
                  stacklevel=2)
    return current_device_index()


def set_device_idx(device, /):
    warnings.warn("Use `set_device_index` instead.", FutureWarning,
                  stacklevel=2)
    set_device_index(device)


class device_index:
    """Within the block, ``device`` (an index; None does nothing) is the
    current device.  numgrad has one, so nothing changes but the check."""

    def __init__(self, device, /):
        self.idx = device

    def __enter__(self):
        if self.idx is not None:
            _index(self.idx)

    def __exit__(self, *exc_info):
        return None


def synchronize(device=None, /):
    """Wait for every kernel launched so far (launches are asynchronous:
    time GPU work only after this)."""
    _index(device)
    _cuda.synchronize()


def memory_allocated(device_index=None, /):
    _index(device_index)
    return _cuda.memory_allocated()


def max_memory_allocated(device_index=None, /):
    _index(device_index)
    return _cuda.max_memory_allocated()


def memory_reserved(device_index=None, /):
    _index(device_index)
    return _cuda.memory_reserved()


def reset_peak_memory_stats(device_index=None, /):
    _index(device_index)
    _cuda.reset_peak_memory_stats()


def empty_cache():
    _require()
    _cuda.empty_cache()


def get_memory_info(device_index=None, /):
    """(free, total) bytes of device memory, as the driver reports."""
    _index(device_index)
    free, total = _backend.numba_cuda().current_context().get_memory_info()
    return free, total
