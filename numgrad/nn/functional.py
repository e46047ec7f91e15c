"""``torch.nn.functional``'s names as thin calls into numgrad's ops.

Convolution, pooling, normalisation and resampling kernels live in
``numgrad.ops.conv``/``pool``/``norm``/``resample``; they are imported
inside each function so this module imports cheaply.  The losses are in
``_functional_loss.py`` and re-exported here."""
import numbers
import warnings

import numpy as np

from .. import ops as _ops  # noqa: F401  (registers the op table)
from ..autograd import grad_mode
from ..backends import to_device
from ..ops import arith, inplace, linalg, reduce, shape
from ..ops import pointwise as pw
from ..ops import softmax as _softmax
from ..tensor import Tensor
from ._functional_loss import (  # noqa: F401
    binary_cross_entropy, binary_cross_entropy_with_logits,
    cosine_embedding_loss, cross_entropy, gaussian_nll_loss, hinge_embedding_loss,
    huber_loss, kl_div, l1_loss, margin_ranking_loss, mse_loss, nll_loss,
    poisson_nll_loss, smooth_l1_loss, soft_margin_loss)


def _inplace_result(input, compute):
    """``input`` overwritten by ``compute(input)``, recorded as PyTorch's
    in-place activations are."""
    return inplace._inplace(input, lambda: compute(input))


def _activation(fn, input, inplace_flag):
    return _inplace_result(input, fn) if inplace_flag else fn(input)


