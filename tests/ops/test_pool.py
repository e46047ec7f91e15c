"""max/avg/adaptive pooling: values, indices and gradients against PyTorch,
second-order gradients, finite-difference gradcheck/gradgradcheck, and
PyTorch's errors."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.autograd import grad, gradcheck, gradgradcheck
from numgrad.ops import pool

TOL = {np.float32: dict(rtol=1e-5, atol=1e-5),
       np.float64: dict(rtol=1e-10, atol=1e-10)}
DTYPES = [np.float32, np.float64]


def _compare(torch, name, x, kw, gy_seed=1):
    """Forward (and indices) plus the input gradient for a random upstream
    gradient, ours against torch.nn.functional.<name>."""
    dtype = x.dtype.type
    ours_fn = getattr(pool, name)
    theirs_fn = getattr(torch.nn.functional, name)
    a = ng.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    y = ours_fn(a, **kw)
    ty = theirs_fn(t, **kw)
    if kw.get("return_indices"):
        (y, idx), (ty, tidx) = y, ty
        assert idx.dtype is ng.int64
        np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    assert tuple(y.shape) == tuple(ty.shape)
    assert y.dtype.name == np.dtype(dtype).name
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(),
                               **TOL[dtype])
    gy = np.random.default_rng(gy_seed).standard_normal(
        tuple(ty.shape)).astype(dtype)
    (y * ng.tensor(gy)).sum().backward()
    (ty * torch.tensor(gy)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), **TOL[dtype])
    assert a.grad.dtype.name == np.dtype(dtype).name


def _input(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


MAX_CASES = [
    ((2, 3, 7, 8), dict(kernel_size=2)),
    ((2, 3, 7, 8), dict(kernel_size=3, stride=2, padding=1)),
    ((3, 9, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))),
    ((2, 2, 9, 10), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ((2, 2, 9, 10), dict(kernel_size=2, stride=2, padding=1,
                         ceil_mode=True)),
    ((1, 2, 10, 9), dict(kernel_size=3, dilation=2, padding=1)),
    ((1, 2, 11, 10), dict(kernel_size=(2, 3), stride=(3, 2),
                          dilation=(3, 2), padding=(1, 1), ceil_mode=True)),
    ((2, 2, 5, 5), dict(kernel_size=5)),
    ((2, 2, 6, 6), dict(kernel_size=1, stride=3)),
    # large enough for the parallel kernels
    ((2, 16, 40, 36), dict(kernel_size=3, stride=2, padding=1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kw", MAX_CASES)
def test_max_pool2d(torch, shape, kw, dtype):
    _compare(torch, "max_pool2d", _input(shape, dtype),
             dict(kw, return_indices=True))


def test_max_pool2d_overlapping_windows_accumulate(torch):
    # stride 1 windows share their maximum: its gradient adds up
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 5.0
    _compare(torch, "max_pool2d", x, dict(kernel_size=3, stride=1))


def test_max_pool2d_nan_and_inf_follow_torch(torch):
    nan, inf = float("nan"), float("inf")
    x = np.array([[[[nan, 1.0, -inf, -inf],
                    [2.0, nan, -inf, -inf],
                    [0.0, 3.0, 3.0, 1.0],
                    [3.0, 0.0, 1.0, 3.0]]]])
    a = pool.max_pool2d(ng.tensor(x), 2, return_indices=True)
    t = torch.nn.functional.max_pool2d(torch.tensor(x), 2,
                                       return_indices=True)
    np.testing.assert_array_equal(a[0].numpy(), t[0].numpy())
    np.testing.assert_array_equal(a[1].numpy(), t[1].numpy())


def test_max_pool2d_float16(torch):
    x = _input((2, 3, 6, 6), np.float16)
    y = pool.max_pool2d(ng.tensor(x), 2)
    assert y.dtype is ng.float16
    ty = torch.nn.functional.max_pool2d(torch.tensor(x), 2)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())


def test_max_pool2d_non_contiguous_input(torch):
    x = _input((2, 3, 8, 6), np.float64)
    a = ng.tensor(x, requires_grad=True)
    y = pool.max_pool2d(a.transpose(2, 3), 2, stride=1)
    y.sum().backward()
    t = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.max_pool2d(t.transpose(2, 3), 2, stride=1)
    ty.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy())
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy())


AVG_CASES = [
    ((2, 3, 7, 8), dict(kernel_size=2)),
    ((2, 3, 7, 8), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 7, 8), dict(kernel_size=3, stride=2, padding=1,
                        count_include_pad=False)),
    ((3, 9, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1))),
    ((2, 2, 9, 10), dict(kernel_size=3, stride=2, padding=1,
                         ceil_mode=True)),
    ((2, 2, 9, 10), dict(kernel_size=3, stride=2, padding=1,
                         ceil_mode=True, count_include_pad=False)),
    ((2, 2, 8, 8), dict(kernel_size=3, stride=2, padding=1,
                        divisor_override=4)),
    ((2, 2, 6, 7), dict(kernel_size=(2, 4), stride=(3, 2))),
    ((2, 16, 40, 36), dict(kernel_size=3, stride=2, padding=1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kw", AVG_CASES)
def test_avg_pool2d(torch, shape, kw, dtype):
    _compare(torch, "avg_pool2d", _input(shape, dtype), kw)


ADAPTIVE_CASES = [
    ((2, 3, 7, 8), 1),
    ((2, 3, 7, 8), (3, 4)),
    ((2, 3, 7, 8), (5, 3)),
    ((3, 10, 9), (4, None)),
    ((2, 3, 4, 5), (6, 7)),        # larger than the input: windows overlap
    ((2, 3, 6, 6), 6),
    ((2, 16, 40, 36), (7, 7)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,size", ADAPTIVE_CASES)
def test_adaptive_avg_pool2d(torch, shape, size, dtype):
    _compare(torch, "adaptive_avg_pool2d", _input(shape, dtype),
             dict(output_size=size))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,size", ADAPTIVE_CASES)
def test_adaptive_max_pool2d(torch, shape, size, dtype):
    _compare(torch, "adaptive_max_pool2d", _input(shape, dtype),
             dict(output_size=size, return_indices=True))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,shape,kw", [
    ("max_pool1d", (2, 3, 11), dict(kernel_size=3, stride=2, padding=1,
                                    return_indices=True)),
    ("max_pool1d", (3, 11), dict(kernel_size=2, dilation=2,
                                 ceil_mode=True)),
    ("avg_pool1d", (2, 3, 11), dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool1d", (3, 11), dict(kernel_size=4, stride=3, padding=2,
                                 ceil_mode=True, count_include_pad=False)),
    ("adaptive_avg_pool1d", (2, 3, 11), dict(output_size=4)),
    ("adaptive_max_pool1d", (2, 3, 11), dict(output_size=4,
                                             return_indices=True)),
])
def test_pool1d(torch, name, shape, kw, dtype):
    _compare(torch, name, _input(shape, dtype), kw)


# ---- second order -----------------------------------------------------------
def _double_backward(torch, name, x, kw):
    """d/d(v) and d/d(x) of sum(grad_x(y . v) ** 2) vs torch."""
    rng = np.random.default_rng(3)
    ours_fn = getattr(pool, name)
    theirs_fn = getattr(torch.nn.functional, name)
    a = ng.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    y = ours_fn(a, **kw)
    ty = theirs_fn(t, **kw)
    v = rng.standard_normal(tuple(ty.shape))
    va = ng.tensor(v, requires_grad=True)
    vt = torch.tensor(v, requires_grad=True)
    (ga,) = grad(y, a, va, create_graph=True)
    (gt,) = torch.autograd.grad(ty, t, vt, create_graph=True)
    np.testing.assert_allclose(ga.detach().numpy(), gt.detach().numpy(),
                               rtol=1e-10, atol=1e-12)
    (ga * ga).sum().backward()
    (gt * gt).sum().backward()
    np.testing.assert_allclose(va.grad.numpy(), vt.grad.numpy(),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,kw", [
    ("max_pool2d", dict(kernel_size=3, stride=1, padding=1)),
    ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1,
                        count_include_pad=False, ceil_mode=True)),
    ("adaptive_avg_pool2d", dict(output_size=(3, 4))),
    ("adaptive_max_pool2d", dict(output_size=(3, 4))),
])
def test_double_backward_matches_torch(torch, name, kw):
    _double_backward(torch, name, _input((2, 2, 6, 7), np.float64), kw)


GRADCHECK = [
    (pool.max_pool2d, dict(kernel_size=2, stride=1)),
    (pool.max_pool2d, dict(kernel_size=3, stride=2, padding=1,
                           dilation=(1, 2), ceil_mode=True)),
    (pool.avg_pool2d, dict(kernel_size=2, stride=1, padding=1)),
    (pool.avg_pool2d, dict(kernel_size=3, stride=2, padding=1,
                           count_include_pad=False, ceil_mode=True)),
    (pool.adaptive_avg_pool2d, dict(output_size=(2, 3))),
    (pool.adaptive_max_pool2d, dict(output_size=(2, 3))),
    (pool.max_pool1d, dict(kernel_size=2)),
    (pool.avg_pool1d, dict(kernel_size=2, padding=1)),
]


@pytest.mark.parametrize("fn,kw", GRADCHECK,
                         ids=[f"{f.__name__}{i}"
                              for i, (f, _) in enumerate(GRADCHECK)])
def test_gradcheck_and_gradgradcheck(fn, kw):
    shape = (1, 2, 4, 5) if "1d" not in fn.__name__ else (2, 5)
    # distinct values keep finite differences away from max ties
    x = np.random.default_rng(5).permutation(np.prod(shape)).reshape(shape)
    x = ng.tensor(x / 7.0, requires_grad=True)
    assert gradcheck(lambda t: fn(t, **kw), (x,))
    assert gradgradcheck(lambda t: fn(t, **kw), (x,))


def test_max_pool2d_backward_is_not_saved_on_input_version():
    # an in-place change of the input after pooling does not matter:
    # only the indices are saved
    x = ng.tensor(_input((1, 1, 4, 4), np.float64), requires_grad=True)
    y = pool.max_pool2d(x * 1.0, 2)
    y.sum().backward()
    assert x.grad.numpy().sum() == 4.0


def test_no_graph_without_grad():
    x = ng.tensor(_input((1, 1, 4, 4), np.float64))
    assert pool.max_pool2d(x, 2).grad_fn is None
    assert pool.avg_pool2d(x, 2).grad_fn is None
    with ng.no_grad():
        y = pool.max_pool2d(ng.tensor(x.numpy(), requires_grad=True), 2)
    assert y.grad_fn is None


# ---- errors -----------------------------------------------------------------
# (function, input shape, args, kwargs, exception, words); torch raises the
# same type with the same words unless the last field says otherwise.
ERRORS = [
    ("max_pool2d", (1, 1, 4, 4), ((2, 2, 2),), {}, RuntimeError,
     "kernel_size must either be a single int"),
    ("max_pool2d", (1, 1, 4, 4), (2,), dict(stride=(1, 2, 3)), RuntimeError,
     "stride must either be omitted"),
    ("max_pool2d", (1, 1, 4, 4), (2,), dict(padding=(1, 1, 1)),
     RuntimeError, "padding must either be a single int"),
    ("max_pool2d", (1, 1, 4, 4), (2,), dict(stride=0), RuntimeError,
     "stride should not be zero"),
    ("max_pool2d", (1, 1, 4, 4), (2,), dict(padding=2), RuntimeError,
     "pad should be at most half of effective kernel size"),
    ("max_pool2d", (1, 1, 4, 4), (2,), dict(padding=-1), RuntimeError,
     "pad must be non-negative"),
    ("max_pool2d", (1, 1, 4, 4), (2,), dict(dilation=0), RuntimeError,
     "dilation should be greater than zero"),
    ("max_pool2d", (1, 1, 4, 4), (0,), dict(stride=1), RuntimeError,
     "kernel size should be greater than zero"),
    ("max_pool2d", (1, 1, 4, 4), (5,), {}, RuntimeError,
     "Output size is too small"),
    ("max_pool2d", (1, 1, 9, 9), (3,), dict(padding=2, dilation=2),
     RuntimeError, "pad should be smaller than or equal to half of kernel"),
    ("max_pool2d", (4, 4), (2,), {}, RuntimeError, "3D or 4D"),
    ("max_pool2d", (1, 0, 4, 4), (2,), {}, RuntimeError, "3D or 4D"),
    ("avg_pool2d", (1, 1, 4, 4), (2,), dict(divisor_override=0),
     RuntimeError, "divisor must be not zero"),
    ("avg_pool2d", (1, 1, 4, 4), (2,), dict(padding=2), RuntimeError,
     "pad should be at most half"),
    ("avg_pool2d", (1, 1, 4, 4), (5,), {}, RuntimeError,
     "Output size is too small"),
    ("adaptive_avg_pool2d", (4, 4), (2,), {}, RuntimeError,
     "Expected 3D or 4D tensor"),
    ("adaptive_avg_pool2d", (1, 1, 4, 4), ((2, 2, 2),), {}, RuntimeError,
     "output_size must be 2"),
    ("adaptive_avg_pool2d", (1, 1, 4, 4), ((-1, 2),), {}, RuntimeError,
     "greater than or equal to 0"),
    ("adaptive_avg_pool2d", (1, 2, 4, 0), (2,), {}, RuntimeError,
     "non-zero size for non-batch dimensions"),
    ("adaptive_max_pool2d", (4, 4), (2,), {}, RuntimeError,
     "Expected 3D or 4D tensor"),
    ("adaptive_max_pool2d", (1, 1, 4, 4), ((2, 2, 2),), {}, RuntimeError,
     "output_size.size() must be 2"),
    ("max_pool1d", (1, 1, 4, 4), (2,), {}, RuntimeError, "Expected 2D or 3D"),
    ("max_pool1d", (1, 1, 4), ((2, 2),), {}, RuntimeError,
     "kernel_size must be an int"),
    ("max_pool1d", (1, 1, 4), (2,), dict(padding=2), RuntimeError,
     "padding should be at most half of kernel size"),
    ("avg_pool1d", (4,), (2,), {}, RuntimeError,
     "Expected 2 to 3 dimensions"),
    ("avg_pool1d", (1, 1, 4), ((2, 2),), {}, RuntimeError,
     "should contain one int"),
]
ERROR_IDS = [f"{e[0]}-{i}" for i, e in enumerate(ERRORS)]


def _words(match):
    import re
    return re.escape(match)


@pytest.mark.parametrize("name,shape,args,kw,exc,match", ERRORS,
                         ids=ERROR_IDS)
def test_errors(name, shape, args, kw, exc, match):
    x = ng.tensor(np.zeros(shape, np.float32))
    with pytest.raises(exc, match=_words(match)):
        getattr(pool, name)(x, *args, **kw)


@pytest.mark.parametrize("name,shape,args,kw,exc,match", ERRORS,
                         ids=ERROR_IDS)
def test_errors_match_torch(torch, name, shape, args, kw, exc, match):
    x = torch.zeros(shape, requires_grad=True)
    with pytest.raises(exc, match=_words(match)):
        getattr(torch.nn.functional, name)(x, *args, **kw)


def test_other_errors():
    with pytest.raises(TypeError, match="must be Tensor"):
        pool.max_pool2d(np.zeros((1, 1, 4, 4)), 2)
    with pytest.raises(NotImplementedError, match="not implemented for "
                       "'Long'"):
        pool.avg_pool2d(ng.tensor(np.zeros((1, 2, 4, 4), np.int64)), 2)
