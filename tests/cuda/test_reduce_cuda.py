"""The reduction family on the CUDA device against the CPU: the layouts
the reduction kernels choose between (row and column reductions, staged
dims, strided and broadcast inputs, split passes), the functions outside
the op table (argmax, all/any...), softmax and the fused losses."""
import numpy as np
import pytest

import numgrad as ng
import numgrad.nn.functional as F
from numgrad.backends.cuda import launch
from numgrad.ops.cuda import reduce as device_reduce

from .conftest import assert_same, to_cuda


def _tensor(shape, dtype="float32", seed=0, low=-1.0, high=1.0,
            requires_grad=False):
    values = np.random.default_rng(seed).uniform(low, high, shape)
    return ng.tensor(values.astype(dtype), requires_grad=requires_grad)


def _parity(fn, *inputs, rtol=1e-5, atol=1e-6):
    """fn on CPU and CUDA copies of ``inputs``: values, and gradients of
    the inputs that require them."""
    inputs = [t.detach().clone().requires_grad_(t.requires_grad)
              for t in inputs]
    cuda_inputs = [to_cuda(t) for t in inputs]
    cpu_out, gpu_out = fn(*inputs), fn(*cuda_inputs)
    assert_same(cpu_out, gpu_out, rtol, atol)
    if not any(t.requires_grad for t in inputs):
        return
    if cpu_out.dim():
        seed = np.random.default_rng(7).uniform(
            size=tuple(cpu_out.shape)).astype(cpu_out.dtype.name)
        cpu_out.backward(ng.tensor(seed))
        gpu_out.backward(ng.tensor(seed, device="cuda"))
    else:
        cpu_out.backward()
        gpu_out.backward()
    for a, b in zip(inputs, cuda_inputs):
        if a.requires_grad:
            assert_same(a.grad, b.grad, rtol, atol)


# ---- the reduction kernels' layouts -----------------------------------------
LAYOUTS = [
    ("row", (4, 6), lambda x: x.sum(1)),
    ("column", (6, 4), lambda x: x.sum(0)),
    ("middle", (2, 5, 3), lambda x: x.sum(1)),
    ("staged_runs", (2, 3, 4, 2), lambda x: x.sum((0, 2))),
    ("transposed", (4, 6), lambda x: x.t().sum(1)),
    ("transposed_staged", (2, 3, 4), lambda x: x.permute(2, 0, 1).sum((0, 2))),
    ("sliced", (5, 6), lambda x: x[1:, ::2].sum(0)),
    ("expanded", (1, 4), lambda x: x.expand(3, 4).sum()),
    ("size_one_dims", (3, 1, 4), lambda x: x.sum((1, 2), keepdim=True)),
    ("scalar", (), lambda x: x.sum()),
    ("empty_dim", (3, 0), lambda x: x.sum(1)),
    ("mean_staged", (2, 3, 4), lambda x: x.mean((0, 2))),
    ("prod_column", (5, 3), lambda x: x.prod(0)),
    ("amin_staged", (3, 2, 4), lambda x: x.amin((0, 2))),
]


@pytest.mark.parametrize("case", LAYOUTS, ids=[c[0] for c in LAYOUTS])
def test_reduction_layouts(case):
    _, shape, fn = case
    _parity(fn, _tensor(shape, requires_grad=True))


@pytest.mark.parametrize("block", [True, False], ids=["rows", "columns"])
def test_split_passes(monkeypatch, block):
    """Too few outputs for the device split the reduced axis; forced here
    with small chunks and a device of 4 blocks."""
    monkeypatch.setattr(device_reduce, "MIN_BLOCK_CHUNK", 4)
    monkeypatch.setattr(device_reduce, "MIN_THREAD_CHUNK", 4)
    monkeypatch.setitem(launch.properties(), "max_blocks", 4)
    shape = (1, 40) if block else (40, 2)
    x = _tensor(shape, "float64")
    gpu = to_cuda(x)
    for fn in (lambda t: t.sum(-1 if block else 0),
               lambda t: t.amax(-1 if block else 0),
               lambda t: t.norm(p=3, dim=-1 if block else 0)):
        assert_same(fn(x), fn(gpu))


