"""Loss functions of ``torch.nn.functional``, written with differentiable
numgrad ops (so second-order gradients work) plus the fused kernels of
``numgrad.ops.loss``.

Class-index targets are checked on the host (for a CUDA target, a copy of
the indices: PyTorch's CUDA losses synchronise for their checks too), and
the per-element class weights derived from them are made on the input's
device."""
import warnings

import numpy as np

from ..backends import to_device
from ..ops import loss as fused
from ..ops import pointwise as pw
from ..ops import reduce as _red
from ..ops.index import gather
from ..ops.softmax import log_softmax
from ..tensor import Tensor

_REDUCTIONS = ("none", "mean", "sum")


def _legacy_reduction(size_average, reduce_, reduction):
    """PyTorch's old size_average/reduce flags override ``reduction``."""
    if size_average is None and reduce_ is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please "
                  "use reduction='{}' instead.".format(
                      "sum" if size_average is False else "mean"),
                  stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce_ = True if reduce_ is None else reduce_
    if not reduce_:
        return "none"
    return "mean" if size_average else "sum"


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return _red.mean(loss)
    if reduction == "sum":
        return _red.sum(loss)
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _warn_size(input, target):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the "
            f"input size ({input.shape}). This will likely lead to "
            "incorrect results due to broadcasting. Please ensure they have "
            "the same size.", stacklevel=3)


def _weighted(loss, weight, reduction, input):
    """l1/mse with elementwise weights: mean divides by sum(weight)."""
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    loss = loss * weight
    if reduction == "mean":
        return _red.sum(loss) / _red.sum(weight)
    return _reduce(loss, reduction)


# ---- regression losses --------------------------------------------------------
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean",
             weight=None):
    _warn_size(input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    diff = input - target
    loss = diff * diff
    if weight is not None:
        return _weighted(loss, weight, reduction, input)
    return _reduce(loss, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean",
            weight=None):
    _warn_size(input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    loss = pw.abs(input - target)
    if weight is not None:
        return _weighted(loss, weight, reduction, input)
    return _reduce(loss, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None,
                   reduction="mean", beta=1.0):
    _warn_size(input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values "
                           "for beta.")
    diff = pw.abs(input - target)
    if beta == 0:
        return _reduce(diff, reduction)
    loss = pw.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    _warn_size(input, target)
    _check_reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values "
                           "for delta.")
    diff = pw.abs(input - target)
    loss = pw.where(diff < delta, 0.5 * diff * diff,
                    delta * (diff - 0.5 * delta))
    if weight is not None:
        if tuple(weight.shape) != tuple(input.shape):
            raise ValueError("Weights and input must have the same size.")
        loss = loss * weight
    return _reduce(loss, reduction)


# ---- classification losses ----------------------------------------------------
def _class_dim(input):
    if input.dim() == 0:
        raise ValueError("Expected 1 or more dimensions (got 0)")
    return 0 if input.dim() == 1 else 1


def _check_targets(input, target):
    values = target._host()
    if values.dtype.kind not in "iu":
        raise RuntimeError("expected scalar type Long but found "
                           f"{target.dtype.name.capitalize()}")
    if input.dim() >= 2 and target.dim() >= 1 \
            and input.shape[0] != target.shape[0]:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to "
                         f"match target batch_size ({target.shape[0]}).")
    expected = tuple(input.shape[:1]) + tuple(input.shape[2:]) \
        if input.dim() >= 2 else ()
    if tuple(target.shape) != expected:
        raise RuntimeError(f"Expected target size {list(expected)}, got "
                           f"{list(target.shape)}")
    return values.astype(np.int64)


def _check_bounds(targets, ignore_index, num_classes):
    live = targets[targets != ignore_index]
    if live.size and (live.min() < 0 or live.max() >= num_classes):
        bad = live[(live < 0) | (live >= num_classes)][0]
        raise IndexError(f"Target {bad} is out of bounds.")


def _class_weights(weight, input):
    if weight is None:
        return None
    num_classes = input.shape[_class_dim(input)]
    if weight.dim() != 1 or weight.numel() != num_classes:
        raise RuntimeError(
            f"weight tensor should be defined either for all {num_classes} "
            "classes or no classes but got weight tensor of shape: "
            f"{list(weight.shape)}")
    return weight.detach()._host()


def _on(like, array):
    """A constant tensor of ``array`` on ``like``'s device."""
    return Tensor._make(to_device(array, like.device))


