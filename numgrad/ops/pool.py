"""2-D pooling: max (with dilation and indices), average, adaptive average
and adaptive max, plus the 1-D forms as views of the 2-D ones.

Every pooling is "a window per output position" over (planes, H, W) with
planes = N * C: the Python side turns the arguments into per-axis window
bounds (``hs``/``he`` per output row, ``ws``/``we`` per output column) and
one set of Numba kernels runs all four pools.  Kernels are compiled lazily
(first call) with ``cache=True`` and see only C-contiguous float32/float64
arrays, so each has at most two signatures.

Backward ops are op-table entries of their own so that second order works:
max pooling's backward scatters by the saved indices (its backward gathers
by them), average pooling's backward spreads the gradient over each window
(its backward is the average pooling again: the two are adjoint)."""
import numbers

import numpy as np
from numba import njit, prange

from ..backends.cpu import parallel_njit
from ..tensor import Tensor
from .registry import op

# Kernels may divide by zero only where PyTorch would produce inf/nan, so
# the numpy error model (no Python exceptions, no checks) is right.
_JIT = dict(cache=True, error_model="numpy", nogil=True)
PARALLEL_WORK = 1 << 16     # approximate element visits before going parallel

_TORCH_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short",
                "int8": "Char", "uint8": "Byte", "bool": "Bool",
                "float16": "Half", "float32": "Float", "float64": "Double"}


# ---- shared helpers (also used by norm.py and resample.py) --------------
def torch_type_name(dtype):
    return _TORCH_NAMES.get(dtype.name, dtype.name)


def check_tensor(input, fn):
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}(): argument 'input' (position 1) must be "
                        f"Tensor, not {type(input).__name__}")


def check_float(input, kernel_name):
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f'"{kernel_name}" not implemented for '
                                  f"'{torch_type_name(input.dtype)}'")


def kernel_array(a):
    """C-contiguous float32/float64 view or copy of ``a`` (float16 computes
    in float32); the second value is the dtype to cast results back to."""
    if a.dtype == np.float16:
        return np.ascontiguousarray(a, dtype=np.float32), np.float16
    a = np.ascontiguousarray(a)
    if not a.flags.writeable:
        # a read-only array is another Numba type: another compilation
        a = a.copy()
    return a, None


def restore(a, dtype):
    from ..dtypes import cast_array
    return a if dtype is None else cast_array(a, dtype)


def as_planes(a):
    """(..., H, W) -> contiguous (P, H, W) kernel array and leading shape."""
    lead = a.shape[:-2]
    arr, back = kernel_array(a)
    return arr.reshape((-1,) + a.shape[-2:]), lead, back


def _parallel(planes, work):
    return planes > 1 and planes * work >= PARALLEL_WORK


# ---- kernels --------------------------------------------------------------
@njit(**_JIT)
def _max_plane(x, out, idx, p, width, hs, he, ws, we, dh, dw):
    """x: (planes, H*W); out, idx: (planes, OH*OW)."""
    n_w = ws.shape[0]
    for oh in range(hs.shape[0]):
        h0 = hs[oh]
        h1 = he[oh]
        for ow in range(n_w):
            w0 = ws[ow]
            w1 = we[ow]
            where = h0 * width + w0
            best = x[p, where]
            for ih in range(h0, h1, dh):
                base = ih * width
                for i in range(base + w0, base + w1, dw):
                    v = x[p, i]
                    # PyTorch's rule: strictly greater, and NaN always wins
                    # (so the last NaN of the window is the index).
                    if (v > best) | (v != v):
                        best = v
                        where = i
            out[p, oh * n_w + ow] = best
            idx[p, oh * n_w + ow] = where


@njit(**_JIT)
def _max_pool_serial(x, out, idx, width, hs, he, ws, we, dh, dw):
    for p in range(x.shape[0]):
        _max_plane(x, out, idx, p, width, hs, he, ws, we, dh, dw)


