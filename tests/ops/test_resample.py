"""interpolate (nearest, nearest-exact, bilinear, linear) and pad (constant,
reflect, replicate, circular): values and gradients against PyTorch,
second order, gradcheck/gradgradcheck, and PyTorch's errors."""
import re

import numpy as np
import pytest

import numgrad as ng
from numgrad.autograd import grad, gradcheck, gradgradcheck
from numgrad.ops.resample import interpolate, pad

TOL = {np.float32: dict(rtol=1e-5, atol=1e-5),
       np.float64: dict(rtol=1e-10, atol=1e-10)}
DTYPES = [np.float32, np.float64]


def _compare(torch, ours_fn, theirs_fn, x, seed=1):
    dtype = x.dtype.type
    a = ng.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    y = ours_fn(a)
    ty = theirs_fn(t)
    assert tuple(y.shape) == tuple(ty.shape)
    assert y.dtype.name == np.dtype(dtype).name
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(),
                               **TOL[dtype])
    gy = np.random.default_rng(seed).standard_normal(
        tuple(ty.shape)).astype(dtype)
    (y * ng.tensor(gy)).sum().backward()
    (ty * torch.tensor(gy)).sum().backward()
    scale = max(1.0, float(np.abs(t.grad.numpy()).max()))
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(),
                               rtol=TOL[dtype]["rtol"],
                               atol=TOL[dtype]["atol"] * scale)


