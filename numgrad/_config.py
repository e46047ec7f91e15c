"""Process-wide settings read once from the environment."""
import os


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
    layer sleeps instead.  An explicit NUMBA_THREADING_LAYER wins; the
    choice only applies if no parallel kernel has run in this process."""
    if "NUMBA_THREADING_LAYER" in os.environ:
        return
    import numba
    numba.config.THREADING_LAYER = "workqueue"


_choose_threading_layer()
