"""Gradient clipping: ``clip_grad_norm_``, ``clip_grad_value_`` and the
two halves of the former, ``get_total_norm`` and ``clip_grads_with_norm_``.

They work on the gradients' NumPy arrays in place (bumping each gradient's
version counter), with PyTorch's arithmetic: per-gradient norms in the
gradient's dtype, the total norm of those norms, and the scale
``clamp(max_norm / (total_norm + 1e-6), max=1)`` in that dtype.

Gradients on a CUDA device go through numgrad ops instead, which run on
the device: the norms, the scale and the in-place updates stay there (as
in PyTorch, the total norm is a 0-d tensor on the gradients' device, and
only ``error_if_nonfinite=True`` reads it back to the host)."""
import types
import warnings

import numpy as np

from ... import dtypes
from ...autograd.grad_mode import no_grad
from ...backends import filled
from ...ops import arith, reduce
from ...ops import pointwise as pw
from ...ops.shape import stack
from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_",
           "get_total_norm", "clip_grads_with_norm_"]


from ...ops.inplace import storage_for_write as _array_for_write  # noqa: E402


def _vector_norm(a, norm_type):
    """The vector norm of an array, as a scalar of the array's dtype."""
    if a.size == 0:
        return a.dtype.type(0.0) if norm_type != -np.inf else \
            a.dtype.type(np.inf)
    flat = a.reshape(-1)
    if norm_type == 2.0:
        if flat.dtype.kind == "f":
            return flat.dtype.type(np.sqrt(np.dot(flat, flat)))
        return np.sqrt(np.dot(flat, flat))
    absolute = np.abs(flat)
    if norm_type == np.inf:
        return absolute.max()
    if norm_type == -np.inf:
        return absolute.min()
    if norm_type == 0.0:
        return flat.dtype.type(np.count_nonzero(flat))
    if norm_type == 1.0:
        return absolute.sum(dtype=flat.dtype)
    return flat.dtype.type(
        np.sum(absolute.astype(np.float64) ** norm_type) ** (1.0 / norm_type))


def _on_device(tensors):
    return any(t._device.type != "cpu" for t in tensors)


def _device_vector_norm(t, norm_type):
    """``_vector_norm`` in numgrad ops: a 0-d tensor on ``t``'s device."""
    if t.numel() == 0:
        empty = np.inf if norm_type == -np.inf else 0.0
        return Tensor._make(filled((), empty, t.dtype.np, t.device))
    if norm_type == -np.inf:
        return reduce.amin(pw.abs(t))
    return reduce.norm(t.reshape(-1), norm_type)


def _device_total_norm(tensors, norm_type, dt):
    device = tensors[0].device
    norms = [_device_vector_norm(t.detach(), norm_type).to(device)
             for t in tensors]
    return _device_vector_norm(stack(norms).to(dt), norm_type)


def _foreach_check(foreach):
    if foreach:
        raise RuntimeError("foreach=True was passed, but can't use the "
                           "foreach API on cpu tensors")


