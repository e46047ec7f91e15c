"""The CUDA backend.

``array``   DeviceArray: a strided view over pooled device memory, the
            storage of a CUDA tensor (what a NumPy array is on the CPU).
``memory``  the caching allocator behind it and its statistics.
``launch``  launch configuration from the device's properties, and the
            one place kernels are launched (so signatures can be recorded
            for the PTX check).
``device_math``  the ``m`` namespace of scalar formulas in CUDA kernels.
``ptx_check``    compiles every recorded kernel signature to PTX.

The op kernels themselves live beside their CPU pairs' families in
``numgrad/ops/cuda/``.  ``numba.cuda`` is imported on first use only, so
``import numgrad`` stays fast and works without numba-cuda installed."""
import os

_cuda = []


def numba_cuda():
    """The ``numba.cuda`` module (real or simulated), imported once."""
    if not _cuda:
        from numba import cuda
        _cuda.append(cuda)
    return _cuda[0]


def simulated():
    """Numba's CUDA simulator is on (it must be chosen before numba is
    imported, so the environment decides)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def is_available():
    try:
        cuda = numba_cuda()
    except ImportError:
        return False
    try:
        return bool(cuda.is_available())
    except Exception:
        return False


def require():
    """Check the backend can run, or explain what is missing."""
    if not is_available():
        try:
            numba_cuda()
            reason = ("numba-cuda found no CUDA driver or GPU (for testing "
                      "without one set NUMBA_ENABLE_CUDASIM=1 before "
                      "starting Python)")
        except ImportError:
            reason = ("numba-cuda is not installed: pip install "
                      "'numgrad[cuda]'")
        raise RuntimeError(f"Found no NVIDIA driver on your system: "
                           f"{reason}.")
