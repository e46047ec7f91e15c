"""The CPU backend's launch rule for Numba ``parallel=True`` kernels.

numgrad runs them on Numba's workqueue threading layer (see
``numgrad._config``), which aborts the whole process when two Python
threads enter a parallel region at once.  Every parallel launch therefore
goes through one process-wide lock: threads still overlap everything else
(serial kernels release the GIL, BLAS runs its own threads), and two
parallel kernels would only fight over the same cores anyway."""
import threading

from numba import njit

_parallel_lock = threading.Lock()


class ParallelKernel:
    """A ``parallel=True`` dispatcher that one thread at a time runs."""
    __slots__ = ("dispatcher",)

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher

    def __call__(self, *args):
        with _parallel_lock:
            return self.dispatcher(*args)

    def __getattr__(self, name):  # signatures, stats, py_func, ...
        return getattr(self.dispatcher, name)


def parallel_njit(**options):
    """``@njit(parallel=True, **options)`` whose launches are serialised."""
    def wrap(fn):
        return ParallelKernel(njit(parallel=True, **options)(fn))
    return wrap
