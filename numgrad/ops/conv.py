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

Algorithms (chosen per shape in ``_plan``):

* general case: **im2col + BLAS**.  A Numba gather writes the receptive
  fields into a contiguous column buffer ``col[n, (c, ki, kj), (oh, ow)]``
  and NumPy's ``matmul`` (OpenBLAS sgemm/dgemm, grouped convs as a batched
  matmul over ``(n, g)``) does the arithmetic.  Nearly all FLOPs run at
  BLAS speed; the gather is a memory pass, ~10% of the time for typical
  3x3 layers.  A 1x1/stride-1/unpadded conv skips the gather (the input
  already *is* the column matrix).
* grad_input: the transposed GEMM ``w^T @ g`` into a column buffer, then a
  Numba **col2im** scatter-add (parallel over (n, c) planes, which never
  overlap, so it needs no atomics).
* grad_weight: im2col recomputed (cheaper than keeping a 9x-activation-
  sized buffer alive between forward and backward) and ``g @ col^T``.
* depthwise (``groups == in_channels > 1``): **direct loops**.  Each
  output channel reads one input channel, so im2col would build a 9x-sized
  buffer for GEMMs of inner dimension ``kh*kw`` (~9): pure overhead.  The
  direct loops touch each input row once per kernel tap and vectorise
  along the output row.

