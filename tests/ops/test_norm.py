"""batch_norm, layer_norm, group_norm: values, every gradient and the
running-statistics updates against PyTorch; the fused backward against the
differentiable (create_graph) one; gradcheck/gradgradcheck; errors."""
import re

import numpy as np
import pytest

import numgrad as ng
from numgrad.autograd import grad, gradcheck, gradgradcheck
from numgrad.ops import norm

TOL = {np.float32: dict(rtol=1e-4, atol=1e-4),
       np.float64: dict(rtol=1e-9, atol=1e-9)}
DTYPES = [np.float32, np.float64]


def _rand(rng, shape, dtype, loc=0.0, scale=1.0):
    return (rng.standard_normal(shape) * scale + loc).astype(dtype)


def _pair(a, requires_grad=True):
    import torch
    if a is None:
        return None, None
    return (ng.tensor(a, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


def _check_grads(pairs, dtype):
    tol = TOL[dtype]
    for name, (a, t) in pairs.items():
        if a is None:
            continue
        scale = max(1.0, float(np.abs(t.grad.numpy()).max()))
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(),
                                   rtol=tol["rtol"], atol=tol["atol"] * scale,
                                   err_msg=f"grad of {name}")
        assert a.grad.dtype.name == np.dtype(dtype).name


def _run(torch, ours_fn, theirs_fn, pairs, dtype, rng):
    y = ours_fn(*[p[0] for p in pairs.values()])
    ty = theirs_fn(*[p[1] for p in pairs.values()])
    assert tuple(y.shape) == tuple(ty.shape)
    assert y.dtype.name == np.dtype(dtype).name
    scale = max(1.0, float(np.abs(ty.detach().numpy()).max()))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(),
                               rtol=TOL[dtype]["rtol"],
                               atol=TOL[dtype]["atol"] * scale)
    gy = _rand(rng, tuple(ty.shape), dtype)
    (y * ng.tensor(gy)).sum().backward()
    (ty * torch.tensor(gy)).sum().backward()
    _check_grads(pairs, dtype)


# ---- batch_norm -------------------------------------------------------------
BN_SHAPES = [(6, 4), (4, 3, 7), (3, 4, 5, 6), (2, 3, 2, 3, 2),
             (4, 16, 20, 18)]   # the last one runs the parallel kernels


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm(torch, shape, training, affine, dtype):
    rng = np.random.default_rng(0)
    c = shape[1]
    x = _rand(rng, shape, dtype, loc=3.0, scale=2.0)
    pairs = {"input": _pair(x)}
    if affine:
        pairs["weight"] = _pair(_rand(rng, (c,), dtype))
        pairs["bias"] = _pair(_rand(rng, (c,), dtype))
    rm = _rand(rng, (c,), dtype)
    rv = rng.uniform(0.5, 2.0, c).astype(dtype)
    ng_rm, t_rm = _pair(rm, False)
    ng_rv, t_rv = _pair(rv, False)

    def ours(x, w=None, b=None):
        return norm.batch_norm(x, ng_rm, ng_rv, w, b, training=training,
                               momentum=0.3, eps=1e-3)

    def theirs(x, w=None, b=None):
        return torch.nn.functional.batch_norm(x, t_rm, t_rv, w, b,
                                              training=training,
                                              momentum=0.3, eps=1e-3)

    _run(torch, ours, theirs, pairs, dtype, rng)
    np.testing.assert_allclose(ng_rm.numpy(), t_rm.numpy(), **TOL[dtype])
    np.testing.assert_allclose(ng_rv.numpy(), t_rv.numpy(), **TOL[dtype])
    assert ng_rm._version.value == (1 if training else 0)
    assert ng_rv._version.value == (1 if training else 0)


def test_batch_norm_running_stats_over_steps(torch):
    rng = np.random.default_rng(1)
    ng_rm, ng_rv = ng.zeros(3), ng.ones(3)
    t_rm, t_rv = torch.zeros(3), torch.ones(3)
    for step in range(3):
        x = _rand(rng, (5, 3, 4), np.float32, loc=step)
        norm.batch_norm(ng.tensor(x), ng_rm, ng_rv, training=True,
                        momentum=0.25)
        torch.nn.functional.batch_norm(torch.tensor(x), t_rm, t_rv,
                                       training=True, momentum=0.25)
    np.testing.assert_allclose(ng_rm.numpy(), t_rm.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ng_rv.numpy(), t_rv.numpy(), rtol=1e-6)
    assert ng_rm._version.value == 3
    # training without running statistics, and eval after training
    y = norm.batch_norm(ng.tensor(x), None, None, training=True)
    ty = torch.nn.functional.batch_norm(torch.tensor(x), None, None,
                                        training=True)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-5)
    y = norm.batch_norm(ng.tensor(x), ng_rm, ng_rv)
    ty = torch.nn.functional.batch_norm(torch.tensor(x), t_rm, t_rv)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-5)


