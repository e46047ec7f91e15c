"""Launch configuration and the one place kernels are launched.

Block and grid sizes come from the device: a grid-stride loop lets a
grid of a few waves (``WAVES`` blocks per multiprocessor) cover any size,
so a launch never needs more blocks than the device can keep busy.  The
simulator runs every CUDA thread as an OS thread, so there a single small
block covers the work (the grid-stride loops make any size correct).

With ``NUMGRAD_CUDA_RECORD=<file>`` every launch appends the kernel and its
argument types to the file; ``ptx_check`` then compiles exactly those
signatures to PTX, which catches the typing errors the simulator (it does
no type inference) cannot."""
import json
import os

from . import numba_cuda, simulated

WAVES = 32


def device_function(fn):
    """``@cuda.jit(device=True)``, except under the simulator, where the
    plain Python function is used: the simulator wraps each device call in
    a module-wide lock, and with several simulated threads contending for
    it a kernel ran 1000x slower.  (``ptx_check`` compiles the real
    device functions.)  Inlined at Numba's IR level: a call to a separately
    compiled device function needs a CUDA driver even to emit PTX."""
    if simulated():
        return fn
    return numba_cuda().jit(device=True, inline="always")(fn)


_properties = {}


def properties():
    if not _properties:
        if simulated():
            _properties.update(threads=8, max_blocks=1, max_threads=8)
        else:
            device = numba_cuda().get_current_device()
            sms = device.MULTIPROCESSOR_COUNT
            limit = device.MAX_THREADS_PER_BLOCK
            _properties.update(threads=min(256, limit),
                               max_blocks=sms * WAVES, max_threads=limit)
    return _properties


def grid_for(n, threads=None):
    """(blocks, threads) for a grid-stride loop over ``n`` items."""
    props = properties()
    threads = threads or props["threads"]
    blocks = min(max(-(-n // threads), 1), props["max_blocks"])
    return blocks, threads


def block_size(work_per_row):
    """Threads per block for a kernel where one block cooperates on one
    row of ``work_per_row`` items (reductions): a power of two, at most the
    device's limit and no more than the row needs."""
    limit = min(properties()["max_threads"], 256)
    threads = 1
    while threads < limit and threads < work_per_row:
        threads *= 2
    return threads


def launch(kernel, config, *args):
    """``kernel[config](*args)`` with DeviceArrays passed as Numba views."""
    raw = [a.raw if hasattr(a, "raw") else a for a in args]
    if _record_path:
        _record(kernel, args)
    kernel[config](*raw)


_record_path = os.environ.get("NUMGRAD_CUDA_RECORD")
_recorded = set()


def _arg_type(a):
    if hasattr(a, "raw"):
        layout = "C" if a.is_contiguous() and 0 not in a.strides else "A"
        return ["array", a.dtype.str, a.ndim, layout]
    if isinstance(a, bool):
        return ["scalar", "bool"]
    if isinstance(a, int):
        return ["scalar", "int64"]
    if isinstance(a, float):
        return ["scalar", "float64"]
    import numpy as np
    return ["scalar", np.dtype(type(a)).name]


def _record(kernel, args):
    fn = getattr(kernel, "py_func", None) or getattr(kernel, "fn")
    entry = json.dumps({"module": fn.__module__, "name": fn.__qualname__,
                        "file": fn.__code__.co_filename,
                        "args": [_arg_type(a) for a in args]})
    if entry in _recorded:
        return
    _recorded.add(entry)
    with open(_record_path, "a") as f:
        f.write(entry + "\n")
