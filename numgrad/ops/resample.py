"""interpolate ('nearest', 'nearest-exact', 'bilinear'; 'linear' for 3-D
input as a bilinear over a height of one) and pad (constant, reflect,
replicate, circular).

Interpolation is separable: the Python side computes, per output row and
per output column, the source indices (and for bilinear the two weights),
with exactly PyTorch's source-index rules and arithmetic precision; Numba
kernels do the gather (forward) and the scatter-add (backward).  The
backward is an op whose own backward is the forward interpolation, so
second order works.

Padding is an index gather along each padded axis; its backward sums the
gradient back onto the source positions (constant padding: a slice, i.e.
constant padding by the negated amounts)."""
import math
import numbers

import numpy as np
from numba import njit, prange

from ..backends import device_of, filled
from ..backends.cpu import parallel_njit
from ..tensor import Tensor
from .pool import (_parallel, as_planes, check_tensor, restore,
                   torch_type_name)
from .registry import op

_JIT = dict(cache=True, error_model="numpy", nogil=True)


# ---- kernels: x viewed as (planes, H, W) -----------------------------------
@njit(**_JIT)
def _nearest_plane(x, out, p, ih, iw):
    for oh in range(out.shape[1]):
        r = ih[oh]
        for ow in range(out.shape[2]):
            out[p, oh, ow] = x[p, r, iw[ow]]


@njit(**_JIT)
def _nearest_serial(x, out, ih, iw):
    for p in range(x.shape[0]):
        _nearest_plane(x, out, p, ih, iw)


@parallel_njit(**_JIT)
def _nearest_parallel(x, out, ih, iw):
    for p in prange(x.shape[0]):
        _nearest_plane(x, out, p, ih, iw)


@njit(**_JIT)
def _nearest_back_plane(g, gi, p, ih, iw):
    for oh in range(g.shape[1]):
        r = ih[oh]
        for ow in range(g.shape[2]):
            gi[p, r, iw[ow]] += g[p, oh, ow]


@njit(**_JIT)
def _nearest_back_serial(g, gi, ih, iw):
    for p in range(g.shape[0]):
        _nearest_back_plane(g, gi, p, ih, iw)


@parallel_njit(**_JIT)
def _nearest_back_parallel(g, gi, ih, iw):
    for p in prange(g.shape[0]):
        _nearest_back_plane(g, gi, p, ih, iw)


@njit(**_JIT)
def _bilinear_plane(x, out, p, h0, h1, lh0, lh1, w0, w1, lw0, lw1):
    for oh in range(out.shape[1]):
        a = h0[oh]
        b = h1[oh]
        la = lh0[oh]
        lb = lh1[oh]
        for ow in range(out.shape[2]):
            c = w0[ow]
            d = w1[ow]
            lc = lw0[ow]
            ld = lw1[ow]
            t0 = x[p, a, c] * lc + x[p, a, d] * ld
            t1 = x[p, b, c] * lc + x[p, b, d] * ld
            out[p, oh, ow] = t0 * la + t1 * lb


@njit(**_JIT)
def _bilinear_serial(x, out, h0, h1, lh0, lh1, w0, w1, lw0, lw1):
    for p in range(x.shape[0]):
        _bilinear_plane(x, out, p, h0, h1, lh0, lh1, w0, w1, lw0, lw1)


@parallel_njit(**_JIT)
def _bilinear_parallel(x, out, h0, h1, lh0, lh1, w0, w1, lw0, lw1):
    for p in prange(x.shape[0]):
        _bilinear_plane(x, out, p, h0, h1, lh0, lh1, w0, w1, lw0, lw1)


@njit(**_JIT)
def _bilinear_back_plane(g, gi, p, h0, h1, lh0, lh1, w0, w1, lw0, lw1):
    for oh in range(g.shape[1]):
        a = h0[oh]
        b = h1[oh]
        la = lh0[oh]
        lb = lh1[oh]
        for ow in range(g.shape[2]):
            c = w0[ow]
            d = w1[ow]
            lc = lw0[ow]
            ld = lw1[ow]
            v = g[p, oh, ow]
            gi[p, a, c] += la * lc * v
            gi[p, a, d] += la * ld * v
            gi[p, b, c] += lb * lc * v
            gi[p, b, d] += lb * ld * v


