"""The ``m`` namespace of scalar formulas under ``create_graph``: the same
names as ``kernel_math``, as differentiable numgrad ops on tensors."""
from . import pointwise as _pw

exp, log, log1p, expm1 = _pw.exp, _pw.log, _pw.log1p, _pw.expm1
tanh, sigmoid, erf, sin, cos = _pw.tanh, _pw.sigmoid, _pw.erf, _pw.sin, _pw.cos
sqrt, abs, sign, pow = _pw.sqrt, _pw.abs, _pw.sign, _pw.pow
maximum, minimum, floor, ceil = _pw.maximum, _pw.minimum, _pw.floor, _pw.ceil


def where(cond, a, b):
    if isinstance(cond, bool):
        return a if cond else b
    return _pw.where(cond, a, b)


def isnan(x):
    return x != x