def _input(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---- interpolate ------------------------------------------------------------
INTERP_CASES = [
    dict(size=(10, 12)),
    dict(size=(3, 4)),
    dict(size=7),
    dict(scale_factor=2),
    dict(scale_factor=(1.7, 0.6)),
    dict(scale_factor=(1.3, 2.5), recompute_scale_factor=True),
    dict(scale_factor=0.35),
    dict(size=(5, 7), mode="nearest-exact"),
    dict(scale_factor=(1.6, 0.7), mode="nearest-exact"),
    dict(size=(10, 12), mode="bilinear"),
    dict(size=(3, 4), mode="bilinear"),
    dict(size=(1, 1), mode="bilinear"),
    dict(size=(10, 12), mode="bilinear", align_corners=True),
    dict(size=(3, 4), mode="bilinear", align_corners=True),
    dict(size=(1, 9), mode="bilinear", align_corners=True),
    dict(scale_factor=2, mode="bilinear"),
    dict(scale_factor=(1.7, 0.6), mode="bilinear"),
    dict(scale_factor=(1.7, 0.6), mode="bilinear", align_corners=True),
    dict(scale_factor=(1.3, 2.5), mode="bilinear",
         recompute_scale_factor=True),
    dict(scale_factor=0.35, mode="bilinear"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", INTERP_CASES,
                         ids=[str(i) for i in range(len(INTERP_CASES))])
def test_interpolate(torch, kw, dtype):
    _compare(torch, lambda x: interpolate(x, **kw),
             lambda x: torch.nn.functional.interpolate(x, **kw),
             _input((2, 3, 5, 7), dtype))


@pytest.mark.parametrize("kw", [
    dict(size=9), dict(scale_factor=1.6), dict(size=4, mode="nearest-exact"),
    dict(size=9, mode="linear"), dict(scale_factor=0.6, mode="linear"),
    dict(size=9, mode="linear", align_corners=True)])
def test_interpolate_3d(torch, kw):
    _compare(torch, lambda x: interpolate(x, **kw),
             lambda x: torch.nn.functional.interpolate(x, **kw),
             _input((2, 3, 6), np.float64))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_interpolate_parallel_kernels(torch, mode):
    kw = dict(scale_factor=2, mode=mode)
    _compare(torch, lambda x: interpolate(x, **kw),
             lambda x: torch.nn.functional.interpolate(x, **kw),
             _input((2, 16, 24, 20), np.float32))


def test_interpolate_non_contiguous_and_float16(torch):
    x = _input((2, 3, 5, 6), np.float64)
    y = interpolate(ng.tensor(x).transpose(2, 3), size=(4, 9),
                    mode="bilinear")
    ty = torch.nn.functional.interpolate(torch.tensor(x).transpose(2, 3),
                                         size=(4, 9), mode="bilinear")
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12)
    h = interpolate(ng.tensor(x.astype(np.float16)), scale_factor=2)
    assert h.dtype is ng.float16
    np.testing.assert_array_equal(h.numpy(), np.repeat(np.repeat(
        x.astype(np.float16), 2, 2), 2, 3))


# ---- pad --------------------------------------------------------------------
PAD_CASES = [
    ((2, 3, 5, 6), (1, 2), "constant", 0.0),
    ((2, 3, 5, 6), (1, 2, 0, 3), "constant", 1.5),
    ((2, 3, 5, 6), (-1, 2, 2, -3), "constant", 0.0),
    ((2, 3, 5, 6), (1, 1, 1, 1, 1, 1, 1, 1), "constant", -2.0),
    ((4, 5), (2, 3), "constant", 0.0),
    ((2, 3, 5), (2, 3), "reflect", None),
    ((3, 5), (4, 1), "reflect", None),
    ((2, 3, 5, 6), (2, 3, 1, 4), "reflect", None),
    ((3, 5, 6), (-2, 3, 1, -1), "reflect", None),
    ((2, 2, 3, 4, 5), (1, 2, 2, 1, 1, 2), "reflect", None),
    ((2, 3, 5), (7, 2), "replicate", None),
    ((2, 3, 5, 6), (2, 9, 1, 4), "replicate", None),
    ((3, 5, 6), (-2, 3, 1, -4), "replicate", None),
    ((2, 2, 3, 4, 5), (1, 2, 2, 1, 1, 3), "replicate", None),
    ((2, 3, 5), (5, 2), "circular", None),
    ((2, 3, 5, 6), (2, 3, 1, 4), "circular", None),
    ((3, 5, 6), (-1, 3, 2, -2), "circular", None),
    ((2, 2, 3, 4, 5), (1, 2, 2, 1, 1, 3), "circular", None),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,p,mode,value", PAD_CASES,
                         ids=[f"{c[2]}{i}" for i, c in enumerate(PAD_CASES)])
def test_pad(torch, shape, p, mode, value, dtype):
    kw = dict(mode=mode) if value is None else dict(mode=mode, value=value)
    _compare(torch, lambda x: pad(x, p, **kw),
             lambda x: torch.nn.functional.pad(x, p, **kw),
             _input(shape, dtype))


def test_pad_integer_and_zero_padding(torch):
    x = np.arange(12).reshape(1, 3, 4)
    y = pad(ng.tensor(x), (1, 1), value=1.5)
    ty = torch.nn.functional.pad(torch.tensor(x), (1, 1), value=1.5)
    assert y.dtype is ng.int64
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    y = pad(ng.tensor(x), (1, 1), mode="reflect")
    np.testing.assert_array_equal(
        y.numpy(), torch.nn.functional.pad(torch.tensor(x), (1, 1),
                                           mode="reflect").numpy())
    a = ng.tensor(x * 1.0, requires_grad=True)
    z = pad(a, (0, 0))
    assert z is not a
    z.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.ones((1, 3, 4)))


# ---- second order -----------------------------------------------------------
SECOND = [
    (lambda x: interpolate(x, size=(7, 4), mode="bilinear"), "bilinear"),
    (lambda x: interpolate(x, scale_factor=1.5), "nearest"),
    (lambda x: pad(x, (2, 1, 1, 2), mode="reflect"), "reflect"),
    (lambda x: pad(x, (-1, 2, 3, 1), mode="constant"), "constant"),
    (lambda x: pad(x, (3, 1, 1, 2), mode="replicate"), "replicate"),
]


