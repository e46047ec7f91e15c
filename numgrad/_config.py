"""Process-wide settings read once from the environment, and the
thread-local modes every layer reads."""
import os
import threading


def _flag(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() not in ("0", "false", "no", "off", "")


fusion_enabled = _flag("NUMGRAD_FUSION", True)


def _choose_threading_layer():
    """Numba's default OpenMP layer spin-waits after every parallel kernel
    and steals both cores from OpenBLAS's threads between them: measured
    here, ResNet-50's forward went from 92 ms to 568 ms.  The workqueue
    layer sleeps instead, at ~36 us a launch: with one thread there is
    nothing to spin, and OpenMP's cheaper launches win (EfficientNet-Lite0
    55 -> 35 ms), so it stays.  An explicit NUMBA_THREADING_LAYER wins;
    the choice only applies if no parallel kernel has run in this
    process."""
    if "NUMBA_THREADING_LAYER" in os.environ:
        return
    import numba
    if numba.config.NUMBA_NUM_THREADS > 1:
        numba.config.THREADING_LAYER = "workqueue"


_choose_threading_layer()


class _GradState(threading.local):
    """Grad mode, per thread (numgrad.autograd.grad_mode switches it)."""
    enabled = True
    inference = False


grad_state = _GradState()