@parallel_njit(**_JIT)
def _max_pool_parallel(x, out, idx, width, hs, he, ws, we, dh, dw):
    for p in prange(x.shape[0]):
        _max_plane(x, out, idx, p, width, hs, he, ws, we, dh, dw)


@njit(**_JIT)
def _scatter_plane(g, idx, gi, p):
    for o in range(g.shape[1]):
        gi[p, idx[p, o]] += g[p, o]


@njit(**_JIT)
def _scatter_serial(g, idx, gi):
    for p in range(g.shape[0]):
        _scatter_plane(g, idx, gi, p)


@parallel_njit(**_JIT)
def _scatter_parallel(g, idx, gi):
    for p in prange(g.shape[0]):
        _scatter_plane(g, idx, gi, p)


@njit(**_JIT)
def _avg_plane(x, out, p, hs, he, ws, we, div):
    for oh in range(out.shape[1]):
        h0 = hs[oh]
        h1 = he[oh]
        for ow in range(out.shape[2]):
            w0 = ws[ow]
            w1 = we[ow]
            total = 0.0
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    total += x[p, ih, iw]
            out[p, oh, ow] = total / div[oh, ow]


@njit(**_JIT)
def _avg_pool_serial(x, out, hs, he, ws, we, div):
    for p in range(x.shape[0]):
        _avg_plane(x, out, p, hs, he, ws, we, div)


@parallel_njit(**_JIT)
def _avg_pool_parallel(x, out, hs, he, ws, we, div):
    for p in prange(x.shape[0]):
        _avg_plane(x, out, p, hs, he, ws, we, div)


@njit(**_JIT)
def _avg_back_plane(g, gi, p, hs, he, ws, we, div):
    for oh in range(g.shape[1]):
        h0 = hs[oh]
        h1 = he[oh]
        for ow in range(g.shape[2]):
            w0 = ws[ow]
            w1 = we[ow]
            v = g[p, oh, ow] / div[oh, ow]
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    gi[p, ih, iw] += v


@njit(**_JIT)
def _avg_back_serial(g, gi, hs, he, ws, we, div):
    for p in range(g.shape[0]):
        _avg_back_plane(g, gi, p, hs, he, ws, we, div)


@parallel_njit(**_JIT)
def _avg_back_parallel(g, gi, hs, he, ws, we, div):
    for p in prange(g.shape[0]):
        _avg_back_plane(g, gi, p, hs, he, ws, we, div)