@pytest.mark.parametrize("fn,name", SECOND, ids=[s[1] for s in SECOND])
def test_double_backward_matches_torch(torch, fn, name):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 4, 5))
    kw = {"bilinear": dict(size=(7, 4), mode="bilinear"),
          "nearest": dict(scale_factor=1.5)}.get(name)
    if kw is not None:
        tfn = lambda t: torch.nn.functional.interpolate(t, **kw)  # noqa
    else:
        p = {"reflect": (2, 1, 1, 2), "constant": (-1, 2, 3, 1),
             "replicate": (3, 1, 1, 2)}[name]
        tfn = lambda t: torch.nn.functional.pad(t, p, mode=name)  # noqa
    a = ng.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    y, ty = fn(a), tfn(t)
    v = rng.standard_normal(tuple(ty.shape))
    va = ng.tensor(v, requires_grad=True)
    vt = torch.tensor(v, requires_grad=True)
    (ga,) = grad(y, a, va, create_graph=True)
    (gt,) = torch.autograd.grad(ty, t, vt, create_graph=True)
    np.testing.assert_allclose(ga.detach().numpy(), gt.detach().numpy(),
                               rtol=1e-12, atol=1e-12)
    (ga * ga).sum().backward()
    (gt * gt).sum().backward()
    np.testing.assert_allclose(va.grad.numpy(), vt.grad.numpy(), rtol=1e-12,
                               atol=1e-12)


GRADCHECK = [
    ("nearest", lambda x: interpolate(x, size=(3, 5))),
    ("bilinear", lambda x: interpolate(x, scale_factor=(1.5, 0.8),
                                       mode="bilinear")),
    ("bilinear-ac", lambda x: interpolate(x, size=(4, 2), mode="bilinear",
                                          align_corners=True)),
    ("constant", lambda x: pad(x, (1, -1, 2, 0), value=3.0)),
    ("reflect", lambda x: pad(x, (1, 2, 2, 1), mode="reflect")),
    ("replicate", lambda x: pad(x, (3, 1, 0, 2), mode="replicate")),
    ("circular", lambda x: pad(x, (2, 1, 1, 2), mode="circular")),
]


@pytest.mark.parametrize("name,fn", GRADCHECK, ids=[g[0] for g in GRADCHECK])
def test_gradcheck_and_gradgradcheck(name, fn):
    x = ng.tensor(np.random.default_rng(5).standard_normal((1, 2, 3, 4)),
                  requires_grad=True)
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


