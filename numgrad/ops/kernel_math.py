"""The ``m`` namespace of scalar formulas inside compiled kernels.

Pointwise formulas call ``m.exp(x)``, ``m.where(c, a, b)``...; in kernels
``m`` is this module, under ``create_graph`` it is ``tensor_math``.  The
transcendental functions come from ``scalar_math`` (vectorisable)."""
import math

from numba import njit

from .scalar_math import (cos, erf, exp, expm1, log, log1p, sigmoid, sin,  # noqa: F401,E501
                          tanh)


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
    return x if x >= 0 else -x


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
    return math.floor(x)


@njit(inline="always")
def ceil(x):
    return math.ceil(x)


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