def _nll_terms(logp, targets, weight_values, ignore_index):
    """Per-element -w[y] * logp[y] and the per-element weights w[y]."""
    class_dim = _class_dim(logp)
    ignored = targets == ignore_index
    safe = np.where(ignored, 0, targets)
    index = _on(logp, np.expand_dims(safe, class_dim))
    picked = gather(logp, class_dim, index).squeeze(class_dim)
    dtype = logp.dtype.np
    w = np.ones(safe.shape, dtype) if weight_values is None \
        else weight_values[safe].astype(dtype)
    w = np.where(ignored, 0, w).astype(dtype)
    return -picked * _on(logp, w), w


def _reduce_weighted(losses, w, reduction):
    if reduction == "none":
        return losses
    total = _red.sum(losses)
    if reduction == "sum":
        return total
    return total / float(w.sum(dtype=np.float64))


def nll_loss(input, target, weight=None, size_average=None,
             ignore_index=-100, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    targets = _check_targets(input, target)
    _check_bounds(targets, ignore_index, input.shape[_class_dim(input)])
    losses, w = _nll_terms(input, targets, _class_weights(weight, input),
                           ignore_index)
    return _reduce_weighted(losses, w, reduction)


def cross_entropy(input, target, weight=None, size_average=None,
                  ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError("label_smoothing must be between 0.0 and 1.0. "
                           f"Got: {label_smoothing}")
    class_dim = _class_dim(input)
    weight_values = _class_weights(weight, input)
    if target.dtype.is_floating_point:
        if tuple(target.shape) != tuple(input.shape):
            raise RuntimeError("expected scalar type Long but found "
                               f"{target.dtype.name.capitalize()}")
        return _cross_entropy_probs(input, target, weight_values, reduction,
                                    label_smoothing, class_dim)
    targets = _check_targets(input, target)
    num_classes = input.shape[class_dim]
    _check_bounds(targets, ignore_index, num_classes)
    if label_smoothing == 0.0:
        losses = _fused_rows(input, targets, weight_values, ignore_index)
        w = np.ones(targets.shape) if weight_values is None \
            else weight_values[np.where(targets == ignore_index, 0,
                                        targets)]
        w = np.where(targets == ignore_index, 0.0, w)
        return _reduce_weighted(losses, w, reduction)
    logp = log_softmax(input, class_dim)
    losses, w = _nll_terms(logp, targets, weight_values, ignore_index)
    nll = _reduce_weighted(losses, w, reduction)
    if label_smoothing == 0.0:
        return nll
    smooth = _smoothing_term(logp, targets, weight_values, ignore_index,
                             reduction, class_dim, w)
    return (1 - label_smoothing) * nll + smooth * (label_smoothing
                                                    / num_classes)


def _fused_rows(input, targets, weight_values, ignore_index):
    """Per-element losses from the fused kernel, which takes (rows, C):
    the class dimension is moved last and the rest flattened."""
    if input.dim() == 1:
        rows = input.unsqueeze(0)
    elif input.dim() == 2:
        rows = input
    else:
        order = (0,) + tuple(range(2, input.dim())) + (1,)
        rows = input.permute(order).reshape(-1, input.shape[1])
    losses = fused.cross_entropy_rows(rows, targets.reshape(-1),
                                      weight_values, ignore_index)
    return losses.reshape(targets.shape)


def _smoothing_term(logp, targets, weight_values, ignore_index, reduction,
                    class_dim, w):
    """-sum_c w_c logp_c per element, zero where the target is ignored."""
    if weight_values is not None:
        shape = [1] * logp.dim()
        shape[class_dim] = -1
        weights = _on(logp, weight_values.astype(logp.dtype.np)
                      .reshape(shape))
        smooth = -_red.sum(logp * weights, class_dim)
    else:
        smooth = -_red.sum(logp, class_dim)
    keep = _on(logp, (targets != ignore_index).astype(logp.dtype.np))
    smooth = smooth * keep
    if reduction == "none":
        return smooth
    total = _red.sum(smooth)
    if reduction == "sum":
        return total
    if weight_values is not None:
        return total / float(w.sum(dtype=np.float64))
    return total / float((targets != ignore_index).sum())


def _cross_entropy_probs(input, target, weight_values, reduction,
                         label_smoothing, class_dim):
    num_classes = input.shape[class_dim]
    logp = log_softmax(input, class_dim)
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing \
            / num_classes
    terms = logp * target
    if weight_values is not None:
        shape = [1] * input.dim()
        shape[class_dim] = -1
        terms = terms * _on(input, weight_values.astype(input.dtype.np)
                            .reshape(shape))
    if reduction == "none":
        return -_red.sum(terms, class_dim)
    total = -_red.sum(terms)
    if reduction == "sum":
        return total
    rows = input.numel() // num_classes if num_classes else 0
    return total / rows if rows else total * float("nan")


# ---- binary losses ---------------------------------------------------------------
def _expand_weight(weight, input):
    if weight is None:
        return None
    if tuple(weight.shape) != tuple(input.shape):
        weight = weight.expand(input.shape)
    return weight


def _outside_unit_interval(input):
    if input.numel() == 0:
        return False
    if input.device.type == "cpu":
        values = input._value()
        return values.min() < 0 or values.max() > 1
    # Two scalars come back from the device, not the whole input.
    x = input.detach()
    return float(_red.amin(x)) < 0 or float(_red.amax(x)) > 1


def binary_cross_entropy(input, target, weight=None, size_average=None,
                         reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the "
            f"input size ({input.shape}) is deprecated. Please ensure they "
            "have the same size.")
    if _outside_unit_interval(input):
        raise RuntimeError("all elements of input should be between 0 and 1")
    loss = fused.binary_cross_entropy(input, target.to(input.dtype),
                                      _expand_weight(weight, input))
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None,
                                     size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as "
                         f"input size ({input.shape})")
    # -log(sigmoid(x)) = softplus(-x); -log(1 - sigmoid(x)) = x + softplus(-x)
    softplus_neg = pw.softplus(-input, 1.0, 20.0)
    if pos_weight is not None:
        log_weight = 1 + (pos_weight - 1) * target
        loss = (1 - target) * input + log_weight * softplus_neg
    else:
        loss = (1 - target) * input + softplus_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean",
           log_target=False):
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size "
            "and the support size.'batchmean' divides only by the batch "
            "size, and aligns with the KL div math definition.'mean' will be "
            "changed to behave the same as 'batchmean' in the next major "
            "release.", stacklevel=2)
    if log_target:
        loss = pw.exp(target) * (target - input)
    else:
        positive = target > 0
        safe = pw.where(positive, target, 1.0)
        loss = target * pw.log(safe) - target * input
    if reduction == "batchmean":
        total = _red.sum(loss)
        return total / input.shape[0] if input.dim() else total
    return _reduce(loss, reduction)


