"""conv2d / conv1d / conv_transpose2d: values and gradients against PyTorch,
finite-difference gradcheck and gradgradcheck, and PyTorch's errors."""
import warnings

import numpy as np
import pytest

import numgrad as ng
from numgrad.autograd import gradcheck, gradgradcheck
from numgrad.ops.conv import conv1d, conv2d, conv_transpose2d

TOL = {np.float32: dict(rtol=2e-4, atol=2e-4),
       np.float64: dict(rtol=1e-9, atol=1e-9)}


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _compare(torch, ours_fn, torch_fn, x_shape, w_shape, b_shape, dtype,
             rng=None, **kw):
    """Forward and every gradient (with a random upstream gradient)."""
    rng = rng or np.random.default_rng(0)
    x = _rand(rng, x_shape, dtype)
    w = _rand(rng, w_shape, dtype)
    b = _rand(rng, b_shape, dtype) if b_shape else None
    ours = [ng.tensor(a, requires_grad=True) if a is not None else None
            for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) if a is not None else None
              for a in (x, w, b)]
    y = ours_fn(*ours, **kw)
    with warnings.catch_warnings():
        # torch warns that asymmetric 'same' padding copies its input
        warnings.simplefilter("ignore", UserWarning)
        ty = torch_fn(*theirs, **kw)
    assert tuple(y.shape) == tuple(ty.shape)
    tol = TOL[dtype]
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(),
                               **tol)
    gy = _rand(rng, tuple(ty.shape), dtype)
    (y * ng.tensor(gy)).sum().backward()
    (ty * torch.tensor(gy)).sum().backward()
    for name, a, t in zip(("input", "weight", "bias"), ours, theirs):
        if a is None:
            continue
        scale = max(1.0, float(np.abs(t.grad.numpy()).max()))
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(),
                                   rtol=tol["rtol"],
                                   atol=tol["atol"] * scale,
                                   err_msg=f"grad of {name}")
        assert a.grad.dtype.name == np.dtype(dtype).name


# (input shape, weight shape, bias?, kwargs)
CONV2D_CASES = [
    ((2, 3, 7, 8), (4, 3, 3, 3), True, {}),
    ((1, 3, 7, 8), (4, 3, 3, 3), False, dict(padding=1)),
    ((2, 3, 9, 8), (5, 3, 3, 2), True, dict(stride=2, padding=(1, 0))),
    ((2, 3, 9, 10), (4, 3, 2, 3), True, dict(stride=(2, 3), padding=(0, 2))),
    ((2, 2, 9, 9), (3, 2, 3, 3), True, dict(dilation=2, padding=2)),
    ((1, 2, 10, 9), (3, 2, 3, 2), False,
     dict(stride=(1, 2), dilation=(2, 3), padding=(1, 2))),
    ((2, 3, 7, 6), (4, 3, 3, 3), True, dict(padding="same")),
    ((2, 3, 7, 6), (4, 3, 4, 2), True, dict(padding="same")),  # asymmetric
    ((1, 2, 8, 7), (3, 2, 2, 3), True, dict(padding="same", dilation=(3, 2))),
    ((2, 3, 6, 5), (4, 3, 3, 3), True, dict(padding="valid")),
    ((2, 4, 7, 7), (6, 2, 3, 3), True, dict(groups=2, padding=1)),
    ((2, 6, 8, 7), (9, 2, 3, 1), False, dict(groups=3, stride=2)),
    ((2, 4, 8, 8), (4, 1, 3, 3), True, dict(groups=4, padding=1)),  # dw
    ((3, 4, 9, 8), (8, 1, 3, 2), True,                               # dw x2
     dict(groups=4, stride=(2, 1), padding=(2, 1), dilation=(1, 2))),
    ((2, 3, 10, 9), (3, 1, 5, 5), False,
     dict(groups=3, stride=3, padding="valid")),
    ((2, 3, 7, 6), (6, 1, 2, 3), True,                               # dw x2
     dict(groups=3, padding="same", dilation=(2, 1))),
    ((2, 4, 6, 5), (5, 4, 1, 1), True, {}),                          # 1x1
    ((2, 4, 7, 6), (5, 4, 1, 1), True, dict(stride=2)),
    ((1, 1, 6, 6), (1, 1, 3, 3), True, dict(padding=1)),
    ((2, 3, 5, 5), (2, 3, 5, 5), True, {}),                # kernel == input
    # large enough for the parallel kernels
    ((4, 16, 24, 20), (16, 16, 3, 3), True, dict(padding=1)),
    ((4, 16, 24, 20), (16, 1, 3, 3), True, dict(groups=16, padding=1)),
    ((3, 8, 25, 22), (12, 4, 3, 3), True,
     dict(groups=2, stride=2, padding="valid", dilation=2)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64],
                         ids=["float32", "float64"])
