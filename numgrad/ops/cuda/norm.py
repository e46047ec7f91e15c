"""CUDA kernels of batch_norm and layer_norm (``numgrad/ops/norm.py``).

As on the CPU, one sweep computes every sum a step needs: one block per
channel (batch_norm) or row (layer_norm) accumulates them in float64 (the
statistics around the first element, so the one-sweep variance does not
cancel), reduces the threads' partial sums in shared memory, and writes
the output with the CPU's per-channel coefficients.  Blocks loop over
channels/rows, so any grid works; a block's thread count is a power of
two (``block_size``).

Their non-graph backwards are not ops (they return several gradients at
once), so norm.py calls ``batch_norm_backward`` / ``layer_norm_backward``
here for CUDA tensors.  group_norm is layer_norm over (N, G, rest) rows
and needs nothing of its own.

Float64 sums start from ``np.float64(0.0)``, not ``0.0``: under the
simulator a Python float meeting a float32 NumPy scalar would give
float32."""
import math

import numpy as np
from numba import cuda

from ...backends.cuda.array import DeviceArray
from ...backends.cuda.launch import (block_size, device_function, grid_for,
                                     launch, properties)
from ..pool import restore
from . import twin

# Upper bound of block_size(): the length of the shared partial sums.
REDUCE_THREADS = 256
BN_FORWARD_COEFS = 4
BN_BACKWARD_COEFS = 5


@device_function
def _tree_sum(a, b, tid):
    """a[0], b[0] <- the sums of the block's a[:blockDim], b[:blockDim];
    every thread of the block must call it."""
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 0:
        if tid < step:
            a[tid] += a[tid + step]
            b[tid] += b[tid + step]
        cuda.syncthreads()
        step //= 2


