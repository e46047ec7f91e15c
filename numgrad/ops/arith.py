"""PyTorch's signatures for elementwise ops (``alpha=``, optional clamp
bounds, activation parameters) over the pointwise op table."""
import math

import numpy as np

from ..tensor import Tensor
from . import pointwise as pw


def add(input, other, *, alpha=1):
    if alpha != 1:
        other = pw.mul(other, alpha)
    return pw.add(input, other)


def sub(input, other, *, alpha=1):
    if alpha != 1:
        other = pw.mul(other, alpha)
    return pw.sub(input, other)


def rsub(input, other, *, alpha=1):
    return sub(other, input, alpha=alpha)


def true_divide(input, other):
    return pw.div(input, other)


def div(input, other, *, rounding_mode=None):
    if rounding_mode is None:
        return pw.div(input, other)
    q = pw.div(input, other)
    if rounding_mode == "floor":
        q = pw.floor(q)
    elif rounding_mode == "trunc":
        q = pw.trunc(q)
    else:
        raise ValueError("div expected rounding_mode to be one of None, "
                         f"'trunc', or 'floor' but found '{rounding_mode}'")
    from .. import dtypes
    result = dtypes.result_type(input, other)
    return q if result.is_floating_point else q.to(result)


def floor_divide(input, other):
    return div(input, other, rounding_mode="floor")


def remainder(input, other):
    return input - floor_divide(input, other) * other


def clamp(input, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' "
                           "must not be None")
    # One op for every form, so the node is ClampBackward1 as in PyTorch.
    low, high = (-math.inf, math.inf) if input.dtype.is_floating_point \
        else (int(np.iinfo(input.dtype.np).min),
              int(np.iinfo(input.dtype.np).max))
    return pw.clamp(input, low if min is None else min,
                    high if max is None else max)


clip = clamp


def square(input):
    return pw.mul(input, input)


def relu6(input):
    return pw.hardtanh(input, 0.0, 6.0)


def leaky_relu(input, negative_slope=0.01):
    return pw.leaky_relu(input, negative_slope)


def hardtanh(input, min_val=-1.0, max_val=1.0):
    return pw.hardtanh(input, min_val, max_val)


def gelu(input, approximate="none"):
    if approximate == "tanh":
        return pw.gelu_tanh(input)
    if approximate != "none":
        raise ValueError(f"approximate argument must be either none or "
                         f"tanh, got {approximate!r}")
    return pw.gelu(input)


def softplus(input, beta=1.0, threshold=20.0):
    return pw.softplus(input, beta, threshold)


def where(condition, input=None, other=None):
    if input is None and other is None:
        from .. import creation
        return creation.nonzero(condition, as_tuple=True)
    cond = condition
    if isinstance(cond, Tensor) and cond.dtype.name != "bool":
        raise RuntimeError("where expected condition to be a boolean "
                           f"tensor, but got a tensor with dtype "
                           f"{cond.dtype.name.capitalize()}")
    return pw.where(cond, input, other)


def lerp(input, end, weight):
    return input + weight * (end - input)


def addcmul(input, tensor1, tensor2, *, value=1):
    return input + value * tensor1 * tensor2


def addcdiv(input, tensor1, tensor2, *, value=1):
    return input + value * tensor1 / tensor2


def log2(input):
    return pw.log(input) * 1.4426950408889634


def log10(input):
    return pw.log(input) * 0.4342944819032518


def exp2(input):
    return pw.exp(input * 0.6931471805599453)


def isfinite(input):
    return pw.abs(input) < float("inf") if input.is_floating_point() \
        else pw.eq(input, input)


def isinf(input):
    return pw.abs(input) == float("inf")


def hardsigmoid(input):
    return pw.hardtanh(input / 6 + 0.5, 0.0, 1.0)


def hardswish(input):
    return input * hardsigmoid(input)


def mish(input):
    return input * pw.tanh(pw.softplus(input, 1.0, 20.0))


def elu(input, alpha=1.0):
    return pw.where(input > 0, input, alpha * pw.expm1(input))
