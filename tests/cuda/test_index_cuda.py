"""Indexing on the CUDA device against the CPU: NumPy's advanced-index
rules, index tensors from either device, scatter with repeated indices,
setitem, gather, and the movement ops built on copies (flip, repeat,
cat without autograd)."""
import numpy as np
import pytest

import numgrad as ng

from .conftest import assert_same, to_cuda


def _source(shape=(4, 5, 3), dtype="float32"):
    rng = np.random.default_rng(0)
    return ng.tensor(rng.standard_normal(shape).astype(dtype),
                     requires_grad=True)


def _parity(fn, x):
    """fn(x) and x's gradient through it agree on both devices; fn gets
    the device so index tensors can be made on either."""
    gx = to_cuda(x)
    cpu, gpu = fn(x, "cpu"), fn(gx, "cuda")
    assert_same(cpu, gpu)
    seed = np.random.default_rng(1).standard_normal(cpu.shape).astype(
        cpu.dtype.name)
    cpu.backward(ng.tensor(seed))
    gpu.backward(ng.tensor(seed, device="cuda"))
    assert_same(x.grad, gx.grad)


CPU_INDEX = {
    "list_repeated": lambda x, d: x[[0, 2, 0, 0, -1]],
    "cpu_tensor_index": lambda x, d: x[ng.tensor([3, 1, 3])],
    "two_arrays_adjacent": lambda x, d: x[:, [1, 4, 1], [0, 2, 0]],
    "int_and_array_apart": lambda x, d: x[0, :, [2, 1]],
    "ellipsis_separates": lambda x, d: x[[1, 2], ..., [0, 0]],
    "none_and_broadcast": lambda x, d: x[None, [[1], [3]], :, [0, 2]],
    "negative_step_view": lambda x, d: x[::-1, ::2][[0, 0, 2]],
    "index_select": lambda x, d: ng.index_select(x, 1, ng.tensor([4, 0, 4])),
}
DEVICE_INDEX = {
    "device_tensor_index": lambda x, d: x[ng.tensor([[2, 0], [2, -4]],
                                                    device=d)],
    "device_mask": lambda x, d: x[x.detach() > 0.3],
    "partial_mask": lambda x, d: x[:, ng.tensor([True, False, True, True,
                                                 False], device=d)],
    "zero_dim_index": lambda x, d: x[:, ng.tensor(3, device=d)],
    "int32_index": lambda x, d: x[ng.tensor([1, -1], dtype=ng.int32,
                                            device=d)],
}


@pytest.mark.parametrize("name", sorted({**CPU_INDEX, **DEVICE_INDEX}))
def test_getitem_matches_cpu(name):
    _parity({**CPU_INDEX, **DEVICE_INDEX}[name], _source())


def test_index_from_cpu_tensor_lands_on_device():
    x = ng.arange(6.0, device="cuda")
    out = x[ng.tensor([5, 0])]
    assert out.device.type == "cuda" and out.tolist() == [5.0, 0.0]


@pytest.mark.parametrize("make", [
    lambda: [0, 4],
    lambda: ng.tensor([0, 4]),
    lambda: ng.tensor([0, 4], device="cuda"),
    lambda: ng.tensor([-5], device="cuda"),
])
def test_out_of_range_index_raises(make):
    x = ng.zeros(4, device="cuda")
    with pytest.raises(IndexError, match="out of bounds for dimension 0 "
                       "with size 4"):
        x[make()]


def test_mask_of_the_wrong_shape_raises():
    x = ng.zeros(4, 3, device="cuda")
    with pytest.raises(IndexError, match="shape of the mask"):
        x[ng.ones(3, dtype=ng.bool, device="cuda")]


def test_cpu_tensor_with_device_index_raises():
    with pytest.raises(RuntimeError, match="same device"):
        ng.zeros(3)[ng.tensor([1], device="cuda")]


def test_setitem_mask_and_scalar():
    x = ng.arange(12.0).reshape(3, 4)
    gx = x.to("cuda")
    x[x > 6] = -1.0
    gx[gx > 6] = -1.0
    gx[ng.tensor([True, False, True], device="cuda"), 1] = ng.tensor(
        [7.0, 8.0], device="cuda")
    x[ng.tensor([True, False, True]), 1] = ng.tensor([7.0, 8.0])
    assert_same(x, gx)


