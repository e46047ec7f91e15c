"""In-place ops: computed out of place by the same op-table entries, then
written into the tensor's storage with its version counter bumped and its
history rebased onto the new node."""
import numpy as np

from ..autograd import grad_mode
from ..backends import copy_into, to_device
from ..dtypes import check_fill_value
from ..tensor import Tensor
from . import pointwise as pw
from .arith import add, addcdiv, addcmul, clamp, lerp, sub


def storage_for_write(tensor):
    """The tensor's array, ready for a direct in-place write: pending
    fused values that read it are computed first.  The caller bumps
    ``tensor._version``."""
    from ..fusion import recorder
    recorder.before_write(tensor)
    return tensor._value()


def check_inplace(tensor):
    if (tensor._requires_grad and tensor.grad_fn is None
            and grad_mode.state.enabled):
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an "
            "in-place operation.")


def commit_inplace(tensor, result):
    from ..fusion import recorder
    if result._shape != tensor._shape:
        raise RuntimeError(
            f"output with shape {list(tensor._shape)} doesn't match the "
            f"broadcast shape {list(result._shape)}")
    if (result.dtype.category > tensor.dtype.category):
        raise RuntimeError(
            f"result type {result.dtype.name.capitalize()} can't be cast "
            f"to the desired output type {tensor.dtype.name.capitalize()}")
    if result.grad_fn is not None:
        base = tensor._base
        if base is not None and base._requires_grad:
            raise RuntimeError(
                "an in-place operation with gradient on a view of a tensor "
                f"that requires grad (the view has shape "
                f"{list(tensor._shape)}, its base {list(base._shape)}): "
                "numgrad does not rebase the base's history yet, so its "
                "gradient would be wrong. Apply the operation to the base "
                "tensor, or to view.clone().")
    values = result._value()
    if result.grad_fn is not None:
        _keep_original_input(tensor, result.grad_fn)
    recorder.before_write(tensor)
    target = tensor._value()
    if not target.flags.writeable:
        raise RuntimeError("cannot write into a read-only tensor (it may "
                           "be an expanded view: clone() it first)")
    copy_into(target, values)
    if not tensor._is_inference:
        tensor._version.value += 1
    if result.grad_fn is not None:
        tensor.grad_fn = result.grad_fn
        tensor._output_nr = result._output_nr
        tensor._requires_grad = True
    return tensor


def _keep_original_input(tensor, node):
    """The node may have saved the very tensor about to be overwritten
    (clamp_ saves its input): give it a copy of the original values, as
    PyTorch's ``original_self`` does, so its backward stays valid."""
    saved = node.saved
    if not saved:
        return
    for entry in saved.values() if isinstance(saved, dict) else saved:
        # A saved lazy input is an alias: same version counter.
        if entry is not None and not entry.is_output \
                and entry.tensor._version is tensor._version:
            original = Tensor._make(tensor._value().copy(),
                                    tensor._requires_grad, tensor.grad_fn)
            original._output_nr = tensor._output_nr
            entry.tensor = original
            entry.version = 0


def _inplace(tensor, compute):
    check_inplace(tensor)
    return commit_inplace(tensor, compute())


def add_(self, other, *, alpha=1):
    return _inplace(self, lambda: add(self, other, alpha=alpha))


def sub_(self, other, *, alpha=1):
    return _inplace(self, lambda: sub(self, other, alpha=alpha))


def mul_(self, other):
    return _inplace(self, lambda: pw.mul(self, other))


def div_(self, other):
    return _inplace(self, lambda: pw.div(self, other))


def pow_(self, exponent):
    return _inplace(self, lambda: pw.pow(self, exponent))


def clamp_(self, min=None, max=None):
    return _inplace(self, lambda: clamp(self, min, max))


def relu_(self):
    return _inplace(self, lambda: pw.relu(self))


def neg_(self):
    return _inplace(self, lambda: pw.neg(self))


def exp_(self):
    return _inplace(self, lambda: pw.exp(self))


def sqrt_(self):
    return _inplace(self, lambda: pw.sqrt(self))


def sigmoid_(self):
    return _inplace(self, lambda: pw.sigmoid(self))


def tanh_(self):
    return _inplace(self, lambda: pw.tanh(self))


# The out-of-place forms, so float16 rounds once, as there.
def addcmul_(self, tensor1, tensor2, value=1):
    return _inplace(self, lambda: addcmul(self, tensor1, tensor2,
                                          value=value))


def addcdiv_(self, tensor1, tensor2, value=1):
    return _inplace(self, lambda: addcdiv(self, tensor1, tensor2,
                                          value=value))


def lerp_(self, end, weight):
    return _inplace(self, lambda: lerp(self, end, weight))


def masked_fill_(self, mask, value):
    from .index import masked_fill
    return _inplace(self, lambda: masked_fill(self, mask, value))


def _fill_array(tensor, value):
    if tensor.grad_fn is not None and grad_mode.state.enabled:
        # Recorded, so the old history gets a zero gradient, as in PyTorch.
        if isinstance(value, np.ndarray):
            value = Tensor._make(to_device(value.astype(tensor.dtype.np),
                                           tensor.device))
        return _inplace(tensor, lambda: tensor * 0 + value)
    check_inplace(tensor)
    check_fill_value(value, tensor.dtype.np)
    storage_for_write(tensor)[...] = value
    tensor._version.value += 1
    return tensor


def zero_(self):
    return _fill_array(self, 0)


def fill_(self, value):
    if isinstance(value, Tensor):
        if value.dim() != 0:
            raise RuntimeError(
                "fill_ only supports 0-dimension value tensor but got "
                f"tensor with {value.dim()} dimensions.")
        if value._requires_grad:
            return _inplace(self, lambda: value.expand(self.shape)
                            .to(self.dtype) + 0 * self)
        value = value.item()
    return _fill_array(self, value)


def copy_(self, src, non_blocking=False):
    if not isinstance(src, Tensor):
        raise TypeError("copy_(): argument 'src' must be Tensor")
    if src._requires_grad and grad_mode.state.enabled:
        return _inplace(self, lambda: (src.to(self.device, self.dtype)
                                       .expand(self.shape) + 0 * self
                                       ).to(self.dtype))
    check_inplace(self)
    copy_into(storage_for_write(self), src._value())
    self._version.value += 1
    return self


def uniform_(self, a=0.0, b=1.0):
    from ..random import generator
    return _fill_array(self, generator().uniform(a, b, self._shape))


def normal_(self, mean=0.0, std=1.0):
    from ..random import generator
    return _fill_array(self, generator().normal(mean, std, self._shape))


__all__ = [n for n in dir() if n.endswith("_") and not n.startswith("_")
           and n != "storage_for_write"]
