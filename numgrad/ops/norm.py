"""batch_norm, layer_norm and group_norm.

Forward and backward are each one fused Numba kernel that reads the data
from memory once: per channel (batch_norm) or per row (layer_norm) it
computes every sum the step needs in one sweep, then writes the result while
that channel's or row's data is still in cache.  Statistics are accumulated
in float64 around a per-channel shift (the channel's first element), so the
one-sweep variance does not cancel.  batch_norm's kernels run in parallel
over channels, layer_norm's over rows.

Under ``create_graph`` (grad mode on during backward) the backward is
instead written with differentiable numgrad ops, recomputing the batch
statistics from the saved input, so higher-order gradients are exact.
CUDA tensors run the same steps as the kernels of ``ops/cuda/norm.py``
(the non-graph backwards call them directly: they are not ops)."""
import numbers

import numpy as np
import numba
from numba import njit, prange

from ..autograd import grad_mode
from ..backends import copy_into
from ..backends.cpu import parallel_njit
from ..tensor import Tensor
from . import pointwise as pw
from .pool import check_float, check_tensor, kernel_array, restore
from .reduce import mean as _mean, sum as _sum
from .registry import op
from .shape import reshape

# reassoc lets LLVM vectorise the float64 sums; no nnan/ninf, so NaN and
# inf still propagate as in PyTorch.
_FAST = {"reassoc", "contract"}
_JIT = dict(cache=True, error_model="numpy", nogil=True, fastmath=_FAST)


# ---- batch-norm kernels (x viewed as (N, C, S)) -----------------------------
# Each kernel makes one pass per channel: the channel's sums, then (with its
# data still in cache) the output.  ``coef`` is scratch of the data's dtype
# holding per-channel coefficients, so the output loop runs in that dtype;
# the mean is kept as hi + lo there, so float32 data is centred as
# (x - hi) - lo, as exactly as in float64.
@njit(**_JIT)
def _fwd_coefs(c, mean, var, w, b, eps, coef):
    coef[0, c] = mean[c]
    coef[1, c] = mean[c] - coef[0, c]
    coef[2, c] = w[c] / np.sqrt(var[c] + eps)
    coef[3, c] = b[c]


@parallel_njit(**_JIT)
def _bn_forward(x, w, b, eps, training, out, mean, var, coef):
    """out = (x - mean) / sqrt(var + eps) * w + b per channel.  In training
    ``mean`` and the biased ``var`` are computed here (around the channel's
    first value, in float64); otherwise they are read."""
    n_, c_, s_ = x.shape
    count = n_ * s_
    if s_ == 1:
        # (N, C): walk rows so the inner loops run along contiguous channels
        if training:
            a = np.zeros(c_)
            q = np.zeros(c_)
            for c in range(c_):
                mean[c] = x[0, c, 0]
            for n in range(n_):
                for c in range(c_):
                    d = x[n, c, 0] - mean[c]
                    a[c] += d
                    q[c] += d * d
            for c in range(c_):
                centred = a[c] / count
                mean[c] += centred
                var[c] = max(q[c] - a[c] * centred, 0.0) / count
        for c in range(c_):
            _fwd_coefs(c, mean, var, w, b, eps, coef)
        for n in range(n_):
            for c in range(c_):
                out[n, c, 0] = ((x[n, c, 0] - coef[0, c]) - coef[1, c]) \
                    * coef[2, c] + coef[3, c]
    else:
        for c in prange(c_):
            if training:
                k = np.float64(x[0, c, 0])
                a = 0.0
                q = 0.0
                for n in range(n_):
                    for s in range(s_):
                        d = x[n, c, s] - k
                        a += d
                        q += d * d
                centred = a / count
                mean[c] = k + centred
                var[c] = max(q - a * centred, 0.0) / count
            _fwd_coefs(c, mean, var, w, b, eps, coef)
            mh = coef[0, c]
            ml = coef[1, c]
            sc = coef[2, c]
            sh = coef[3, c]
            for n in range(n_):
                for s in range(s_):
                    out[n, c, s] = ((x[n, c, s] - mh) - ml) * sc + sh


