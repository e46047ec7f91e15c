"""The ``m`` namespace of scalar formulas inside CUDA kernels: the same
names as ``numgrad.ops.kernel_math`` (the CPU's), as device functions
over libdevice's math (which is fast on the GPU; the CPU needs its own
vectorisable versions, the GPU does not)."""
import math

import numpy as np

from .launch import device_function


INTEGRAL = 4503599627370496.0  # 2**52


@device_function
def where(cond, a, b):
    return a if cond else b


@device_function
def maximum(a, b):
    return a if (a >= b or a != a) else b


@device_function
def minimum(a, b):
    return a if (a <= b or a != a) else b


@device_function
def sqrt(x):
    return math.sqrt(x)


@device_function
def abs(x):
    # x * x makes both zeros +0.0 and keeps NaN (x if x >= 0 keeps -0.0).
    return -x if x < 0 else (x if x > 0 else x * x)


@device_function
def sign(x):
    # Not (x > 0) - (x < 0): the simulator runs this on NumPy booleans,
    # which refuse to subtract.
    return (1 if x > 0 else 0) - (1 if x < 0 else 0)


@device_function
def pow(a, b):
    if b == 2:
        return a * a
    return a ** b


@device_function
def floor(x):
    # math.floor returns an integer: NaN and inf have none, and the zero
    # it gives for -0.0 loses the sign.  Past 2**52 every float is
    # already integral.
    if x == 0 or not -INTEGRAL < x < INTEGRAL:
        return x
    return math.floor(x)


@device_function
def ceil(x):
    if x == 0 or not -INTEGRAL < x < INTEGRAL:
        return x
    c = math.ceil(x)
    # (-1, 0) rounds up to -0.0, as in IEEE (and PyTorch).
    return c if c != 0 else x * 0


@device_function
def isnan(x):
    return x != x


@device_function
def exp(x):
    return math.exp(x)


@device_function
def log(x):
    return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)


@device_function
def log1p(x):
    return math.log1p(x) if x > -1 else (-math.inf if x == -1
                                         else math.nan)


@device_function
def expm1(x):
    return math.expm1(x)


@device_function
def tanh(x):
    return math.tanh(x)


@device_function
def sigmoid(x):
    # exp of a non-positive argument only: never overflows.
    e = math.exp(-x if x >= 0 else x)
    return 1 / (1 + e) if x >= 0 else e / (1 + e)


@device_function
def erf(x):
    return math.erf(x)


@device_function
def sin(x):
    return math.sin(x)


@device_function
def cos(x):
    return math.cos(x)


@device_function
def softplus(x):
    return (x if x > 0 else 0) + math.log1p(math.exp(-(x if x >= 0
                                                       else -x)))


# float16 storage: the GPU holds float16 natively, so unlike the CPU's
# (bit recipes on uint16 views) these are plain conversions; the
# arithmetic between them is float32, as on the CPU.
@device_function
def half_load(x):
    return np.float32(x)


@device_function
def half_store(x):
    return np.float16(x)


@device_function
def half_round(x):
    return np.float32(np.float16(x))