# ---- window geometry --------------------------------------------------------
class Windows:
    """Per-axis window bounds of one pooling call.  ``div`` (averages only)
    is the (OH, OW) divisor of each window.  ``device`` holds the CUDA
    twins' copy of the bounds, made on first use and shared by the
    forward and backward ops of the call."""
    __slots__ = ("in_hw", "out_hw", "hs", "he", "ws", "we", "dh", "dw",
                 "div", "area", "device")

    def __init__(self, in_hw, hs, he, ws, we, dh=1, dw=1, div=None):
        self.in_hw = in_hw
        self.out_hw = (len(hs), len(ws))
        self.hs, self.he, self.ws, self.we = hs, he, ws, we
        self.dh, self.dw = dh, dw
        self.div = div
        self.device = None
        kh = int(np.max(he - hs)) if len(hs) else 0
        kw = int(np.max(we - ws)) if len(ws) else 0
        self.area = max(1, (kh + dh - 1) // dh * ((kw + dw - 1) // dw))


def _max_axis(size, out, k, s, pad, dil):
    start = np.arange(out, dtype=np.int64) * s - pad
    end = np.minimum(start + (k - 1) * dil + 1, size)
    neg = start < 0
    start[neg] += (-start[neg] + dil - 1) // dil * dil
    return start, end


def _avg_axis(size, out, k, s, pad):
    start = np.arange(out, dtype=np.int64) * s - pad
    end = np.minimum(start + k, size + pad)
    pool = end - start
    start = np.maximum(start, 0)
    end = np.minimum(end, size)
    return start, end, pool


def _adaptive_axis(size, out):
    o = np.arange(out, dtype=np.int64)
    start = o * size // out
    end = ((o + 1) * size + out - 1) // out
    return start, end


def _run_max(x3, win):
    planes = x3.shape[0]
    oh, ow = win.out_hw
    out = np.empty((planes, oh, ow), dtype=x3.dtype)
    idx = np.empty((planes, oh, ow), dtype=np.int64)
    if out.size:
        kernel = (_max_pool_parallel if _parallel(planes, oh * ow * win.area)
                  else _max_pool_serial)
        kernel(x3.reshape(planes, -1), out.reshape(planes, -1),
               idx.reshape(planes, -1), x3.shape[2], win.hs, win.he, win.ws,
               win.we, win.dh, win.dw)
    return out, idx


def _run_scatter(g3, idx, in_hw):
    """Sum ``g`` into zeros of (planes, H*W) at the flat ``idx``."""
    planes = g3.shape[0]
    g2 = g3.reshape(planes, -1)
    gi = np.zeros((planes, in_hw[0] * in_hw[1]), dtype=g3.dtype)
    if g2.size:
        kernel = (_scatter_parallel if _parallel(planes, g2.shape[1] * 4)
                  else _scatter_serial)
        kernel(g2, idx.reshape(planes, -1), gi)
    return gi.reshape((planes,) + tuple(in_hw))


def _run_avg(x3, win):
    planes = x3.shape[0]
    oh, ow = win.out_hw
    out = np.empty((planes, oh, ow), dtype=x3.dtype)
    if out.size:
        kernel = (_avg_pool_parallel if _parallel(planes, oh * ow * win.area)
                  else _avg_pool_serial)
        kernel(x3, out, win.hs, win.he, win.ws, win.we, win.div)
    return out


def _run_avg_back(g3, win):
    planes = g3.shape[0]
    gi = np.zeros((planes,) + tuple(win.in_hw), dtype=g3.dtype)
    if g3.size:
        oh, ow = win.out_hw
        kernel = (_avg_back_parallel
                  if _parallel(planes, oh * ow * win.area)
                  else _avg_back_serial)
        kernel(g3, gi, win.hs, win.he, win.ws, win.we, win.div)
    return gi


# ---- ops --------------------------------------------------------------------
@op("max_pool2d", node_name="MaxPool2DWithIndicesBackward0")
def _max_pool(ctx, x, *, win, sink=None):
    x3, lead, back = as_planes(x)
    out, idx = _run_max(x3, win)
    ctx.win, ctx.indices = win, idx
    if sink is not None:
        sink.append(idx.reshape(lead + win.out_hw))
    return restore(out, back).reshape(lead + win.out_hw)


@_max_pool.backward
def _(ctx, g):
    return (_max_pool_scatter(g, indices=ctx.indices, win=ctx.win),)


@op("max_pool2d_backward", node_name="MaxPool2DWithIndicesBackwardBackward0")
def _max_pool_scatter(ctx, g, *, indices, win):
    g3, lead, back = as_planes(g)
    return restore(_run_scatter(g3, indices, win.in_hw), back).reshape(
        lead + win.in_hw)


@_max_pool_scatter.backward
def _(ctx, gg):
    p = ctx.params
    return (_max_pool_gather(gg, indices=p["indices"], win=p["win"]),)


@op("max_pool2d_gather")
def _max_pool_gather(ctx, gg, *, indices, win):
    lead = gg.shape[:-2]
    planes = indices.shape[0]
    flat = np.ascontiguousarray(gg).reshape(planes, -1)
    out = np.take_along_axis(flat, indices.reshape(planes, -1), axis=1)
    return out.reshape(lead + win.out_hw)


@_max_pool_gather.backward
def _(ctx, g):
    p = ctx.params
    return (_max_pool_scatter(g, indices=p["indices"], win=p["win"]),)


@op("avg_pool2d", node_name="AvgPool2DBackward0")
def _avg_pool(ctx, x, *, win):
    x3, lead, back = as_planes(x)
    return restore(_run_avg(x3, win), back).reshape(lead + win.out_hw)


@_avg_pool.backward
def _(ctx, g):
    return (_avg_pool_back(g, win=ctx.params["win"]),)


@op("avg_pool2d_backward", node_name="AvgPool2DBackwardBackward0")
def _avg_pool_back(ctx, g, *, win):
    g3, lead, back = as_planes(g)
    return restore(_run_avg_back(g3, win), back).reshape(lead + win.in_hw)


@_avg_pool_back.backward
def _(ctx, gg):
    return (_avg_pool(gg, win=ctx.params["win"]),)


# ---- argument handling ------------------------------------------------------
def _pair(value, fn, what, allow_empty=False):
    if isinstance(value, Tensor):
        value = value.tolist()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (int(value), int(value))
    if isinstance(value, (tuple, list)):
        if allow_empty and len(value) == 0:
            return None
        if len(value) == 1:
            return (int(value[0]), int(value[0]))
        if len(value) == 2:
            return (int(value[0]), int(value[1]))
    if what == "kernel_size":
        msg = "kernel_size must either be a single int, or a tuple of two ints"
    elif what == "stride":
        msg = ("stride must either be omitted, a single int, or a tuple of "
               "two ints")
    elif what == "padding":
        msg = "padding must either be a single int, or a tuple of two ints"
    else:
        msg = "dilation must be either a single int, or a tuple of two ints"
    raise RuntimeError(f"{fn}: {msg}")


def _check_pool_input(input, fn):
    check_tensor(input, fn)
    shape = input._shape
    ok = (len(shape) == 3 and all(shape)) or (
        len(shape) == 4 and shape[1] and shape[2] and shape[3])
    if not ok:
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch "
            f"size for input, but got:{list(shape)}")


