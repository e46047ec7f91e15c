"""Fused loss kernels: each forward is one NumPy pass over the input and
each backward one formula in differentiable ops (so double backward
works).  Reductions over the per-element losses happen in the caller.

``cross_entropy_rows``  per-row -w[y] * log_softmax(x)[y] for class
    indices, with ignored rows giving 0; backward g * w[y] * (softmax(x) -
    one_hot(y)).
``binary_cross_entropy``  -w * (t log x + (1 - t) log(1 - x)) with the
    logs clamped at -100; backward g * w * (x - t) / max(x (1 - x), 1e-12),
    as PyTorch defines it, so x at 0 or 1 gives a finite gradient (the
    target's gradient, g * w * (log(1 - x) - log x), is not clamped)."""
import numpy as np

from . import pointwise as pw
from .registry import op
from .softmax import softmax

_LOG_FLOOR = -100.0
_BCE_EPSILON = 1e-12


# ---- cross entropy over class indices -------------------------------------------
def _row_weights(target, weight, ignore_index, dtype):
    """w[y] per row (0 where y == ignore_index) and the safe targets."""
    ignored = target == ignore_index
    safe = np.where(ignored, 0, target)
    if weight is None:
        w = np.ones(safe.shape, dtype=dtype)
    else:
        w = weight[safe].astype(dtype)
    w[ignored] = 0
    return w, safe


@op("cross_entropy_rows", save=("x",), node_name="NllLossBackward0")
def _cross_entropy_rows(ctx, x, *, target, weight, ignore_index):
    """x: (N, C) logits; target: (N,) int array; weight: (C,) or None."""
    w, safe = _row_weights(target, weight, ignore_index, x.dtype)
    shift = x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(x - shift).sum(axis=1)) + shift[:, 0]
    picked = np.take_along_axis(x, safe[:, None], axis=1)[:, 0]
    return ((lse - picked) * w).astype(x.dtype)


@_cross_entropy_rows.backward
def _(ctx, g):
    from ..tensor import Tensor
    params = ctx.params
    x = ctx.x
    w, one_hot = _backward_terms(x, params["target"], params["weight"],
                                 params["ignore_index"])
    scale = (g * Tensor._make(w)).unsqueeze(1)
    return (scale * (softmax(x, 1) - Tensor._make(one_hot)),)


def _backward_terms(x, target, weight, ignore_index):
    """w[y] per row and the one-hot rows of the targets, on x's device."""
    if x.device.type == "cuda":
        from .cuda.loss import cross_entropy_backward_terms
        return cross_entropy_backward_terms(x, target, weight, ignore_index)
    w, safe = _row_weights(target, weight, ignore_index, x.dtype.np)
    one_hot = np.zeros(tuple(x.shape), dtype=x.dtype.np)
    np.put_along_axis(one_hot, safe[:, None], 1, axis=1)
    return w, one_hot


def cross_entropy_rows(input, target, weight, ignore_index):
    """Per-row losses of (N, C) logits against (N,) class indices."""
    return _cross_entropy_rows(input, target=target, weight=weight,
                               ignore_index=ignore_index)


# ---- binary cross entropy ---------------------------------------------------------
@op("binary_cross_entropy", save=("x", "target", "weight"))
def _binary_cross_entropy(ctx, x, target, weight):
    with np.errstate(divide="ignore"):
        log_x = np.maximum(np.log(x), _LOG_FLOOR)
        log_1mx = np.maximum(np.log1p(-x), _LOG_FLOOR)
    loss = -(target * log_x + (1 - target) * log_1mx)
    if weight is not None:
        loss = loss * weight
    return loss.astype(x.dtype)


@_binary_cross_entropy.backward
def _(ctx, g):
    needs = ctx.needs_input_grad
    x, target = ctx.x, ctx.target
    weight = getattr(ctx, "weight", None)
    if weight is not None:
        g = g * weight
    grad_x = grad_t = None
    if needs[0]:
        grad_x = g * (x - target) / pw.clamp_min(x * (1 - x), _BCE_EPSILON)
    if needs[1]:
        # PyTorch leaves this one unclamped: x at 0 or 1 gives +-inf.
        grad_t = g * (pw.log1p(-x) - pw.log(x))
    return grad_x, grad_t, None


def binary_cross_entropy(input, target, weight=None):
    """Elementwise BCE; ``weight`` already broadcast to the input shape."""
    return _binary_cross_entropy(input, target, weight)