@njit(**_JIT)
def _bilinear_back_serial(g, gi, h0, h1, lh0, lh1, w0, w1, lw0, lw1):
    for p in range(g.shape[0]):
        _bilinear_back_plane(g, gi, p, h0, h1, lh0, lh1, w0, w1, lw0, lw1)


@parallel_njit(**_JIT)
def _bilinear_back_parallel(g, gi, h0, h1, lh0, lh1, w0, w1, lw0, lw1):
    for p in prange(g.shape[0]):
        _bilinear_back_plane(g, gi, p, h0, h1, lh0, lh1, w0, w1, lw0, lw1)


# ---- source indices (PyTorch's rules, in PyTorch's precision) ---------------
def _scale_value(scale, in_size, out_size, dt):
    """compute_scales_value: 1/scale when a scale was given, else in/out."""
    if scale is not None and scale > 0:
        return dt(1.0 / scale)
    return dt(in_size) / dt(out_size)


def _nearest_axis(in_size, out_size, scale, exact):
    o = np.arange(out_size, dtype=np.int64)
    if not exact:
        if out_size == in_size:
            return o
        if out_size == 2 * in_size:
            return o >> 1
        s = _scale_value(scale, in_size, out_size, np.float32)
        src = np.floor(o.astype(np.float32) * s)
    else:
        s = _scale_value(scale, in_size, out_size, np.float32)
        src = np.floor(((o + 0.5) * np.float64(s)).astype(np.float32))
    return np.minimum(src.astype(np.int64), in_size - 1)


def _linear_axis(in_size, out_size, align_corners, scale, dt):
    o = np.arange(out_size, dtype=np.int64).astype(dt)
    if align_corners:
        s = (dt(in_size - 1) / dt(out_size - 1) if out_size > 1
             else dt(0))
        src = s * o
    else:
        s = _scale_value(scale, in_size, out_size, dt)
        src = s * (o + dt(0.5)) - dt(0.5)
        src = np.where(src < 0, dt(0), src)
    i0 = src.astype(np.int64)
    i1 = i0 + (i0 < in_size - 1)
    l1 = np.minimum(np.maximum(src - i0.astype(dt), dt(0)), dt(1))
    l0 = dt(1) - l1
    return i0, i1, l0.astype(dt), l1.astype(dt)


class _Resample:
    """One interpolation's geometry: input/output (H, W) and the per-axis
    tables, for the kernel dtype they were computed in.  ``device`` holds
    the CUDA twins' copies of the tables, per dtype."""
    __slots__ = ("mode", "in_hw", "out_hw", "align_corners", "scales",
                 "_tables", "device")

    def __init__(self, mode, in_hw, out_hw, align_corners, scales):
        self.mode = mode
        self.in_hw = in_hw
        self.out_hw = out_hw
        self.align_corners = align_corners
        self.scales = scales
        self._tables = {}
        self.device = {}

    def tables(self, dt):
        key = np.dtype(dt).str
        found = self._tables.get(key)
        if found is None:
            if self.mode == "bilinear":
                h = _linear_axis(self.in_hw[0], self.out_hw[0],
                                 self.align_corners, self.scales[0], dt)
                w = _linear_axis(self.in_hw[1], self.out_hw[1],
                                 self.align_corners, self.scales[1], dt)
                found = h + w
            else:
                exact = self.mode == "nearest-exact"
                found = (_nearest_axis(self.in_hw[0], self.out_hw[0],
                                       self.scales[0], exact),
                         _nearest_axis(self.in_hw[1], self.out_hw[1],
                                       self.scales[1], exact))
            self._tables[key] = found
        return found

    def work(self):
        return self.out_hw[0] * self.out_hw[1] * (
            4 if self.mode == "bilinear" else 1)


def _run_resample(x3, geom):
    planes = x3.shape[0]
    out = np.empty((planes,) + geom.out_hw, dtype=x3.dtype)
    if out.size:
        tables = geom.tables(x3.dtype.type)
        par = _parallel(planes, geom.work())
        if geom.mode == "bilinear":
            kernel = _bilinear_parallel if par else _bilinear_serial
        else:
            kernel = _nearest_parallel if par else _nearest_serial
        kernel(x3, out, *tables)
    return out


