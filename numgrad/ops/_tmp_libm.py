import math
from numba import njit

@njit(inline="always")
def exp(x):
    return math.exp(x)

@njit(inline="always")
def log(x):
    return math.log(x)

@njit(inline="always")
def log1p(x):
    return math.log1p(x)

@njit(inline="always")
def expm1(x):
    return math.expm1(x)

@njit(inline="always")
def tanh(x):
    return math.tanh(x)

@njit(inline="always")
def sigmoid(x):
    return 1 / (1 + math.exp(-x))

@njit(inline="always")
def erf(x):
    return math.erf(x)

@njit(inline="always")
def sin(x):
    return math.sin(x)

@njit(inline="always")
def cos(x):
    return math.cos(x)