@njit(**_JIT)
def _bwd_coefs(c, mean, invstd, w, sg, sgx, count, training, coef):
    inv = invstd[c]
    k1 = w[c] * inv
    coef[0, c] = mean[c]
    coef[1, c] = mean[c] - coef[0, c]
    coef[2, c] = k1
    if training:
        coef[3, c] = -k1 * inv * inv * sgx[c] / count
        coef[4, c] = -k1 * sg[c] / count
    else:
        coef[3, c] = 0.0
        coef[4, c] = 0.0


@parallel_njit(**_JIT)
def _bn_backward(g, x, mean, invstd, w, training, need_sums, need_x, dx, sg,
                 sgx, coef):
    """sg = sum(g), sgx = sum(g * (x - mean)) per channel (if need_sums),
    then dx = k1 g + k2 (x - mean) + k3 (training) or k1 g (eval)."""
    n_, c_, s_ = x.shape
    count = max(n_ * s_, 1)
    if s_ == 1:
        if need_sums:
            for c in range(c_):
                sg[c] = 0.0
                sgx[c] = 0.0
            for n in range(n_):
                for c in range(c_):
                    gv = g[n, c, 0]
                    sg[c] += gv
                    sgx[c] += gv * (x[n, c, 0] - mean[c])
        if need_x:
            for c in range(c_):
                _bwd_coefs(c, mean, invstd, w, sg, sgx, count, training,
                           coef)
            for n in range(n_):
                for c in range(c_):
                    if training:
                        dx[n, c, 0] = coef[2, c] * g[n, c, 0] + coef[3, c] * (
                            (x[n, c, 0] - coef[0, c]) - coef[1, c]) \
                            + coef[4, c]
                    else:
                        dx[n, c, 0] = coef[2, c] * g[n, c, 0]
    else:
        for c in prange(c_):
            if need_sums:
                m = mean[c]
                a = 0.0
                q = 0.0
                for n in range(n_):
                    for s in range(s_):
                        gv = g[n, c, s]
                        a += gv
                        q += gv * (x[n, c, s] - m)
                sg[c] = a
                sgx[c] = q
            if need_x:
                _bwd_coefs(c, mean, invstd, w, sg, sgx, count, training,
                           coef)
                mh = coef[0, c]
                ml = coef[1, c]
                k1 = coef[2, c]
                k2 = coef[3, c]
                k3 = coef[4, c]
                if training:
                    for n in range(n_):
                        for s in range(s_):
                            dx[n, c, s] = k1 * g[n, c, s] + k2 * (
                                (x[n, c, s] - mh) - ml) + k3
                else:
                    for n in range(n_):
                        for s in range(s_):
                            dx[n, c, s] = k1 * g[n, c, s]


# ---- layer-norm kernels (x viewed as (R, K)) --------------------------------
@parallel_njit(**_JIT)
def _rows_forward(x, w, b, eps, out, mean, rstd):
    r_, k_ = x.shape
    for r in prange(r_):
        k0 = np.float64(x[r, 0])
        a = 0.0
        q = 0.0
        for k in range(k_):
            d = x[r, k] - k0
            a += d
            q += d * d
        m = a / k_
        var = q / k_ - m * m
        if var < 0.0:
            var = 0.0
        mu = k0 + m
        rs = 1.0 / np.sqrt(var + eps)
        mean[r] = mu
        rstd[r] = rs
        for k in range(k_):
            out[r, k] = (x[r, k] - mu) * rs * w[k] + b[k]