@pytest.mark.parametrize("case", CONV2D_CASES,
                         ids=[f"case{i}" for i in range(len(CONV2D_CASES))])
def test_conv2d_matches_torch(torch, case, dtype):
    x_shape, w_shape, bias, kw = case
    _compare(torch, conv2d, torch.nn.functional.conv2d, x_shape, w_shape,
             (w_shape[0],) if bias else None, dtype, **kw)


def test_conv2d_unbatched_and_tuple_args(torch):
    _compare(torch, conv2d, torch.nn.functional.conv2d, (3, 7, 6),
             (4, 3, 3, 3), (4,), np.float64, stride=[2, 1], padding=(1,),
             dilation=(1, 1))


def test_conv2d_noncontiguous_input(torch):
    rng = np.random.default_rng(1)
    x = _rand(rng, (2, 7, 6, 3), np.float64)
    w = _rand(rng, (4, 3, 3, 3), np.float64)
    y = conv2d(ng.tensor(x).permute(0, 3, 1, 2), ng.tensor(w), padding=1)
    ty = torch.nn.functional.conv2d(
        torch.tensor(x).permute(0, 3, 1, 2), torch.tensor(w), padding=1)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-10,
                               atol=1e-10)


def test_conv2d_empty_batch(torch):
    y = conv2d(ng.zeros(0, 3, 5, 5), ng.ones(2, 3, 3, 3))
    assert tuple(y.shape) == (0, 2, 3, 3)


def test_conv2d_float16_and_int(torch):
    rng = np.random.default_rng(2)
    x = rng.integers(-3, 4, (1, 2, 5, 5))
    w = rng.integers(-3, 4, (3, 2, 3, 3))
    y = conv2d(ng.tensor(x), ng.tensor(w), padding=1)
    ty = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w),
                                    padding=1)
    assert y.dtype is ng.int64
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    y = conv2d(ng.tensor(x.astype(np.float16)), ng.tensor(
        w.astype(np.float16)))
    assert y.dtype is ng.float16
    np.testing.assert_array_equal(y.numpy(), ty.numpy()[:, :, 1:-1, 1:-1])


# ---- finite differences --------------------------------------------------
GRADCHECK_CASES = [
    ((1, 2, 5, 4), (3, 2, 2, 3), dict(stride=(2, 1), padding=(1, 2))),
    ((2, 2, 5, 5), (2, 2, 2, 2), dict(dilation=2, padding="same")),
    ((1, 4, 4, 5), (4, 2, 3, 2), dict(groups=2, padding=1, stride=2)),
    ((2, 2, 5, 4), (4, 1, 3, 3), dict(groups=2, padding=(1, 0))),  # dw
]


def _leaves(rng, x_shape, w_shape, bias=True):
    x = ng.tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = ng.tensor(rng.standard_normal(w_shape), requires_grad=True)
    b = ng.tensor(rng.standard_normal(w_shape[0]), requires_grad=True) \
        if bias else None
    return x, w, b