# ---- errors -----------------------------------------------------------------
# (function name, input shape, kwargs, exception, words): torch raises the
# same type with the same words.
ERRORS = [
    ("interpolate", (1, 2, 4, 5), {}, ValueError,
     "either size or scale_factor should be defined"),
    ("interpolate", (1, 2, 4, 5), dict(size=3, scale_factor=2), ValueError,
     "only one of size or scale_factor should be defined"),
    ("interpolate", (1, 2, 4, 5), dict(size=(3,)), ValueError,
     "Input and output must have the same number of spatial dimensions"),
    ("interpolate", (1, 2, 4, 5), dict(scale_factor=(2.0,)), ValueError,
     "Input and scale_factor must have the same number of spatial "
     "dimensions"),
    ("interpolate", (1, 2, 4, 5), dict(size=3, align_corners=True),
     ValueError, "align_corners option can only be set with the "
     "interpolating modes"),
    ("interpolate", (1, 2, 4, 5), dict(size=3, mode="foo"),
     NotImplementedError, "Input Error: Only 3D, 4D and 5D input Tensors "
     "supported (got 4D)"),
    ("interpolate", (1, 2, 4, 5), dict(size=3, mode="linear"),
     NotImplementedError, "Got 4D input, but linear mode needs 3D input"),
    ("interpolate", (1, 2, 4), dict(size=3, mode="bilinear"),
     NotImplementedError, "Got 3D input, but bilinear mode needs 4D input"),
    ("interpolate", (4, 5), dict(size=3), NotImplementedError,
     "Only 3D, 4D and 5D input Tensors supported (got 2D)"),
    ("interpolate", (1, 2, 4, 5), dict(size=3, antialias=True), ValueError,
     "Anti-alias option is restricted to bilinear, bicubic"),
    ("interpolate", (1, 2, 4, 5), dict(size=(0, 3)), RuntimeError,
     "Input and output sizes should be greater than 0"),
    ("interpolate", (1, 2, 4, 5), dict(scale_factor=0.1, mode="bilinear"),
     RuntimeError, "Input and output sizes should be greater than 0"),
    ("interpolate", (1, 2, 4, 5), dict(size=(2, 3),
                                       recompute_scale_factor=True),
     ValueError, "recompute_scale_factor is not meaningful with an explicit "
     "size"),
    ("interpolate", (1, 2, 4, 5), dict(size=(2, 3.0)), TypeError,
     "expected size to be one of int"),
    ("pad", (1, 2, 4, 5), dict(pad=(1,)), RuntimeError,
     "Padding length must be divisible by 2"),
    ("pad", (1, 2, 4, 5), dict(pad=(1, 1) * 5), RuntimeError,
     "Padding length should be less than or equal to two times the input "
     "dimension"),
    ("pad", (1, 2, 4, 5), dict(pad=(1, 1), mode="reflect", value=1.0),
     RuntimeError, "Padding mode \"reflect\" doesn't take in value "
     "argument"),
    ("pad", (1, 2, 4, 5), dict(pad=(1, 1), mode="reflect"),
     NotImplementedError, "Padding size 2 is not supported for 4D input"),
    ("pad", (1, 2, 4, 5), dict(pad=(1, 1, 4, 1), mode="reflect"),
     RuntimeError, "Argument #6: Padding size should be less than the "
     "corresponding input dimension, but got: padding (4, 1) at dimension 2 "
     "of input [1, 2, 4, 5]"),
    ("pad", (1, 1, 5), dict(pad=(-6, 1), mode="replicate"), RuntimeError,
     "is too small"),
    ("pad", (1, 1, 5), dict(pad=(6, 1), mode="circular"), RuntimeError,
     "Padding value causes wrapping around more than once"),
    ("pad", (1, 1, 5), dict(pad=(1, 1), mode="foo"), NotImplementedError,
     "Unrecognised padding mode foo"),
    ("pad", (1, 0, 4), dict(pad=(1, 1), mode="reflect"), RuntimeError,
     "Expected 2D or 3D (batch mode) tensor with possibly 0 batch size and "
     "other non-zero dimensions for input"),
]
ERROR_IDS = [f"{e[0]}-{i}" for i, e in enumerate(ERRORS)]


@pytest.mark.parametrize("name,shape,kw,exc,match", ERRORS, ids=ERROR_IDS)
def test_errors(name, shape, kw, exc, match):
    fn = {"interpolate": interpolate, "pad": pad}[name]
    with pytest.raises(exc, match=re.escape(match)):
        fn(ng.tensor(np.zeros(shape, np.float32)), **kw)


@pytest.mark.parametrize("name,shape,kw,exc,match", ERRORS, ids=ERROR_IDS)
def test_errors_match_torch(torch, name, shape, kw, exc, match):
    fn = getattr(torch.nn.functional, name)
    with pytest.raises(exc, match=re.escape(match)):
        fn(torch.zeros(shape), **kw)


def test_other_errors():
    with pytest.raises(RuntimeError, match="negative output size"):
        pad(ng.tensor(np.zeros((1, 1, 5))), (-3, -3))
    with pytest.raises(NotImplementedError, match="not implemented for "
                       "'Long'"):
        interpolate(ng.tensor(np.zeros((1, 1, 2, 2), np.int64)),
                    scale_factor=2)
    with pytest.raises(NotImplementedError, match="antialias"):
        interpolate(ng.tensor(np.zeros((1, 1, 2, 2))), scale_factor=2,
                    mode="bilinear", antialias=True)
