"""CUDA forwards of the pooling ops (``numgrad/ops/pool.py``).

As on the CPU, every pool is a window per output position over (planes,
H, W), bounded per axis by the call's ``Windows`` (copied to the device
once per call: forward and backward share it).  One thread per output
element.  The backward ops scatter with atomics: windows overlap whenever
the stride is smaller than the kernel.

``planes`` is the device form of the CPU's ``as_planes`` (float16 computes
in float32); ``resample`` uses it too."""
import numpy as np
from numba import cuda

from ...backends.cuda.array import DeviceArray
from ...backends.cuda.launch import grid_for, launch
from ..pool import restore
from . import twin


def planes(a):
    """(..., H, W) -> C-contiguous (P, H, W) float32/float64 array, the
    leading shape, and the dtype to cast results back to (or None)."""
    back = None
    if a.dtype == np.float16:
        a = a.astype(np.float32)
        back = np.float16
    elif not a.is_contiguous():
        a = a.copy()
    return a.reshape((-1,) + a.shape[-2:]), a.shape[:-2], back


def _bounds(win):
    """(hs, he, ws, we, div) of ``win`` on the device (div: None for max
    pools)."""
    if win.device is None:
        tables = [DeviceArray.from_host(t)
                  for t in (win.hs, win.he, win.ws, win.we)]
        tables.append(None if win.div is None
                      else DeviceArray.from_host(win.div))
        win.device = tuple(tables)
    return win.device


@cuda.jit(cache=True)
def _max_pool(x, out, idx, hs, he, ws, we, dh, dw):
    """Max and flat in-plane index of each window; PyTorch's rule: strictly
    greater wins, and NaN always does (so the last NaN is the index)."""
    w = x.shape[2]
    _, oh_, ow_ = out.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ow = i % ow_
        oh = (i // ow_) % oh_
        p = i // (ow_ * oh_)
        h0 = hs[oh]
        w0 = ws[ow]
        best = x[p, h0, w0]
        where = h0 * w + w0
        for ih in range(h0, he[oh], dh):
            for iw in range(w0, we[ow], dw):
                v = x[p, ih, iw]
                if v > best or v != v:
                    best = v
                    where = ih * w + iw
        out[p, oh, ow] = best
        idx[p, oh, ow] = where


@cuda.jit(cache=True)
def _scatter_by_index(g, idx, gi):
    """gi[p, idx[p, o]] += g[p, o] (planes flattened)."""
    n = g.shape[1]
    for i in range(cuda.grid(1), g.size, cuda.gridsize(1)):
        p = i // n
        o = i - p * n
        cuda.atomic.add(gi, (p, idx[p, o]), g[p, o])


@cuda.jit(cache=True)
def _gather_by_index(gg, idx, out):
    """out[p, o] = gg[p, idx[p, o]] (planes flattened)."""
    n = out.shape[1]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p = i // n
        o = i - p * n
        out[p, o] = gg[p, idx[p, o]]


@cuda.jit(cache=True)
def _avg_pool(x, out, hs, he, ws, we, div):
    _, oh_, ow_ = out.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ow = i % ow_
        oh = (i // ow_) % oh_
        p = i // (ow_ * oh_)
        total = np.float64(0.0)
        for ih in range(hs[oh], he[oh]):
            for iw in range(ws[ow], we[ow]):
                total += x[p, ih, iw]
        out[p, oh, ow] = total / div[oh, ow]


@cuda.jit(cache=True)
def _avg_pool_back(g, gi, hs, he, ws, we, div):
    """Spreads each output's gradient over its window (the adjoint)."""
    _, oh_, ow_ = g.shape
    for i in range(cuda.grid(1), g.size, cuda.gridsize(1)):
        ow = i % ow_
        oh = (i // ow_) % oh_
        p = i // (ow_ * oh_)
        v = g[p, oh, ow] / div[oh, ow]
        for ih in range(hs[oh], he[oh]):
            for iw in range(ws[ow], we[ow]):
                cuda.atomic.add(gi, (p, ih, iw), v)


def _zeros(shape, dtype):
    out = DeviceArray.empty(shape, dtype)
    out.fill(0)
    return out


@twin("max_pool2d")
def max_pool2d(ctx, x, *, win, sink=None):
    x3, lead, back = planes(x)
    shape = (x3.shape[0],) + win.out_hw
    out = DeviceArray.empty(shape, x3.dtype)
    idx = DeviceArray.empty(shape, np.int64)
    if out.size:
        hs, he, ws, we, _ = _bounds(win)
        launch(_max_pool, grid_for(out.size), x3, out, idx, hs, he, ws, we,
               win.dh, win.dw)
    ctx.win, ctx.indices = win, idx
    if sink is not None:
        sink.append(idx.reshape(lead + win.out_hw))
    return restore(out, back).reshape(lead + win.out_hw)


@twin("max_pool2d_backward")
def max_pool2d_backward(ctx, g, *, indices, win):
    g3, lead, back = planes(g)
    count = g3.shape[0]
    gi = _zeros((count, win.in_hw[0] * win.in_hw[1]), g3.dtype)
    if g3.size:
        launch(_scatter_by_index, grid_for(g3.size),
               g3.reshape(count, -1), indices.reshape(count, -1), gi)
    return restore(gi, back).reshape(lead + win.in_hw)


@twin("max_pool2d_gather")
def max_pool2d_gather(ctx, gg, *, indices, win):
    lead = gg.shape[:-2]
    count = indices.shape[0]
    flat = (gg if gg.is_contiguous() else gg.copy()).reshape(count, -1)
    out = DeviceArray.empty((count, win.out_hw[0] * win.out_hw[1]),
                            gg.dtype)
    if out.size:
        launch(_gather_by_index, grid_for(out.size), flat,
               indices.reshape(count, -1), out)
    return out.reshape(lead + win.out_hw)


@twin("avg_pool2d")
def avg_pool2d(ctx, x, *, win):
    x3, lead, back = planes(x)
    out = DeviceArray.empty((x3.shape[0],) + win.out_hw, x3.dtype)
    if out.size:
        launch(_avg_pool, grid_for(out.size), x3, out, *_bounds(win))
    return restore(out, back).reshape(lead + win.out_hw)


@twin("avg_pool2d_backward")
def avg_pool2d_backward(ctx, g, *, win):
    g3, lead, back = planes(g)
    gi = _zeros((g3.shape[0],) + win.in_hw, g3.dtype)
    if g3.size:
        launch(_avg_pool_back, grid_for(g3.size), g3, gi, *_bounds(win))
    return restore(gi, back).reshape(lead + win.in_hw)