def test_batch_norm_running_stat_update_invalidates_saved_use():
    # a running statistic saved by another graph sees the in-place update
    rm = ng.zeros(2, requires_grad=False)
    w = ng.ones(2, requires_grad=True)
    y = (rm * w).sum()
    norm.batch_norm(ng.randn(4, 2), rm, ng.ones(2), training=True)
    with pytest.raises(RuntimeError, match="modified by an inplace"):
        y.backward()


def test_batch_norm_large_offset_is_stable(torch):
    # one-sweep statistics must not cancel catastrophically
    rng = np.random.default_rng(2)
    x = _rand(rng, (8, 3, 50), np.float64, loc=1e6, scale=1e-2)
    y = norm.batch_norm(ng.tensor(x), None, None, training=True)
    ty = torch.nn.functional.batch_norm(torch.tensor(x), None, None,
                                        training=True)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-6, atol=1e-6)
    x32 = _rand(rng, (8, 3, 50), np.float32, loc=3000.0, scale=1e-2)
    y = norm.batch_norm(ng.tensor(x32), None, None, training=True, eps=0)
    ref = (x32 - x32.mean((0, 2), keepdims=True, dtype=np.float64)) / \
        x32.std((0, 2), keepdims=True, dtype=np.float64)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-3, atol=1e-3)


def test_batch_norm_float16(torch):
    x = _rand(np.random.default_rng(3), (4, 3, 5), np.float16)
    y = norm.batch_norm(ng.tensor(x), None, None, training=True)
    assert y.dtype is ng.float16
    ty = torch.nn.functional.batch_norm(torch.tensor(x).float(), None, None,
                                        training=True)
    np.testing.assert_allclose(y.numpy().astype(np.float32), ty.numpy(),
                               rtol=1e-2, atol=1e-2)


