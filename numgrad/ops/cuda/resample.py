"""CUDA forwards of interpolation and padding (``numgrad/ops/resample.py``).

Interpolation gathers through the geometry's per-axis source tables (the
CPU's, computed once on the host in PyTorch's precision and copied to the
device once per dtype); its backward scatters each output's gradient back
onto its sources with atomics, since several outputs share a source.
Index padding gathers along each padded axis through the source-index map
and its backward scatters back the same way.  Constant padding is the
CPU's own code (a fill and a strided copy, both DeviceArray methods)."""
import numpy as np
from numba import cuda

from ...backends.cuda.array import DeviceArray
from ...backends.cuda.launch import grid_for, launch
from ..pool import restore
from . import same_code, twin
from .pool import planes

same_code("constant_pad_nd")


def _tables(geom, dtype):
    key = np.dtype(dtype).str
    found = geom.device.get(key)
    if found is None:
        found = geom.device[key] = tuple(
            DeviceArray.from_host(t) for t in geom.tables(dtype.type))
    return found


@cuda.jit(cache=True)
def _nearest(x, out, ih, iw):
    _, oh_, ow_ = out.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ow = i % ow_
        oh = (i // ow_) % oh_
        p = i // (ow_ * oh_)
        out[p, oh, ow] = x[p, ih[oh], iw[ow]]


@cuda.jit(cache=True)
def _nearest_back(g, gi, ih, iw):
    _, oh_, ow_ = g.shape
    for i in range(cuda.grid(1), g.size, cuda.gridsize(1)):
        ow = i % ow_
        oh = (i // ow_) % oh_
        p = i // (ow_ * oh_)
        cuda.atomic.add(gi, (p, ih[oh], iw[ow]), g[p, oh, ow])


@cuda.jit(cache=True)
def _bilinear(x, out, h0, h1, lh0, lh1, w0, w1, lw0, lw1):
    _, oh_, ow_ = out.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ow = i % ow_
        oh = (i // ow_) % oh_
        p = i // (ow_ * oh_)
        a = h0[oh]
        b = h1[oh]
        c = w0[ow]
        d = w1[ow]
        lc = lw0[ow]
        ld = lw1[ow]
        t0 = x[p, a, c] * lc + x[p, a, d] * ld
        t1 = x[p, b, c] * lc + x[p, b, d] * ld
        out[p, oh, ow] = t0 * lh0[oh] + t1 * lh1[oh]


@cuda.jit(cache=True)
def _bilinear_back(g, gi, h0, h1, lh0, lh1, w0, w1, lw0, lw1):
    _, oh_, ow_ = g.shape
    for i in range(cuda.grid(1), g.size, cuda.gridsize(1)):
        ow = i % ow_
        oh = (i // ow_) % oh_
        p = i // (ow_ * oh_)
        a = h0[oh]
        b = h1[oh]
        la = lh0[oh]
        lb = lh1[oh]
        c = w0[ow]
        d = w1[ow]
        lc = lw0[ow]
        ld = lw1[ow]
        v = g[p, oh, ow]
        cuda.atomic.add(gi, (p, a, c), la * lc * v)
        cuda.atomic.add(gi, (p, a, d), la * ld * v)
        cuda.atomic.add(gi, (p, b, c), lb * lc * v)
        cuda.atomic.add(gi, (p, b, d), lb * ld * v)


def _zeros(shape, dtype):
    out = DeviceArray.empty(shape, dtype)
    out.fill(0)
    return out


@twin("upsample2d")
def upsample2d(ctx, x, *, geom):
    x3, lead, back = planes(x)
    out = DeviceArray.empty((x3.shape[0],) + geom.out_hw, x3.dtype)
    if out.size:
        kernel = _bilinear if geom.mode == "bilinear" else _nearest
        launch(kernel, grid_for(out.size), x3, out,
               *_tables(geom, x3.dtype))
    return restore(out, back).reshape(lead + geom.out_hw)


@twin("upsample2d_backward")
def upsample2d_backward(ctx, g, *, geom):
    g3, lead, back = planes(g)
    gi = _zeros((g3.shape[0],) + geom.in_hw, g3.dtype)
    if g3.size:
        kernel = _bilinear_back if geom.mode == "bilinear" else \
            _nearest_back
        launch(kernel, grid_for(g3.size), g3, gi, *_tables(geom, g3.dtype))
    return restore(gi, back).reshape(lead + geom.in_hw)


# ---- index padding: arrays viewed as (outer, axis, inner) -------------------
@cuda.jit(cache=True)
def _take_axis(x, idx, out):
    """out[a, o, b] = x[a, idx[o], b]."""
    _, n, inner = out.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        b = i % inner
        o = (i // inner) % n
        a = i // (inner * n)
        out[a, o, b] = x[a, idx[o], b]


@cuda.jit(cache=True)
def _scatter_axis(g, idx, out):
    """out[a, idx[o], b] += g[a, o, b] (out zero on entry)."""
    _, n, inner = g.shape
    for i in range(cuda.grid(1), g.size, cuda.gridsize(1)):
        b = i % inner
        o = (i // inner) % n
        a = i // (inner * n)
        cuda.atomic.add(out, (a, idx[o], b), g[a, o, b])


def _split(shape, axis):
    outer = inner = 1
    for d in shape[:axis]:
        outer *= d
    for d in shape[axis + 1:]:
        inner *= d
    return outer, inner


@twin("index_pad")
def index_pad(ctx, x, *, axes, maps):
    ctx.in_shape = x.shape
    out = x if x.is_contiguous() else x.copy()
    for axis, (idx, _) in zip(axes, maps):
        outer, inner = _split(out.shape, axis)
        shape = list(out.shape)
        shape[axis] = len(idx)
        result = DeviceArray.empty(shape, out.dtype)
        if result.size:
            launch(_take_axis, grid_for(result.size),
                   out.reshape(outer, out.shape[axis], inner),
                   DeviceArray.from_host(idx),
                   result.reshape(outer, len(idx), inner))
        out = result
    return out


@twin("index_pad_backward")
def index_pad_backward(ctx, g, *, axes, maps, in_shape):
    back = None
    if g.dtype == np.float16:        # no float16 atomics: sum in float32
        g, back = g.astype(np.float32), np.float16
    elif not g.is_contiguous():
        g = g.copy()
    for axis, (idx, _) in reversed(list(zip(axes, maps))):
        outer, inner = _split(g.shape, axis)
        shape = list(g.shape)
        shape[axis] = in_shape[axis]
        result = _zeros(shape, g.dtype)
        if g.size:
            launch(_scatter_axis, grid_for(g.size),
                   g.reshape(outer, g.shape[axis], inner),
                   DeviceArray.from_host(idx),
                   result.reshape(outer, in_shape[axis], inner))
        g = result
    return restore(g, back)
