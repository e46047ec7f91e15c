"""Test-side op database: one entry per op in the op table, with a NumPy
reference, an input domain that keeps finite differences away from kinks,
and whether second-order gradients are checked."""
import math

import numpy as np


class OpInfo:
    def __init__(self, name, ref, arity=1, domain=(-2.0, 2.0), scalars=(),
                 gradgrad=True, dtypes=("float32", "float64"), away=None,
                 grad=True):
        self.name = name
        self.ref = ref
        self.arity = arity
        self.domain = domain
        self.scalars = scalars
        self.gradgrad = gradgrad
        self.dtypes = dtypes
        self.away = away
        self.grad = grad

    def sample(self, rng, shape, dtype):
        lo, hi = self.domain
        x = rng.uniform(lo, hi, shape)
        if self.away is not None:
            # keep finite differences off kinks (relu at 0, abs at 0, ...)
            for point in self.away:
                near = np.abs(x - point) < 0.1
                x[near] += 0.25
        return x.astype(dtype)

    def __repr__(self):
        return self.name


_erf = np.vectorize(math.erf)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _gelu(x):
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi)
                                  * (x + 0.044715 * x ** 3)))


def _softplus(x, beta, threshold):
    return np.where(x * beta > threshold, x, np.log1p(np.exp(x * beta)) / beta)


POINTWISE = [
    OpInfo("add", np.add, 2),
    OpInfo("sub", np.subtract, 2),
    OpInfo("mul", np.multiply, 2),
    OpInfo("div", np.divide, 2, domain=(0.5, 2.0)),
    OpInfo("pow", np.power, 2, domain=(0.5, 2.0)),
    OpInfo("neg", np.negative),
    OpInfo("abs", np.abs, away=(0,)),
    OpInfo("sign", np.sign, away=(0,)),
    OpInfo("reciprocal", np.reciprocal, domain=(0.5, 2.0)),
    OpInfo("maximum", np.maximum, 2),
    OpInfo("minimum", np.minimum, 2),
    OpInfo("clamp", lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi), 1,
           scalars=(-0.5, 0.7), away=(-0.5, 0.7)),
    OpInfo("clamp_min", np.maximum, 1, scalars=(0.3,), away=(0.3,)),
    OpInfo("clamp_max", np.minimum, 1, scalars=(0.3,), away=(0.3,)),
    OpInfo("exp", np.exp),
    OpInfo("log", np.log, domain=(0.3, 3.0)),
    OpInfo("log1p", np.log1p, domain=(-0.5, 2.0)),
    OpInfo("expm1", np.expm1),
    OpInfo("sqrt", np.sqrt, domain=(0.3, 3.0)),
    OpInfo("rsqrt", lambda x: 1 / np.sqrt(x), domain=(0.3, 3.0)),
    OpInfo("sin", np.sin),
    OpInfo("cos", np.cos),
    OpInfo("tan", np.tan, domain=(-1.2, 1.2)),
    OpInfo("tanh", np.tanh),
    OpInfo("sigmoid", _sigmoid),
    OpInfo("erf", _erf),
    OpInfo("relu", lambda x: np.maximum(x, 0), away=(0,)),
    OpInfo("leaky_relu", lambda x, s: np.where(x > 0, x, x * s),
           scalars=(0.1,), away=(0,)),
    OpInfo("hardtanh", lambda x, lo, hi: np.clip(x, lo, hi),
           scalars=(-1.0, 1.0), away=(-1, 1)),
    OpInfo("gelu", _gelu),
    OpInfo("gelu_tanh", _gelu_tanh),
    OpInfo("silu", lambda x: x * _sigmoid(x)),
    OpInfo("softplus", _softplus, scalars=(1.0, 20.0)),
    OpInfo("floor", np.floor, away=(-1, 0, 1), gradgrad=False),
    OpInfo("ceil", np.ceil, away=(-1, 0, 1), gradgrad=False),
    OpInfo("trunc", np.trunc, away=(-1, 0, 1), gradgrad=False),
]

NOT_DIFFERENTIABLE = {
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal, "isnan": np.isnan,
}
# Integer-only quotients (ops.arith routes integer //, % and
# div(rounding_mode=) here), against NumPy's exact integer maths.
INTEGRAL = {
    "floor_divide_integral": np.floor_divide,
    "remainder_integral": np.remainder,
    "trunc_divide_integral": lambda a, b: np.sign(a) * np.sign(b)
    * (np.abs(a) // np.abs(b)),
}
LOGICAL = {
    "logical_and": np.logical_and, "logical_or": np.logical_or,
    "logical_xor": np.logical_xor, "logical_not": np.logical_not,
}