@parallel_njit(**_JIT)
def _rows_backward(g, x, w, mean, rstd, dx, dw_part, db_part, need_x,
                   need_wb):
    r_, k_ = x.shape
    chunks = dw_part.shape[0]
    for t in prange(chunks):
        r0 = t * r_ // chunks
        r1 = (t + 1) * r_ // chunks
        for r in range(r0, r1):
            mu = mean[r]
            rs = rstd[r]
            if need_x:
                a = 0.0
                c = 0.0
                for k in range(k_):
                    gw = g[r, k] * w[k]
                    a += gw
                    c += gw * ((x[r, k] - mu) * rs)
                a /= k_
                c /= k_
                for k in range(k_):
                    xh = (x[r, k] - mu) * rs
                    dx[r, k] = (g[r, k] * w[k] - a - xh * c) * rs
            if need_wb:
                for k in range(k_):
                    gv = g[r, k]
                    dw_part[t, k] += gv * ((x[r, k] - mu) * rs)
                    db_part[t, k] += gv


# ---- batch_norm -------------------------------------------------------------
def _view3(a):
    return a.reshape(a.shape[0], a.shape[1], -1)


def _bump(t):
    if not t._is_inference:
        t._version.value += 1


def _write_running(t, values):
    """Writes float64 ``values`` (an array on t's device) into buffer t."""
    from ..fusion import recorder
    before = getattr(recorder, "before_write", None)
    if before is not None:
        before(t)
    target = t._value()
    copy_into(target, values.reshape(target.shape))
    _bump(t)


@op("batch_norm", save=("x", "weight"), node_name="NativeBatchNormBackward0")
def _batch_norm(ctx, x, weight, bias, *, running_mean, running_var,
                training, momentum, eps):
    xa, back = kernel_array(x)
    x3 = _view3(xa)
    n_, c_, s_ = x3.shape
    count = n_ * s_
    if training:
        mean = np.full(c_, np.nan)
        var = np.full(c_, np.nan)
    else:
        mean = running_mean._value().astype(np.float64).reshape(-1)
        var = running_var._value().astype(np.float64).reshape(-1)
    w = (np.ones(c_) if weight is None
         else weight.astype(np.float64).reshape(-1))
    b = (np.zeros(c_) if bias is None
         else bias.astype(np.float64).reshape(-1))
    out = np.empty_like(x3)
    if count:
        _bn_forward(x3, w, b, float(eps), bool(training), out, mean, var,
                    np.empty((4, c_), x3.dtype))
    if training and count:
        if running_mean is not None:
            old = running_mean._value().astype(np.float64).reshape(-1)
            _write_running(running_mean,
                           momentum * mean + (1 - momentum) * old)
        if running_var is not None:
            old = running_var._value().astype(np.float64).reshape(-1)
            with np.errstate(divide="ignore", invalid="ignore"):
                unbiased = var * (count / (count - 1))
            _write_running(running_var,
                           momentum * unbiased + (1 - momentum) * old)
    with np.errstate(divide="ignore", invalid="ignore"):
        invstd = 1.0 / np.sqrt(var + eps)
    ctx.mean, ctx.invstd, ctx.training = mean, invstd, training
    ctx.bias_dtype = None if bias is None else bias.dtype
    return restore(out, back).reshape(x.shape)


@_batch_norm.backward
def _(ctx, g):
    if grad_mode.state.enabled:
        return _batch_norm_backward_graph(ctx, g)
    need_x, need_w, need_b = ctx.needs_input_grad
    x = ctx.x
    weight = ctx.weight if "weight" in _saved(ctx) else None
    need_sums = bool(need_w or need_b or (need_x and ctx.training))
    if x.device.type == "cuda":
        from .cuda.norm import batch_norm_backward as run
    else:
        run = _batch_norm_backward_arrays
    dx, sum_gxhat, sum_g = run(
        g._value(), x._value(), ctx.mean, ctx.invstd,
        None if weight is None else weight._value(), bool(ctx.training),
        bool(need_x), need_sums)
    gx = gw = gb = None
    if need_x:
        gx = Tensor._make(dx)
    if need_w:
        gw = Tensor._make(sum_gxhat.astype(
            weight._value().dtype).reshape(weight._shape))
    if need_b:
        gb = Tensor._make(sum_g.astype(ctx.bias_dtype))
    return gx, gw, gb


