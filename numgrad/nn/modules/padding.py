"""Padding layers: constant (zero), reflection, replication, circular."""
from .. import functional as F
from .module import Module


def _expand(padding, count):
    if isinstance(padding, int):
        return (padding,) * count
    padding = tuple(padding)
    if len(padding) != count:
        raise ValueError(f"expected a padding of {count} ints, got "
                         f"{padding}")
    return padding


class _PadNd(Module):
    mode = "constant"
    sides = 4

    def __init__(self, padding, value=0.0):
        super().__init__()
        self.padding = _expand(padding, self.sides)
        self.value = value

    def forward(self, input):
        if self.mode == "constant":
            return F.pad(input, self.padding, "constant", self.value)
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self):
        if type(self).__name__.startswith("Constant"):
            return f"padding={self.padding}, value={self.value}"
        return f"{self.padding}"


class ConstantPad1d(_PadNd):
    sides = 2


class ConstantPad2d(_PadNd):
    pass


class ZeroPad1d(_PadNd):
    sides = 2

    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ZeroPad2d(_PadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ReflectionPad1d(_PadNd):
    mode, sides = "reflect", 2


class ReflectionPad2d(_PadNd):
    mode = "reflect"


class ReplicationPad1d(_PadNd):
    mode, sides = "replicate", 2


class ReplicationPad2d(_PadNd):
    mode = "replicate"


class CircularPad2d(_PadNd):
    mode = "circular"