def test_integer_and_bool_reductions_are_exact():
    big = np.array([[2 ** 60, 1, -3], [5, 2 ** 55, 7]], dtype=np.int64)
    cases = (lambda t: t.sum(1), lambda t: t.sum(), lambda t: t.sum(0),
             lambda t: t.amax(0),
             lambda t: (t[:, 1:] % 8).to(ng.int32).prod(1))
    for dtype in ("int64", "int32", "uint8", "bool"):
        a = big.astype(dtype) if dtype in ("int64", "bool") else \
            (big % 100).astype(dtype)
        cpu, gpu = ng.tensor(a), ng.tensor(a, device="cuda")
        for fn in cases:
            expected, out = fn(cpu), fn(gpu)
            assert out.dtype == expected.dtype
            np.testing.assert_array_equal(out.cpu().numpy(),
                                          expected.numpy())


def test_sum_dtype_argument():
    x = _tensor((3, 4), low=-3, high=3)
    for dtype in (ng.float64, ng.int64):
        _parity(lambda t: t.sum(1, dtype=dtype), x)


def test_sum_to_size():
    for shape, target in [((2, 3, 4), (4,)), ((2, 3, 4), (3, 1)),
                          ((2, 3, 4), (1, 3, 4)), ((3, 4), (3, 4))]:
        _parity(lambda t: t.sum_to_size(target),
                _tensor(shape, requires_grad=True))
    _parity(lambda t: t.sum_to_size((1, 4)),
            ng.tensor(np.arange(12, dtype=np.int32).reshape(3, 4)))


def test_broadcast_gradients_reduce_on_device():
    x = _tensor((2, 3, 4), requires_grad=True)
    b = _tensor((3, 1), seed=1, requires_grad=True)
    _parity(lambda x, b: x * b + b, x, b)


# ---- max/min, NaN and ties --------------------------------------------------
def test_extremes_propagate_nan():
    a = np.array([[1.0, np.nan, 3.0], [2.0, 0.5, -1.0]], np.float32)
    for fn in (lambda t: t.amax(1), lambda t: t.amin(0), lambda t: t.max(),
               lambda t: t.argmax(1), lambda t: t.argmin(1)):
        _parity(fn, ng.tensor(a))


def test_argmax_argmin():
    x = ng.tensor(np.array([[3, 1, 3, 0], [2, 2, 5, 5], [0, 7, 7, 1]],
                           np.float32))
    cases = [lambda t: t.argmax(), lambda t: t.argmin(),
             lambda t: t.argmax(1), lambda t: t.argmin(0),
             lambda t: t.argmax(0, keepdim=True), lambda t: t.t().argmax(1),
             lambda t: t.argmax(keepdim=True)]
    for fn in cases:
        _parity(fn, x)
    _parity(lambda t: t.argmax(0), ng.tensor(3.0))
    _parity(lambda t: t.argmax(1), ng.tensor(np.arange(12).reshape(3, 4)))


def test_max_min_with_indices():
    x = _tensor((3, 5), requires_grad=True)
    _parity(lambda t: t.max(1).values * 2, x)
    _parity(lambda t: t.min(0, keepdim=True).indices, x.detach())


def test_all_any_count_nonzero():
    a = np.array([[0, 1, 2], [3, 4, 5], [0, 0, 0]], np.float32)
    x = ng.tensor(a)
    for fn in (lambda t: ng.all(t), lambda t: ng.any(t),
               lambda t: ng.all(t, 1), lambda t: ng.any(t, 0, keepdim=True),
               lambda t: ng.count_nonzero(t), lambda t: ng.count_nonzero(t, 1),
               lambda t: ng.all(t[:, :0], 1), lambda t: ng.any(t[:, :0], 1)):
        _parity(fn, x)


