"""CUDA forwards of the convolution family (``numgrad/ops/conv.py``).

The three ops are one implicit GEMM (M x K times K x N) per group ``gi``,
with X the im2col matrix of the input and G the output gradient; each GEMM
index is a flat index over three digits (channels within the group)::

    conv2d              out = W @ X     M: o  N: (n, oh, ow)  K: (c, ki, kj)
    conv2d_input_grad   gx = W^T @ G    M: c  N: (n, ih, iw)  K: (o, ki, kj)
    conv2d_weight_grad  gw = G @ X^T    M: o  N: (c, ki, kj)  K: (n, oh, ow)

``_conv_gemm`` computes all three: a shared-memory tiled GEMM whose tile
loaders gather the A and B elements straight from the 4-D tensors with the
conv's index arithmetic (stride, padding, dilation, group offsets), so no
im2col buffer exists (at ResNet sizes it would be KH*KW activations big).
Padding is a bounds check, so it may be asymmetric (``out_hw``/``in_hw``
fix the far sides).  The input gradient gathers instead of scattering: an
input pixel reads the output pixels whose window covers it (an output
position is kept only where the stride divides the offset), so every
output element is written by one thread, without atomics.  The weight
gradient's inner dimension is the whole batch times the output plane, so
its K range is split over blocks (``splits``) that add their partial
products atomically; the other two store directly (deterministic).

Depthwise convolutions (``groups == C > 1``) get direct kernels instead:
their GEMMs have M = channel multiplier (usually 1) and K = KH*KW, which
would leave a 64x64 tile nearly empty.  Those sum in float64, starting
from ``np.float64(0.0)``: under the simulator a Python float meeting a
float32 NumPy scalar would give float32.

Kernels see float32 or float64 arrays, C-contiguous (one signature per
dtype); float16 computes in float32 and integers in float64, as on the
CPU."""
import numpy as np
from numba import cuda

from ...backends.cuda.array import DeviceArray
from ...backends.cuda.launch import (block_size, device_function, grid_for,
                                     launch, properties)
from ..conv import _compute_dtype, _is_depthwise
from . import twin

