"""Binds Tensor's math methods and operators to the op functions, so
``x.exp()``, ``x + y`` and ``numgrad.exp(x)`` are one code path."""
import numbers

import numpy as np

from . import dtypes
from ._format import format_tensor
from .autograd import backward as _backward, hooks_api
from .creation import _to_array, empty, full, ones, tensor, zeros
from .ops import arith, index, inplace, linalg, reduce, shape, softmax
from .ops.pool import torch_type_name
from .ops import pointwise as pw
from .tensor import Tensor, _init


def _operand(other):
    if isinstance(other, (Tensor, numbers.Number, np.bool_)):
        return other
    if isinstance(other, np.ndarray):
        return Tensor._make(other)
    return None


def _binary(fn, reflected=False):
    def method(self, other):
        other = _operand(other)
        if other is None:
            return NotImplemented
        return fn(other, self) if reflected else fn(self, other)
    return method


def _same_dtype_logic(logical, bitwise_name):
    def fn(a, b):
        for x in (a, b):
            if isinstance(x, Tensor) and x.dtype.is_floating_point:
                raise NotImplementedError(
                    f'"{bitwise_name}_cpu" not implemented for '
                    f"'{torch_type_name(x.dtype)}'")
        return logical(a, b)
    return fn


def _invert(self):
    if self.dtype.is_floating_point:
        raise TypeError("~ (operator.invert) is only implemented on integer "
                        "and Boolean-type tensors")
    return pw.logical_not(self)


OPERATORS = {
    "__add__": _binary(pw.add), "__radd__": _binary(pw.add, True),
    "__sub__": _binary(pw.sub), "__rsub__": _binary(pw.sub, True),
    "__mul__": _binary(pw.mul), "__rmul__": _binary(pw.mul, True),
    "__truediv__": _binary(pw.div), "__rtruediv__": _binary(pw.div, True),
    "__floordiv__": _binary(arith.floor_divide),
    "__rfloordiv__": _binary(arith.floor_divide, True),
    "__mod__": _binary(arith.remainder),
    "__rmod__": _binary(arith.remainder, True),
    "__pow__": _binary(pw.pow), "__rpow__": _binary(pw.pow, True),
    "__matmul__": _binary(linalg.matmul),
    "__rmatmul__": _binary(linalg.matmul, True),
    "__eq__": _binary(pw.eq), "__ne__": _binary(pw.ne),
    "__lt__": _binary(pw.lt), "__le__": _binary(pw.le),
    "__gt__": _binary(pw.gt), "__ge__": _binary(pw.ge),
    "__and__": _binary(_same_dtype_logic(pw.logical_and, "bitwise_and")),
    "__rand__": _binary(_same_dtype_logic(pw.logical_and, "bitwise_and"),
                        True),
    "__or__": _binary(_same_dtype_logic(pw.logical_or, "bitwise_or")),
    "__ror__": _binary(_same_dtype_logic(pw.logical_or, "bitwise_or"),
                       True),
    "__xor__": _binary(_same_dtype_logic(pw.logical_xor, "bitwise_xor")),
    "__neg__": pw.neg, "__abs__": pw.abs, "__pos__": lambda self: self,
    "__invert__": _invert,
    "__getitem__": index.getitem, "__setitem__": index.setitem,
    "__iadd__": lambda self, o: inplace.add_(self, o),
    "__isub__": lambda self, o: inplace.sub_(self, o),
    "__imul__": lambda self, o: inplace.mul_(self, o),
    "__itruediv__": lambda self, o: inplace.div_(self, o),
}