def _batch_norm_backward_arrays(g, x, mean, invstd, weight, training,
                                need_x, need_sums):
    """(dx or None, sum(g * xhat), sum(g)) per channel, the sums float64
    (zeros unless need_sums)."""
    ga, back = kernel_array(g)
    xa, _ = kernel_array(x)
    g3, x3 = _view3(ga), _view3(xa)
    n_, c_, s_ = x3.shape
    w = (np.ones(c_) if weight is None
         else weight.astype(np.float64).reshape(-1))
    sg = np.zeros(c_)
    sgx = np.zeros(c_)
    dx = np.empty_like(x3) if need_x else np.empty((0, 0, 0), x3.dtype)
    if x3.size:
        _bn_backward(g3, x3, mean, invstd, w, training, need_sums, need_x,
                     dx, sg, sgx, np.empty((5, c_), x3.dtype))
    if need_x:
        dx = restore(dx, back).reshape(x.shape)
    return (dx if need_x else None), sgx * invstd, sg


def _saved(ctx):
    node = ctx._node()
    return node.saved if node is not None and node.saved else {}


def _const(values, like, shape):
    return Tensor._make(values.astype(like._value().dtype).reshape(shape))


def _batch_norm_backward_graph(ctx, g):
    """The same gradient as differentiable ops (for create_graph)."""
    need_x, need_w, need_b = ctx.needs_input_grad
    x = ctx.x
    saved = _saved(ctx)
    weight = ctx.weight if "weight" in saved else None
    nd = x.dim()
    c_ = x._shape[1]
    dims = (0,) + tuple(range(2, nd))
    shape = (1, c_) + (1,) * (nd - 2)
    eps = ctx.params["eps"]
    if ctx.training:
        mean = _mean(x, dims, keepdim=True)
        xc = x - mean
        invstd = pw.rsqrt(_mean(xc * xc, dims, keepdim=True) + eps)
    else:
        xc = x - _const(ctx.mean, x, shape)
        invstd = _const(ctx.invstd, x, shape)
    xhat = xc * invstd
    gx = gw = gb = None
    if need_x:
        scale = invstd if weight is None else invstd * reshape(weight,
                                                               shape)
        if ctx.training:
            gx = scale * (g - _mean(g, dims, keepdim=True)
                          - xhat * _mean(g * xhat, dims, keepdim=True))
        else:
            gx = g * scale
    if need_w:
        gw = reshape(_sum(g * xhat, dims), weight._shape)
    if need_b:
        gb = _sum(g, dims)
    return gx, gw, gb