def _output_size(size, k, pad, s, dil, ceil_mode):
    if s == 0:
        raise RuntimeError("stride should not be zero")
    if pad < 0:
        raise RuntimeError(f"pad must be non-negative, but got pad: {pad}")
    if pad > ((k - 1) * dil + 1) // 2:
        raise RuntimeError(
            "pad should be at most half of effective kernel size, but got "
            f"pad={pad}, kernel_size={k} and dilation={dil}")
    out = (size + 2 * pad - dil * (k - 1) - 1
           + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + pad:
        out -= 1
    return out


def _shape_check(shape, k, s, pad, dil, out_hw):
    if k[0] <= 0 or k[1] <= 0:
        raise RuntimeError("kernel size should be greater than zero, but got "
                           f"kH: {k[0]} kW: {k[1]}")
    if s[0] <= 0 or s[1] <= 0:
        raise RuntimeError("stride should be greater than zero, but got "
                           f"dH: {s[0]} dW: {s[1]}")
    if dil[0] <= 0 or dil[1] <= 0:
        raise RuntimeError("dilation should be greater than zero, but got "
                           f"dilationH: {dil[0]} dilationW: {dil[1]}")
    if k[1] // 2 < pad[1] or k[0] // 2 < pad[0]:
        raise RuntimeError(
            "pad should be smaller than or equal to half of kernel size, but "
            f"got padW = {pad[1]}, padH = {pad[0]}, kW = {k[1]}, kH = {k[0]}")
    if out_hw[0] < 1 or out_hw[1] < 1:
        planes, h, w = shape[-3], shape[-2], shape[-1]
        raise RuntimeError(
            f"Given input size: ({planes}x{h}x{w}). Calculated output size: "
            f"({planes}x{out_hw[0]}x{out_hw[1]}). Output size is too small")


def _pool_geometry(input, fn, kernel_size, stride, padding, dilation,
                   ceil_mode):
    k = _pair(kernel_size, fn, "kernel_size")
    s = _pair(stride, fn, "stride", allow_empty=True) \
        if stride is not None else None
    s = k if s is None else s
    pad = _pair(padding, fn, "padding")
    dil = _pair(dilation, fn, "dilation")
    _check_pool_input(input, fn)
    hw = input._shape[-2:]
    out_hw = tuple(_output_size(hw[i], k[i], pad[i], s[i], dil[i],
                                bool(ceil_mode)) for i in range(2))
    _shape_check(input._shape, k, s, pad, dil, out_hw)
    return k, s, pad, dil, out_hw


# ---- public functions -------------------------------------------------------
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False, return_indices=False):
    k, s, pad, dil, out_hw = _pool_geometry(
        input, "max_pool2d", kernel_size, stride, padding, dilation,
        ceil_mode)
    check_float(input, "max_pool2d")
    hw = tuple(input._shape[-2:])
    hs, he = _max_axis(hw[0], out_hw[0], k[0], s[0], pad[0], dil[0])
    ws, we = _max_axis(hw[1], out_hw[1], k[1], s[1], pad[1], dil[1])
    win = Windows(hw, hs, he, ws, we, dil[0], dil[1])
    if not return_indices:
        return _max_pool(input, win=win)
    sink = []
    out = _max_pool(input, win=win, sink=sink)
    return out, Tensor._make(sink[0])


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0,
                            dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool2d(input, kernel_size, stride, padding, dilation,
                      ceil_mode, True)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    k, s, pad, _, out_hw = _pool_geometry(
        input, "avg_pool2d", kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    check_float(input, "avg_pool2d")
    hw = tuple(input._shape[-2:])
    hs, he, pool_h = _avg_axis(hw[0], out_hw[0], k[0], s[0], pad[0])
    ws, we, pool_w = _avg_axis(hw[1], out_hw[1], k[1], s[1], pad[1])
    if divisor_override is not None:
        div = np.full(out_hw, float(divisor_override))
    elif count_include_pad:
        div = np.outer(pool_h, pool_w).astype(np.float64)
    else:
        div = np.outer(he - hs, we - ws).astype(np.float64)
    div[div == 0] = 1.0        # empty windows sum to 0 and stay 0
    return _avg_pool(input, win=Windows(hw, hs, he, ws, we, div=div))


def _adaptive_size(input, output_size, fn):
    shape = input._shape
    if isinstance(output_size, numbers.Integral) and not isinstance(
            output_size, bool):
        output_size = (output_size, output_size)
    output_size = tuple(output_size)
    if len(output_size) != 2:
        if fn == "adaptive_max_pool2d":
            raise RuntimeError("adaptive_max_pool2d(): internal error: "
                               "output_size.size() must be 2")
        raise RuntimeError(f"{fn}: output_size must be 2")
    size = tuple(shape[-2 + i] if o is None else int(o)
                 for i, o in enumerate(output_size))
    if size[0] < 0 or size[1] < 0:
        raise RuntimeError(f"{fn}: elements of output_size must be greater "
                           "than or equal to 0 but received "
                           f"{{{size[0]}, {size[1]}}}")
    return size


def _check_adaptive_input(input, fn):
    check_tensor(input, fn)
    shape = input._shape
    sep = ": " if fn == "adaptive_max_pool2d" else " "
    if len(shape) not in (3, 4):
        raise RuntimeError(f"{fn}(): Expected 3D or 4D tensor, but "
                           f"got{sep}{list(shape)}")
    for d in range(1, len(shape)):
        if shape[d] == 0:
            raise RuntimeError(
                f"{fn}(): Expected input to have non-zero size for "
                f"non-batch dimensions, but input has sizes {list(shape)} "
                f"with dimension {d} being empty")


def _adaptive_windows(input, output_size, fn, with_div):
    _check_adaptive_input(input, fn)
    out_hw = _adaptive_size(input, output_size, fn)
    hw = tuple(input._shape[-2:])
    hs, he = _adaptive_axis(hw[0], out_hw[0])
    ws, we = _adaptive_axis(hw[1], out_hw[1])
    div = np.outer(he - hs, we - ws).astype(np.float64) if with_div else None
    return Windows(hw, hs, he, ws, we, div=div)


def adaptive_avg_pool2d(input, output_size):
    win = _adaptive_windows(input, output_size, "adaptive_avg_pool2d", True)
    check_float(input, "adaptive_avg_pool2d")
    return _avg_pool(input, win=win)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    win = _adaptive_windows(input, output_size, "adaptive_max_pool2d", False)
    check_float(input, "adaptive_max_pool2d")
    if not return_indices:
        return _max_pool(input, win=win)
    sink = []
    out = _max_pool(input, win=win, sink=sink)
    return out, Tensor._make(sink[0])


# ---- 1-D forms: a 2-D pool over (…, 1, L) -----------------------------------
def _single(value, fn, what):
    if isinstance(value, Tensor):
        value = value.tolist()
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            if fn == "avg_pool1d":
                raise RuntimeError(f"avg_pool1d() argument '{what}' should "
                                   f"contain one int (got {len(value)})")
            raise RuntimeError(
                f"max_pool1d() {what} must be an int, list of ints or tuple "
                f"of ints of size 1 but got size {len(value)}")
        value = value[0]
    return int(value)


def _check_1d(input, fn):
    check_tensor(input, fn)
    shape = input._shape
    if fn == "max_pool1d":
        if len(shape) not in (2, 3) or not all(shape[-2 if len(shape) == 2
                                                     else 1:]):
            raise RuntimeError(
                "max_pool1d: Expected 2D or 3D (batch mode) tensor with "
                f"optional 0 dim batch size for input, but got:{list(shape)}")
    elif len(shape) not in (2, 3):
        raise RuntimeError(
            f"Expected 2 to 3 dimensions, but got {len(shape)}-dimensional "
            f"tensor for argument #1 'self' (while checking arguments for "
            f"{fn})")


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False, return_indices=False):
    _check_1d(input, "max_pool1d")
    k = _single(kernel_size, "max_pool1d", "kernel_size")
    s = k if stride is None or (isinstance(stride, (tuple, list))
                                and len(stride) == 0) \
        else _single(stride, "max_pool1d", "stride")
    pad = _single(padding, "max_pool1d", "padding")
    dil = _single(dilation, "max_pool1d", "dilation")
    if pad > k // 2 and pad >= 0 and k > 0 and s > 0 and dil > 0:
        raise RuntimeError(
            "max_pool1d() padding should be at most half of kernel size, but "
            f"got padding={pad} and kernel_size={k}")
    result = max_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, pad),
                        (1, dil), ceil_mode, return_indices)
    if return_indices:
        return result[0].squeeze(-2), result[1].squeeze(-2)
    return result.squeeze(-2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    _check_1d(input, "avg_pool1d")
    k = _single(kernel_size, "avg_pool1d", "kernel_size")
    s = k if stride is None or (isinstance(stride, (tuple, list))
                                and len(stride) == 0) \
        else _single(stride, "avg_pool1d", "stride")
    pad = _single(padding, "avg_pool1d", "padding")
    return avg_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, pad),
                      ceil_mode, count_include_pad).squeeze(-2)


def adaptive_avg_pool1d(input, output_size):
    check_tensor(input, "adaptive_avg_pool1d")
    if input.dim() not in (2, 3):
        raise RuntimeError("adaptive_avg_pool1d(): Expected 2D or 3D "
                           f"tensor, but got {list(input._shape)}")
    size = _single(output_size, "adaptive_avg_pool1d", "output_size")
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, size)).squeeze(-2)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    check_tensor(input, "adaptive_max_pool1d")
    if input.dim() not in (2, 3):
        raise RuntimeError("adaptive_max_pool1d(): Expected 2D or 3D "
                           f"tensor, but got {list(input._shape)}")
    size = _single(output_size, "adaptive_max_pool1d", "output_size")
    result = adaptive_max_pool2d(input.unsqueeze(-2), (1, size),
                                 return_indices)
    if return_indices:
        return result[0].squeeze(-2), result[1].squeeze(-2)
    return result.squeeze(-2)