Numba cost control: every kernel is ``@njit(cache=True)``, compiled
lazily on first call (nothing at import), and always called with C-
contiguous float32 or float64 arrays and Python ints (so at most two
signatures each).  Each kernel processes one "plane" and is driven by a
serial loop for small problems (a parallel launch costs ~40 us) and a
``prange`` loop over batch x channels for large ones.
"""
import threading

import numpy as np
from numba import njit, prange

from .. import dtypes
from ..tensor import Tensor
from .registry import op

# work (elements touched) above which kernels run their prange driver
PARALLEL_MIN_WORK = 1 << 15
# column buffers up to this many bytes are kept for reuse (per thread and
# dtype): re-faulting a fresh 50 MB buffer's pages costs several ms a call
WORKSPACE_MAX_BYTES = 1 << 28

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


@njit(**_JIT)
def _im2col_plane(x, col, n, c, kh, kw, sh, sw, pt, pl, dh, dw, oh_, ow_):
    h = x.shape[2]
    w = x.shape[3]
    for ki in range(kh):
        for kj in range(kw):
            dst = col[n, (c * kh + ki) * kw + kj]
            off = kj * dw - pl
            lo, hi = _valid_range(off, sw, w, ow_)
            for oh in range(oh_):
                ih = oh * sh - pt + ki * dh
                base = oh * ow_
                if ih < 0 or ih >= h:
                    for ow in range(ow_):
                        dst[base + ow] = 0
                    continue
                src = x[n, c, ih]
                for ow in range(lo):
                    dst[base + ow] = 0
                if sw == 1:
                    for ow in range(lo, hi):
                        dst[base + ow] = src[ow + off]
                else:
                    for ow in range(lo, hi):
                        dst[base + ow] = src[ow * sw + off]
                for ow in range(hi, ow_):
                    dst[base + ow] = 0


@njit(**_JIT)
def _col2im_plane(col, gx, n, c, kh, kw, sh, sw, pt, pl, dh, dw, oh_, ow_):
    h = gx.shape[2]
    w = gx.shape[3]
    for ki in range(kh):
        for kj in range(kw):
            src = col[n, (c * kh + ki) * kw + kj]
            off = kj * dw - pl
            lo, hi = _valid_range(off, sw, w, ow_)
            for oh in range(oh_):
                ih = oh * sh - pt + ki * dh
                if ih < 0 or ih >= h:
                    continue
                dst = gx[n, c, ih]
                base = oh * ow_
                if sw == 1:
                    for ow in range(lo, hi):
                        dst[ow + off] += src[base + ow]
                else:
                    for ow in range(lo, hi):
                        dst[ow * sw + off] += src[base + ow]


@njit(**_JIT)
def _dw_forward_plane(x, wt, out, n, o, mult, sh, sw, pt, pl, dh, dw):
    """out[n, o] for a depthwise conv (input channel o // mult)."""
    c = o // mult
    h = x.shape[2]
    w = x.shape[3]
    kh = wt.shape[2]
    kw = wt.shape[3]
    oh_ = out.shape[2]
    ow_ = out.shape[3]
    for oh in range(oh_):
        dst = out[n, o, oh]
        for ow in range(ow_):
            dst[ow] = 0
        for ki in range(kh):
            ih = oh * sh - pt + ki * dh
            if ih < 0 or ih >= h:
                continue
            src = x[n, c, ih]
            for kj in range(kw):
                wv = wt[o, 0, ki, kj]
                off = kj * dw - pl
                lo, hi = _valid_range(off, sw, w, ow_)
                if sw == 1:
                    for ow in range(lo, hi):
                        dst[ow] += wv * src[ow + off]
                else:
                    for ow in range(lo, hi):
                        dst[ow] += wv * src[ow * sw + off]


@njit(**_JIT)
def _dw_input_grad_plane(g, wt, gx, n, c, mult, sh, sw, pt, pl, dh, dw):
    """gx[n, c] (zero on entry) from the mult output channels reading c."""
    h = gx.shape[2]
    w = gx.shape[3]
    kh = wt.shape[2]
    kw = wt.shape[3]
    oh_ = g.shape[2]
    ow_ = g.shape[3]
    for m in range(mult):
        o = c * mult + m
        for oh in range(oh_):
            src = g[n, o, oh]
            for ki in range(kh):
                ih = oh * sh - pt + ki * dh
                if ih < 0 or ih >= h:
                    continue
                dst = gx[n, c, ih]
                for kj in range(kw):
                    wv = wt[o, 0, ki, kj]
                    off = kj * dw - pl
                    lo, hi = _valid_range(off, sw, w, ow_)
                    if sw == 1:
                        for ow in range(lo, hi):
                            dst[ow + off] += wv * src[ow]
                    else:
                        for ow in range(lo, hi):
                            dst[ow * sw + off] += wv * src[ow]


@njit(**_JIT)
def _dw_weight_grad_plane(x, g, gw, o, mult, sh, sw, pt, pl, dh, dw):
    """gw[o, 0] of a depthwise conv: sums over the batch and output plane."""
    c = o // mult
    h = x.shape[2]
    w = x.shape[3]
    kh = gw.shape[2]
    kw = gw.shape[3]
    oh_ = g.shape[2]
    ow_ = g.shape[3]
    for ki in range(kh):
        for kj in range(kw):
            off = kj * dw - pl
            lo, hi = _valid_range(off, sw, w, ow_)
            acc = 0.0
            for n in range(x.shape[0]):
                for oh in range(oh_):
                    ih = oh * sh - pt + ki * dh
                    if ih < 0 or ih >= h:
                        continue
                    src = x[n, c, ih]
                    gr = g[n, o, oh]
                    if sw == 1:
                        for ow in range(lo, hi):
                            acc += gr[ow] * src[ow + off]
                    else:
                        for ow in range(lo, hi):
                            acc += gr[ow] * src[ow * sw + off]
            gw[o, 0, ki, kj] = acc


# Drivers: a serial and a prange loop over independent planes.
@njit(cache=True, nogil=True)
def _im2col_serial(x, col, kh, kw, sh, sw, pt, pl, dh, dw, oh_, ow_):
    channels = x.shape[1]
    for p in range(x.shape[0] * channels):
        _im2col_plane(x, col, p // channels, p % channels, kh, kw, sh, sw,
                      pt, pl, dh, dw, oh_, ow_)


@njit(cache=True, nogil=True, parallel=True)
def _im2col_parallel(x, col, kh, kw, sh, sw, pt, pl, dh, dw, oh_, ow_):
    channels = x.shape[1]
    for p in prange(x.shape[0] * channels):
        _im2col_plane(x, col, p // channels, p % channels, kh, kw, sh, sw,
                      pt, pl, dh, dw, oh_, ow_)


@njit(cache=True, nogil=True)
def _col2im_serial(col, gx, kh, kw, sh, sw, pt, pl, dh, dw, oh_, ow_):
    channels = gx.shape[1]
    for p in range(gx.shape[0] * channels):
        _col2im_plane(col, gx, p // channels, p % channels, kh, kw, sh, sw,
                      pt, pl, dh, dw, oh_, ow_)


@njit(cache=True, nogil=True, parallel=True)
def _col2im_parallel(col, gx, kh, kw, sh, sw, pt, pl, dh, dw, oh_, ow_):
    channels = gx.shape[1]
    for p in prange(gx.shape[0] * channels):
        _col2im_plane(col, gx, p // channels, p % channels, kh, kw, sh, sw,
                      pt, pl, dh, dw, oh_, ow_)


@njit(cache=True, nogil=True)
def _dw_forward_serial(x, wt, out, mult, sh, sw, pt, pl, dh, dw):
    channels = out.shape[1]
    for p in range(out.shape[0] * channels):
        _dw_forward_plane(x, wt, out, p // channels, p % channels, mult,
                          sh, sw, pt, pl, dh, dw)


@njit(cache=True, nogil=True, parallel=True)
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


@njit(cache=True, nogil=True, parallel=True)
def _dw_input_grad_parallel(g, wt, gx, mult, sh, sw, pt, pl, dh, dw):
    channels = gx.shape[1]
    for p in prange(gx.shape[0] * channels):
        _dw_input_grad_plane(g, wt, gx, p // channels, p % channels, mult,
                             sh, sw, pt, pl, dh, dw)


@njit(cache=True, nogil=True)
def _dw_weight_grad_serial(x, g, gw, mult, sh, sw, pt, pl, dh, dw):
    for o in range(gw.shape[0]):
        _dw_weight_grad_plane(x, g, gw, o, mult, sh, sw, pt, pl, dh, dw)


@njit(cache=True, nogil=True, parallel=True)
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
    return np.ascontiguousarray(a, dtype=dt)


def _cast_back(result, like):
    if result.dtype == like:
        return result
    if like.kind in "iub":
        result = np.rint(result)
    return result.astype(like)


def _is_depthwise(channels, groups):
    return groups == channels and channels > 1


def _identity_cols(kh, kw, stride, padding, dilation):
    """1x1, stride 1, no padding: the input is already the column matrix."""
    return (kh == 1 and kw == 1 and stride == (1, 1) and padding == (0, 0))


def _im2col(x, kh, kw, stride, padding, dilation, out_hw):
    n, c = x.shape[:2]
    oh, ow = out_hw
    if _identity_cols(kh, kw, stride, padding, dilation) and \
            x.shape[2:] == (oh, ow):
        return x.reshape(n, c, oh * ow)
    col = _scratch((n, c * kh * kw, oh * ow), x.dtype)
    work = col.size
    fn = _im2col_parallel if work >= PARALLEL_MIN_WORK and n * c > 1 \
        else _im2col_serial
    fn(x, col, kh, kw, stride[0], stride[1], padding[0], padding[1],
       dilation[0], dilation[1], oh, ow)
    return col


def _conv_forward(x, w, stride, padding, dilation, groups, out_hw):
    """x (N, C, H, W), w (O, C/G, KH, KW), same float dtype, C-contiguous."""
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    oh, ow = out_hw
    if _is_depthwise(c, groups):
        out = np.empty((n, o, oh, ow), x.dtype)
        fn = _dw_forward_parallel if out.size * kh * kw >= \
            PARALLEL_MIN_WORK and n * o > 1 else _dw_forward_serial
        fn(x, w, out, o // c, stride[0], stride[1], padding[0], padding[1],
           dilation[0], dilation[1])
        return out
    col = _im2col(x, kh, kw, stride, padding, dilation, out_hw)
    g = groups
    out = np.empty((n, o, oh, ow), x.dtype)
    np.matmul(w.reshape(g, o // g, cg * kh * kw),
              col.reshape(n, g, cg * kh * kw, oh * ow),
              out=out.reshape(n, g, o // g, oh * ow))
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
    wt = w.reshape(g, o // g, cg * kh * kw).transpose(0, 2, 1)
    gyr = gy.reshape(n, g, o // g, oh * ow)
    if _identity_cols(kh, kw, stride, padding, dilation) and \
            (h, wd) == (oh, ow):
        gx = np.empty((n, c, h, wd), gy.dtype)
        np.matmul(wt, gyr, out=gx.reshape(n, g, cg, h * wd))
        return gx
    col = _scratch((n, g, cg * kh * kw, oh * ow), gy.dtype)
    np.matmul(wt, gyr, out=col)
    col = col.reshape(n, c * kh * kw, oh * ow)
    gx = np.zeros((n, c, h, wd), gy.dtype)
    fn = _col2im_parallel if col.size >= PARALLEL_MIN_WORK and n * c > 1 \
        else _col2im_serial
    fn(col, gx, kh, kw, stride[0], stride[1], padding[0], padding[1],
       dilation[0], dilation[1], oh, ow)
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
    if n == 0:
        return np.zeros((o, cg, kh, kw), x.dtype)
    col = _im2col(x, kh, kw, stride, padding, dilation, (oh, ow))
    col = col.reshape(n, g, cg * kh * kw, oh * ow)
    gyr = gy.reshape(n, g, o // g, oh * ow)
    # one GEMM per (n, g) with inner dimension OH*OW, then a cheap sum of
    # the N small (O/G, C/G*KH*KW) products
    per_sample = np.matmul(gyr, col.transpose(0, 1, 3, 2))
    gw = per_sample[0] if n == 1 else per_sample.sum(axis=0)
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


_conv2d.cuda = None
_conv2d_input_grad.cuda = None
_conv2d_weight_grad.cuda = None


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
        raise RuntimeError('"slow_conv2d_cpu" not implemented for \'Bool\'')


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
            f"Expected {k + 2}-dimensional input for {k + 2}-dimensional "
            f"weight {_sizes(w_shape)}, but got {weight.dim()}-dimensional "
            f"weight of size {_sizes(w_shape)} instead: {fname} expects "
            f"weight (out_channels, in_channels/groups, *kernel_size)")
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