def _run_resample_back(g3, geom):
    planes = g3.shape[0]
    gi = np.zeros((planes,) + geom.in_hw, dtype=g3.dtype)
    if g3.size:
        tables = geom.tables(g3.dtype.type)
        par = _parallel(planes, geom.work())
        if geom.mode == "bilinear":
            kernel = _bilinear_back_parallel if par else _bilinear_back_serial
        else:
            kernel = _nearest_back_parallel if par else _nearest_back_serial
        kernel(g3, gi, *tables)
    return gi


_NODE_NAMES = {"nearest": "UpsampleNearest2DBackward0",
               "nearest-exact": "UpsampleNearestExact2DBackward0",
               "bilinear": "UpsampleBilinear2DBackward0"}


@op("upsample2d", node_name="UpsampleBackward0")
def _upsample(ctx, x, *, geom):
    x3, lead, back = as_planes(x)
    return restore(_run_resample(x3, geom), back).reshape(lead + geom.out_hw)


@_upsample.backward
def _(ctx, g):
    return (_upsample_back(g, geom=ctx.params["geom"]),)


@op("upsample2d_backward", node_name="UpsampleBackwardBackward0")
def _upsample_back(ctx, g, *, geom):
    g3, lead, back = as_planes(g)
    return restore(_run_resample_back(g3, geom), back).reshape(
        lead + geom.in_hw)


@_upsample_back.backward
def _(ctx, gg):
    return (_upsample(gg, geom=ctx.params["geom"]),)


# ---- interpolate ------------------------------------------------------------
_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area",
          "nearest-exact")
_NEEDS = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}


def _is_integer(v):
    if isinstance(v, Tensor):
        return not v.dtype.is_floating_point and v.dim() == 0
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def interpolate(input, size=None, scale_factor=None, mode="nearest",
                align_corners=None, recompute_scale_factor=None,
                antialias=False):
    check_tensor(input, "interpolate")
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating "
                "modes: linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    dim = input.dim() - 2
    spatial = list(input._shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        scale_factors = None
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial "
                    "dimensions, but got input with spatial dimensions of "
                    f"{spatial} and output size of {size}. Please provide "
                    "input tensor in (N, C, d1, d2, ...,dK) format and "
                    "output size in (o1, o2, ...,oK) format.")
            if not all(_is_integer(s) for s in size):
                raise TypeError(
                    "expected size to be one of int or Tuple[int] or "
                    "Tuple[int, int] or Tuple[int, int, int], but got size "
                    f"with types {[type(s) for s in size]}")
            output_size = [int(s) for s in size]
        else:
            if not _is_integer(size):
                raise TypeError(
                    "expected size to be one of int or Tuple[int] or "
                    "Tuple[int, int] or Tuple[int, int, int], but got size "
                    f"of type {type(size)}")
            output_size = [int(size)] * max(dim, 0)
    elif scale_factor is not None:
        output_size = None
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of "
                    "spatial dimensions, but got input with spatial "
                    f"dimensions of {spatial} and scale_factor of shape "
                    f"{scale_factor}. Please provide input tensor in (N, C, "
                    "d1, d2, ...,dK) format and scale_factor in (s1, s2, "
                    "...,sK) format.")
            scale_factors = [float(s) for s in scale_factor]
        else:
            scale_factors = [float(scale_factor)] * max(dim, 0)
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an "
                         "explicit size.")
    if output_size is None:
        # PyTorch computes the size from the scale in double precision
        output_size = [int(math.floor(float(spatial[i]) * scale_factors[i]))
                       for i in range(dim)]
        if recompute_scale_factor:
            scale_factors = None
    if antialias and not (mode in ("bilinear", "bicubic")
                          and input.dim() == 4):
        raise ValueError(
            "Anti-alias option is restricted to bilinear, bicubic, and "
            "lanczos modes and requires a 4-D tensor as input")
    if mode not in _MODES or input.dim() not in (3, 4, 5):
        raise NotImplementedError(
            "Input Error: Only 3D, 4D and 5D input Tensors supported (got "
            f"{input.dim()}D) for the modes: nearest | linear | bilinear | "
            f"bicubic | trilinear | lanczos | area | nearest-exact (got "
            f"{mode})")
    need = _NEEDS.get(mode)
    if need is not None and need != input.dim():
        raise NotImplementedError(f"Got {input.dim()}D input, but {mode} "
                                  f"mode needs {need}D input")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not "
                                  "supported")
    if mode in ("bicubic", "area", "trilinear") or input.dim() == 5:
        raise NotImplementedError(f"interpolate: mode '{mode}' with "
                                  f"{input.dim()}D input is not supported")
    if input.dtype.is_floating_point is False:
        kernel = {"linear": "upsample_linear1d",
                  "bilinear": "upsample_bilinear2d_channels_last"}.get(
                      mode, "upsample_nearest2d_channels_last")
        raise NotImplementedError(
            f'"{kernel}" not implemented for '
            f"'{torch_type_name(input.dtype)}'")
    scales = list(scale_factors) if scale_factors is not None \
        else [None] * dim
    in_sizes = list(spatial)
    out_sizes = list(output_size)
    one_d = input.dim() == 3
    if one_d:                      # (N, C, W) as (N, C, 1, W)
        in_sizes = [1] + in_sizes
        out_sizes = [1] + out_sizes
        scales = [None] + scales
    if any(s <= 0 for s in in_sizes + out_sizes):
        if one_d:
            raise RuntimeError(
                "Input and output sizes should be greater than 0, but got "
                f"input (W: {in_sizes[1]}) and output (W: {out_sizes[1]})")
        raise RuntimeError(
            "Input and output sizes should be greater than 0, but got input "
            f"(H: {in_sizes[0]}, W: {in_sizes[1]}) output (H: "
            f"{out_sizes[0]}, W: {out_sizes[1]})")
    kind = "bilinear" if mode in ("linear", "bilinear") else mode
    geom = _Resample(kind, tuple(in_sizes), tuple(out_sizes),
                     bool(align_corners), scales)
    x = input.unsqueeze(-2) if one_d else input
    out = _upsample(x, geom=geom)
    return out.squeeze(-2) if one_d else out


