"""PyTorch's signatures for elementwise ops (``alpha=``, optional clamp
bounds, activation parameters) over the pointwise op table."""
import functools
import inspect
import math

import numpy as np

from .. import dtypes
from ..tensor import Tensor
from . import pointwise as pw


def float16_in_float32(*rounded):
    """PyTorch computes these in one float16 kernel, in float32, rounding
    once; composed of several ops here, float16 operands would be rounded
    after each (floor(a / b) can then land on the wrong integer).  So
    when the result is float16 they run in float32 and round at the end.
    Scalar arguments named in ``rounded`` are rounded to float16 first,
    as PyTorch's kernels cast those operands (the others stay float32)."""
    def wrap(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args, **kwargs):
            if not any(isinstance(v, Tensor) and v._dtype is dtypes.float16
                       for v in (*args, *kwargs.values())):
                return fn(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            values = bound.arguments
            operands = [v for v in values.values()
                        if isinstance(v, (Tensor, int, float))]
            if dtypes.result_type(*operands) is not dtypes.float16:
                return fn(*args, **kwargs)
            for name, v in values.items():
                if isinstance(v, Tensor) and v._dtype is dtypes.float16:
                    values[name] = v.float()
                elif name in rounded and isinstance(v, float):
                    values[name] = float(np.float16(v))
            return fn(*bound.args, **bound.kwargs).half()
        return run
    return wrap


def add(input, other, *, alpha=1):
    if alpha != 1:
        return _scaled(pw.add, input, other, alpha)
    return pw.add(input, other)


def sub(input, other, *, alpha=1):
    if alpha != 1:
        return _scaled(pw.sub, input, other, alpha)
    return pw.sub(input, other)


@float16_in_float32("alpha")
def _scaled(combine, input, other, alpha):
    return combine(input, pw.mul(other, alpha))


def rsub(input, other, *, alpha=1):
    return sub(other, input, alpha=alpha)


def true_divide(input, other):
    return pw.div(input, other)


def div(input, other, *, rounding_mode=None):
    if rounding_mode is None:
        return pw.div(input, other)
    if rounding_mode in _INTEGER_QUOTIENTS:
        exact = _integer_arithmetic(*_INTEGER_QUOTIENTS[rounding_mode],
                                    input, other)
        if exact is not None:
            return exact
    if rounding_mode == "trunc" and isinstance(other, Tensor) \
            and other.numel() > 1:
        # PyTorch's float16 kernel truncates the float16 quotient here;
        # only for a single-valued divisor does it stay in float32.
        return _rounded_quotient(input, other, rounding_mode)
    return _rounding_div(input, other, rounding_mode)


@float16_in_float32()
def _rounding_div(input, other, rounding_mode):
    return _rounded_quotient(input, other, rounding_mode)


def _rounded_quotient(input, other, rounding_mode):
    q = pw.div(input, other)
    if rounding_mode == "floor":
        q = pw.floor(q)
    elif rounding_mode == "trunc":
        q = pw.trunc(q)
    else:
        raise ValueError("div expected rounding_mode to be one of None, "
                         f"'trunc', or 'floor' but found '{rounding_mode}'")
    return q


def floor_divide(input, other):
    return div(input, other, rounding_mode="floor")


def remainder(input, other):
    exact = _integer_arithmetic("remainder", pw.remainder_integral, input,
                                other)
    return exact if exact is not None else _float_remainder(input, other)


@float16_in_float32("other")
def _float_remainder(input, other):
    return input - floor_divide(input, other) * other


_INTEGER_QUOTIENTS = {"floor": ("div_floor", pw.floor_divide_integral),
                      "trunc": ("div_trunc", pw.trunc_divide_integral)}


def _integer_arithmetic(kernel, integral_op, input, other):
    """``integral_op`` when the operands are integers (None otherwise):
    a float quotient is wrong past 2**24.  Integer division by zero has
    no value: PyTorch raises (on the CPU) rather than return garbage, and
    so does numgrad on every device; bool has no such kernel there."""
    result = dtypes.result_type(input, other)
    if result.is_floating_point:
        return None
    if result is dtypes.bool_:
        raise NotImplementedError(f'"{kernel}_cpu" not implemented for '
                                  "'Bool'")
    zero = (bool((other == 0).any()) if isinstance(other, Tensor)
            else other == 0)
    if zero:
        raise RuntimeError("ZeroDivisionError")
    return integral_op(input, other)


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


@float16_in_float32()
def lerp(input, end, weight):
    return input + weight * (end - input)


@float16_in_float32()
def addcmul(input, tensor1, tensor2, *, value=1):
    return input + value * tensor1 * tensor2


@float16_in_float32()
def addcdiv(input, tensor1, tensor2, *, value=1):
    return input + value * tensor1 / tensor2


@float16_in_float32()
def log2(input):
    return pw.log(input) * 1.4426950408889634


@float16_in_float32()
def log10(input):
    return pw.log(input) * 0.4342944819032518


@float16_in_float32()
def exp2(input):
    return pw.exp(input * 0.6931471805599453)


def isfinite(input):
    return pw.abs(input) < float("inf") if input.is_floating_point() \
        else pw.eq(input, input)


def isinf(input):
    return pw.abs(input) == float("inf")


@float16_in_float32()
def hardsigmoid(input):
    return pw.hardtanh(input / 6 + 0.5, 0.0, 1.0)


@float16_in_float32()
def hardswish(input):
    return input * hardsigmoid(input)


@float16_in_float32()
def mish(input):
    return input * pw.tanh(pw.softplus(input, 1.0, 20.0))


@float16_in_float32()
def elu(input, alpha=1.0):
    return pw.where(input > 0, input, alpha * pw.expm1(input))
