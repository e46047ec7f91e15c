"""The ``m`` namespace of scalar formulas inside compiled kernels.

Pointwise formulas call ``m.exp(x)``, ``m.where(c, a, b)``...; in kernels
``m`` is this module, under ``create_graph`` it is ``tensor_math``.  The
transcendental functions come from ``scalar_math`` (vectorisable)."""
import math

import numpy as np
from numba import njit

from .scalar_math import (cos, erf, exp, expm1, log, log1p, sigmoid, sin,  # noqa: F401,E501
                          tanh)


INTEGRAL = 4503599627370496.0  # 2**52


@njit(inline="always")
def where(cond, a, b):
    return a if cond else b


@njit(inline="always")
def maximum(a, b):
    # NaN-propagating, as torch.maximum.
    return a if (a >= b or a != a) else b


@njit(inline="always")
def minimum(a, b):
    return a if (a <= b or a != a) else b


@njit(inline="always")
def sqrt(x):
    return math.sqrt(x)


@njit(inline="always")
def abs(x):
    # x * x makes both zeros +0.0 and keeps NaN (x if x >= 0 keeps -0.0).
    return -x if x < 0 else (x if x > 0 else x * x)


@njit(inline="always")
def sign(x):
    return (x > 0) - (x < 0)


@njit(inline="always")
def pow(a, b):
    # x ** 2 and x ** 0.5 are common; the generic power is a libm call.
    if b == 2:
        return a * a
    if b == 0.5:
        return math.sqrt(a)
    if b == 1:
        return a
    return a ** b


@njit(inline="always")
def floor(x):
    # math.floor returns an integer: NaN and inf have none, and the zero
    # it gives for -0.0 loses the sign.  Past 2**52 every float is
    # already integral.
    if x == 0 or not -INTEGRAL < x < INTEGRAL:
        return x
    return math.floor(x)


@njit(inline="always")
def ceil(x):
    if x == 0 or not -INTEGRAL < x < INTEGRAL:
        return x
    c = math.ceil(x)
    # (-1, 0) rounds up to -0.0, as in IEEE (and PyTorch).
    return c if c != 0 else x * 0


@njit(inline="always")
def isnan(x):
    return x != x


@njit
def block_sum(buf, n):
    # Eight independent accumulators keep the adds pipelined.
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    i = 0
    while i + 8 <= n:
        s0 += buf[i]
        s1 += buf[i + 1]
        s2 += buf[i + 2]
        s3 += buf[i + 3]
        s4 += buf[i + 4]
        s5 += buf[i + 5]
        s6 += buf[i + 6]
        s7 += buf[i + 7]
        i += 8
    rest = 0.0
    while i < n:
        rest += buf[i]
        i += 1
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) + rest


# ---- float16 storage ----------------------------------------------------
# Numba's CPU target has no float16 type at all (not even as an array
# element), so kernels see float16 arrays as their uint16 bits and
# compute in float32, as PyTorch's CPU kernels do.  Both conversions are
# exact integer recipes (F. Giesen, "half_to_float_fast" and
# "float_to_half_fast3_rtne"): LLVM's own half casts would need libgcc
# helpers, which the JIT cannot link on CPUs without F16C.
_HALF_SCALE = np.uint32((254 - 15) << 23).view(np.float32)
_HALF_INF_NAN = np.uint32((127 + 16) << 23).view(np.float32)
_DENORMAL_MAGIC = ((127 - 15) + (23 - 10) + 1) << 23


@njit(inline="always")
def half_load(bits):
    """float16 bits -> float32 (exact)."""
    h = np.int64(bits)
    f = np.uint32((h & 0x7FFF) << 13).view(np.float32) * _HALF_SCALE
    o = np.int64(np.float32(f).view(np.uint32))
    if f >= _HALF_INF_NAN:
        o |= 255 << 23
    return np.uint32(o | ((h & 0x8000) << 16)).view(np.float32)


@njit(inline="always")
def half_store(x):
    """float32 -> float16 bits, rounding to nearest even."""
    f = np.int64(np.float32(x).view(np.uint32))
    sign = f & 0x80000000
    f ^= sign
    if f >= (127 + 16) << 23:
        o = 0x7E00 if f > 255 << 23 else 0x7C00
    elif f < 113 << 23:
        # Adding 0.5 aligns the subnormal's bits; the FPU rounds.
        g = (np.uint32(f).view(np.float32)
             + np.uint32(_DENORMAL_MAGIC).view(np.float32))
        o = np.int64(np.float32(g).view(np.uint32)) - _DENORMAL_MAGIC
    else:
        f += ((15 - 127) << 23) + 0xFFF + ((f >> 13) & 1)
        o = f >> 13
    return np.uint16(o | (sign >> 16))


@njit(inline="always")
def half_round(x):
    """x rounded to the nearest float16, as float32: a float16 value a
    fused chain keeps in a register, equal to what eager execution
    stores and reloads."""
    return half_load(half_store(x))