@pytest.mark.parametrize("case", GRADCHECK_CASES,
                         ids=[f"case{i}" for i in range(len(GRADCHECK_CASES))])
def test_conv2d_gradcheck(case):
    x_shape, w_shape, kw = case
    x, w, b = _leaves(np.random.default_rng(3), x_shape, w_shape)
    assert gradcheck(lambda x, w, b: conv2d(x, w, b, **kw), (x, w, b))


GRADGRAD_CASES = [
    ((1, 2, 4, 4), (2, 2, 2, 2), dict(stride=2, padding=1)),
    ((1, 2, 4, 3), (2, 2, 2, 2), dict(padding="same", dilation=(1, 2))),
    ((1, 4, 3, 4), (2, 2, 2, 2), dict(groups=2, padding=(1, 0))),
    ((2, 2, 4, 4), (4, 1, 2, 2), dict(groups=2, stride=(1, 2))),  # dw
]


@pytest.mark.parametrize("case", GRADGRAD_CASES,
                         ids=[f"case{i}" for i in range(len(GRADGRAD_CASES))])
def test_conv2d_gradgradcheck(case):
    x_shape, w_shape, kw = case
    x, w, b = _leaves(np.random.default_rng(4), x_shape, w_shape)
    assert gradgradcheck(lambda x, w, b: conv2d(x, w, b, **kw), (x, w, b))


def test_conv2d_double_backward_matches_torch(torch):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 6, 5))
    w = rng.standard_normal((6, 2, 3, 2))
    kw = dict(stride=(2, 1), padding=(1, 1), dilation=(1, 2), groups=2)
    results = []
    for lib, fn in ((ng, conv2d), (torch, torch.nn.functional.conv2d)):
        xt = lib.tensor(x, requires_grad=True)
        wt = lib.tensor(w, requires_grad=True)
        y = fn(xt, wt, **kw)
        gx, gw = lib.autograd.grad((y * y).sum(), (xt, wt),
                                   create_graph=True)
        loss = (gx * gx).sum() + (gw * gw * gw).sum()
        loss.backward()
        results.append([xt.grad.numpy(), wt.grad.numpy()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


# ---- conv1d / conv_transpose2d ---------------------------------------------
CONV1D_CASES = [
    ((2, 3, 11), (4, 3, 3), True, {}),
    ((2, 3, 11), (4, 3, 4), True, dict(padding="same", dilation=2)),
    ((1, 4, 12), (6, 2, 3), False, dict(groups=2, stride=2, padding=1)),
    ((2, 4, 10), (4, 1, 5), True, dict(groups=4, padding=2)),
    ((3, 9), (2, 3, 3), True, dict(stride=3)),  # unbatched
]


@pytest.mark.parametrize("case", CONV1D_CASES,
                         ids=[f"case{i}" for i in range(len(CONV1D_CASES))])
def test_conv1d_matches_torch(torch, case):
    x_shape, w_shape, bias, kw = case
    _compare(torch, conv1d, torch.nn.functional.conv1d, x_shape, w_shape,
             (w_shape[0],) if bias else None, np.float64, **kw)


CONV_T_CASES = [
    ((2, 3, 5, 4), (3, 2, 3, 3), True, {}),
    ((2, 3, 5, 4), (3, 4, 3, 2), True,
     dict(stride=2, padding=1, output_padding=1)),
    ((1, 4, 4, 5), (4, 3, 2, 3), False,
     dict(stride=(2, 3), padding=(0, 1), output_padding=(1, 2), groups=2)),
    ((2, 2, 4, 4), (2, 3, 3, 3), True,
     dict(dilation=2, output_padding=1, padding=1)),  # op < dilation only
    ((2, 4, 5, 5), (4, 1, 3, 3), True, dict(groups=4, stride=2)),
    ((2, 3, 4, 5), (3, 1, 3, 2), True,
     dict(groups=3, dilation=2, output_padding=1, padding=(1, 0))),
    ((3, 5, 4), (3, 2, 3, 3), True, dict(stride=2)),  # unbatched
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64],
                         ids=["float32", "float64"])
@pytest.mark.parametrize("case", CONV_T_CASES,
                         ids=[f"case{i}" for i in range(len(CONV_T_CASES))])
def test_conv_transpose2d_matches_torch(torch, case, dtype):
    x_shape, w_shape, bias, kw = case
    _compare(torch, conv_transpose2d, torch.nn.functional.conv_transpose2d,
             x_shape, w_shape, (w_shape[1] * kw.get("groups", 1),)
             if bias else None, dtype, **kw)


def test_conv_transpose2d_gradcheck():
    rng = np.random.default_rng(6)
    x, w, _ = _leaves(rng, (1, 4, 3, 3), (4, 1, 2, 3), bias=False)
    b = ng.tensor(rng.standard_normal(2), requires_grad=True)
    kw = dict(stride=2, padding=(0, 1), output_padding=(1, 0), groups=2)
    fn = lambda x, w, b: conv_transpose2d(x, w, b, **kw)  # noqa: E731
    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))


