"""Every pointwise op: values vs NumPy (and torch), float64 gradcheck and
gradgradcheck, broadcasting (hypothesis), scalar operands, dtypes."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import numgrad as ng
from numgrad.ops import pointwise as pw
from numgrad.ops.registry import OP_TABLE

from .opinfo import INTEGRAL, LOGICAL, NOT_DIFFERENTIABLE, POINTWISE

IDS = [info.name for info in POINTWISE]


def _call(info, tensors):
    return getattr(pw, info.name)(*tensors, *info.scalars)


@pytest.mark.parametrize("info", POINTWISE, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_match_numpy(info, dtype):
    rng = np.random.default_rng(1)
    arrays = [info.sample(rng, (3, 4), dtype) for _ in range(info.arity)]
    out = _call(info, [ng.tensor(a) for a in arrays])
    expected = info.ref(*arrays, *info.scalars)
    assert out.dtype.name == dtype
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out.numpy(), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("info", POINTWISE, ids=IDS)
def test_gradcheck(info):
    rng = np.random.default_rng(2)
    tensors = [ng.tensor(info.sample(rng, (2, 3), "float64"),
                         requires_grad=True) for _ in range(info.arity)]
    assert ng.autograd.gradcheck(lambda *t: _call(info, t), tensors)


@pytest.mark.parametrize("info", [i for i in POINTWISE if i.gradgrad],
                         ids=[i.name for i in POINTWISE if i.gradgrad])
def test_gradgradcheck(info):
    rng = np.random.default_rng(3)
    tensors = [ng.tensor(info.sample(rng, (2, 2), "float64"),
                         requires_grad=True) for _ in range(info.arity)]
    assert ng.autograd.gradgradcheck(lambda *t: _call(info, t), tensors)


@pytest.mark.parametrize("info", POINTWISE, ids=IDS)
def test_matches_torch(info, torch):
    rng = np.random.default_rng(4)
    arrays = [info.sample(rng, (5,), "float32") for _ in range(info.arity)]
    torch_name = {"gelu_tanh": "nn.functional.gelu",
                  "leaky_relu": "nn.functional.leaky_relu",
                  "hardtanh": "nn.functional.hardtanh",
                  "gelu": "nn.functional.gelu",
                  "silu": "nn.functional.silu",
                  "softplus": "nn.functional.softplus"}.get(info.name,
                                                            info.name)
    fn = torch
    for part in torch_name.split("."):
        fn = getattr(fn, part)
    kwargs = {"approximate": "tanh"} if info.name == "gelu_tanh" else {}
    ours = [ng.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = _call(info, ours)
    ref = fn(*theirs, *info.scalars, **kwargs)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    out.sum().backward()
    ref.sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(),
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(NOT_DIFFERENTIABLE))
def test_comparisons(name):
    a = np.array([1.0, 2.0, np.nan, 4.0], np.float32)
    b = np.array([1.0, 3.0, 2.0, 0.0], np.float32)
    fn = getattr(pw, name)
    args = (ng.tensor(a, requires_grad=True),) if name == "isnan" else (
        ng.tensor(a, requires_grad=True), ng.tensor(b))
    out = fn(*args)
    assert out.dtype == ng.bool and not out.requires_grad
    ref = NOT_DIFFERENTIABLE[name](a) if name == "isnan" else \
        NOT_DIFFERENTIABLE[name](a, b)
    np.testing.assert_array_equal(out.numpy(), ref)


@pytest.mark.parametrize("name", sorted(INTEGRAL))
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_integral(name, dtype):
    signed = np.dtype(dtype).kind == "i"
    a = np.array([7, -7, 7, -7, 0, 2 ** 20 + 1] if signed
                 else [7, 200, 0, 255], dtype)
    b = np.array([2, 2, -2, -2, 3, 1] if signed else [2, 3, 5, 1], dtype)
    out = getattr(pw, name)(ng.tensor(a), ng.tensor(b))
    assert out.dtype == ng.tensor(a).dtype and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), INTEGRAL[name](a, b))
    with pytest.raises(RuntimeError, match="floating point"):
        getattr(pw, name)(ng.tensor(a.astype(np.float32)), ng.tensor(b))


@pytest.mark.parametrize("name", sorted(LOGICAL))
def test_logical(name):
    a = np.array([True, False, True, False])
    b = np.array([True, True, False, False])
    fn = getattr(pw, name)
    args = (ng.tensor(a),) if name == "logical_not" else (ng.tensor(a),
                                                          ng.tensor(b))
    ref = LOGICAL[name](a) if name == "logical_not" else LOGICAL[name](a, b)
    np.testing.assert_array_equal(fn(*args).numpy(), ref)


def test_where_gradients_and_values():
    cond = ng.tensor([True, False, True])
    a = ng.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = ng.tensor([10.0, 20.0, 30.0], requires_grad=True)
    out = ng.where(cond, a, b)
    np.testing.assert_array_equal(out.detach().numpy(), [1, 20, 3])
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1, 0, 1])
    np.testing.assert_array_equal(b.grad.numpy(), [0, 1, 0])
    a64 = ng.tensor(np.random.rand(3), requires_grad=True)
    b64 = ng.tensor(np.random.rand(3), requires_grad=True)
    assert ng.autograd.gradgradcheck(
        lambda x, y: ng.where(cond, x * x, y * x), (a64, b64))


def test_pow_with_tensor_exponent_gives_both_gradients():
    x = ng.tensor([1.5, 2.0], dtype=ng.float64, requires_grad=True)
    w = ng.tensor([2.0, 0.5], dtype=ng.float64, requires_grad=True)
    (x ** w).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 * 1.5, 0.5 * 2 ** -0.5])
    np.testing.assert_allclose(w.grad.numpy(),
                               [1.5 ** 2 * np.log(1.5),
                                2 ** 0.5 * np.log(2)])


def test_scalars_on_either_side():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    for out, ref in [(2 - x, [1, 0]), (x - 2, [-1, 0]), (6 / x, [6, 3]),
                     (x / 2, [0.5, 1]), (2 ** x, [2, 4]), (x ** 2, [1, 4]),
                     (-x, [-1, -2]), (abs(-x), [1, 2])]:
        np.testing.assert_allclose(out.detach().numpy(), ref)
        assert out.requires_grad


def test_dtype_promotion_follows_pytorch():
    i = ng.tensor([1, 2, 3])
    f = ng.tensor([1.0, 2.0, 3.0])
    d = ng.tensor([1.0], dtype=ng.float64)
    assert (i + 1).dtype == ng.int64
    assert (i + 1.5).dtype == ng.float32
    assert (i / 2).dtype == ng.float32
    assert (f + d).dtype == ng.float64
    assert (f + ng.tensor(2.0, dtype=ng.float64)).dtype == ng.float32
    assert (i + ng.tensor(2.0, dtype=ng.float64)).dtype == ng.float64
    assert (i.to(ng.int32) + i).dtype == ng.int64
    assert (ng.tensor([True]) + ng.tensor([True])).dtype == ng.bool
    assert ng.exp(i).dtype == ng.float32
    assert (i > 1).dtype == ng.bool


def test_float32_chain_stays_float32():
    x = ng.rand(10)
    y = ng.sigmoid(x) * ng.tanh(x) + x * 0.5
    assert y.dtype == ng.float32


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=0, max_size=3),
       st.lists(st.booleans(), min_size=3, max_size=3),
       st.lists(st.booleans(), min_size=3, max_size=3))
def test_broadcasting_matches_numpy(shape, drop_a, drop_b):
    shape_a = tuple(1 if d else s for s, d in zip(shape, drop_a))
    shape_b = tuple(1 if d else s for s, d in zip(shape, drop_b))[1:] \
        if len(shape) > 1 else tuple(shape)
    a = np.asarray(np.random.rand(*shape_a))
    b = np.asarray(np.random.rand(*shape_b))
    ta = ng.tensor(a, requires_grad=True)
    tb = ng.tensor(b, requires_grad=True)
    out = ta * tb + ta
    np.testing.assert_allclose(out.detach().numpy(), a * b + a)
    out.sum().backward()
    assert ta.grad.shape == ta.shape and tb.grad.shape == tb.shape
    full = np.broadcast_shapes(a.shape, b.shape)
    np.testing.assert_allclose(tb.grad.numpy(),
                               _sum_to(np.broadcast_to(a, full), b.shape))
    np.testing.assert_allclose(
        ta.grad.numpy(), _sum_to(np.broadcast_to(b + 1, full), a.shape))


def _sum_to(array, shape):
    lead = array.ndim - len(shape)
    array = array.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1)
    return array.sum(axis=axes, keepdims=True).reshape(shape)


def test_broadcast_error_names_both_sizes():
    with pytest.raises(RuntimeError, match=r"size of tensor a \(3\) must "
                       r"match the size of tensor b \(4\) at non-singleton "
                       r"dimension 1"):
        ng.ones(2, 3) + ng.ones(2, 4)


def test_every_pointwise_op_has_a_test_entry():
    tested = {i.name for i in POINTWISE} | set(NOT_DIFFERENTIABLE) | \
        set(LOGICAL) | set(INTEGRAL) | {"where"}
    pointwise_ops = {n for n, s in OP_TABLE.items() if s.kind == "pointwise"}
    assert pointwise_ops - tested == set()
