"""A caching allocator for device memory.

Every CUDA tensor's storage is a block from this pool.  When the last
array viewing a block dies, the block goes back to a free list keyed by
its rounded size instead of to the driver, so a training step reuses the
previous step's buffers (cudaMalloc/cudaFree synchronise the device and
cost far more than a kernel).  All work runs on the default stream, so a
block freed by the host can be handed out again at once: kernels that
still read it are ordered before any kernel that writes it.
"""
import threading
import weakref

from . import numba_cuda, simulated

_SMALL = 512
_LARGE = 1 << 20


def round_size(nbytes):
    """Size classes: multiples of 512 B up to 1 MiB, then of 1 MiB, so
    a freed block fits the many requests of nearly the same size."""
    nbytes = max(int(nbytes), 1)
    unit = _SMALL if nbytes < _LARGE else _LARGE
    return -(-nbytes // unit) * unit


class Pool:
    def __init__(self):
        self._free = {}
        self._lock = threading.Lock()
        self.allocated = 0
        self.reserved = 0
        self.peak = 0

    def allocate(self, owner, nbytes):
        """A device buffer of at least ``nbytes``, returned to the pool
        when ``owner`` is garbage collected."""
        size = round_size(nbytes)
        with self._lock:
            blocks = self._free.get(size)
            buffer = blocks.pop() if blocks else None
            self.allocated += size
            if self.allocated > self.peak:
                self.peak = self.allocated
        if buffer is None:
            buffer = self._new_buffer(size)
            with self._lock:
                self.reserved += size
        weakref.finalize(owner, self._release, size, buffer)
        return buffer

    def _new_buffer(self, size):
        cuda = numba_cuda()
        import numpy as np
        try:
            return cuda.device_array(size, dtype=np.uint8)
        except Exception as error:
            if "OUT_OF_MEMORY" not in str(error) and \
                    "out of memory" not in str(error):
                raise
            # Cached blocks may be what fills the device: give them back
            # and try once more before reporting.
            self.empty_cache()
            try:
                return cuda.device_array(size, dtype=np.uint8)
            except Exception:
                raise RuntimeError(
                    f"CUDA out of memory. Tried to allocate {size} bytes; "
                    f"{self.allocated} bytes are allocated by tensors, "
                    f"{self.reserved} reserved by numgrad's allocator"
                ) from error

    def _release(self, size, buffer):
        with self._lock:
            self.allocated -= size
            self._free.setdefault(size, []).append(buffer)

    def empty_cache(self):
        with self._lock:
            for size, blocks in self._free.items():
                self.reserved -= size * len(blocks)
            self._free.clear()

    def host_view(self, buffer):
        """The NumPy bytes behind a simulated buffer (the simulator keeps
        device memory in host arrays)."""
        return buffer._ary if simulated() else None


pool = Pool()