def test_setitem_with_repeated_indices_matches_cpu():
    # A repeated position is written once per repeat, in no set order on
    # the device (as in PyTorch), so the values written there agree.
    x, v = _source((5, 2)), _source((3, 2))

    def fn(x, v):
        y = x * 1
        y[[1, 3, 1]] += v[0] * 2
        y[ng.tensor([0, 0], device=y.device), 1] = v[2, 0]
        return y

    gx, gv = to_cuda(x), to_cuda(v)
    cpu, gpu = fn(x, v), fn(gx, gv)
    assert_same(cpu, gpu)
    cpu.sum().backward()
    gpu.sum().backward()
    assert_same(x.grad, gx.grad)
    assert_same(v.grad, gv.grad)


def test_index_gradcheck_on_device():
    x = to_cuda(_source((4, 3), "float64"))
    idx = ng.tensor([3, 0, 3], device="cuda")
    assert ng.autograd.gradcheck(lambda t: t[idx, 1:] * t[idx, :2], [x])
    assert ng.autograd.gradgradcheck(lambda t: t[[1, 1], ::-1] ** 2, [x])


def test_setitem_gradcheck_on_device():
    def fn(x, v):
        y = x * 1
        y[[2, 0], 1:] = v * 3
        return y

    x = to_cuda(_source((4, 3), "float64"))
    v = to_cuda(_source((2, 2), "float64"))
    assert ng.autograd.gradcheck(fn, [x, v])
    assert ng.autograd.gradgradcheck(fn, [x, v])


@pytest.mark.parametrize("index_device", ["cpu", "cuda"])
def test_gather_with_repeats(index_device):
    # The CUDA input gets the index on ``index_device``.
    index = ng.tensor([[0, 0, 4], [1, 1, 1], [-1, 2, 0]],
                      device=index_device)
    _parity(lambda x, d: ng.gather(x, 1, index.to(d) if d == "cpu"
                                   else index), _source((3, 5)))


def test_gather_on_a_strided_view():
    index = ng.tensor([[2, 0, 1], [1, 1, 0]])
    _parity(lambda x, d: ng.gather(x.t()[1:], 0, index), _source((3, 4)))


def test_gather_gradcheck_on_device():
    x = to_cuda(_source((3, 4), "float64"))
    index = ng.tensor([[1, 1], [3, 0], [0, 0]], device="cuda")
    assert ng.autograd.gradcheck(lambda t: ng.gather(t, 1, index), [x])
    assert ng.autograd.gradgradcheck(lambda t: ng.gather(t, 1, index), [x])


def test_gather_out_of_range_raises():
    x = ng.zeros(2, 3, device="cuda")
    with pytest.raises(IndexError, match="index 3 is out of bounds for "
                       "dimension 1 with size 3"):
        ng.gather(x, 1, ng.tensor([[3], [0]], device="cuda"))


def test_half_gradient_scatters_through_float32():
    x = to_cuda(_source((4,), "float16"))
    x[[1, 1, 2]].backward(ng.ones(3, dtype=ng.float16, device="cuda"))
    assert x.grad.dtype == ng.float16
    assert x.grad.tolist() == [0.0, 2.0, 1.0, 0.0]


def test_flip_and_repeat_of_strided_input():
    _parity(lambda x, d: x.t().flip(0, 1), _source((3, 4)))
    _parity(lambda x, d: x.t().repeat(2, 1, 3), _source((3, 2)))


def test_cat_and_stack_without_autograd():
    rng = np.random.default_rng(2)
    parts = [rng.standard_normal((2, n)).astype("float32") for n in (1, 3, 2)]
    cpu = ng.cat([ng.tensor(p) for p in parts], 1)
    gpu = ng.cat([ng.tensor(p, device="cuda").t().t() for p in parts], 1)
    assert_same(cpu, gpu)
    assert_same(ng.stack([cpu, cpu * 2], 2),
                ng.stack([gpu, gpu * 2], 2))
