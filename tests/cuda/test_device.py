"""Device tensors: creation, transfers, errors, memory and fused chains on
the ``cuda`` device."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.backends.cuda import launch as launch_module
from numgrad.fusion import recorder

from .conftest import assert_same


def test_device_queries():
    assert ng.cuda.is_available()
    assert ng.cuda.device_count() == 1
    assert ng.cuda.current_device() == 0
    assert isinstance(ng.cuda.get_device_name(), str)
    d = ng.device("cuda:0" if ng.cuda.is_available() else "cpu")
    assert d.type == "cuda" and str(d) == "cuda:0"
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        ng.zeros(2, device="cuda:1")


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64",
                                   "int32", "uint8", "bool"])
def test_round_trip_keeps_values_and_dtype(dtype):
    values = (np.arange(12).reshape(3, 4) % 5).astype(dtype)
    t = ng.tensor(values)
    g = t.to("cuda")
    assert g.device == ng.device("cuda", 0) and g.is_cuda
    assert g.dtype == t.dtype and g.shape == t.shape
    back = g.cpu()
    assert back.device.type == "cpu"
    np.testing.assert_array_equal(back.numpy(), values)
    np.testing.assert_array_equal(g.cuda().cpu().numpy(), values)
    assert g.tolist() == values.tolist()


def test_repr_names_the_device():
    t = ng.tensor([1.0, 2.0], device="cuda")
    assert repr(t) == "tensor([1., 2.], device='cuda:0')"


def test_numpy_of_cuda_tensor_asks_for_cpu():
    t = ng.ones(3, device="cuda")
    with pytest.raises(TypeError, match=r"can't convert cuda:0 device type "
                       r"tensor to numpy\. Use Tensor\.cpu\(\)"):
        t.numpy()
    with pytest.raises(TypeError, match="Tensor.cpu"):
        np.asarray(t)
    assert t.sum().item() == 3.0
    assert bool(ng.ones(1, device="cuda"))


def test_mixing_devices_names_both_and_changes_nothing():
    a = ng.ones(3, requires_grad=True)
    b = ng.ones(3, device="cuda", requires_grad=True)
    for fn in (lambda: a + b, lambda: ng.matmul(a, b),
               lambda: ng.cat([a, b])):
        with pytest.raises(RuntimeError, match=r"Expected all tensors to be "
                           r"on the same device, but found at least two "
                           r"devices, (cpu and cuda:0|cuda:0 and cpu)"):
            fn()
    assert a.grad is None and b.grad is None


def test_zero_dim_cpu_tensor_acts_as_a_scalar():
    x = ng.tensor([1.0, 2.0], device="cuda")
    y = x * ng.tensor(3.0)
    assert y.device.type == "cuda" and y.tolist() == [3.0, 6.0]


def test_gradient_flows_back_across_devices():
    x = ng.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x.to("cuda") * 2).exp().sum()
    y.backward()
    assert x.grad.device.type == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(2 * x.detach()
                                                          .numpy()),
                               rtol=1e-6)


def test_factories_take_device():
    cuda = ng.device("cuda")
    made = [ng.zeros(2, 3, device="cuda"), ng.ones(4, device=cuda),
            ng.full((2,), 7.0, device="cuda"), ng.empty(3, device="cuda"),
            ng.arange(5, device="cuda"), ng.linspace(0, 1, 4, device="cuda"),
            ng.eye(3, device="cuda"), ng.rand(2, device="cuda"),
            ng.randn(2, device="cuda"), ng.randint(0, 5, (3,), device="cuda"),
            ng.tensor([[1, 2]], device="cuda")]
    assert all(t.device == cuda for t in made)
    assert made[2].tolist() == [7.0, 7.0]
    assert made[4].tolist() == [0, 1, 2, 3, 4]
    assert ng.tensor(3.0, device="cuda").shape == ()
    base = ng.ones(2, 2, device="cuda")
    for like in (ng.zeros_like, ng.ones_like, ng.empty_like, ng.rand_like,
                 ng.randn_like):
        assert like(base).device == cuda
    assert ng.full_like(base, 2.0).tolist() == [[2.0, 2.0], [2.0, 2.0]]
    assert ng.zeros_like(base, device="cpu").device.type == "cpu"


def test_random_numbers_match_the_cpu_for_one_seed():
    ng.manual_seed(3)
    cpu = ng.randn(5)
    ng.cuda.manual_seed(3)
    np.testing.assert_array_equal(ng.randn(5, device="cuda").cpu().numpy(),
                                  cpu.numpy())


def test_memory_is_pooled_and_reported():
    ng.cuda.empty_cache()
    before = ng.cuda.memory_allocated()
    t = ng.empty(1000, device="cuda")
    assert ng.cuda.memory_allocated() >= before + 4000
    reserved = ng.cuda.memory_reserved()
    del t
    assert ng.cuda.memory_allocated() == before
    again = ng.empty(1000, device="cuda")
    assert ng.cuda.memory_reserved() == reserved    # the block was reused
    assert ng.cuda.max_memory_allocated() >= before + 4000
    del again
    ng.cuda.empty_cache()
    assert ng.cuda.memory_reserved() == ng.cuda.memory_allocated()


def test_graph_buffers_are_freed_after_backward():
    x = ng.randn(256, device="cuda", requires_grad=True)
    before = ng.cuda.memory_allocated()
    loss = (x.exp() * x.sin()).sum()
    loss.backward()
    del loss
    grad_bytes = x.grad.numel() * 4
    assert ng.cuda.memory_allocated() <= before + 2 * grad_bytes


def test_inplace_ops_and_setitem_on_device():
    x = ng.zeros(2, 3, device="cuda")
    x.fill_(1.5)
    x.add_(ng.ones(3, device="cuda"))
    x.mul_(2)
    x[0, 1] = 7.0
    x[1] = ng.tensor([1.0, 2.0, 3.0])        # a CPU source is copied over
    x[:, 2:] = 0
    assert x.tolist() == [[5.0, 7.0, 0.0], [1.0, 2.0, 0.0]]
    assert x._version.value >= 5
    y = ng.empty(2, 3, device="cuda").copy_(ng.ones(2, 3))
    assert y.tolist() == [[1.0] * 3] * 2


def test_gradients_accumulate_on_device():
    x = ng.ones(3, device="cuda", requires_grad=True)
    (x * 2).sum().backward()
    held = x.grad
    (x * 3).sum().backward()
    assert x.grad is held and x.grad.tolist() == [5.0, 5.0, 5.0]


@pytest.fixture
def launches(monkeypatch):
    seen = []
    real = launch_module.launch

    def counting(kernel, config, *args):
        seen.append(kernel)
        return real(kernel, config, *args)
    monkeypatch.setattr(launch_module, "launch", counting)
    return seen


def test_fused_chain_is_one_kernel_each_way_and_matches_cpu(launches):
    old = recorder.MIN_ELEMENTS
    recorder.set_min_elements(0)
    try:
        rng = np.random.default_rng(0)
        arrays = [rng.uniform(0.5, 1.5, (4, 5)).astype("float32")
                  for _ in range(2)]

        def chain(x, y):
            return ((x.sigmoid() * y.tanh() + x * x * 0.5 - (-y).exp())
                    / (1 + y * y))
        results = {}
        for device in ("cpu", "cuda"):
            x, y = (ng.tensor(a, device=device, requires_grad=True)
                    for a in arrays)
            del launches[:]
            out = chain(x, y)
            out.detach().cpu()
            forward_launches = len(launches)
            out.backward(ng.ones_like(out))
            x.grad.cpu()
            results[device] = (out, x.grad, y.grad, forward_launches)
        assert results["cuda"][3] == 1
        for cpu, gpu in zip(results["cpu"][:3], results["cuda"][:3]):
            assert_same(cpu, gpu)
    finally:
        recorder.set_min_elements(old)


def test_broadcasting_chain_uses_the_nd_kernel():
    a = np.arange(6.0, dtype="float32").reshape(2, 3)
    b = np.array([10.0, 20.0, 30.0], "float32")
    c = np.array([[1.0], [2.0]], "float32")
    out = (ng.tensor(a, device="cuda") + ng.tensor(b, device="cuda")) \
        * ng.tensor(c, device="cuda")
    np.testing.assert_array_equal(out.cpu().numpy(), (a + b) * c)


def test_strided_views_read_and_write():
    base = ng.arange(12.0, device="cuda").reshape(3, 4)
    view = base.t()[1:, ::2]
    assert view.tolist() == [[1.0, 9.0], [2.0, 10.0], [3.0, 11.0]]
    assert (view * 1).tolist() == view.tolist()
    base[:, 0] = -1.0
    assert base.cpu().numpy()[:, 0].tolist() == [-1.0, -1.0, -1.0]


def test_to_int_of_requires_grad_tensor_drops_grad():
    x = ng.tensor([1.5, 2.5], device="cuda", requires_grad=True)
    y = x.to(ng.int64)
    assert y.device.type == "cuda" and not y.requires_grad
    assert y.tolist() == [1, 2]


def test_copy_into_a_view_after_a_dense_copy_of_the_same_dtypes():
    # The dense copy compiles the flat kernel; the strided target needs
    # the nd one: the kernel cache must tell the two apart.
    from numgrad.backends import copy_into
    source = ng.arange(8.0, device="cuda").reshape(2, 4)._value()
    dense = ng.empty(2, 4, device="cuda")._value()
    copy_into(dense, source)
    wide = ng.zeros(2, 6, device="cuda")
    copy_into(wide._value()[:, 1:5], source)
    assert wide.tolist() == [[0, 0, 1, 2, 3, 0], [0, 4, 5, 6, 7, 0]]
