"""2-D convolution (and conv1d / conv_transpose2d built on it).

Three op-table entries form a closed, differentiable family::

    conv2d(x, w, b)                 y  = x * w + b
    conv2d_input_grad(g, w)         gx = the adjoint of conv2d in x
                                       (== conv_transpose2d)
    conv2d_weight_grad(x, g)        gw = the adjoint of conv2d in w

Each one's backward is written with the other two (all three are bilinear,
so every derivative is another member of the family), which makes
``create_graph=True`` and second-order gradients work.

All three take the same keyword parameters, already normalised by the
Python wrappers: ``stride=(sh, sw)``, ``padding=(pt, pl)`` (top/left only),
``dilation=(dh, dw)``, ``groups``, plus the size the kernel cannot infer
from its inputs: ``out_hw`` (conv2d: it encodes the bottom/right padding,
which may be asymmetric for padding='same'), ``in_hw`` (input_grad: a
strided conv does not use every input row) or ``kernel_hw`` (weight_grad).
Kernels bounds-check every input index, so bottom/right padding never has
to be materialised and may even be negative.

Algorithms (chosen per shape; timings are single-thread CPU time on this
2-core AVX-512 machine, whose other tenants made wall clocks useless):

* general case: **im2col + BLAS**.  A Numba gather writes the receptive
  fields into a contiguous column buffer ``col[n, (c, ki, kj), (oh, ow)]``
  and NumPy's ``matmul`` (OpenBLAS sgemm/dgemm; grouped convs as a batched
  matmul over ``(n, g)``) does all the arithmetic.  The buffer covers a
  block of samples (or of output rows of one sample) of at most
  ``COL_CHUNK_BYTES``, so it is reused while still in cache and memory
  stays bounded.  For the 64->64 3x3 layer at batch 8 on 56x56 the three
  GEMMs are ~70% of the step and run at ~85-95 GFLOP/s per core (a square
  1024^3 sgemm reaches ~155): M = out channels = 64 is too small for
  OpenBLAS to amortise packing the columns.  A 1x1/stride-1/unpadded conv
  skips the gather (the input already *is* the column matrix).
* grad_input: the transposed GEMM ``w^T @ g`` into a column buffer, then a
  Numba **col2im** scatter-add (planes (n, c) never overlap, so the
  parallel driver needs no atomics).
* grad_weight: im2col recomputed (cheaper than keeping a 9x-activation-
  sized buffer alive from forward to backward) and ``g @ col^T``.
* depthwise (``groups == in_channels > 1``): **direct loops**.  Each output
  channel reads one input channel, so im2col would build a 9x-sized buffer
  for GEMMs of inner dimension ``kh*kw``: pure overhead.  At stride 1 each
  plane is copied into a zero-padded frame and every kernel tap becomes one
  long vector loop over the plane (see ``_fill_frame``): 128 channels,
  56x56, batch 8, 3x3: forward 3.4 ms, grad_input 4.7 ms, grad_weight
  3.0 ms (row-by-row loops: 25, 25, 21 ms).  Other strides loop per row.

Numba cost control: every kernel is ``@njit(cache=True)``, compiled
lazily on first call (nothing at import), and always called with C-
contiguous, writeable float32 or float64 arrays and Python ints (so at most
two signatures each; float16 computes in float32, integers in float64).
Each kernel processes one "plane" and is driven by a serial loop for small
problems (a parallel launch costs ~40 us) and a ``prange`` loop over batch
x channels for large ones (see ``_use_prange`` for why blocked im2col
loops stay serial).  Compiling everything for one dtype takes ~10 s once
per machine; loading it from the cache ~0.3 s.
"""
import threading

import numpy as np
from numba import njit, prange

from .. import dtypes
from ..backends.cpu import parallel_njit
from ..tensor import Tensor
from .registry import op

# work (elements touched) above which kernels run their prange driver
PARALLEL_MIN_WORK = 1 << 15
# column buffers up to this many bytes are kept for reuse (one per thread
# and dtype) instead of page-faulting a fresh buffer on every call
WORKSPACE_MAX_BYTES = 1 << 25
# im2col / col2im work on blocks (samples, or output rows of one sample)
# whose column buffer is at most this big
COL_CHUNK_BYTES = 1 << 23

_JIT = dict(cache=True, nogil=True, error_model="numpy",
            fastmath={"contract", "reassoc"})


# ---- Numba kernels -------------------------------------------------------
@njit(cache=True, inline="always")
def _valid_range(off, s, size, count):
    """ows with 0 <= ow*s + off < size, as [lo, hi) clipped to [0, count)."""
    lo = 0
    if off < 0:
        lo = (-off + s - 1) // s
    hi = count
    last = size - 1 - off
    if last < 0:
        hi = 0
    elif last // s + 1 < count:
        hi = last // s + 1
    if lo > hi:
        lo = hi
    return lo, hi