# ---- layer_norm / group_norm ------------------------------------------------
LN_CASES = [((4, 7), (7,)), ((2, 3, 5), (5,)), ((2, 3, 4, 5), (4, 5)),
            ((3, 6), (3, 6)), ((64, 96), (96,))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("shape,nshape", LN_CASES)
def test_layer_norm(torch, shape, nshape, affine, dtype):
    rng = np.random.default_rng(0)
    pairs = {"input": _pair(_rand(rng, shape, dtype, loc=2.0, scale=3.0))}
    if affine != "none":
        pairs["weight"] = _pair(_rand(rng, nshape, dtype))
    if affine == "both":
        pairs["bias"] = _pair(_rand(rng, nshape, dtype))

    def ours(x, w=None, b=None):
        return norm.layer_norm(x, nshape, w, b, eps=1e-4)

    def theirs(x, w=None, b=None):
        return torch.nn.functional.layer_norm(x, nshape, w, b, eps=1e-4)

    _run(torch, ours, theirs, pairs, dtype, rng)


GN_CASES = [((4, 6), 3), ((2, 6, 5), 2), ((2, 4, 3, 5), 4), ((3, 6, 2, 2), 1),
            ((2, 6, 4, 2, 3), 3)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape,groups", GN_CASES)
def test_group_norm(torch, shape, groups, affine, dtype):
    rng = np.random.default_rng(0)
    c = shape[1]
    pairs = {"input": _pair(_rand(rng, shape, dtype, loc=-1.0, scale=2.0))}
    if affine:
        pairs["weight"] = _pair(_rand(rng, (c,), dtype))
        pairs["bias"] = _pair(_rand(rng, (c,), dtype))

    def ours(x, w=None, b=None):
        return norm.group_norm(x, groups, w, b, eps=1e-4)

    def theirs(x, w=None, b=None):
        return torch.nn.functional.group_norm(x, groups, w, b, eps=1e-4)

    _run(torch, ours, theirs, pairs, dtype, rng)


# ---- fused backward == differentiable backward; second order vs torch -------
def _bn(training):
    def f(x, w, b):
        rm, rv = ng.zeros(3, dtype=ng.float64), ng.ones(3, dtype=ng.float64)
        return norm.batch_norm(x, rm, rv, w, b, training=training)
    return f


def _bn_torch(torch, training):
    def f(x, w, b):
        rm = torch.zeros(3, dtype=torch.float64)
        rv = torch.ones(3, dtype=torch.float64)
        return torch.nn.functional.batch_norm(x, rm, rv, w, b,
                                              training=training)
    return f


SECOND_ORDER = [
    ("bn-train", lambda t: _bn(True), lambda t: _bn_torch(t, True),
     (4, 3, 5), (3,)),
    ("bn-eval", lambda t: _bn(False), lambda t: _bn_torch(t, False),
     (4, 3, 5), (3,)),
    ("ln", lambda t: lambda x, w, b: norm.layer_norm(x, (5,), w, b),
     lambda t: lambda x, w, b: t.nn.functional.layer_norm(x, (5,), w, b),
     (4, 3, 5), (5,)),
    ("gn", lambda t: lambda x, w, b: norm.group_norm(x, 3, w, b),
     lambda t: lambda x, w, b: t.nn.functional.group_norm(x, 3, w, b),
     (2, 6, 5), (6,)),
]


@pytest.mark.parametrize("name,ours,theirs,shape,pshape", SECOND_ORDER,
                         ids=[c[0] for c in SECOND_ORDER])
def test_second_order_matches_torch(torch, name, ours, theirs, shape,
                                    pshape):
    rng = np.random.default_rng(4)
    arrays = [_rand(rng, shape, np.float64, loc=1.0),
              _rand(rng, pshape, np.float64), _rand(rng, pshape, np.float64)]
    a = [ng.tensor(v, requires_grad=True) for v in arrays]
    t = [torch.tensor(v, requires_grad=True) for v in arrays]
    y = ours(torch)(*a)
    ty = theirs(torch)(*t)
    gy = _rand(rng, shape, np.float64)
    # the fused backward ...
    fused = grad(y, a, ng.tensor(gy), retain_graph=True)
    # ... equals the differentiable one ...
    g = ng.tensor(gy, requires_grad=True)
    graph = grad(y, a, g, create_graph=True)
    tg = torch.tensor(gy, requires_grad=True)
    tgraph = torch.autograd.grad(ty, t, tg, create_graph=True)
    for f, d, tt in zip(fused, graph, tgraph):
        np.testing.assert_allclose(f.numpy(), d.detach().numpy(),
                                   rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(d.detach().numpy(), tt.detach().numpy(),
                                   rtol=1e-9, atol=1e-9)
    # ... and its gradient matches torch's double backward
    loss = sum(((d * d).sum() for d in graph), ng.zeros((), dtype=ng.float64))
    loss.backward()
    sum((d * d).sum() for d in tgraph).backward()
    for ours_t, theirs_t in zip(a + [g], t + [tg]):
        mine = ours_t.grad
        mine = np.zeros(ours_t.shape) if mine is None else mine.numpy()
        other = theirs_t.grad
        other = np.zeros(ours_t.shape) if other is None else other.numpy()
        np.testing.assert_allclose(mine, other, rtol=1e-8, atol=1e-8)


GRADCHECK = [
    ("bn-train", lambda x, w, b: norm.batch_norm(x, None, None, w, b,
                                                 training=True),
     (3, 2, 2), (2,)),
    ("bn-eval", lambda x, w, b: norm.batch_norm(
        x, ng.tensor([0.1, -0.2], dtype=ng.float64),
        ng.tensor([0.5, 2.0], dtype=ng.float64), w, b), (3, 2, 2), (2,)),
    ("bn-2d", lambda x, w, b: norm.batch_norm(x, None, None, w, b,
                                              training=True), (4, 2), (2,)),
    ("ln", lambda x, w, b: norm.layer_norm(x, (3,), w, b), (2, 2, 3), (3,)),
    ("gn", lambda x, w, b: norm.group_norm(x, 2, w, b), (2, 4, 2), (4,)),
]


@pytest.mark.parametrize("name,fn,shape,pshape", GRADCHECK,
                         ids=[c[0] for c in GRADCHECK])
def test_gradcheck_and_gradgradcheck(name, fn, shape, pshape):
    rng = np.random.default_rng(6)
    inputs = (ng.tensor(_rand(rng, shape, np.float64), requires_grad=True),
              ng.tensor(_rand(rng, pshape, np.float64), requires_grad=True),
              ng.tensor(_rand(rng, pshape, np.float64), requires_grad=True))
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


def test_needs_only_some_grads(torch):
    rng = np.random.default_rng(7)
    x = _rand(rng, (4, 3, 5), np.float64)
    w = ng.tensor(_rand(rng, (3,), np.float64), requires_grad=True)
    y = norm.batch_norm(ng.tensor(x), None, None, w, None, training=True)
    y.sum().backward()
    tw = torch.tensor(w.detach().numpy(), requires_grad=True)
    torch.nn.functional.batch_norm(torch.tensor(x), None, None, tw, None,
                                   training=True).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), atol=1e-12)
    b = ng.tensor(_rand(rng, (5,), np.float64), requires_grad=True)
    norm.layer_norm(ng.tensor(x), (5,), None, b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), np.full(5, 12.0))