# ---- gradients with special cases -------------------------------------------
def test_prod_gradient_with_zeros():
    a = np.array([[0.0, 2.0, 3.0], [1.0, 0.0, 0.0], [2.0, 3.0, 4.0]],
                 np.float32)
    for fn in (lambda t: t.prod(1), lambda t: t.prod(0), lambda t: t.prod()):
        _parity(fn, ng.tensor(a, requires_grad=True))


@pytest.mark.parametrize("p", [0, 1, 2, 3, float("inf")])
def test_norm(p):
    _parity(lambda t: t.norm(p=p, dim=(0, 2)),
            _tensor((2, 3, 4), requires_grad=True))


def test_reductions_gradcheck_on_device():
    x = to_cuda(_tensor((2, 3, 4), "float64", requires_grad=True))
    for fn in (lambda t: t.sum((0, 2)), lambda t: t.mean(0),
               lambda t: t.prod(2), lambda t: t.norm(p=3, dim=0),
               lambda t: t.var((0, 2)), lambda t: ng.logsumexp(t, 0)):
        assert ng.autograd.gradcheck(fn, [x])


# ---- softmax ----------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, 2])
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log"])
def test_softmax_dims(dim, log):
    fn = ng.log_softmax if log else ng.softmax
    _parity(lambda t: fn(t, dim), _tensor((2, 3, 4), requires_grad=True))


def test_softmax_strided_and_float64():
    x = _tensor((4, 3), "float64", requires_grad=True)
    _parity(lambda t: ng.softmax(t.t(), 1), x)
    # Rows whose outer dims cannot be one strided axis: copied first.
    _parity(lambda t: ng.log_softmax(t.permute(1, 0, 2), 2),
            _tensor((2, 3, 4), "float64", requires_grad=True))
    gpu = to_cuda(x)
    assert ng.autograd.gradcheck(lambda t: ng.softmax(t, 0), [gpu])
    assert ng.autograd.gradgradcheck(lambda t: ng.log_softmax(t, 1), [gpu])


# ---- fused losses -----------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
def test_cross_entropy_rows(weighted):
    x = _tensor((4, 5), low=-2, high=2, requires_grad=True)
    target = ng.tensor(np.array([1, 0, 4, 2]))
    weight = _tensor((5,), seed=3, low=0.1) if weighted else None

    def loss(x):
        t = target.to(x.device)
        w = None if weight is None else weight.to(x.device)
        return F.cross_entropy(x, t, weight=w, ignore_index=2,
                               reduction="none")
    _parity(loss, x)


def test_cross_entropy_rows_gradcheck_on_device():
    x = to_cuda(_tensor((3, 4), "float64", requires_grad=True))
    target = ng.tensor(np.array([3, 0, 1]), device="cuda")

    def loss(t):
        return F.cross_entropy(t, target, reduction="none")
    assert ng.autograd.gradcheck(loss, [x])
    assert ng.autograd.gradgradcheck(loss, [x])


def test_binary_cross_entropy():
    x = _tensor((3, 4), low=0.05, high=0.95, requires_grad=True)
    target = _tensor((3, 4), seed=1, low=0, high=1, requires_grad=True)
    weight = _tensor((4,), seed=2, low=0.1)
    _parity(lambda x, t: F.binary_cross_entropy(x, t, reduction="none"),
            x, target)
    _parity(lambda x: F.binary_cross_entropy(
        x, target.detach().to(x.device), weight=weight.to(x.device)), x)
    edges = ng.tensor(np.array([0.0, 1.0, 0.5], np.float32))
    _parity(lambda x: F.binary_cross_entropy(
        x, ng.tensor(np.array([1.0, 0.0, 1.0], np.float32), device=x.device),
        reduction="none"), edges)
