"""matmul's tiled CUDA kernel against the CPU: ragged tiles, batches,
broadcast and strided operands, dtypes, gradients."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.ops.cuda.linalg import TILE

from .conftest import assert_same, to_cuda


def _pair(shape_a, shape_b, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    a = ng.tensor(rng.standard_normal(shape_a).astype(dtype),
                  requires_grad=True)
    b = ng.tensor(rng.standard_normal(shape_b).astype(dtype),
                  requires_grad=True)
    return a, b


def _check(fn, a, b, rtol=1e-5, atol=1e-5):
    ga, gb = to_cuda(a), to_cuda(b)
    cpu, gpu = fn(a, b), fn(ga, gb)
    assert_same(cpu, gpu, rtol, atol)
    seed = np.random.default_rng(3).standard_normal(cpu.shape)
    cpu.backward(ng.tensor(seed.astype(cpu.dtype.name)))
    gpu.backward(ng.tensor(seed.astype(cpu.dtype.name), device="cuda"))
    assert_same(a.grad, ga.grad, rtol, atol)
    assert_same(b.grad, gb.grad, rtol, atol)


@pytest.mark.parametrize("shape_a, shape_b", [
    ((TILE + 1, 2 * TILE + 1), (2 * TILE + 1, TILE - 1)),   # ragged tiles
    ((3, TILE + 2, 5), (3, 5, 2)),                           # batched
    ((2, 1, 3, 4), (3, 4, 5)),                               # broadcast
    ((2, 3, 4), (4, 5)),                                     # 2-D operand
])
def test_matmul_matches_cpu(shape_a, shape_b):
    _check(lambda x, y: x @ y, *_pair(shape_a, shape_b))


def test_batch_dimensions_that_cannot_merge():
    # a's batch (2, 1) and b's (1, 3) broadcast to (2, 3): neither operand
    # is a single-stride batch, so both are copied once.
    _check(lambda x, y: x @ y, *_pair((2, 1, 3, 4), (1, 3, 4, 2)))


def test_transposed_and_sliced_operands():
    a, b = _pair((6, 5), (2, 7, 6))
    _check(lambda x, y: x.t()[1:] @ y.transpose(1, 2)[..., ::2], a, b)


def test_float64_gradcheck_on_device():
    a, b = _pair((2, 3, 5), (5, 2), "float64", seed=1)
    assert ng.autograd.gradcheck(lambda x, y: x @ y,
                                 [to_cuda(a), to_cuda(b)])


def test_float16_accumulates_in_float32():
    a, b = _pair((3, 40), (40, 2), "float16")
    out = to_cuda(a).detach() @ to_cuda(b).detach()
    assert out.dtype == ng.float16
    ref = a.detach().numpy().astype(np.float32) @ b.detach().numpy().astype(
        np.float32)
    np.testing.assert_allclose(out.cpu().numpy().astype(np.float32), ref,
                               rtol=2e-3, atol=2e-3)


def test_empty_shared_dimension_gives_zeros():
    a = ng.ones(3, 0, device="cuda")
    b = ng.ones(0, 2, device="cuda")
    assert (a @ b).tolist() == [[0.0, 0.0]] * 3
    assert (ng.ones(0, 4, device="cuda") @ ng.ones(4, 2, device="cuda")
            ).shape == (0, 2)


def test_integer_matmul_is_refused():
    x = ng.ones(2, 2, dtype=ng.int64, device="cuda")
    with pytest.raises(RuntimeError, match="floating-point"):
        x @ x


def test_linear_with_batched_input():
    rng = np.random.default_rng(4)
    x = ng.tensor(rng.standard_normal((2, 3, 4)).astype("float32"),
                  requires_grad=True)
    w = ng.tensor(rng.standard_normal((5, 4)).astype("float32"),
                  requires_grad=True)
    _check(lambda x, w: ng.ops.linalg.linear(x, w), x, w)
