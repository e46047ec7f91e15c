"""Every op on the CUDA device equals the CPU: values, gradients and
second-order gradients (``create_graph``), for every case of the CPU
suite's own tables (tests/ops), at their small shapes.  The CPU results
are themselves checked against torch and finite differences there; here,
float64 gradcheck/gradgradcheck also run on the device itself for every
pointwise op and one case of each structured family (finite differences
cost a forward per element, and simulated kernels are slow)."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.ops import pointwise as pw

from ..ops.opinfo import POINTWISE
from ..ops.test_structured import CASES, IDS, _inputs
from .conftest import assert_same


def _first_and_second_order(fn, arrays, device):
    tensors = [ng.tensor(a, device=device, requires_grad=True)
               for a in arrays]
    out = fn(*tensors)
    rng = np.random.default_rng(5)
    seed = ng.tensor(rng.uniform(size=tuple(out.shape)).astype(
        out.dtype.name), device=device)
    grads = ng.autograd.grad(out, tensors, seed, create_graph=True,
                             allow_unused=True)
    grads = [g for g in grads if g is not None]
    second = []
    differentiable = [g for g in grads if g.requires_grad]
    if differentiable:
        total = sum((g * ng.tensor(rng.uniform(size=tuple(g.shape)).astype(
            g.dtype.name), device=device)).sum() for g in differentiable)
        second = ng.autograd.grad(total, tensors, allow_unused=True)
        second = [g for g in second if g is not None]
    return out, grads, second


def _parity(fn, arrays, rtol=1e-5, atol=1e-6):
    cpu = _first_and_second_order(fn, arrays, "cpu")
    gpu = _first_and_second_order(fn, arrays, "cuda")
    assert_same(cpu[0], gpu[0], rtol, atol)
    for cpu_grads, gpu_grads in zip(cpu[1:], gpu[1:]):
        assert len(cpu_grads) == len(gpu_grads)
        for a, b in zip(cpu_grads, gpu_grads):
            assert_same(a, b, rtol, atol)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_structured_matches_cpu(case):
    name, shapes, fn = case
    _parity(lambda *t: fn(ng, *t), _inputs(shapes, "float32"))


# One case per family of structured ops.
GRADCHECKED = ("mean_dim", "prod_dim", "amax", "norm_p3", "softmax",
               "permute", "expand_as", "cat_dim1", "flip", "getitem_int_array",
               "gather", "mm", "to_float64")


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in GRADCHECKED],
                         ids=GRADCHECKED)
def test_structured_gradcheck_on_device(case):
    name, shapes, fn = case
    tensors = [ng.tensor(a, device="cuda", requires_grad=True)
               for a in _inputs(shapes, "float64", seed=1)]
    assert ng.autograd.gradcheck(lambda *t: fn(ng, *t), tensors)
    assert ng.autograd.gradgradcheck(lambda *t: fn(ng, *t), tensors)


def _call(info):
    return lambda *t: getattr(pw, info.name)(*t, *info.scalars)


@pytest.mark.parametrize("info", POINTWISE, ids=[i.name for i in POINTWISE])
def test_pointwise_matches_cpu(info):
    rng = np.random.default_rng(1)
    arrays = [info.sample(rng, (3, 4), "float32") for _ in range(info.arity)]
    if info.arity == 2:
        arrays[1] = arrays[1][:1]       # and broadcasting (nd kernel)
    _parity(_call(info), arrays)


@pytest.mark.parametrize("info", POINTWISE, ids=[i.name for i in POINTWISE])
def test_pointwise_gradcheck_on_device(info):
    rng = np.random.default_rng(2)
    tensors = [ng.tensor(info.sample(rng, (2, 3), "float64"), device="cuda",
                         requires_grad=True) for _ in range(info.arity)]
    assert ng.autograd.gradcheck(_call(info), tensors)
    if info.gradgrad:
        assert ng.autograd.gradgradcheck(_call(info), tensors)


@pytest.mark.parametrize("name", ["relu", "abs", "floor", "ceil", "trunc"])
def test_special_values_match_cpu(name):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 1.5, -1.5,
                  1e30], np.float32)
    cpu = getattr(ng, name)(ng.tensor(x)).numpy()
    gpu = getattr(ng, name)(ng.tensor(x, device="cuda")).cpu().numpy()
    np.testing.assert_array_equal(gpu, cpu)
    assert (np.signbit(gpu) == np.signbit(cpu))[~np.isnan(cpu)].all()


def test_integer_quotients_match_cpu():
    a = np.array([7, -7, 7, -7, 2 ** 40 + 3])
    b = np.array([2, 2, -2, -2, 5])
    for divide in (lambda x, y: x // y, lambda x, y: x % y,
                   lambda x, y: ng.div(x, y, rounding_mode="trunc")):
        cpu = divide(ng.tensor(a), ng.tensor(b))
        gpu = divide(ng.tensor(a, device="cuda"), ng.tensor(b, device="cuda"))
        assert gpu.dtype == ng.int64
        assert gpu.cpu().tolist() == cpu.tolist()
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        ng.tensor(a, device="cuda") // ng.zeros(5, dtype=ng.int64,
                                                device="cuda")


def test_reductions_over_empty_dims():
    y = ng.zeros(0, 3, device="cuda")
    z = ng.zeros(3, 0, device="cuda")
    assert y.amax(1).shape == (0,) and y.argmax(1).shape == (0,)
    assert ng.softmax(z, 1).shape == (3, 0)
    assert ng.logsumexp(y, 0).cpu().tolist() == [-np.inf] * 3
    with pytest.raises(IndexError, match=r"max\(\): Expected reduction dim "
                       "1 to have non-zero size"):
        z.max(1)