def test_conv1d_gradcheck():
    x, w, b = _leaves(np.random.default_rng(7), (2, 2, 6), (3, 2, 3))
    assert gradcheck(lambda x, w, b: conv1d(x, w, b, stride=2, padding=1),
                     (x, w, b))


# ---- errors ---------------------------------------------------------------
def _raises(exc, match, fn):
    with pytest.raises(exc, match=match):
        fn()


def test_errors():
    x = ng.randn(1, 3, 5, 5)
    w = ng.randn(8, 3, 3, 3)
    r = RuntimeError
    _raises(r, r"Given groups=1, weight of size \[8, 3, 3, 3\], expected "
            r"input\[1, 4, 10, 10\] to have 3 channels, but got 4 channels "
            "instead", lambda: conv2d(ng.randn(1, 4, 10, 10), w))
    _raises(r, r"Calculated padded input size per channel: \(2 x 2\)\. "
            r"Kernel size: \(3 x 3\)\. Kernel size can't be greater than "
            "actual input size", lambda: conv2d(ng.randn(1, 3, 2, 2), w))
    _raises(r, r"Kernel size: \(7 x 3\)",
            lambda: conv2d(x, w, dilation=(3, 1)))
    _raises(r, "padding='same' is not supported for strided convolutions",
            lambda: conv2d(x, w, stride=2, padding="same"))
    _raises(r, "Invalid padding string: 'foo'",
            lambda: conv2d(x, w, padding="foo"))
    _raises(r, "expected scalar type Double but found Float",
            lambda: conv2d(x.double(), w))
    _raises(r, "expected scalar type Float but found Double",
            lambda: conv2d(x, w.double()))
    _raises(r, r"Input type \(float\) and bias type \(double\) should be "
            "the same", lambda: conv2d(x, w, ng.randn(8).double()))
    _raises(r, r"expected bias to be 1-dimensional with 8 elements, but got "
            r"bias of size \[7\]", lambda: conv2d(x, w, ng.randn(7)))
    _raises(r, r"Expected 3D \(unbatched\) or 4D \(batched\) input to "
            r"conv2d, but got input of size: \[3, 5\]",
            lambda: conv2d(ng.randn(3, 5), w))
    _raises(r, r"4-dimensional weight", lambda: conv2d(x, ng.randn(8, 3, 3)))
    _raises(r, r"Given groups=3, expected weight to be divisible by 3 at "
            "dimension 0", lambda: conv2d(ng.randn(1, 6, 5, 5),
                                          ng.randn(8, 2, 3, 3), groups=3))
    _raises(r, "expected weight to be at least 4 at dimension 0",
            lambda: conv2d(ng.randn(1, 4, 5, 5), ng.randn(2, 1, 3, 3),
                           groups=4))
    _raises(r, "non-positive groups is not supported",
            lambda: conv2d(x, w, groups=0))
    _raises(r, "non-positive stride is not supported",
            lambda: conv2d(x, w, stride=0))
    _raises(r, "negative padding is not supported",
            lambda: conv2d(x, w, padding=-1))
    _raises(r, r"dilation should be greater than zero, but got \[0, 0\]",
            lambda: conv2d(x, w, dilation=0))
    _raises(r, r"expected stride to be a single integer value or a list of "
            r"2 values .* but got stride=\[1, 2, 3\]",
            lambda: conv2d(x, w, stride=(1, 2, 3)))
    _raises(TypeError, "stride", lambda: conv2d(x, w, stride=1.5))
    _raises(NotImplementedError, "not implemented for 'Bool'",
            lambda: conv2d(x.bool(), w.bool()))
    _raises(TypeError, "weight", lambda: conv2d(x, np.ones((8, 3, 3, 3))))
    # conv1d
    _raises(r, r"Calculated padded input size per channel: \(5\)\. Kernel "
            r"size: \(7\)", lambda: conv1d(ng.randn(1, 3, 5),
                                           ng.randn(2, 3, 7)))
    _raises(r, r"Expected 2D \(unbatched\) or 3D \(batched\) input to "
            "conv1d", lambda: conv1d(ng.randn(5), ng.randn(2, 3, 7)))
    # conv_transpose2d
    _raises(r, "output padding must be smaller than either stride or "
            "dilation", lambda: conv_transpose2d(
                x, ng.randn(3, 2, 3, 3), stride=2, output_padding=2))
    _raises(r, r"Given transposed=1, weight of size \[3, 2, 3, 3\], "
            r"expected input\[1, 4, 5, 5\] to have 3 channels, but got 4 "
            "channels instead", lambda: conv_transpose2d(
                ng.randn(1, 4, 5, 5), ng.randn(3, 2, 3, 3)))
    _raises(r, "Output size is too small", lambda: conv_transpose2d(
        ng.randn(1, 3, 1, 1), ng.randn(3, 2, 1, 1), padding=1))


