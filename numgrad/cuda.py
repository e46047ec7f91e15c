"""numgrad.cuda: device queries, synchronisation and memory statistics,
with torch.cuda's names.  The backend is ``numgrad/backends/cuda``; it
needs numba-cuda (``pip install 'numgrad[cuda]'``) and a GPU, or Numba's
CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) for testing without one."""
from .backends import cuda as _backend


def is_available():
    return _backend.is_available()


def device_count():
    return len(_backend.numba_cuda().gpus) if is_available() else 0


def _require():
    if not is_available():
        raise RuntimeError("No CUDA GPUs are available")
    return _backend.numba_cuda()


def current_device():
    _require()
    return 0


def set_device(device):
    from .backends import resolve
    index = resolve(device if not isinstance(device, int)
                    else f"cuda:{device}").index
    if index != 0:
        raise RuntimeError("numgrad uses one GPU (cuda:0)")


def get_device_name(device=None):
    cuda = _require()
    if _backend.simulated():
        return "CUDA simulator"
    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else name


def get_device_capability(device=None):
    return tuple(_require().get_current_device().compute_capability)


def synchronize(device=None):
    """Wait for every launched kernel to finish (launches are
    asynchronous; timing GPU work needs this)."""
    if is_available():
        _backend.numba_cuda().synchronize()


def manual_seed(seed):
    # numgrad draws random numbers on the host for every device, so the
    # global generator is the CUDA generator too.
    from .random import manual_seed as seed_all
    seed_all(seed)


manual_seed_all = manual_seed


def _pool():
    from .backends.cuda.memory import pool
    return pool


def memory_allocated(device=None):
    """Bytes held by live CUDA tensors (rounded to the allocator's block
    sizes, as PyTorch's figure is)."""
    return _pool().allocated if is_available() else 0


def max_memory_allocated(device=None):
    return _pool().peak if is_available() else 0


def reset_peak_memory_stats(device=None):
    if is_available():
        pool = _pool()
        pool.peak = pool.allocated


def memory_reserved(device=None):
    """Bytes the caching allocator holds: in use plus cached free blocks."""
    return _pool().reserved if is_available() else 0


def empty_cache():
    """Return cached free blocks to the driver."""
    if is_available():
        _pool().empty_cache()