# GEMM tiles: a block of THREADS = (TILE_M/MICRO) * (TILE_N/MICRO) threads
# computes a TILE_M x TILE_N output tile, each thread a MICRO x MICRO
# register tile of rows ty + SPAN*i and columns tx + SPAN*j (so a warp reads
# consecutive shared-memory words and writes consecutive output pixels).
TILE_M = 64
TILE_N = 64
TILE_K = 16
MICRO = 4
MICRO_TILE = MICRO * MICRO
SPAN = TILE_M // MICRO
THREADS = SPAN * (TILE_N // MICRO)
# Tile loaders: A is read along k (contiguous in the weights and in the
# weight gradient's G), B along n (consecutive output or input pixels).
A_STEP = THREADS // TILE_K          # tile rows loaded per pass
A_PASSES = TILE_M // A_STEP
B_STEP = THREADS // TILE_N          # tile k-rows loaded per pass
B_PASSES = TILE_K // B_STEP
# The A tile gets one padding column so the column-wise stores of its
# loader do not all hit one shared-memory bank.
A_COLS = TILE_M + 1
# The weight gradient splits K only into pieces of at least this many
# k-tiles, so a split's TILE_M x TILE_N atomic adds stay cheap next to its
# TILE_M x TILE_N x (MIN_SPLIT_KTILES * TILE_K) multiply-adds.
MIN_SPLIT_KTILES = 64
# Threads of the per-tap reduction blocks of the depthwise weight gradient.
REDUCE_THREADS = 256

FORWARD = 0
INPUT_GRAD = 1
WEIGHT_GRAD = 2


# ---- index arithmetic of the implicit GEMM ----------------------------------
# Integer divisions are what an implicit GEMM spends its index time on, so
# each block decodes its TILE_K k indices into digits once per k-tile (into
# shared memory), and each thread its B column once per tile.
@device_function
def _digits(i, r1, r2):
    """(i // (r1 r2), i // r2 % r1, i % r2)."""
    t = i // r2
    q = t // r1
    return q, t - q * r1, i - t * r2


@device_function
def _x_index(nb, oh, ow, c, ki, kj, sh, sw, pt, pl, dh, dw, h, w):
    """The input pixel that tap (ki, kj) of output pixel (nb, oh, ow) reads
    in channel c; ok is False in the padding."""
    ih = oh * sh - pt + ki * dh
    iw = ow * sw - pl + kj * dw
    ok = ih >= 0 and ih < h and iw >= 0 and iw < w
    return ok, nb, c, ih, iw


@device_function
def _b_index(mode, col0, col1, col2, k0, k1, k2, gi, cg, og, oh_, ow_, sh,
             sw, pt, pl, dh, dw, h, w):
    """B[k, n] of the group's GEMM (digits of n: col, of k: k0..k2) as an
    index into the B source; ok is False where B is zero."""
    if mode == FORWARD:
        return _x_index(col0, col1, col2, gi * cg + k0, k1, k2, sh, sw, pt,
                        pl, dh, dw, h, w)
    if mode == WEIGHT_GRAD:
        return _x_index(k0, k1, k2, gi * cg + col0, col1, col2, sh, sw, pt,
                        pl, dh, dw, h, w)
    # INPUT_GRAD: g[n, o, oh, ow] where tap (ki, kj) of output pixel
    # (oh, ow) lands on input pixel (ih, iw)
    th = col1 + pt - k1 * dh
    tw = col2 + pl - k2 * dw
    oh = th
    ow = tw
    if sh != 1:
        oh = th // sh
    if sw != 1:
        ow = tw // sw
    ok = (th >= 0 and tw >= 0 and oh * sh == th and ow * sw == tw
          and oh < oh_ and ow < ow_)
    return ok, col0, gi * og + k0, oh, ow


@device_function
def _multiply_tiles(a_tile, b_tile, acc, a_reg, b_reg, tx, ty):
    """acc += this thread's MICRO x MICRO part of a_tile^T @ b_tile."""
    for kk in range(TILE_K):
        for i in range(MICRO):
            a_reg[i] = a_tile[kk, ty + SPAN * i]
        for j in range(MICRO):
            b_reg[j] = b_tile[kk, tx + SPAN * j]
        for i in range(MICRO):
            for j in range(MICRO):
                acc[i * MICRO + j] += a_reg[i] * b_reg[j]


# ---- the implicit GEMM ------------------------------------------------------
@cuda.jit(cache=True)
def _conv_gemm(mode, a, b, out, bias, has_bias, n_, c_, h, w, o_, oh_, ow_,
               kh, kw, sh, sw, pt, pl, dh, dw, groups, splits):
    """One kernel for the three GEMMs (``mode``); blocks loop over
    (group, K split, tile row, tile column) tiles, so any grid works."""
    a_tile = cuda.shared.array((TILE_K, A_COLS), a.dtype)
    b_tile = cuda.shared.array((TILE_K, TILE_N), a.dtype)
    k_digit0 = cuda.shared.array(TILE_K, np.int64)
    k_digit1 = cuda.shared.array(TILE_K, np.int64)
    k_digit2 = cuda.shared.array(TILE_K, np.int64)
    acc = cuda.local.array(MICRO_TILE, a.dtype)
    a_reg = cuda.local.array(MICRO, a.dtype)
    b_reg = cuda.local.array(MICRO, a.dtype)
    tid = cuda.threadIdx.x
    tx = tid % SPAN
    ty = tid // SPAN
    a_k = tid % TILE_K
    a_m = tid // TILE_K
    b_n = tid % TILE_N
    b_k = tid // TILE_N
    cg = c_ // groups
    og = o_ // groups
    if mode == FORWARD:
        m_ = og
        ncols = n_ * oh_ * ow_
        k_ = cg * kh * kw
        n_r1, n_r2, k_r1, k_r2 = oh_, ow_, kh, kw
    elif mode == INPUT_GRAD:
        m_ = cg
        ncols = n_ * h * w
        k_ = og * kh * kw
        n_r1, n_r2, k_r1, k_r2 = h, w, kh, kw
    else:
        m_ = og
        ncols = cg * kh * kw
        k_ = n_ * oh_ * ow_
        n_r1, n_r2, k_r1, k_r2 = kh, kw, oh_, ow_
    tiles_m = (m_ + TILE_M - 1) // TILE_M
    tiles_n = (ncols + TILE_N - 1) // TILE_N
    ktiles = (k_ + TILE_K - 1) // TILE_K
    k_span = (ktiles + splits - 1) // splits * TILE_K
    for tile in range(cuda.blockIdx.x, groups * splits * tiles_m * tiles_n,
                      cuda.gridDim.x):
        tn = tile % tiles_n
        rest = tile // tiles_n
        tm = rest % tiles_m
        rest = rest // tiles_m
        split = rest % splits
        gi = rest // splits
        m0 = tm * TILE_M
        n0 = tn * TILE_N
        k_begin = split * k_span
        k_end = min(k_, k_begin + k_span)
        busy = ty < m_ - m0 and tx < ncols - n0
        col_ok = n0 + b_n < ncols
        col0, col1, col2 = _digits(n0 + b_n, n_r1, n_r2)
        for i in range(MICRO_TILE):
            acc[i] = 0
        for k0 in range(k_begin, k_end, TILE_K):
            if tid < TILE_K:
                d0, d1, d2 = _digits(k0 + tid, k_r1, k_r2)
                k_digit0[tid] = d0
                k_digit1[tid] = d1
                k_digit2[tid] = d2
            cuda.syncthreads()
            d0 = k_digit0[a_k]
            d1 = k_digit1[a_k]
            d2 = k_digit2[a_k]
            for q in range(A_PASSES):
                mm = a_m + q * A_STEP
                m = m0 + mm
                if m < m_ and k0 + a_k < k_end:
                    if mode == FORWARD:              # w[o, c, ki, kj]
                        v = a[gi * og + m, d0, d1, d2]
                    elif mode == INPUT_GRAD:         # w[o, c, ki, kj]
                        v = a[gi * og + d0, m, d1, d2]
                    else:                            # g[n, o, oh, ow]
                        v = a[d0, gi * og + m, d1, d2]
                    a_tile[a_k, mm] = v
                else:
                    a_tile[a_k, mm] = 0
            for q in range(B_PASSES):
                kk = b_k + q * B_STEP
                stored = False
                if col_ok and k0 + kk < k_end:
                    ok, i0, i1, i2, i3 = _b_index(
                        mode, col0, col1, col2, k_digit0[kk], k_digit1[kk],
                        k_digit2[kk], gi, cg, og, oh_, ow_, sh, sw, pt, pl,
                        dh, dw, h, w)
                    if ok:
                        b_tile[kk, b_n] = b[i0, i1, i2, i3]
                        stored = True
                if not stored:
                    b_tile[kk, b_n] = 0
            cuda.syncthreads()
            if busy:
                _multiply_tiles(a_tile, b_tile, acc, a_reg, b_reg, tx, ty)
            cuda.syncthreads()
        if busy:
            for i in range(MICRO):
                m = m0 + ty + SPAN * i
                for j in range(MICRO):
                    nc = n0 + tx + SPAN * j
                    if m < m_ and nc < ncols:
                        e0, e1, e2 = _digits(nc, n_r1, n_r2)
                        v = acc[i * MICRO + j]
                        if mode == WEIGHT_GRAD:      # gw[o, c, ki, kj]
                            if splits > 1:
                                cuda.atomic.add(out, (gi * og + m, e0, e1,
                                                      e2), v)
                            else:
                                out[gi * og + m, e0, e1, e2] = v
                        elif mode == INPUT_GRAD:     # gx[n, c, ih, iw]
                            out[e0, gi * cg + m, e1, e2] = v
                        elif has_bias:               # out[n, o, oh, ow]
                            out[e0, gi * og + m, e1, e2] = v + bias[
                                gi * og + m]
                        else:
                            out[e0, gi * og + m, e1, e2] = v


# ---- depthwise --------------------------------------------------------------
@cuda.jit(cache=True)
def _dw_forward(x, wt, bias, has_bias, out, mult, sh, sw, pt, pl, dh, dw):
    """out[n, o] = sum over taps of wt[o] * x[n, o // mult], in float64."""
    _, o_, oh_, ow_ = out.shape
    h = x.shape[2]
    w = x.shape[3]
    kh = wt.shape[2]
    kw = wt.shape[3]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ow = i % ow_
        rest = i // ow_
        oh = rest % oh_
        rest = rest // oh_
        o = rest % o_
        nb = rest // o_
        c = o // mult
        total = np.float64(0.0)
        for ki in range(kh):
            ih = oh * sh - pt + ki * dh
            if ih < 0 or ih >= h:
                continue
            for kj in range(kw):
                iw = ow * sw - pl + kj * dw
                if iw >= 0 and iw < w:
                    total += wt[o, 0, ki, kj] * x[nb, c, ih, iw]
        if has_bias:
            total += bias[o]
        out[nb, o, oh, ow] = total


@cuda.jit(cache=True)
def _dw_input_grad(g, wt, gx, mult, sh, sw, pt, pl, dh, dw):
    """gx[n, c] from the ``mult`` output channels reading channel c: each
    input pixel gathers the output pixels whose taps land on it."""
    _, c_, h, w = gx.shape
    oh_ = g.shape[2]
    ow_ = g.shape[3]
    kh = wt.shape[2]
    kw = wt.shape[3]
    for i in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        iw = i % w
        rest = i // w
        ih = rest % h
        rest = rest // h
        c = rest % c_
        nb = rest // c_
        total = np.float64(0.0)
        for ki in range(kh):
            th = ih + pt - ki * dh
            oh = th // sh
            if th < 0 or oh * sh != th or oh >= oh_:
                continue
            for kj in range(kw):
                tw = iw + pl - kj * dw
                ow = tw // sw
                if tw < 0 or ow * sw != tw or ow >= ow_:
                    continue
                for m in range(mult):
                    o = c * mult + m
                    total += wt[o, 0, ki, kj] * g[nb, o, oh, ow]
        gx[nb, c, ih, iw] = total


@cuda.jit(cache=True)
def _dw_weight_grad(x, g, gw, mult, sh, sw, pt, pl, dh, dw):
    """gw[o, 0, ki, kj]: one block per tap sums g * x over the batch and
    the output plane (threads stride over it, then a tree in shared
    memory; blockDim is a power of two)."""
    partial = cuda.shared.array(REDUCE_THREADS, np.float64)
    n_, o_, oh_, ow_ = g.shape
    h = x.shape[2]
    w = x.shape[3]
    kh = gw.shape[2]
    kw = gw.shape[3]
    tid = cuda.threadIdx.x
    ohw = oh_ * ow_
    for row in range(cuda.blockIdx.x, o_ * kh * kw, cuda.gridDim.x):
        kj = row % kw
        ki = (row // kw) % kh
        o = row // (kh * kw)
        c = o // mult
        total = np.float64(0.0)
        for p in range(tid, n_ * ohw, cuda.blockDim.x):
            nb = p // ohw
            rest = p - nb * ohw
            oh = rest // ow_
            ow = rest - oh * ow_
            ih = oh * sh - pt + ki * dh
            iw = ow * sw - pl + kj * dw
            if ih >= 0 and ih < h and iw >= 0 and iw < w:
                total += g[nb, o, oh, ow] * x[nb, c, ih, iw]
        partial[tid] = total
        cuda.syncthreads()
        step = cuda.blockDim.x // 2
        while step > 0:
            if tid < step:
                partial[tid] += partial[tid + step]
            cuda.syncthreads()
            step //= 2
        if tid == 0:
            gw[o, 0, ki, kj] = partial[0]
        cuda.syncthreads()


# ---- host side --------------------------------------------------------------
def _prep(a, dt):
    """``a`` as a C-contiguous array of the compute dtype."""
    if a.dtype == dt and a.is_contiguous() and 0 not in a.strides:
        return a
    return a.astype(dt)


def _cast_back(result, like):
    return result if result.dtype == like else result.astype(like)


def _gemm(mode, a, b, out, bias, x_shape, o_, out_hw, kernel_hw, stride,
          padding, dilation, groups):
    n_, c_, h, w = x_shape
    oh_, ow_ = out_hw
    kh, kw = kernel_hw
    cg, og = c_ // groups, o_ // groups
    m_, ncols, k_ = {FORWARD: (og, n_ * oh_ * ow_, cg * kh * kw),
                     INPUT_GRAD: (cg, n_ * h * w, og * kh * kw),
                     WEIGHT_GRAD: (og, cg * kh * kw, n_ * oh_ * ow_)}[mode]
    tiles = groups * -(-m_ // TILE_M) * -(-ncols // TILE_N)
    splits = 1
    if mode == WEIGHT_GRAD:
        # Few output tiles over a long K (the batch times the plane): give
        # the idle blocks pieces of K.
        room = properties()["max_blocks"] // tiles
        splits = max(1, min(room, -(-k_ // TILE_K) // MIN_SPLIT_KTILES))
        if splits > 1:
            out.fill(0)
    has_bias = bias is not None
    if not has_bias:
        bias = a.reshape(-1)   # a 1-D array of the dtype, never read
    blocks, _ = grid_for(tiles * splits * THREADS, THREADS)
    launch(_conv_gemm, (blocks, THREADS), mode, a, b, out, bias, has_bias,
           n_, c_, h, w, o_, oh_, ow_, kh, kw, stride[0], stride[1],
           padding[0], padding[1], dilation[0], dilation[1], groups, splits)


@twin("conv2d")
def conv2d(ctx, x, w, b, *, stride, padding, dilation, groups, out_hw):
    dt = _compute_dtype(x)
    xs, ws = _prep(x, dt), _prep(w, dt)
    bs = None if b is None else _prep(b, dt)
    o_ = w.shape[0]
    out = DeviceArray.empty((x.shape[0], o_) + tuple(out_hw), dt)
    if out.size and _is_depthwise(x.shape[1], groups):
        has_bias = bs is not None
        launch(_dw_forward, grid_for(out.size), xs, ws,
               bs if has_bias else ws.reshape(-1),   # unread without bias
               has_bias, out, o_ // x.shape[1], *stride, *padding,
               *dilation)
    elif out.size:
        _gemm(FORWARD, ws, xs, out, bs, x.shape, o_, out_hw, w.shape[2:],
              stride, padding, dilation, groups)
    return _cast_back(out, x.dtype)


@twin("conv2d_input_grad")
def conv2d_input_grad(ctx, g, w, *, stride, padding, dilation, groups,
                      in_hw):
    dt = _compute_dtype(g)
    gs, ws = _prep(g, dt), _prep(w, dt)
    o_ = g.shape[1]
    c_ = w.shape[1] * groups
    gx = DeviceArray.empty((g.shape[0], c_) + tuple(in_hw), dt)
    if gx.size and _is_depthwise(c_, groups):
        launch(_dw_input_grad, grid_for(gx.size), gs, ws, gx, o_ // c_,
               *stride, *padding, *dilation)
    elif gx.size:
        _gemm(INPUT_GRAD, ws, gs, gx, None, gx.shape, o_, g.shape[2:],
              w.shape[2:], stride, padding, dilation, groups)
    return _cast_back(gx, g.dtype)


@twin("conv2d_weight_grad")
def conv2d_weight_grad(ctx, x, g, *, stride, padding, dilation, groups,
                       kernel_hw):
    dt = _compute_dtype(x)
    xs, gs = _prep(x, dt), _prep(g, dt)
    c_ = x.shape[1]
    o_ = g.shape[1]
    gw = DeviceArray.empty((o_, c_ // groups) + tuple(kernel_hw), dt)
    if gw.size and _is_depthwise(c_, groups):
        blocks = min(gw.size, properties()["max_blocks"])
        threads = block_size(g.shape[0] * g.shape[2] * g.shape[3])
        launch(_dw_weight_grad, (blocks, threads), xs, gs, gw, o_ // c_,
               *stride, *padding, *dilation)
    elif gw.size:
        _gemm(WEIGHT_GRAD, gs, xs, gw, None, x.shape, o_, g.shape[2:],
              kernel_hw, stride, padding, dilation, groups)
    return _cast_back(gw, x.dtype)