# ---- batch_norm: x viewed as (N, C, S) --------------------------------------
@cuda.jit(cache=True)
def _bn_forward(x, w, b, eps, training, out, mean, var, invstd):
    """out = (x - mean) / sqrt(var + eps) * w + b per channel; in training
    mean and the biased var are computed here, otherwise read."""
    sum_d = cuda.shared.array(REDUCE_THREADS, np.float64)
    sum_dd = cuda.shared.array(REDUCE_THREADS, np.float64)
    # per-channel coefficients in the data's dtype (the output loop runs
    # in it), the mean as hi + lo so float32 data is centred exactly
    coef = cuda.shared.array(BN_FORWARD_COEFS, x.dtype)
    n_, c_, s_ = x.shape
    count = n_ * s_
    tid = cuda.threadIdx.x
    for c in range(cuda.blockIdx.x, c_, cuda.gridDim.x):
        if training:
            shift = np.float64(x[0, c, 0])
            a = np.float64(0.0)
            q = np.float64(0.0)
            for e in range(tid, count, cuda.blockDim.x):
                d = x[e // s_, c, e % s_] - shift
                a += d
                q += d * d
            sum_d[tid] = a
            sum_dd[tid] = q
            _tree_sum(sum_d, sum_dd, tid)
            if tid == 0:
                centred = sum_d[0] / count
                mean[c] = shift + centred
                var[c] = max(sum_dd[0] - sum_d[0] * centred, 0.0) / count
        if tid == 0:
            invstd[c] = 1.0 / math.sqrt(var[c] + eps)
            coef[0] = mean[c]
            coef[1] = mean[c] - coef[0]
            coef[2] = w[c] / math.sqrt(var[c] + eps)
            coef[3] = b[c]
        cuda.syncthreads()
        for e in range(tid, count, cuda.blockDim.x):
            n = e // s_
            s = e % s_
            out[n, c, s] = ((x[n, c, s] - coef[0]) - coef[1]) * coef[2] \
                + coef[3]
        cuda.syncthreads()


@cuda.jit(cache=True)
def _bn_running(stat, old, new, momentum, factor):
    """new = momentum * stat * factor + (1 - momentum) * old (factor: the
    unbiasing count / (count - 1) for the variance)."""
    for c in range(cuda.grid(1), new.size, cuda.gridsize(1)):
        new[c] = momentum * (stat[c] * factor) \
            + (1 - momentum) * np.float64(old[c])


@cuda.jit(cache=True)
def _bn_backward(g, x, mean, invstd, w, training, need_sums, need_x, dx, sg,
                 gw):
    """sg = sum(g), gw = sum(g * (x - mean)) * invstd per channel (if
    need_sums), then dx = k1 g + k2 (x - mean) + k3 (training) or k1 g."""
    sum_g = cuda.shared.array(REDUCE_THREADS, np.float64)
    sum_gx = cuda.shared.array(REDUCE_THREADS, np.float64)
    coef = cuda.shared.array(BN_BACKWARD_COEFS, x.dtype)
    n_, c_, s_ = x.shape
    count = n_ * s_
    tid = cuda.threadIdx.x
    for c in range(cuda.blockIdx.x, c_, cuda.gridDim.x):
        if need_sums:
            m = mean[c]
            a = np.float64(0.0)
            q = np.float64(0.0)
            for e in range(tid, count, cuda.blockDim.x):
                n = e // s_
                s = e % s_
                gv = g[n, c, s]
                a += gv
                q += gv * (x[n, c, s] - m)
            sum_g[tid] = a
            sum_gx[tid] = q
            _tree_sum(sum_g, sum_gx, tid)
        if need_x:
            if tid == 0:
                inv = invstd[c]
                k1 = w[c] * inv
                coef[0] = mean[c]
                coef[1] = mean[c] - coef[0]
                coef[2] = k1
                if training:
                    coef[3] = -k1 * inv * inv * sum_gx[0] / max(count, 1)
                    coef[4] = -k1 * sum_g[0] / max(count, 1)
            cuda.syncthreads()
            for e in range(tid, count, cuda.blockDim.x):
                n = e // s_
                s = e % s_
                if training:
                    dx[n, c, s] = coef[2] * g[n, c, s] + coef[3] * (
                        (x[n, c, s] - coef[0]) - coef[1]) + coef[4]
                else:
                    dx[n, c, s] = coef[2] * g[n, c, s]
        if need_sums and tid == 0:
            sg[c] = sum_g[0]
            gw[c] = sum_gx[0] * invstd[c]
        cuda.syncthreads()


def _per_channel(count, work):
    """(blocks, threads) for kernels with one block per channel or row."""
    return min(max(count, 1), properties()["max_blocks"]), block_size(work)


def _view3(a):
    return a.reshape(a.shape[0], a.shape[1], -1)


def _contiguous(a):
    """A float32/float64 C-contiguous copy or view, and the dtype to
    restore (float16 computes in float32)."""
    if a.dtype == np.float16:
        return a.astype(np.float32), np.float16
    return (a if a.is_contiguous() else a.copy()), None


def _full(shape, value, dtype):
    out = DeviceArray.empty(shape, dtype)
    out.fill(value)
    return out


def _channel_values(a, c_, default):
    """``a`` as a (C,) float64 array, or ``default`` everywhere."""
    if a is None:
        return _full((c_,), default, np.float64)
    return a.astype(np.float64).reshape(-1)


@twin("batch_norm")
def batch_norm(ctx, x, weight, bias, *, running_mean, running_var, training,
               momentum, eps):
    from ..norm import _write_running
    xa, back = _contiguous(x)
    x3 = _view3(xa)
    n_, c_, s_ = x3.shape
    count = n_ * s_
    if training:
        mean = _full((c_,), np.nan, np.float64)
        var = _full((c_,), np.nan, np.float64)
    else:
        mean = _channel_values(running_mean._value(), c_, 0.0)
        var = _channel_values(running_var._value(), c_, 1.0)
    w = _channel_values(weight, c_, 1.0)
    b = _channel_values(bias, c_, 0.0)
    out = DeviceArray.empty(x3.shape, x3.dtype)
    invstd = DeviceArray.empty((c_,), np.float64)
    if c_ and (count or not training):
        launch(_bn_forward, _per_channel(c_, count), x3, w, b, float(eps),
               bool(training), out, mean, var, invstd)
    elif c_:
        invstd.fill(np.nan)
    if training and count:
        for running, stat, factor in (
                (running_mean, mean, 1.0),
                (running_var, var, count / (count - 1))):
            if running is None:
                continue
            new = DeviceArray.empty((c_,), np.float64)
            launch(_bn_running, grid_for(c_), stat,
                   running._value().reshape(-1), new, float(momentum),
                   float(factor))
            _write_running(running, new)
    ctx.mean, ctx.invstd, ctx.training = mean, invstd, training
    ctx.bias_dtype = None if bias is None else bias.dtype
    return restore(out, back).reshape(x.shape)


def batch_norm_backward(g, x, mean, invstd, weight, training, need_x,
                        need_sums):
    """(dx or None, sum(g * xhat) per channel, sum(g) per channel), the
    sums float64 (zeros unless need_sums)."""
    ga, back = _contiguous(g)
    xa, _ = _contiguous(x)
    g3, x3 = _view3(ga), _view3(xa)
    n_, c_, s_ = x3.shape
    w = _channel_values(weight, c_, 1.0)
    sg = _full((c_,), 0.0, np.float64)
    gw = _full((c_,), 0.0, np.float64)
    dx = DeviceArray.empty(x3.shape, x3.dtype) if need_x else None
    if c_ and (need_x or need_sums):
        launch(_bn_backward, _per_channel(c_, n_ * s_), g3, x3, mean, invstd,
               w, bool(training), bool(need_sums), bool(need_x),
               dx if need_x else x3, sg, gw)   # x3: a dx never written
    if need_x:
        dx = restore(dx, back).reshape(x.shape)
    return dx, gw, sg


# ---- layer_norm: x viewed as (R, K) -----------------------------------------
@cuda.jit(cache=True)
def _ln_forward(x, w, b, eps, out, mean, rstd):
    sum_d = cuda.shared.array(REDUCE_THREADS, np.float64)
    sum_dd = cuda.shared.array(REDUCE_THREADS, np.float64)
    r_, k_ = x.shape
    tid = cuda.threadIdx.x
    for r in range(cuda.blockIdx.x, r_, cuda.gridDim.x):
        shift = np.float64(x[r, 0])
        a = np.float64(0.0)
        q = np.float64(0.0)
        for k in range(tid, k_, cuda.blockDim.x):
            d = x[r, k] - shift
            a += d
            q += d * d
        sum_d[tid] = a
        sum_dd[tid] = q
        _tree_sum(sum_d, sum_dd, tid)
        if tid == 0:
            m = sum_d[0] / k_
            v = max(sum_dd[0] / k_ - m * m, 0.0)
            mean[r] = shift + m
            rstd[r] = 1.0 / math.sqrt(v + eps)
        cuda.syncthreads()
        mu = mean[r]
        rs = rstd[r]
        for k in range(tid, k_, cuda.blockDim.x):
            out[r, k] = (x[r, k] - mu) * rs * w[k] + b[k]
        cuda.syncthreads()


@cuda.jit(cache=True)
def _ln_input_grad(g, x, w, mean, rstd, dx):
    """dx = (g w - mean(g w) - xhat mean(g w xhat)) * rstd per row."""
    sum_a = cuda.shared.array(REDUCE_THREADS, np.float64)
    sum_c = cuda.shared.array(REDUCE_THREADS, np.float64)
    r_, k_ = x.shape
    tid = cuda.threadIdx.x
    for r in range(cuda.blockIdx.x, r_, cuda.gridDim.x):
        mu = mean[r]
        rs = rstd[r]
        a = np.float64(0.0)
        c = np.float64(0.0)
        for k in range(tid, k_, cuda.blockDim.x):
            gw = g[r, k] * w[k]
            a += gw
            c += gw * ((x[r, k] - mu) * rs)
        sum_a[tid] = a
        sum_c[tid] = c
        _tree_sum(sum_a, sum_c, tid)
        a = sum_a[0] / k_
        c = sum_c[0] / k_
        for k in range(tid, k_, cuda.blockDim.x):
            xh = (x[r, k] - mu) * rs
            dx[r, k] = (g[r, k] * w[k] - a - xh * c) * rs
        cuda.syncthreads()


@cuda.jit(cache=True)
def _ln_affine_grads(g, x, mean, rstd, dw_part, db_part):
    """Partial sums over a chunk t of the rows, per column k:
    dw_part[t, k] = sum g * xhat, db_part[t, k] = sum g (one thread per
    (t, k), consecutive threads on consecutive columns)."""
    r_, k_ = x.shape
    chunks = dw_part.shape[0]
    for i in range(cuda.grid(1), chunks * k_, cuda.gridsize(1)):
        t = i // k_
        k = i - t * k_
        dw = np.float64(0.0)
        db = np.float64(0.0)
        for r in range(t * r_ // chunks, (t + 1) * r_ // chunks):
            gv = g[r, k]
            dw += gv * ((x[r, k] - mean[r]) * rstd[r])
            db += gv
        dw_part[t, k] = dw
        db_part[t, k] = db


@cuda.jit(cache=True)
def _sum_chunks(part, out):
    """out[k] = sum over t of part[t, k]."""
    for k in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        total = np.float64(0.0)
        for t in range(part.shape[0]):
            total += part[t, k]
        out[k] = total


def _row_params(a, k_, default, dt):
    """``a`` as a contiguous (K,) array of dtype dt, or ``default``."""
    if a is None:
        return _full((k_,), default, dt)
    if a.dtype != dt or not a.is_contiguous():
        a = a.astype(dt)
    return a.reshape(-1)


@twin("layer_norm")
def layer_norm(ctx, x, weight, bias, *, ndim, eps):
    xa, back = _contiguous(x)
    k_ = 1
    for s in x.shape[x.ndim - ndim:]:
        k_ *= s
    x2 = xa.reshape(-1, k_)
    r_ = x2.shape[0]
    dt = x2.dtype
    w = _row_params(weight, k_, 1.0, dt)
    b = _row_params(bias, k_, 0.0, dt)
    out = DeviceArray.empty(x2.shape, dt)
    mean = DeviceArray.empty((r_,), np.float64)
    rstd = DeviceArray.empty((r_,), np.float64)
    if out.size:
        launch(_ln_forward, _per_channel(r_, k_), x2, w, b, float(eps), out,
               mean, rstd)
    ctx.mean, ctx.rstd = mean, rstd
    return restore(out, back).reshape(x.shape)


def layer_norm_backward(g, x, weight, mean, rstd, k_, need_x, need_wb):
    """(dx or None, sum of g * xhat, sum of g) over rows, the sums float64
    (K,) arrays (None unless need_wb)."""
    xa, back = _contiguous(x)
    ga, _ = _contiguous(g)
    x2 = xa.reshape(-1, k_)
    g2 = ga.reshape(-1, k_)
    r_ = x2.shape[0]
    dx = dw = db = None
    if need_x:
        w = _row_params(weight, k_, 1.0, x2.dtype)
        dx = DeviceArray.empty(x2.shape, x2.dtype)
        if dx.size:
            launch(_ln_input_grad, _per_channel(r_, k_), g2, x2, w, mean,
                   rstd, dx)
        dx = restore(dx, back).reshape(x.shape)
    if need_wb:
        # chunks of rows so that chunks * K threads fill the device
        threads = properties()["max_blocks"] * properties()["threads"]
        chunks = max(1, min(r_, threads // max(k_, 1)))
        dw = DeviceArray.empty((chunks, k_), np.float64)
        db = DeviceArray.empty((chunks, k_), np.float64)
        if dw.size:
            launch(_ln_affine_grads, grid_for(dw.size), g2, x2, mean, rstd,
                   dw, db)
        if chunks > 1:
            dw_sum = DeviceArray.empty((k_,), np.float64)
            db_sum = DeviceArray.empty((k_,), np.float64)
            launch(_sum_chunks, grid_for(k_), dw, dw_sum)
            launch(_sum_chunks, grid_for(k_), db, db_sum)
            dw, db = dw_sum, db_sum
        else:
            dw, db = dw.reshape(-1), db.reshape(-1)
    return dx, dw, db