# ---- linear layers ----------------------------------------------------------
def linear(input, weight, bias=None):
    return linalg.linear(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    """y_k = x1 W_k x2 + b_k over the last dimension of both inputs."""
    out_features, in1, in2 = tuple(weight.shape)
    lead = tuple(input1.shape[:-1])
    x1 = input1.reshape(-1, in1)
    x2 = input2.reshape(-1, in2)
    mixed = linalg.matmul(x1, weight.permute(1, 0, 2).reshape(in1, -1))
    mixed = mixed.reshape(-1, out_features, in2)
    out = reduce.sum(mixed * x2.unsqueeze(1), -1)
    if bias is not None:
        out = out + bias
    return out.reshape(lead + (out_features,))


# ---- activations ------------------------------------------------------------
def relu(input, inplace=False):
    return _activation(pw.relu, input, inplace)


def relu_(input):
    return relu(input, True)


def relu6(input, inplace=False):
    return _activation(arith.relu6, input, inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    return _activation(lambda x: arith.hardtanh(x, min_val, max_val),
                       input, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _activation(lambda x: arith.leaky_relu(x, negative_slope),
                       input, inplace)


def gelu(input, approximate="none"):
    return arith.gelu(input, approximate)


def silu(input, inplace=False):
    return _activation(pw.silu, input, inplace)


def mish(input, inplace=False):
    return _activation(arith.mish, input, inplace)


def sigmoid(input):
    return pw.sigmoid(input)


def tanh(input):
    return pw.tanh(input)


def hardsigmoid(input, inplace=False):
    return _activation(arith.hardsigmoid, input, inplace)


def hardswish(input, inplace=False):
    return _activation(arith.hardswish, input, inplace)


def elu(input, alpha=1.0, inplace=False):
    return _activation(lambda x: arith.elu(x, alpha), input, inplace)


def celu(input, alpha=1.0, inplace=False):
    return _activation(lambda x: _celu(x, alpha), input, inplace)


@arith.float16_in_float32()
def _celu(x, alpha):
    return pw.where(x > 0, x, alpha * pw.expm1(x / alpha))


_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def selu(input, inplace=False):
    return _activation(_selu, input, inplace)


@arith.float16_in_float32()
def _selu(x):
    return _SELU_SCALE * arith.elu(x, _SELU_ALPHA)


def softplus(input, beta=1.0, threshold=20.0):
    return arith.softplus(input, beta, threshold)


def logsigmoid(input):
    return -arith.softplus(-input, 1.0, 20.0)


def softsign(input):
    return input / (1 + pw.abs(input))


def tanhshrink(input):
    return input - pw.tanh(input)


def threshold(input, threshold, value, inplace=False):
    return _activation(lambda x: pw.where(x <= threshold, value, x),
                       input, inplace)


def glu(input, dim=-1):
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving "
                           "size must be even")
    if input.shape[dim] % 2:
        raise RuntimeError("Halving dimension must be even, but dimension "
                           f"{dim} is size {input.shape[dim]}")
    return _glu(*shape.chunk(input, 2, dim))


@arith.float16_in_float32()
def _glu(a, b):
    return a * pw.sigmoid(b)


def prelu(input, weight):
    if weight.numel() != 1 and input.dim() > 1:
        view = [1] * input.dim()
        view[1] = weight.numel()
        weight = weight.reshape(view)
    return pw.where(input > 0, input, weight * input)


def _softmax_dim(name, ndim, stacklevel):
    warnings.warn(f"Implicit dimension choice for {name} has been "
                  "deprecated. Change the call to include dim=X as an "
                  "argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim("softmax", input.dim(), _stacklevel)
    return _softmax.softmax(input, dim, dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim("softmin", input.dim(), _stacklevel)
    return _softmax.softmax(-input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim("log_softmax", input.dim(), _stacklevel)
    return _softmax.log_softmax(input, dim, dtype)


# ---- dropout -----------------------------------------------------------------
def _dropout_mask(input, p, mask_shape):
    # Drawn on the host from the global generator whatever the device, so
    # a seed gives the same masks on the CPU and on a GPU.
    from ..random import generator
    keep = generator().random(mask_shape) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return Tensor._make(to_device((keep * scale).astype(input.dtype.np),
                                  input.device))


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError("dropout probability has to be between 0 and 1, "
                         f"but got {p}")


def _apply_dropout(input, p, training, inplace_flag, mask_shape):
    _check_p(p)
    if not training or p == 0:
        return input
    mask = _dropout_mask(input, p, mask_shape)
    return _activation(lambda x: x * mask, input, inplace_flag)


def dropout(input, p=0.5, training=True, inplace=False):
    return _apply_dropout(input, p, training, inplace, tuple(input.shape))


def _feature_dropout(input, p, training, inplace_flag, spatial, name):
    batched = input.dim() == spatial + 2
    if input.dim() not in (spatial + 1, spatial + 2):
        warnings.warn(f"{name}: Received a {input.dim()}-D input to {name}, "
                      f"which is deprecated; expected a {spatial + 1}-D or "
                      f"{spatial + 2}-D input.")
    shape_ = tuple(input.shape)
    lead = 2 if batched else 1
    mask_shape = shape_[:lead] + (1,) * (len(shape_) - lead)
    return _apply_dropout(input, p, training, inplace_flag, mask_shape)


def dropout1d(input, p=0.5, training=True, inplace=False):
    return _feature_dropout(input, p, training, inplace, 1, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    return _feature_dropout(input, p, training, inplace, 2, "dropout2d")


def dropout3d(input, p=0.5, training=True, inplace=False):
    return _feature_dropout(input, p, training, inplace, 3, "dropout3d")


# ---- sparse ----------------------------------------------------------------------
def one_hot(tensor, num_classes=-1):
    values = tensor._host()
    if values.dtype.kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of "
                           "type LongTensor.")
    if values.size and values.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        num_classes = int(values.max()) + 1 if values.size else 0
    elif values.size and values.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    if tensor.device.type != "cpu":
        # Compared on the device: only the checks above read the host copy.
        from ..creation import arange
        classes = arange(num_classes, device=tensor.device)
        return pw.eq(tensor.unsqueeze(-1), classes).long()
    eye = np.eye(num_classes, dtype=np.int64)
    return Tensor._make(eye[values.astype(np.int64)])


def _renorm_rows(weight, indices, max_norm, norm_type):
    """Rows of ``weight`` looked up by ``indices`` are scaled in place so
    their ``norm_type`` norm is at most ``max_norm`` (not recorded)."""
    rows = np.unique(indices)
    with grad_mode.no_grad():
        if weight.device.type != "cpu":
            index = Tensor._make(to_device(rows, weight.device))
            picked = weight[index]
            norms = reduce.norm(picked.double(), norm_type, dim=1,
                                keepdim=True)
            scale = pw.where(norms > max_norm, max_norm / (norms + 1e-7),
                             1.0)
            weight[index] = picked * scale.to(weight.dtype)
            return
        array = weight._value()
        norms = np.linalg.norm(array[rows].astype(np.float64), ord=norm_type,
                               axis=1)
        scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        array[rows] *= scale[:, None].astype(array.dtype)
        weight._version.value += 1


def embedding(input, weight, padding_idx=None, max_norm=None,
              norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    if sparse:
        raise NotImplementedError("numgrad has no sparse gradients; use "
                                  "sparse=False")
    # The checks read the indices on the host (a copy from a GPU, as
    # PyTorch's CUDA checks synchronise too); the lookup uses them where
    # the weight is.
    indices = input._host() if isinstance(input, Tensor) \
        else np.asarray(input)
    if indices.dtype.kind not in "iu":
        raise RuntimeError("Expected tensor for argument #1 'indices' to "
                           "have one of the following scalar types: Long, "
                           f"Int; but got {input.dtype} instead (while "
                           "checking arguments for embedding)")
    num = weight.shape[0]
    if indices.size and (indices.min() < 0 or indices.max() >= num):
        raise IndexError("index out of range in self")
    if padding_idx is not None:
        padding_idx = _check_padding_idx(padding_idx, num)
    if max_norm is not None:
        _renorm_rows(weight, indices.reshape(-1), max_norm, norm_type)
    if isinstance(input, Tensor) and input.device == weight.device:
        index = input
    else:
        index = Tensor._make(to_device(indices, weight.device))
    out = weight[index]
    if not out.requires_grad:
        return out
    frozen = out.detach()
    if padding_idx is not None:
        # The row at padding_idx gets no gradient: same values, no path.
        keep = (index != padding_idx).unsqueeze(-1)
        out = pw.where(keep, out, frozen)
    if scale_grad_by_freq:
        uniques, counts = np.unique(indices, return_counts=True)
        freq = counts[np.searchsorted(uniques, indices)]
        scale = Tensor._make(to_device(np.expand_dims(1.0 / freq, -1)
                                       .astype(weight.dtype.np),
                                       weight.device))
        out = frozen + (out - frozen) * scale
    return out


def _check_padding_idx(padding_idx, num_embeddings):
    if padding_idx > 0 and padding_idx >= num_embeddings:
        raise AssertionError("Padding_idx must be within num_embeddings")
    if padding_idx < 0:
        if padding_idx < -num_embeddings:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx = num_embeddings + padding_idx
    return padding_idx


# ---- shape helpers -------------------------------------------------------------
def flatten(input, start_dim=0, end_dim=-1):
    return shape.flatten(input, start_dim, end_dim)


def unflatten(input, dim, sizes):
    return shape.unflatten(input, dim, sizes)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    norm = reduce.norm(input, p, dim, keepdim=True)
    return input / pw.clamp_min(norm, eps).expand_as(input)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    dot = reduce.sum(x1 * x2, dim)
    n1 = pw.clamp_min(reduce.norm(x1, 2, dim), eps)
    n2 = pw.clamp_min(reduce.norm(x2, 2, dim), eps)
    return dot / (n1 * n2)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    return reduce.norm(x1 - x2 + eps, p, -1, keepdim=keepdim)


# ---- convolution (numgrad.ops.conv) -----------------------------------------
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1,
           groups=1):
    from ..ops import conv
    return conv.conv1d(input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1,
           groups=1):
    from ..ops import conv
    return conv.conv2d(input, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0,
                     output_padding=0, groups=1, dilation=1):
    from ..ops import conv
    return conv.conv_transpose2d(input, weight, bias, stride, padding,
                                 output_padding, groups, dilation)


def _one(value):
    if isinstance(value, (tuple, list)):
        return value[0]
    return value


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0,
                     output_padding=0, groups=1, dilation=1):
    """A transposed conv2d over a height-1 image."""
    unbatched = input.dim() == 2
    x = input.unsqueeze(0) if unbatched else input
    out = conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias,
                           (1, _one(stride)), (0, _one(padding)),
                           (0, _one(output_padding)), groups,
                           (1, _one(dilation))).squeeze(2)
    return out.squeeze(0) if unbatched else out


# ---- pooling (numgrad.ops.pool) ----------------------------------------------
def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False, return_indices=False):
    from ..ops import pool
    return pool.max_pool1d(input, kernel_size, stride, padding, dilation,
                           ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False, return_indices=False):
    from ..ops import pool
    return pool.max_pool2d(input, kernel_size, stride, padding, dilation,
                           ceil_mode, return_indices)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0,
                            dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool2d(input, kernel_size, stride, padding, dilation,
                      ceil_mode, True)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    from ..ops import pool
    return pool.avg_pool1d(input, kernel_size, stride, padding, ceil_mode,
                           count_include_pad)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    from ..ops import pool
    return pool.avg_pool2d(input, kernel_size, stride, padding, ceil_mode,
                           count_include_pad, divisor_override)


def adaptive_avg_pool1d(input, output_size):
    from ..ops import pool
    return pool.adaptive_avg_pool1d(input, output_size)


def adaptive_avg_pool2d(input, output_size):
    from ..ops import pool
    return pool.adaptive_avg_pool2d(input, output_size)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    from ..ops import pool
    return pool.adaptive_max_pool1d(input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    from ..ops import pool
    return pool.adaptive_max_pool2d(input, output_size, return_indices)


# ---- normalisation (numgrad.ops.norm) ----------------------------------------
def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    from ..ops import norm
    return norm.batch_norm(input, running_mean, running_var, weight, bias,
                           training, momentum, eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    from ..ops import norm
    return norm.layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    from ..ops import norm
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input "
                           f"tensor but received {input.dim()}")
    return norm.group_norm(input, num_groups, weight, bias, eps)


def instance_norm(input, running_mean=None, running_var=None, weight=None,
                  bias=None, use_input_stats=True, momentum=0.1, eps=1e-5):
    if not use_input_stats or running_mean is not None:
        raise NotImplementedError("numgrad's instance_norm supports only "
                                  "use_input_stats=True without running "
                                  "statistics")
    return group_norm(input, input.shape[1], weight, bias, eps)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    dims = tuple(range(-len(normalized_shape), 0))
    if eps is None:
        eps = float(np.finfo(input.dtype.np).eps)
    out = input * pw.rsqrt(reduce.mean(input * input, dims, keepdim=True)
                           + eps)
    return out if weight is None else out * weight


# ---- resampling (numgrad.ops.resample) ------------------------------------------
def pad(input, pad, mode="constant", value=None):
    from ..ops import resample
    return resample.pad(input, pad, mode, value)


def interpolate(input, size=None, scale_factor=None, mode="nearest",
                align_corners=None, recompute_scale_factor=None,
                antialias=False):
    from ..ops import resample
    return resample.interpolate(input, size, scale_factor, mode,
                                align_corners, recompute_scale_factor,
                                antialias)


def upsample(input, size=None, scale_factor=None, mode="nearest",
             align_corners=None):
    warnings.warn("nn.functional.upsample is deprecated. Use "
                  "nn.functional.interpolate instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)
