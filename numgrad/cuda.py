"""numgrad.cuda: device queries.  The CUDA backend (numba-cuda) is not
part of this build, so no device is ever available."""


def is_available():
    return False


def device_count():
    return 0


def current_device():
    raise RuntimeError("No CUDA GPUs are available")


def synchronize(device=None):
    return None


def manual_seed(seed):
    return None


def manual_seed_all(seed):
    return None


def memory_allocated(device=None):
    return 0