def test_failed_call_leaves_no_graph():
    x = ng.randn(1, 3, 5, 5, requires_grad=True)
    with pytest.raises(RuntimeError):
        conv2d(x, ng.randn(8, 4, 3, 3, requires_grad=True))
    assert x.grad is None


def test_op_table_entries():
    from numgrad.ops.registry import OP_TABLE
    for name in ("conv2d", "conv2d_input_grad", "conv2d_weight_grad"):
        spec = OP_TABLE[name]
        assert spec.backward_fn is not None
        assert spec.cuda is None


@pytest.mark.parametrize("chunk_bytes", [1, 3000],
                         ids=["row-blocks", "sample-blocks"])
def test_conv2d_blocked_columns(torch, monkeypatch, chunk_bytes):
    """Column buffers split into output-row blocks or sample groups."""
    import numgrad.ops.conv as conv_module
    monkeypatch.setattr(conv_module, "COL_CHUNK_BYTES", chunk_bytes)
    for x_shape, w_shape, kw in [
            ((3, 4, 9, 8), (6, 2, 3, 2),
             dict(groups=2, stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
            ((2, 3, 7, 7), (4, 3, 1, 1), {}),
            ((2, 3, 7, 6), (4, 3, 4, 3), dict(padding="same"))]:
        _compare(torch, conv2d, torch.nn.functional.conv2d, x_shape,
                 w_shape, (w_shape[0],), np.float64, **kw)
    _compare(torch, conv_transpose2d, torch.nn.functional.conv_transpose2d,
             (2, 4, 5, 4), (4, 3, 3, 3), (3,), np.float64, stride=2,
             padding=1, output_padding=1)