def upsample(input, size=None, scale_factor=None, mode="nearest",
             align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="bilinear",
                       align_corners=True)


# ---- pad --------------------------------------------------------------------
@op("constant_pad_nd", node_name="ConstantPadNdBackward0")
def _constant_pad(ctx, x, *, pads, value):
    """``pads``: (before, after) per dimension, leading dims included.
    Negative amounts crop."""
    out_shape = tuple(s + a + b for s, (a, b) in zip(x.shape, pads))
    if isinstance(value, float) and x.dtype.kind in "iub":
        value = int(value) if x.dtype.kind != "b" else bool(value)
    # x may be a DeviceArray: the CUDA twin is this same function
    out = filled(out_shape, value, x.dtype, device_of(x))
    src = tuple(slice(max(-a, 0), s - max(-b, 0))
                for s, (a, b) in zip(x.shape, pads))
    dst = tuple(slice(max(a, 0), o - max(b, 0))
                for o, (a, b) in zip(out_shape, pads))
    if out.size and x.size:
        out[dst] = x[src]
    return out


@_constant_pad.backward
def _(ctx, g):
    pads = tuple((-a, -b) for a, b in ctx.params["pads"])
    return (_constant_pad(g, pads=pads, value=0),)


def _source_index(size, before, after, mode):
    """Source position of every output position along one axis."""
    o = np.arange(size + before + after, dtype=np.int64) - before
    if mode == "reflect":
        if size == 1:
            return np.zeros_like(o)
        period = 2 * (size - 1)
        o = np.abs(o) % period
        return np.where(o >= size, period - o, o)
    if mode == "replicate":
        return np.clip(o, 0, size - 1)
    # circular, as PyTorch does it: crop by the negative amounts first,
    # then wrap around what is left
    start = max(-before, 0)
    length = size - start - max(-after, 0)
    return start + (o + before - max(before, 0)) % max(length, 1)


@op("index_pad", node_name="IndexPadBackward0")
def _index_pad(ctx, x, *, axes, maps):
    """``maps``: (source index per output position, amount before) per
    padded axis."""
    ctx.in_shape = x.shape
    out = x
    for axis, (idx, _) in zip(axes, maps):
        out = np.take(out, idx, axis=axis)
    return np.ascontiguousarray(out)


@_index_pad.backward
def _(ctx, g):
    return (_index_pad_back(g, axes=ctx.params["axes"],
                            maps=ctx.params["maps"],
                            in_shape=ctx.in_shape),)


