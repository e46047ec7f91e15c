"""float16 on the CUDA device: stored as float16, computed in float32,
rounded after each op, as on the CPU (tests/ops/test_float16.py)."""
import numpy as np
import pytest

import numgrad as ng


def _sample(seed, shape=(3, 40)):
    rng = np.random.default_rng(seed)
    return rng.uniform(-2, 2, shape).astype(np.float16)


def _both(fn, *arrays, grad=False):
    results = []
    for device in ("cpu", "cuda"):
        tensors = [ng.tensor(a, device=device, requires_grad=grad)
                   for a in arrays]
        out = fn(*tensors)
        if grad:
            out.sum().backward()
        results.append((out, [t.grad for t in tensors if grad]))
    return results


def test_arithmetic_chain_equals_the_cpu_bit_for_bit(fusion_mode):
    # No transcendental functions: the device's libdevice and the CPU's
    # float32 formulas may differ in the last float32 bit.
    (cpu, cpu_grads), (gpu, gpu_grads) = _both(
        lambda x, y: ((x * 0.1 + y) / 3.3 - 2.5 * y * x).clamp(-1, 1),
        _sample(1), _sample(2), grad=True)
    assert gpu.device.type == "cuda" and gpu.dtype == ng.float16
    np.testing.assert_array_equal(gpu.detach().cpu().numpy(),
                                  cpu.detach().numpy())
    for a, b in zip(cpu_grads, gpu_grads):
        assert b.dtype == ng.float16
        np.testing.assert_array_equal(b.cpu().numpy(), a.numpy())


def test_transcendental_chain_within_a_float16_unit(fusion_mode):
    (cpu, _), (gpu, _) = _both(lambda x, y: ((x * 3).exp() + y).tanh(),
                               _sample(3), _sample(4))
    assert gpu.dtype == ng.float16
    np.testing.assert_allclose(
        gpu.cpu().numpy().astype(np.float32), cpu.numpy(), rtol=2 ** -10,
        atol=1e-5)


def test_mixed_precision_on_the_device(fusion_mode):
    (cpu, _), (gpu, _) = _both(lambda x, y: x * y.float() + 1,
                               _sample(5), _sample(6))
    assert gpu.dtype == ng.float32
    np.testing.assert_array_equal(gpu.cpu().numpy(), cpu.numpy())