# Inner loops index slice views from 0 (``d[i] = s[i]``): written that
# way LLVM vectorises them (an offset index like ``src[ow + off]`` carries
# Numba's negative-index wraparound and stays scalar).
@njit(**_JIT)
def _im2col_plane(x, col, n, c, kh, kw, sh, sw, pt, pl, dh, dw, oh0, oh1,
                  ow_):
    h = x.shape[2]
    w = x.shape[3]
    for ki in range(kh):
        for kj in range(kw):
            dst = col[n, (c * kh + ki) * kw + kj]
            off = kj * dw - pl
            lo, hi = _valid_range(off, sw, w, ow_)
            for oh in range(oh0, oh1):
                ih = oh * sh - pt + ki * dh
                base = (oh - oh0) * ow_
                row = dst[base:base + ow_]
                if ih < 0 or ih >= h:
                    for i in range(ow_):
                        row[i] = 0
                    continue
                for i in range(lo):
                    row[i] = 0
                if hi > lo:
                    d = row[lo:hi]
                    if sw == 1:
                        s1 = x[n, c, ih, lo + off:hi + off]
                        for i in range(d.shape[0]):
                            d[i] = s1[i]
                    else:
                        s2 = x[n, c, ih, lo * sw + off:(hi - 1) * sw + off
                               + 1:sw]
                        for i in range(d.shape[0]):
                            d[i] = s2[i]
                for i in range(hi, ow_):
                    row[i] = 0


@njit(**_JIT)
def _col2im_plane(col, gx, n, c, kh, kw, sh, sw, pt, pl, dh, dw, oh0, oh1,
                  ow_):
    h = gx.shape[2]
    w = gx.shape[3]
    for ki in range(kh):
        for kj in range(kw):
            src = col[n, (c * kh + ki) * kw + kj]
            off = kj * dw - pl
            lo, hi = _valid_range(off, sw, w, ow_)
            if hi <= lo:
                continue
            for oh in range(oh0, oh1):
                ih = oh * sh - pt + ki * dh
                if ih < 0 or ih >= h:
                    continue
                base = (oh - oh0) * ow_
                s = src[base + lo:base + hi]
                if sw == 1:
                    d1 = gx[n, c, ih, lo + off:hi + off]
                    for i in range(s.shape[0]):
                        d1[i] += s[i]
                else:
                    d2 = gx[n, c, ih, lo * sw + off:(hi - 1) * sw + off
                            + 1:sw]
                    for i in range(s.shape[0]):
                        d2[i] += s[i]


# Depthwise kernels.  A plane is split into its sh x sw stride phases
# ph[a*sw + b][r, q] = padded_input[r*sh + a, q*sw + b], each a zero-padded
# frame of hq x wq = (OH + (KH-1)*dh // sh) x (OW + (KW-1)*dw // sw), stored
# flat.  Kernel tap (ki, kj) then reads phase ((ki*dh) % sh, (kj*dw) % sw)
# at offset ((ki*dh) // sh) * wq + (kj*dw) // sw, and the whole output
# plane (in rows of width wq; columns >= OW are discarded) is ONE long
# contiguous vector loop per tap -- instead of OH short, possibly strided
# row loops (56-element rows leave AVX-512 loops in their scalar tails).
@njit(**_JIT)
def _phase_dims(oh_, ow_, kh, kw, sh, sw, dh, dw):
    hq = oh_ + (kh - 1) * dh // sh
    wq = ow_ + (kw - 1) * dw // sw
    return hq, wq, hq * wq + (kw - 1) * dw // sw