# ---- errors -----------------------------------------------------------------
def _t(*shape):
    return ng.tensor(np.zeros(shape, np.float32))


ERRORS = [
    (lambda: norm.batch_norm(_t(2, 3, 4), _t(4), _t(3)), RuntimeError,
     "running_mean should contain 3 elements not 4"),
    (lambda: norm.batch_norm(_t(2, 3, 4), _t(3), _t(4)), RuntimeError,
     "running_var should contain 3 elements not 4"),
    (lambda: norm.batch_norm(_t(2, 3, 4), _t(3), _t(3), weight=_t(4)),
     RuntimeError, "weight should contain 3 elements not 4"),
    (lambda: norm.batch_norm(_t(2, 3, 4), _t(3), _t(3), bias=_t(4)),
     RuntimeError, "bias should contain 3 elements not 4"),
    (lambda: norm.batch_norm(_t(2, 3, 4), None, None), RuntimeError,
     "running_mean must be defined in evaluation mode"),
    (lambda: norm.batch_norm(_t(1, 3), _t(3), _t(3), training=True),
     ValueError, "Expected more than 1 value per channel when training"),
    (lambda: norm.batch_norm(_t(1, 3, 1, 1), None, None, training=True),
     ValueError, "Expected more than 1 value per channel when training"),
    (lambda: norm.batch_norm(_t(2, 3), None, None, training=True,
                             momentum=None), TypeError, "momentum"),
    (lambda: norm.batch_norm(ng.tensor(np.zeros((2, 3), np.int64)), _t(3),
                             _t(3)), NotImplementedError,
     "not implemented for 'Long'"),
    (lambda: norm.layer_norm(_t(2, 3, 4), (5,)), RuntimeError,
     "Given normalized_shape=[5], expected input with shape [*, 5]"),
    (lambda: norm.layer_norm(_t(2, 4, 4), (4, 4), weight=_t(4)),
     RuntimeError, "Expected weight to be of same shape as normalized_shape"),
    (lambda: norm.layer_norm(_t(2, 4, 4), (4, 4), bias=_t(4)),
     RuntimeError, "Expected bias to be of same shape as normalized_shape"),
    (lambda: norm.layer_norm(_t(2, 4), []), RuntimeError,
     "Expected normalized_shape to be at least 1-dimensional"),
    (lambda: norm.group_norm(_t(2, 3, 4), 2), RuntimeError,
     "Expected number of channels in input to be divisible by num_groups"),
    (lambda: norm.group_norm(_t(2, 3, 4), 3, weight=_t(4)), RuntimeError,
     "Expected weight to be a vector of size equal to the number of "
     "channels"),
    (lambda: norm.group_norm(_t(3), 3), RuntimeError,
     "Expected at least 2 dimensions for input tensor"),
    (lambda: norm.layer_norm(np.zeros((2, 3)), (3,)), TypeError,
     "must be Tensor"),
]


@pytest.mark.parametrize("fn,exc,match", ERRORS,
                         ids=[str(i) for i in range(len(ERRORS))])
def test_errors(fn, exc, match):
    with pytest.raises(exc, match=re.escape(match)):
        fn()


def test_errors_leave_running_stats_alone():
    rm, rv = ng.zeros(3), ng.ones(3)
    with pytest.raises(RuntimeError):
        norm.batch_norm(_t(2, 3), rm, rv, weight=_t(4), training=True)
    assert rm._version.value == 0 and rv._version.value == 0