# ---- margin and other losses -----------------------------------------------------
def margin_ranking_loss(input1, input2, target, margin=0, size_average=None,
                        reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _reduce(pw.relu(-target * (input1 - input2) + margin), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None,
                         reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    positive = pw.where(target == 1, input, 0.0)
    negative = pw.where(target == -1, pw.relu(margin - input), 0.0)
    return _reduce(positive + negative, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None,
                     reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _reduce(pw.softplus(-target * input, 1.0, 20.0), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0,
                          size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    eps = 1e-12
    dot = _red.sum(input1 * input2, -1)
    mag1 = _red.sum(input1 * input1, -1) + eps
    mag2 = _red.sum(input2 * input2, -1) + eps
    cos = dot / pw.sqrt(mag1 * mag2)
    loss = pw.where(target == 1, 1 - cos,
                    pw.where(target == -1, pw.relu(cos - margin), 0.0))
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False,
                     size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if log_input:
        loss = pw.exp(input) - target * input
    else:
        loss = input - target * pw.log(input + eps)
    if full:
        # Stirling's term t log t - t + log(2 pi t) / 2, only where t > 1.
        above = target > 1
        safe = pw.where(above, target, 1.0)
        stirling = (target * pw.log(safe) - target
                    + 0.5 * pw.log(2 * np.pi * safe))
        loss = loss + pw.where(above, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6,
                      reduction="mean"):
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = input.detach() * 0 + var
    elif bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (input.dim() == var.dim() and sum(
                v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    # Clamp for stability without letting the clamp reach the gradient.
    var = var + (pw.clamp_min(var.detach(), eps) - var.detach())
    diff = input - target
    loss = 0.5 * (pw.log(var) + diff * diff / var)
    if full:
        loss = loss + 0.5 * float(np.log(2 * np.pi))
    return _reduce(loss, reduction)