METHODS = {
    # pointwise
    "add": arith.add, "sub": arith.sub, "subtract": arith.sub,
    "mul": pw.mul, "multiply": pw.mul, "div": arith.div,
    "divide": arith.div, "true_divide": arith.true_divide,
    "floor_divide": arith.floor_divide, "remainder": arith.remainder,
    "pow": pw.pow, "neg": pw.neg, "negative": pw.neg, "abs": pw.abs,
    "sign": pw.sign, "reciprocal": pw.reciprocal, "square": arith.square,
    "exp": pw.exp, "log": pw.log, "log1p": pw.log1p, "expm1": pw.expm1,
    "log2": arith.log2, "log10": arith.log10, "exp2": arith.exp2,
    "sqrt": pw.sqrt, "rsqrt": pw.rsqrt, "sin": pw.sin, "cos": pw.cos,
    "tan": pw.tan, "tanh": pw.tanh, "sigmoid": pw.sigmoid, "erf": pw.erf,
    "relu": pw.relu, "clamp": arith.clamp, "clip": arith.clamp,
    "clamp_min": pw.clamp_min, "clamp_max": pw.clamp_max,
    "maximum": pw.maximum, "minimum": pw.minimum, "where":
    lambda self, cond, other: arith.where(cond, self, other),
    "floor": pw.floor, "ceil": pw.ceil, "trunc": pw.trunc,
    "eq": pw.eq, "ne": pw.ne, "lt": pw.lt, "le": pw.le, "gt": pw.gt,
    "ge": pw.ge, "isnan": pw.isnan, "isinf": arith.isinf,
    "isfinite": arith.isfinite, "logical_and": pw.logical_and,
    "logical_or": pw.logical_or, "logical_not": pw.logical_not,
    "logical_xor": pw.logical_xor, "lerp": arith.lerp,
    "addcmul": arith.addcmul, "addcdiv": arith.addcdiv,
    "masked_fill": index.masked_fill,
    # reductions
    "sum": reduce.sum, "mean": reduce.mean, "prod": reduce.prod,
    "max": reduce.max, "min": reduce.min, "amax": reduce.amax,
    "amin": reduce.amin, "argmax": reduce.argmax, "argmin": reduce.argmin,
    "var": reduce.var, "std": reduce.std, "norm": reduce.norm,
    "logsumexp": reduce.logsumexp, "all": reduce.all, "any": reduce.any,
    "count_nonzero": reduce.count_nonzero,
    "softmax": softmax.softmax, "log_softmax": softmax.log_softmax,
    # shape
    "reshape": shape.reshape, "view": shape.view, "flatten": shape.flatten,
    "unflatten": shape.unflatten, "squeeze": shape.squeeze,
    "unsqueeze": shape.unsqueeze, "transpose": shape.transpose,
    "swapaxes": shape.transpose, "t": shape.t, "permute": shape.permute,
    "expand": shape.expand, "expand_as": shape.expand_as,
    "repeat": shape.repeat, "split": shape.split, "chunk": shape.chunk,
    "unbind": shape.unbind, "flip": shape.flip, "narrow": shape.narrow,
    "select": shape.select, "clone": shape.clone,
    "contiguous": shape.contiguous, "sum_to_size": shape.sum_to_size,
    "view_as": lambda self, other: shape.view(self, other.shape),
    "reshape_as": lambda self, other: shape.reshape(self, other.shape),
    # indexing and linear algebra
    "gather": index.gather, "index_select": index.index_select,
    "take_along_dim": index.take_along_dim,
    "matmul": linalg.matmul, "mm": linalg.mm, "bmm": linalg.bmm,
    "mv": linalg.mv, "dot": linalg.dot, "outer": linalg.outer,
}

PROPERTIES = {
    "T": lambda self: shape.permute(self, tuple(range(self.dim()))[::-1]),
    "mT": shape.mT,
}


# ---- construction, autograd entry points and conversions -------------
def _construct(self, data=None, *, dtype=None, requires_grad=False):
    _init(self, _to_array([] if data is None else data,
                          dtype or dtypes.get_default_dtype()))
    if requires_grad:
        self.requires_grad_(True)


def _backward_method(self, gradient=None, retain_graph=None,
                     create_graph=False, inputs=None):
    _backward(self, gradient, retain_graph, create_graph, inputs=inputs)


def _type(self, dtype=None):
    if dtype is None:
        return "numgrad." + {"float32": "FloatTensor",
                             "float64": "DoubleTensor",
                             "int64": "LongTensor"}.get(
            self._dtype.name, self._dtype.name)
    return shape.to(self, dtypes.as_dtype(dtype))


def _cast_to(dtype):
    return lambda self: shape.to(self, dtype)


def _like(factory):
    """``new_zeros`` and friends: a factory with ``self``'s dtype and
    device unless given."""
    def make(self, *args, dtype=None, device=None, **kwargs):
        return factory(*args, dtype=dtype or self._dtype,
                       device=device or self._device, **kwargs)
    return make


CORE = {
    "__init__": _construct,
    "__repr__": format_tensor, "__str__": format_tensor,
    "backward": _backward_method,
    "retain_grad": hooks_api.retain_grad,
    "register_hook": hooks_api.register_tensor_hook,
    "register_post_accumulate_grad_hook":
    hooks_api.register_post_accumulate_grad_hook,
    "to": shape.to, "type": _type,
    "float": _cast_to(dtypes.float32), "double": _cast_to(dtypes.float64),
    "half": _cast_to(dtypes.float16), "long": _cast_to(dtypes.int64),
    "int": _cast_to(dtypes.int32), "bool": _cast_to(dtypes.bool_),
    "cpu": lambda self: self if self._device.type == "cpu"
    else shape.to(self, "cpu"),
    "cuda": lambda self, device=None: shape.to(
        self, "cuda" if device is None else device),
    "new_tensor": _like(tensor), "new_zeros": _like(zeros),
    "new_ones": _like(ones), "new_full": _like(full),
    "new_empty": _like(empty),
}


def install():
    for name, fn in {**CORE, **OPERATORS, **METHODS}.items():
        setattr(Tensor, name, fn)
    for name in inplace.__all__:
        setattr(Tensor, name, getattr(inplace, name))
    for name, fn in PROPERTIES.items():
        setattr(Tensor, name, property(fn))
    Tensor.__hash__ = lambda self: id(self)
