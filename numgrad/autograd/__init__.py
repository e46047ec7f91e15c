"""numgrad.autograd: PyTorch's autograd API."""
from . import functional, graph  # noqa: F401
from .api import backward, grad  # noqa: F401
from .function import Function, FunctionCtx, once_differentiable  # noqa: F401
from .grad_mode import (enable_grad, inference_mode, no_grad,  # noqa: F401
                        set_grad_enabled)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: F401

_anomaly = [False]


def set_detect_anomaly(mode, check_nan=True):
    _anomaly[0] = bool(mode)


def is_anomaly_enabled():
    return _anomaly[0]


class detect_anomaly:
    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self.previous = _anomaly[0]
        _anomaly[0] = True
        return self

    def __exit__(self, *exc):
        _anomaly[0] = self.previous
        return False