def _check_channels(t, name, c_):
    if t is not None and t.numel() != c_:
        raise RuntimeError(f"{name} should contain {c_} elements not "
                           f"{t.numel()}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    check_tensor(input, "batch_norm")
    if momentum is None or not isinstance(momentum, numbers.Real):
        raise TypeError("batch_norm(): argument 'momentum' (position 7) "
                        "must be float, not "
                        f"{type(momentum).__name__}")
    shape = input._shape
    c_ = shape[1] if len(shape) > 1 else 0
    if training:
        size = 1
        for i, s in enumerate(shape):
            if i != 1:
                size *= s
        if len(shape) >= 2 and size == 1:
            raise ValueError("Expected more than 1 value per channel when "
                             "training, got input size "
                             f"torch.Size({list(shape)})")
    elif running_mean is None or running_var is None:
        name = "running_mean" if running_mean is None else "running_var"
        raise RuntimeError(f"{name} must be defined in evaluation mode")
    _check_channels(running_mean, "running_mean", c_)
    _check_channels(running_var, "running_var", c_)
    _check_channels(weight, "weight", c_)
    _check_channels(bias, "bias", c_)
    if len(shape) < 2:
        raise RuntimeError("batch_norm: expected input with at least 2 "
                           f"dimensions, but got {list(shape)}")
    check_float(input, "batch_norm")
    return _batch_norm(input, weight, bias, running_mean=running_mean,
                       running_var=running_var, training=bool(training),
                       momentum=float(momentum), eps=float(eps))


# ---- layer_norm -------------------------------------------------------------
def _chunks(rows):
    return max(1, min(rows, 4 * numba.get_num_threads()))


@op("layer_norm", save=("x", "weight"), node_name="NativeLayerNormBackward0")
def _layer_norm(ctx, x, weight, bias, *, ndim, eps):
    xa, back = kernel_array(x)
    k_ = int(np.prod(x.shape[x.ndim - ndim:], dtype=np.int64))
    x2 = xa.reshape(-1, k_)
    r_ = x2.shape[0]
    dt = x2.dtype
    w = np.ones(k_, dt) if weight is None else np.ascontiguousarray(
        weight, dtype=dt).reshape(-1)
    b = np.zeros(k_, dt) if bias is None else np.ascontiguousarray(
        bias, dtype=dt).reshape(-1)
    out = np.empty_like(x2)
    mean = np.empty(r_)
    rstd = np.empty(r_)
    if out.size:
        _rows_forward(x2, w, b, float(eps), out, mean, rstd)
    ctx.mean, ctx.rstd = mean, rstd
    return restore(out, back).reshape(x.shape)


@_layer_norm.backward
def _(ctx, g):
    if grad_mode.state.enabled:
        return _layer_norm_backward_graph(ctx, g)
    need_x, need_w, need_b = ctx.needs_input_grad
    x = ctx.x
    saved = _saved(ctx)
    weight = ctx.weight if "weight" in saved else None
    ndim = ctx.params["ndim"]
    k_ = int(np.prod(x._shape[x.dim() - ndim:], dtype=np.int64))
    if x.device.type == "cuda":
        from .cuda.norm import layer_norm_backward as run
    else:
        run = _layer_norm_backward_arrays
    dx, sum_gxhat, sum_g = run(
        g._value(), x._value(), None if weight is None else weight._value(),
        ctx.mean, ctx.rstd, k_, bool(need_x), bool(need_w or need_b))
    gx = gw = gb = None
    if need_x:
        gx = Tensor._make(dx)
    if need_w:
        gw = Tensor._make(sum_gxhat.astype(
            weight._value().dtype).reshape(weight._shape))
    if need_b:
        shape = x._shape[x.dim() - ndim:]
        gb = Tensor._make(sum_g.astype(x._value().dtype).reshape(shape))
    return gx, gw, gb


def _layer_norm_backward_arrays(g, x, weight, mean, rstd, k_, need_x,
                                need_wb):
    """(dx or None, sum of g * xhat, sum of g) over the rows, the sums
    float64 (K,) arrays (None unless need_wb)."""
    xa, back = kernel_array(x)
    ga, _ = kernel_array(g)
    x2 = xa.reshape(-1, k_)
    g2 = ga.reshape(-1, k_)
    r_ = x2.shape[0]
    dt = x2.dtype
    w = np.ones(k_, dt) if weight is None else np.ascontiguousarray(
        weight, dtype=dt).reshape(-1)
    chunks = _chunks(r_) if need_wb else 1
    dx = np.empty_like(x2) if need_x else np.empty((0, 0), dt)
    dw_part = np.zeros((chunks, k_) if need_wb else (1, 0))
    db_part = np.zeros_like(dw_part)
    if x2.size:
        _rows_backward(g2, x2, w, mean, rstd, dx, dw_part, db_part, need_x,
                       need_wb)
    if need_x:
        dx = restore(dx, back).reshape(x.shape)
    if not need_wb:
        return (dx if need_x else None), None, None
    return (dx if need_x else None), dw_part.sum(0), db_part.sum(0)


def _layer_norm_backward_graph(ctx, g):
    need_x, need_w, need_b = ctx.needs_input_grad
    x = ctx.x
    saved = _saved(ctx)
    weight = ctx.weight if "weight" in saved else None
    ndim = ctx.params["ndim"]
    nd = x.dim()
    dims = tuple(range(nd - ndim, nd))
    lead = tuple(range(nd - ndim))
    mean = _mean(x, dims, keepdim=True)
    xc = x - mean
    rstd = pw.rsqrt(_mean(xc * xc, dims, keepdim=True) + ctx.params["eps"])
    xhat = xc * rstd
    gx = gw = gb = None
    if need_x:
        gwt = g if weight is None else g * weight
        gx = rstd * (gwt - _mean(gwt, dims, keepdim=True)
                     - xhat * _mean(gwt * xhat, dims, keepdim=True))
    if need_w:
        gw = _sum(g * xhat, lead) if lead else g * xhat
    if need_b:
        gb = _sum(g, lead) if lead else g
    return gx, gw, gb


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    check_tensor(input, "layer_norm")
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (int(normalized_shape),)
    normalized_shape = tuple(int(s) for s in normalized_shape)
    if not normalized_shape:
        raise RuntimeError(
            "Expected normalized_shape to be at least 1-dimensional, i.e., "
            "containing at least one element, but got normalized_shape = "
            "[]")
    shape = input._shape
    nd = len(normalized_shape)
    if weight is not None and tuple(weight._shape) != normalized_shape:
        raise RuntimeError(
            "Expected weight to be of same shape as normalized_shape, but "
            f"got weight of shape {list(weight._shape)} and normalized_shape"
            f" = {list(normalized_shape)}")
    if bias is not None and tuple(bias._shape) != normalized_shape:
        raise RuntimeError(
            "Expected bias to be of same shape as normalized_shape, but got "
            f"bias of shape {list(bias._shape)} and normalized_shape = "
            f"{list(normalized_shape)}")
    if len(shape) < nd or tuple(shape[len(shape) - nd:]) != normalized_shape:
        raise RuntimeError(
            f"Given normalized_shape={list(normalized_shape)}, expected "
            f"input with shape [*, {', '.join(map(str, normalized_shape))}]"
            f", but got input of size{list(shape)}")
    check_float(input, "LayerNormKernelImpl")
    return _layer_norm(input, weight, bias, ndim=nd, eps=float(eps))


# ---- group_norm -------------------------------------------------------------
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    check_tensor(input, "group_norm")
    shape = input._shape
    if len(shape) < 2:
        raise RuntimeError("Expected at least 2 dimensions for input tensor "
                           f"but received {len(shape)}")
    n_, c_ = shape[0], shape[1]
    if num_groups <= 0 or c_ % num_groups:
        raise RuntimeError(
            "Expected number of channels in input to be divisible by "
            f"num_groups, but got input of shape {list(shape)} and "
            f"num_groups={num_groups}")
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None and (t.dim() != 1 or t.numel() != c_):
            raise RuntimeError(
                f"Expected {name} to be a vector of size equal to the number "
                f"of channels in input, but got {name} of shape "
                f"{list(t._shape)} and input of shape {list(shape)}")
    check_float(input, "GroupNormKernelImpl")
    k_ = c_ // num_groups
    for s in shape[2:]:
        k_ *= s
    rows = reshape(input, (n_, num_groups, k_))
    out = reshape(_layer_norm(rows, None, None, ndim=1, eps=float(eps)),
                  shape)
    affine = (1, c_) + (1,) * (len(shape) - 2)
    if weight is not None:
        out = out * reshape(weight, affine)
    if bias is not None:
        out = out + reshape(bias, affine)
    return out