@njit(**_JIT)
def _fill_phases(plane, ph, pt, pl, sh, sw, hq, wq):
    """ph (sh*sw, length) <- the stride phases of the zero-padded plane."""
    ph[:] = 0
    h, w = plane.shape
    for ih in range(h):
        big_r = ih + pt
        if big_r >= hq * sh:
            break
        a = big_r % sh
        r = big_r // sh
        for b in range(sw):
            iw0 = (b - pl) % sw            # first column of phase b
            q0 = (iw0 + pl) // sw
            count = min((w - iw0 + sw - 1) // sw, wq - q0)
            if count <= 0:
                continue
            d = ph[a * sw + b, r * wq + q0:r * wq + q0 + count]
            if sw == 1:
                s1 = plane[ih, iw0:iw0 + count]
                for i in range(count):
                    d[i] = s1[i]
            else:
                s2 = plane[ih, iw0:iw0 + (count - 1) * sw + 1:sw]
                for i in range(count):
                    d[i] = s2[i]


@njit(**_JIT)
def _drain_phases(ph, plane, pt, pl, sh, sw, hq, wq):
    """plane <- the padded-input positions of ph (the adjoint of
    _fill_phases); plane rows/columns outside the frame are left alone."""
    h, w = plane.shape
    for ih in range(h):
        big_r = ih + pt
        if big_r >= hq * sh:
            break
        a = big_r % sh
        r = big_r // sh
        for b in range(sw):
            iw0 = (b - pl) % sw
            q0 = (iw0 + pl) // sw
            count = min((w - iw0 + sw - 1) // sw, wq - q0)
            if count <= 0:
                continue
            s = ph[a * sw + b, r * wq + q0:r * wq + q0 + count]
            if sw == 1:
                d1 = plane[ih, iw0:iw0 + count]
                for i in range(count):
                    d1[i] = s[i]
            else:
                d2 = plane[ih, iw0:iw0 + (count - 1) * sw + 1:sw]
                for i in range(count):
                    d2[i] = s[i]


@njit(**_JIT)
def _widen(plane, buf, wq):
    """buf[r * wq + q] = plane[r, q], zero for q >= plane width."""
    w = plane.shape[1]
    for r in range(plane.shape[0]):
        d = buf[r * wq:(r + 1) * wq]
        s = plane[r]
        for i in range(w):
            d[i] = s[i]
        for i in range(w, wq):
            d[i] = 0


@njit(**_JIT)
def _dw_forward_plane(x, wt, out, n, o, mult, sh, sw, pt, pl, dh, dw):
    """out[n, o] for a depthwise conv (input channel o // mult)."""
    kh = wt.shape[2]
    kw = wt.shape[3]
    oh_ = out.shape[2]
    ow_ = out.shape[3]
    hq, wq, length = _phase_dims(oh_, ow_, kh, kw, sh, sw, dh, dw)
    ph = np.empty((sh * sw, length), x.dtype)
    _fill_phases(x[n, o // mult], ph, pt, pl, sh, sw, hq, wq)
    size = oh_ * wq
    acc = np.zeros(size, x.dtype)
    for ki in range(kh):
        for kj in range(kw):
            wv = wt[o, 0, ki, kj]
            start = (ki * dh // sh) * wq + kj * dw // sw
            s = ph[(ki * dh % sh) * sw + kj * dw % sw, start:start + size]
            for i in range(size):
                acc[i] += wv * s[i]
    for r in range(oh_):
        d = out[n, o, r]
        a = acc[r * wq:r * wq + ow_]
        for i in range(ow_):
            d[i] = a[i]


@njit(**_JIT)
def _dw_input_grad_plane(g, wt, gx, n, c, mult, sh, sw, pt, pl, dh, dw):
    """gx[n, c] (zero on entry) from the mult output channels reading c."""
    kh = wt.shape[2]
    kw = wt.shape[3]
    oh_ = g.shape[2]
    ow_ = g.shape[3]
    hq, wq, length = _phase_dims(oh_, ow_, kh, kw, sh, sw, dh, dw)
    ph = np.zeros((sh * sw, length), g.dtype)
    size = oh_ * wq
    wide = np.empty(size, g.dtype)
    for m in range(mult):
        o = c * mult + m
        _widen(g[n, o], wide, wq)
        for ki in range(kh):
            for kj in range(kw):
                wv = wt[o, 0, ki, kj]
                start = (ki * dh // sh) * wq + kj * dw // sw
                d = ph[(ki * dh % sh) * sw + kj * dw % sw,
                       start:start + size]
                for i in range(size):
                    d[i] += wv * wide[i]
    _drain_phases(ph, gx[n, c], pt, pl, sh, sw, hq, wq)


@njit(**_JIT)
def _dw_weight_grad_plane(x, g, gw, o, mult, sh, sw, pt, pl, dh, dw):
    """gw[o, 0] of a depthwise conv: sums over the batch and output plane
    (each plane's dot product in the array dtype, the total in float64)."""
    kh = gw.shape[2]
    kw = gw.shape[3]
    oh_ = g.shape[2]
    ow_ = g.shape[3]
    hq, wq, length = _phase_dims(oh_, ow_, kh, kw, sh, sw, dh, dw)
    ph = np.empty((sh * sw, length), x.dtype)
    size = oh_ * wq
    wide = np.empty(size, x.dtype)
    totals = np.zeros(kh * kw)
    zero = np.zeros(1, x.dtype)[0]
    for n in range(x.shape[0]):
        _fill_phases(x[n, o // mult], ph, pt, pl, sh, sw, hq, wq)
        _widen(g[n, o], wide, wq)
        for ki in range(kh):
            for kj in range(kw):
                start = (ki * dh // sh) * wq + kj * dw // sw
                s = ph[(ki * dh % sh) * sw + kj * dw % sw,
                       start:start + size]
                acc = zero
                for i in range(size):
                    acc += wide[i] * s[i]
                totals[ki * kw + kj] += acc
    for ki in range(kh):
        for kj in range(kw):
            gw[o, 0, ki, kj] = totals[ki * kw + kj]


# Drivers: a serial and a prange loop over independent planes.
@njit(cache=True, nogil=True)
def _im2col_serial(x, col, kh, kw, sh, sw, pt, pl, dh, dw, oh0, oh1,
                   ow_):
    channels = x.shape[1]
    for p in range(x.shape[0] * channels):
        _im2col_plane(x, col, p // channels, p % channels, kh, kw, sh, sw,
                      pt, pl, dh, dw, oh0, oh1, ow_)


@parallel_njit(cache=True, nogil=True)
def _im2col_parallel(x, col, kh, kw, sh, sw, pt, pl, dh, dw, oh0, oh1,
                   ow_):
    channels = x.shape[1]
    for p in prange(x.shape[0] * channels):
        _im2col_plane(x, col, p // channels, p % channels, kh, kw, sh, sw,
                      pt, pl, dh, dw, oh0, oh1, ow_)


@njit(cache=True, nogil=True)
def _col2im_serial(col, gx, kh, kw, sh, sw, pt, pl, dh, dw, oh0, oh1,
                   ow_):
    channels = gx.shape[1]
    for p in range(gx.shape[0] * channels):
        _col2im_plane(col, gx, p // channels, p % channels, kh, kw, sh, sw,
                      pt, pl, dh, dw, oh0, oh1, ow_)


@parallel_njit(cache=True, nogil=True)
def _col2im_parallel(col, gx, kh, kw, sh, sw, pt, pl, dh, dw, oh0, oh1,
                   ow_):
    channels = gx.shape[1]
    for p in prange(gx.shape[0] * channels):
        _col2im_plane(col, gx, p // channels, p % channels, kh, kw, sh, sw,
                      pt, pl, dh, dw, oh0, oh1, ow_)


@njit(cache=True, nogil=True)
def _dw_forward_serial(x, wt, out, mult, sh, sw, pt, pl, dh, dw):
    channels = out.shape[1]
    for p in range(out.shape[0] * channels):
        _dw_forward_plane(x, wt, out, p // channels, p % channels, mult,
                          sh, sw, pt, pl, dh, dw)


@parallel_njit(cache=True, nogil=True)
def _dw_forward_parallel(x, wt, out, mult, sh, sw, pt, pl, dh, dw):
    channels = out.shape[1]
    for p in prange(out.shape[0] * channels):
        _dw_forward_plane(x, wt, out, p // channels, p % channels, mult,
                          sh, sw, pt, pl, dh, dw)


@njit(cache=True, nogil=True)
def _dw_input_grad_serial(g, wt, gx, mult, sh, sw, pt, pl, dh, dw):
    channels = gx.shape[1]
    for p in range(gx.shape[0] * channels):
        _dw_input_grad_plane(g, wt, gx, p // channels, p % channels, mult,
                             sh, sw, pt, pl, dh, dw)


@parallel_njit(cache=True, nogil=True)
def _dw_input_grad_parallel(g, wt, gx, mult, sh, sw, pt, pl, dh, dw):
    channels = gx.shape[1]
    for p in prange(gx.shape[0] * channels):
        _dw_input_grad_plane(g, wt, gx, p // channels, p % channels, mult,
                             sh, sw, pt, pl, dh, dw)


@njit(cache=True, nogil=True)
def _dw_weight_grad_serial(x, g, gw, mult, sh, sw, pt, pl, dh, dw):
    for o in range(gw.shape[0]):
        _dw_weight_grad_plane(x, g, gw, o, mult, sh, sw, pt, pl, dh, dw)


@parallel_njit(cache=True, nogil=True)
def _dw_weight_grad_parallel(x, g, gw, mult, sh, sw, pt, pl, dh, dw):
    for o in prange(gw.shape[0]):
        _dw_weight_grad_plane(x, g, gw, o, mult, sh, sw, pt, pl, dh, dw)


# ---- array-level convolution ---------------------------------------------
class _Workspace(threading.local):
    def __init__(self):
        self.buffers = {}


_workspace = _Workspace()


def _scratch(shape, dtype):
    """An uninitialised scratch array, reused between calls on a thread."""
    size = int(np.prod(shape, dtype=np.int64))
    dtype = np.dtype(dtype)
    if size * dtype.itemsize > WORKSPACE_MAX_BYTES:
        return np.empty(shape, dtype)
    buffers = _workspace.buffers
    buf = buffers.get(dtype)
    if buf is None or buf.size < size:
        buf = buffers[dtype] = np.empty(size, dtype)
    return buf[:size].reshape(shape)


def _compute_dtype(*arrays):
    """float32 or float64: the kernels' only two signatures.  float16
    computes in float32, integers in float64 (cast back afterwards)."""
    dt = arrays[0].dtype
    if dt == np.float64 or dt.kind in "iub":
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def _prep(a, dt):
    a = np.ascontiguousarray(a, dtype=dt)
    if not a.flags.writeable:  # read-only arrays are another Numba type
        a = a.copy()
    return a


def _cast_back(result, like):
    if result.dtype == like:
        return result
    if like.kind in "iub":
        result = np.rint(result)
    return dtypes.cast_array(result, like)


def _is_depthwise(channels, groups):
    return groups == channels and channels > 1


def _identity_cols(kh, kw, stride, padding, dilation):
    """1x1, stride 1, no padding: the input is already the column matrix."""
    return (kh == 1 and kw == 1 and stride == (1, 1) and padding == (0, 0))


def _chunks(n, oh, row_bytes):
    """(n0, n1, oh0, oh1) blocks whose column buffer stays under
    COL_CHUNK_BYTES: several whole samples, or rows of one sample.  The
    buffer is then reused while still in cache and scratch memory stays
    bounded (single-thread CPU time of the 64->64 3x3 benchmark step: 91 ms
    per-sample vs 107 ms in one batch-sized buffer)."""
    sample = max(1, row_bytes * oh)
    if sample <= COL_CHUNK_BYTES or oh <= 1:
        step = max(1, COL_CHUNK_BYTES // sample)
        for n0 in range(0, n, step):
            yield n0, min(n, n0 + step), 0, oh
        return
    rows = max(1, COL_CHUNK_BYTES // max(1, row_bytes))
    for n0 in range(n):
        for oh0 in range(0, oh, rows):
            yield n0, n0 + 1, oh0, min(oh, oh0 + rows)


def _view(a, shape):
    """A reshape that must not copy (it is a matmul ``out=``)."""
    v = a.view()
    v.shape = shape
    return v


def _use_prange(work, planes, blocks):
    """The prange driver only for big work in a single block: numba's
    OpenMP workers spin-wait after a parallel region and OpenBLAS's
    threads after a BLAS call, so alternating the two once per block
    makes each slow the other (measured: a 64->64 3x3 step at batch 8 took
    2.4x longer with per-block prange gathers than with serial ones on
    this loaded 2-core machine).  Blocked loops gather serially; BLAS
    keeps both cores."""
    return work >= PARALLEL_MIN_WORK and planes > 1 and blocks == 1


def _im2col(x, kh, kw, stride, padding, dilation, rows, ow, blocks=1):
    """Columns (N, C*KH*KW, (oh1 - oh0) * OW) for output rows [oh0, oh1)."""
    n, c = x.shape[:2]
    oh0, oh1 = rows
    if _identity_cols(kh, kw, stride, padding, dilation) and \
            x.shape[3] == ow:
        return x[:, :, oh0:oh1].reshape(n, c, (oh1 - oh0) * ow)
    col = _scratch((n, c * kh * kw, (oh1 - oh0) * ow), x.dtype)
    fn = _im2col_parallel if _use_prange(col.size, n * c, blocks) \
        else _im2col_serial
    fn(x, col, kh, kw, stride[0], stride[1], padding[0], padding[1],
       dilation[0], dilation[1], oh0, oh1, ow)
    return col


def _conv_forward(x, w, stride, padding, dilation, groups, out_hw):
    """x (N, C, H, W), w (O, C/G, KH, KW), same float dtype, C-contiguous."""
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    oh, ow = out_hw
    out = np.empty((n, o, oh, ow), x.dtype)
    if _is_depthwise(c, groups):
        fn = _dw_forward_parallel if out.size * kh * kw >= \
            PARALLEL_MIN_WORK and n * o > 1 else _dw_forward_serial
        fn(x, w, out, o // c, stride[0], stride[1], padding[0], padding[1],
           dilation[0], dilation[1])
        return out
    g = groups
    k = cg * kh * kw
    wr = w.reshape(g, o // g, k)
    blocks = list(_chunks(n, oh, c * kh * kw * ow * x.itemsize))
    for n0, n1, oh0, oh1 in blocks:
        size = (oh1 - oh0) * ow
        col = _im2col(x[n0:n1], kh, kw, stride, padding, dilation,
                      (oh0, oh1), ow, len(blocks))
        np.matmul(wr, col.reshape(n1 - n0, g, k, size),
                  out=_view(out[n0:n1, :, oh0:oh1],
                            (n1 - n0, g, o // g, size)))
    return out


def _conv_input_grad(gy, w, stride, padding, dilation, groups, in_hw):
    """The adjoint of _conv_forward in x: gy (N, O, OH, OW) -> (N, C, H, W)."""
    n, o, oh, ow = gy.shape
    _, cg, kh, kw = w.shape
    g = groups
    c = cg * g
    h, wd = in_hw
    if _is_depthwise(c, groups):
        gx = np.zeros((n, c, h, wd), gy.dtype)
        fn = _dw_input_grad_parallel if gy.size * kh * kw >= \
            PARALLEL_MIN_WORK and n * c > 1 else _dw_input_grad_serial
        fn(gy, w, gx, o // c, stride[0], stride[1], padding[0], padding[1],
           dilation[0], dilation[1])
        return gx
    k = cg * kh * kw
    wt = w.reshape(g, o // g, k).transpose(0, 2, 1)
    if _identity_cols(kh, kw, stride, padding, dilation) and \
            (h, wd) == (oh, ow):
        gx = np.empty((n, c, h, wd), gy.dtype)
        np.matmul(wt, gy.reshape(n, g, o // g, oh * ow),
                  out=gx.reshape(n, g, cg, h * wd))
        return gx
    gx = np.zeros((n, c, h, wd), gy.dtype)
    blocks = list(_chunks(n, oh, g * k * ow * gy.itemsize))
    for n0, n1, oh0, oh1 in blocks:
        size = (oh1 - oh0) * ow
        col = _scratch((n1 - n0, g, k, size), gy.dtype)
        np.matmul(wt, gy[n0:n1, :, oh0:oh1].reshape(n1 - n0, g, o // g,
                                                     size), out=col)
        fn = _col2im_parallel if _use_prange(
            col.size, (n1 - n0) * c, len(blocks)) else _col2im_serial
        fn(col.reshape(n1 - n0, g * k, size), gx[n0:n1], kh, kw, stride[0],
           stride[1], padding[0], padding[1], dilation[0], dilation[1], oh0,
           oh1, ow)
    return gx


def _conv_weight_grad(x, gy, stride, padding, dilation, groups, kernel_hw):
    """The adjoint of _conv_forward in w: -> (O, C/G, KH, KW)."""
    n, c = x.shape[:2]
    _, o, oh, ow = gy.shape
    kh, kw = kernel_hw
    g = groups
    cg = c // g
    if _is_depthwise(c, groups):
        gw = np.empty((o, 1, kh, kw), x.dtype)
        fn = _dw_weight_grad_parallel if gy.size * kh * kw >= \
            PARALLEL_MIN_WORK and o > 1 else _dw_weight_grad_serial
        fn(x, gy, gw, o // c, stride[0], stride[1], padding[0], padding[1],
           dilation[0], dilation[1])
        return gw
    k = cg * kh * kw
    gw = np.zeros((g, o // g, k), x.dtype)
    blocks = list(_chunks(n, oh, c * kh * kw * ow * x.itemsize))
    for n0, n1, oh0, oh1 in blocks:
        size = (oh1 - oh0) * ow
        col = _im2col(x[n0:n1], kh, kw, stride, padding, dilation,
                      (oh0, oh1), ow, len(blocks))
        col = col.reshape(n1 - n0, g, k, size)
        gyr = gy[n0:n1, :, oh0:oh1].reshape(n1 - n0, g, o // g, size)
        # one GEMM per (n, g) with inner dimension rows*OW, then a cheap
        # sum of the small (O/G, C/G*KH*KW) products
        prod = np.matmul(gyr, col.transpose(0, 1, 3, 2))
        gw += prod[0] if n1 - n0 == 1 else prod.sum(axis=0)
    return gw.reshape(o, cg, kh, kw)


# ---- op-table entries ------------------------------------------------------
def _run(kernel, arrays, like, *args):
    dt = _compute_dtype(*arrays)
    result = kernel(*[_prep(a, dt) for a in arrays], *args)
    return _cast_back(result, like)


@op("conv2d", save=("x", "w"), node_name="ConvolutionBackward0")
def _conv2d(ctx, x, w, b, *, stride, padding, dilation, groups, out_hw):
    out = _run(_conv_forward, (x, w), x.dtype, stride, padding, dilation,
               groups, out_hw)
    if b is not None:
        out += b.astype(out.dtype, copy=False).reshape(1, -1, 1, 1)
    return out


@_conv2d.backward
def _(ctx, grad):
    p = ctx.params
    needs = ctx.needs_input_grad
    common = dict(stride=p["stride"], padding=p["padding"],
                  dilation=p["dilation"], groups=p["groups"])
    gx = gw = gb = None
    if needs[0]:
        w = ctx.w
        gx = _conv2d_input_grad(grad, w, in_hw=tuple(ctx.x.shape[2:]),
                                **common)
    if needs[1]:
        x = ctx.x
        gw = _conv2d_weight_grad(x, grad, kernel_hw=tuple(ctx.w.shape[2:]),
                                 **common)
    if len(needs) > 2 and needs[2]:
        gb = grad.sum(dim=(0, 2, 3))
    return gx, gw, gb


@op("conv2d_input_grad", save=("g", "w"),
    node_name="ConvolutionBackwardBackward0")
def _conv2d_input_grad(ctx, g, w, *, stride, padding, dilation, groups,
                       in_hw):
    return _run(_conv_input_grad, (g, w), g.dtype, stride, padding,
                dilation, groups, in_hw)


@_conv2d_input_grad.backward
def _(ctx, gg):
    # <input_grad(g, w), gg> == <conv2d(gg, w), g>
    p = ctx.params
    needs = ctx.needs_input_grad
    common = dict(stride=p["stride"], padding=p["padding"],
                  dilation=p["dilation"], groups=p["groups"])
    g = ctx.g
    w = ctx.w
    d_g = d_w = None
    if needs[0]:
        d_g = _conv2d(gg, w, None, out_hw=tuple(g.shape[2:]), **common)
    if needs[1]:
        d_w = _conv2d_weight_grad(gg, g, kernel_hw=tuple(w.shape[2:]),
                                  **common)
    return d_g, d_w


@op("conv2d_weight_grad", save=("x", "g"),
    node_name="ConvolutionBackwardBackward1")
def _conv2d_weight_grad(ctx, x, g, *, stride, padding, dilation, groups,
                        kernel_hw):
    return _run(_conv_weight_grad, (x, g), x.dtype, stride, padding,
                dilation, groups, kernel_hw)


@_conv2d_weight_grad.backward
def _(ctx, ggw):
    # <weight_grad(x, g), ggw> == <conv2d(x, ggw), g>
    p = ctx.params
    needs = ctx.needs_input_grad
    common = dict(stride=p["stride"], padding=p["padding"],
                  dilation=p["dilation"], groups=p["groups"])
    x = ctx.x
    g = ctx.g
    d_x = d_g = None
    if needs[0]:
        d_x = _conv2d_input_grad(g, ggw, in_hw=tuple(x.shape[2:]), **common)
    if needs[1]:
        d_g = _conv2d(x, ggw, None, out_hw=tuple(g.shape[2:]), **common)
    return d_x, d_g


# ---- argument checking (PyTorch's messages) -------------------------------
_TORCH_TYPE_NAMES = {"float32": "float", "float64": "double",
                     "float16": "c10::Half", "int64": "long", "int32": "int",
                     "int16": "short", "int8": "signed char",
                     "uint8": "unsigned char", "bool": "bool"}
_SCALAR_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half",
                 "int64": "Long", "int32": "Int", "int16": "Short",
                 "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _sizes(shape):
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _expand(value, name, k):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int or a tuple of ints, "
                        f"not {type(value).__name__}")
    if isinstance(value, (int, np.integer)):
        return (int(value),) * k
    if isinstance(value, (tuple, list)):
        values = tuple(value)
        if not all(isinstance(v, (int, np.integer))
                   and not isinstance(v, (bool, np.bool_)) for v in values):
            raise TypeError(f"{name} must be an int or a tuple of ints, "
                            f"got {value!r}")
        values = tuple(int(v) for v in values)
        if len(values) == 1:
            return values * k
        if len(values) == k:
            return values
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of "
            f"{k} values to match the convolution dimensions, but got "
            f"{name}={list(values)}")
    raise TypeError(f"{name} must be an int or a tuple of ints, not "
                    f"{type(value).__name__}")


def _check_types(input, weight, bias, fname):
    for name, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{fname}(): argument '{name}' must be Tensor, "
                            f"not {type(t).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{fname}(): argument 'bias' must be Tensor, not "
                        f"{type(bias).__name__}")
    if input.dtype is not weight.dtype:
        raise RuntimeError(
            f"expected scalar type {_SCALAR_NAMES[input.dtype.name]} but "
            f"found {_SCALAR_NAMES[weight.dtype.name]}")
    if bias is not None and bias.dtype is not input.dtype:
        raise RuntimeError(
            f"Input type ({_TORCH_TYPE_NAMES[input.dtype.name]}) and bias "
            f"type ({_TORCH_TYPE_NAMES[bias.dtype.name]}) should be the "
            "same")
    if input.dtype is dtypes.bool_:
        raise NotImplementedError(
            '"slow_conv2d_cpu" not implemented for \'Bool\'')


def _check_params(stride, padding, dilation, groups):
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool):
        raise TypeError(f"groups must be an int, not {type(groups).__name__}")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(
            f"dilation should be greater than zero, but got "
            f"{list(dilation)}")


def _same_padding(kernel, dilation, stride):
    if any(s != 1 for s in stride):
        raise RuntimeError(
            "padding='same' is not supported for strided convolutions")
    pads = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        left = total // 2
        pads.append((left, total - left))
    return pads


def _padding_arg(padding, k, kernel, dilation, stride):
    """-> [(before, after)] per spatial dim."""
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * k
        if padding == "same":
            return _same_padding(kernel, dilation, stride)
        raise RuntimeError(f"Invalid padding string: '{padding}'")
    values = _expand(padding, "padding", k)
    if any(p < 0 for p in values):
        raise RuntimeError("negative padding is not supported")
    return [(p, p) for p in values]


def _check_forward_shapes(fname, input, weight, bias, k, pads, dilation,
                          groups, transposed=False):
    """PyTorch's check_shape_forward, for k spatial dims."""
    if input.dim() not in (k + 1, k + 2):
        raise RuntimeError(
            f"Expected {k + 1}D (unbatched) or {k + 2}D (batched) input to "
            f"{fname}, but got input of size: {_sizes(input.shape)}")
    in_shape = tuple(input.shape)
    if input.dim() == k + 1:
        in_shape = (1,) + in_shape
    w_shape = tuple(weight.shape)
    if weight.dim() != k + 2:
        raise RuntimeError(
            f"Expected {weight.dim()}-dimensional input for "
            f"{weight.dim()}-dimensional weight {_sizes(w_shape)}, but got "
            f"{input.dim()}-dimensional input of size "
            f"{_sizes(input.shape)} instead ({fname} takes a "
            f"{k + 2}-dimensional weight)")
    if w_shape[0] < groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be at least {groups} "
            f"at dimension 0, but got weight of size {_sizes(w_shape)} "
            "instead")
    if w_shape[0] % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by "
            f"{groups} at dimension 0, but got weight of size "
            f"[{_sizes(w_shape)}] instead")
    if not transposed:
        if in_shape[1] != w_shape[1] * groups:
            raise RuntimeError(
                f"Given groups={groups}, weight of size {_sizes(w_shape)}, "
                f"expected input{_sizes(in_shape)} to have "
                f"{w_shape[1] * groups} channels, but got {in_shape[1]} "
                "channels instead")
        out_channels = w_shape[0]
    else:
        if in_shape[1] != w_shape[0]:
            raise RuntimeError(
                f"Given transposed=1, weight of size {_sizes(w_shape)}, "
                f"expected input{_sizes(in_shape)} to have {w_shape[0]} "
                f"channels, but got {in_shape[1]} channels instead")
        out_channels = w_shape[1] * groups
    if bias is not None and (bias.dim() != 1
                             or bias.shape[0] != out_channels):
        raise RuntimeError(
            f"Given {'transposed=1, ' if transposed else ''}weight of size "
            f"{_sizes(w_shape)}, expected bias to be 1-dimensional with "
            f"{out_channels} elements, but got bias of size "
            f"{_sizes(bias.shape)} instead")
    if transposed:
        return in_shape
    padded = [s + a + b for s, (a, b) in zip(in_shape[2:], pads)]
    kernel = [d * (kk - 1) + 1 for kk, d in zip(w_shape[2:], dilation)]
    if any(ks > ps for ks, ps in zip(kernel, padded)):
        raise RuntimeError(
            "Calculated padded input size per channel: ("
            + " x ".join(str(p) for p in padded) + "). Kernel size: ("
            + " x ".join(str(kk) for kk in kernel) + "). Kernel size can't "
            "be greater than actual input size")
    return in_shape


# ---- public API -------------------------------------------------------------
def _conv_nd(fname, k, input, weight, bias, stride, padding, dilation,
             groups):
    """Checks for a k-d conv (k = 1 or 2); returns the normalised args."""
    _check_types(input, weight, bias, fname)
    stride = _expand(stride, "stride", k)
    dilation = _expand(dilation, "dilation", k)
    numeric_padding = (0,) if isinstance(padding, str) else \
        _expand(padding, "padding", k)
    kernel = tuple(weight.shape[2:]) if weight.dim() == k + 2 else (1,) * k
    _check_params(stride, numeric_padding, dilation, groups)
    pads = _padding_arg(padding, k, kernel, dilation, stride)
    in_shape = _check_forward_shapes(fname, input, weight, bias, k, pads,
                                     dilation, groups)
    out_sizes = tuple(
        (s + a + b - d * (kk - 1) - 1) // st + 1
        for s, (a, b), d, kk, st in zip(in_shape[2:], pads, dilation,
                                        kernel, stride))
    return stride, pads, dilation, out_sizes


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1,
           groups=1):
    """PyTorch's ``F.conv2d``: input (N, C, H, W) or (C, H, W), weight
    (O, C/groups, KH, KW), optional bias (O,)."""
    stride, pads, dilation, out_hw = _conv_nd(
        "conv2d", 2, input, weight, bias, stride, padding, dilation, groups)
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input
    out = _conv2d(x, weight, bias, stride=stride,
                  padding=(pads[0][0], pads[1][0]), dilation=dilation,
                  groups=int(groups), out_hw=out_hw)
    return out.squeeze(0) if unbatched else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1,
           groups=1):
    """PyTorch's ``F.conv1d``, as a conv2d over a height-1 image."""
    stride, pads, dilation, out_l = _conv_nd(
        "conv1d", 1, input, weight, bias, stride, padding, dilation, groups)
    unbatched = input.dim() == 2
    x = input.unsqueeze(0) if unbatched else input
    out = _conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias,
                  stride=(1, stride[0]), padding=(0, pads[0][0]),
                  dilation=(1, dilation[0]), groups=int(groups),
                  out_hw=(1, out_l[0]))
    out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0,
                     output_padding=0, groups=1, dilation=1):
    """PyTorch's ``F.conv_transpose2d``: weight (C_in, C_out/groups, KH,
    KW); the adjoint of conv2d in its input, plus bias."""
    fname = "conv_transpose2d"
    _check_types(input, weight, bias, fname)
    if isinstance(padding, str):
        raise TypeError(
            "conv_transpose2d(): argument 'padding' must be tuple of ints, "
            "not str")
    stride = _expand(stride, "stride", 2)
    padding = _expand(padding, "padding", 2)
    output_padding = _expand(output_padding, "output_padding", 2)
    dilation = _expand(dilation, "dilation", 2)
    _check_params(stride, padding, dilation, groups)
    if any(p < 0 for p in output_padding):
        raise RuntimeError("negative output_padding is not supported")
    if any(op_ >= s and op_ >= d for op_, s, d in
           zip(output_padding, stride, dilation)):
        raise RuntimeError(
            "output padding must be smaller than either stride or dilation,"
            f" but got output_padding_height: {output_padding[0]} "
            f"output_padding_width: {output_padding[1]} stride_height: "
            f"{stride[0]} stride_width: {stride[1]} dilation_height: "
            f"{dilation[0]} dilation_width: {dilation[1]}")
    in_shape = _check_forward_shapes(fname, input, weight, bias, 2, None,
                                     dilation, groups, transposed=True)
    kernel = tuple(weight.shape[2:])
    out_hw = tuple(
        (s - 1) * st - 2 * p + d * (kk - 1) + op_ + 1
        for s, st, p, d, kk, op_ in zip(in_shape[2:], stride, padding,
                                        dilation, kernel, output_padding))
    if any(s <= 0 for s in out_hw):
        raise RuntimeError(
            f"Given input size per channel: ({in_shape[2]} x {in_shape[3]})"
            f". Calculated output size per channel: ({out_hw[0]} x "
            f"{out_hw[1]}). Output size is too small")
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input
    out = _conv2d_input_grad(x, weight, stride=stride, padding=padding,
                             dilation=dilation, groups=int(groups),
                             in_hw=out_hw)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out.squeeze(0) if unbatched else out