@op("index_pad_backward", node_name="IndexPadBackwardBackward0")
def _index_pad_back(ctx, g, *, axes, maps, in_shape):
    out = g
    for axis, (idx, before) in reversed(list(zip(axes, maps))):
        out = _scatter_axis(out, idx, before, axis, in_shape[axis])
    return out


@_index_pad_back.backward
def _(ctx, gg):
    return (_index_pad(gg, axes=ctx.params["axes"],
                       maps=ctx.params["maps"]),)


def _scatter_axis(g, idx, before, axis, size):
    """result[..., j, ...] = sum of g[..., o, ...] over o with idx[o] == j:
    the un-padded run in one slice, the border positions one by one."""
    g = np.moveaxis(g, axis, 0)
    result = np.zeros((size,) + g.shape[1:], dtype=g.dtype)
    n = len(idx)
    lo = max(before, 0)
    hi = max(min(before + size, n), lo)
    if hi > lo:
        result[lo - before:hi - before] += g[lo:hi]
    for o in range(n):
        if not lo <= o < hi:
            result[idx[o]] += g[o]
    return np.ascontiguousarray(np.moveaxis(result, 0, axis))


_PAD_MODES = {"constant": 0, "reflect": 1, "replicate": 2, "circular": 3}


def _pad_pairs(pad, ndim):
    """F.pad's flat (last dim first) list -> (before, after) per dim."""
    pairs = [(0, 0)] * ndim
    for i in range(len(pad) // 2):
        pairs[ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return pairs


def pad(input, pad, mode="constant", value=None):
    check_tensor(input, "pad")
    pad = [int(p) for p in pad]
    ndim = input.dim()
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) > 2 * ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the "
            f"input dimension but got padding length {len(pad)} and input "
            f"of dimension {ndim}")
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    shape = input._shape
    pairs = _pad_pairs(pad, ndim)
    if mode == "constant":
        for d, (a, b) in enumerate(pairs):
            if shape[d] + a + b < 0:
                raise RuntimeError(
                    f"The input size {shape[d]}, plus negative padding {a} "
                    f"and {b} resulted in a negative output size, which is "
                    f"invalid. Check dimension {d} of your input.")
        if all(a == 0 and b == 0 for a, b in pairs):
            from .shape import clone
            return clone(input)
        return _constant_pad(input, pads=tuple(pairs),
                             value=0 if value is None else value)
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value '
                           "argument")
    k = len(pad) // 2
    if not (k in (1, 2, 3) and ndim in (k + 1, k + 2)):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {ndim}D input "
            "tensor.\nSupported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    first = ndim - k
    if mode in ("reflect", "replicate"):
        batch = ndim == k + 2
        bad = any(s == 0 for s in shape[1 if batch else 0:])
        if bad:
            raise RuntimeError(
                f"Expected {k + 1}D or {k + 2}D (batch mode) tensor with "
                "possibly 0 batch size and other non-zero dimensions for "
                f"input, but got: {list(shape)}")
    axes, maps = [], []
    for d in range(first, ndim):
        a, b = pairs[d]
        size = shape[d]
        if mode == "reflect" and (a >= size or b >= size):
            raise RuntimeError(
                f"Argument #{4 + 2 * (ndim - 1 - d)}: Padding size should be "
                "less than the corresponding input dimension, but got: "
                f"padding ({a}, {b}) at dimension {d} of input "
                f"{list(shape)}")
        if mode == "circular" and (a > size or b > size):
            raise RuntimeError("Padding value causes wrapping around more "
                               "than once.")
        if mode == "circular" and (size + min(a, 0) + min(b, 0) <= 0
                                   or max(a, 0) > size + min(b, 0)
                                   or max(b, 0) > size + min(a, 0)):
            raise RuntimeError("Negative padding value is resulting in an "
                               "empty dimension")
        if size + a + b <= 0:
            raise RuntimeError(
                f"input (W: {size}) is too small. Calculated output W: "
                f"{size + a + b}")
        if a == 0 and b == 0:
            continue
        axes.append(d)
        maps.append((_source_index(size, a, b, mode), a))
    if not axes:
        from .shape import clone
        return clone(input)
    return _index_pad(input, axes=tuple(axes), maps=tuple(maps))