_NONFINITE = (
    "The total norm of order {} for gradients from `parameters` is "
    "non-finite, so it cannot be clipped. To disable this error and scale "
    "the gradients by the non-finite norm anyway, set "
    "`error_if_nonfinite=False`")


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False,
                   foreach=None):
    """The norm of the norms of ``tensors`` (as if concatenated into one
    vector), as a 0-d tensor."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    else:
        tensors = list(tensors)
    norm_type = float(norm_type)
    if len(tensors) == 0:
        return Tensor._make(np.array(0.0, dtypes.get_default_dtype().np))
    _foreach_check(foreach)
    dt = tensors[0]._dtype
    for t in tensors:
        if t._dtype is not dt:
            dt = dtypes.promote_types(dt, t._dtype)
    if _on_device(tensors):
        with no_grad():
            total = _device_total_norm(tensors, norm_type, dt)
        if error_if_nonfinite and not bool(arith.isfinite(total)):
            raise RuntimeError(_NONFINITE.format(norm_type))
        return total
    with no_grad(), np.errstate(all="ignore"):
        norms = [_vector_norm(t._value(), norm_type) for t in tensors]
        stacked = np.array(norms).astype(dt.np)
        total = np.asarray(_vector_norm(stacked, norm_type), dtype=dt.np)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(_NONFINITE.format(norm_type))
    return Tensor._make(np.array(total))


def _scale_in_place(g, factor):
    """``g *= factor`` (a 0-d tensor) with numgrad ops, for a gradient on
    a device; a read-only gradient (an expanded view) gets new storage."""
    factor = factor.to(g.device, g.dtype)
    if _array_for_write(g).flags.writeable:
        g.mul_(factor)
        return
    g._data = (g * factor)._value()
    g._expr = None
    g._version.value += 1


def _clamp_in_place(g, lo, hi):
    if _array_for_write(g).flags.writeable:
        g.clamp_(lo, hi)
        return
    g._data = arith.clamp(g, lo, hi)._value()
    g._expr = None
    g._version.value += 1


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients of ``parameters`` by
    ``min(max_norm / (total_norm + 1e-6), 1)``."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p._grad for p in parameters if p._grad is not None]
    max_norm = float(max_norm)
    if len(grads) == 0:
        return
    _foreach_check(foreach)
    if _on_device(grads) or (isinstance(total_norm, Tensor)
                             and _on_device([total_norm])):
        with no_grad():
            if not isinstance(total_norm, Tensor):
                total_norm = Tensor._make(np.asarray(total_norm))
            if not total_norm.is_floating_point():
                total_norm = total_norm.float()
            coef = arith.clamp(max_norm / (total_norm + 1e-6), max=1.0)
            for g in grads:
                _scale_in_place(g, coef)
        return
    if isinstance(total_norm, Tensor):
        total = total_norm._value()
    else:
        total = np.asarray(total_norm)
    dt = total.dtype if total.dtype.kind == "f" else np.dtype(np.float32)
    total = total.astype(dt, copy=False)
    with np.errstate(all="ignore"):
        coef = dt.type(max_norm) / (total + dt.type(1e-6))
        coef = np.minimum(coef, dt.type(1.0))
    with no_grad(), np.errstate(all="ignore"):
        for g in grads:
            ga = _array_for_write(g)
            c = coef.astype(ga.dtype) if ga.dtype.kind == "f" else coef
            if ga.flags.writeable:
                np.multiply(ga, c, out=ga, casting="unsafe")
            else:
                g._data = (ga * c).astype(ga.dtype, copy=False)
                g._expr = None
            g._version.value += 1


def clip_grad_norm_(parameters, max_norm, norm_type=2.0,
                    error_if_nonfinite=False, foreach=None):
    """Clip the gradient norm of an iterable of parameters, in place.

    The norm is computed over the norms of the individual gradients, as if
    they were concatenated into a single vector.

    Args:
        parameters: a tensor or an iterable of tensors whose gradients are
            clipped.
        max_norm (float): max norm of the gradients.
        norm_type (float): type of the p-norm (``inf`` for the max norm).
        error_if_nonfinite (bool): raise if the total norm is nan or inf.
        foreach: accepted for compatibility (True raises on CPU, as in
            PyTorch).

    Returns:
        The total norm of the gradients (as one vector), a 0-d tensor.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and len(parameters) == 0:
            warnings.warn("`parameters` is an empty generator, no gradient "
                          "clipping will occur.", stacklevel=2)
    grads = [p._grad for p in parameters if p._grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters, max_norm, norm_type=2.0,
                   error_if_nonfinite=False, foreach=None):
    """Deprecated alias of :func:`clip_grad_norm_`."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in "
                  "favor of `torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type,
                           error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp the gradients of ``parameters`` to
    ``[-clip_value, clip_value]``, in place."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    clip_value = float(clip_value)
    grads = [p._grad for p in parameters if p._grad is not None]
    if grads:
        _foreach_check(foreach)
    with no_grad():
        for g in grads:
            if g._device.type != "cpu":
                _clamp_in_place(g, -clip_value, clip_value)
                continue
            ga = _array_for_write(g)
            lo = ga.dtype.type(-clip_value)
            hi = ga.dtype.type(clip_value)
            if ga.flags.writeable:
                np.clip(ga, lo, hi, out=ga)
            else:
                g._data = np.clip(ga, lo, hi)
                g._expr = None
            g._version.value += 1
