"""The recorder: chains run as one kernel forward and one backward, with
the same results, hooks and errors as unfused execution."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.fusion import codegen, executor, recorder
from numgrad.fusion.chain import Plan


@pytest.fixture
def fused(monkeypatch):
    """Fusion on for every size; records each kernel launch's plan."""
    monkeypatch.setattr(recorder, "MIN_ELEMENTS", 0)
    ng.fusion.set_enabled(True)
    launches = []
    real_run = executor.run

    real_total = executor.run_total

    def run(outputs):
        launches.append(Plan(outputs))
        return real_run(outputs)

    def run_total(expr):
        launches.append(Plan([expr], total=True))
        return real_total(expr)
    monkeypatch.setattr(recorder, "run", run)
    monkeypatch.setattr(recorder, "run_total", run_total)
    yield launches
    ng.fusion.set_enabled(True)


def chain(L, x, y):
    sigmoid = L.sigmoid if L is not np else (lambda v: 1 / (1 + np.exp(-v)))
    return (sigmoid(x) * L.tanh(y) + x * x * 0.5 - L.exp(-y)) / (1 + y * y)


def _grads(x_arr, y_arr):
    x = ng.tensor(x_arr, requires_grad=True)
    y = ng.tensor(y_arr, requires_grad=True)
    out = chain(ng, x, y)
    out.sum().backward()
    return out.detach().numpy(), x.grad.numpy(), y.grad.numpy()


def test_chain_is_one_forward_and_one_backward_kernel(fused):
    rng = np.random.default_rng(0)
    xa, ya = rng.random((2, 1000), dtype=np.float32)
    x = ng.tensor(xa, requires_grad=True)
    y = ng.tensor(ya, requires_grad=True)
    chain(ng, x, y).sum().backward()
    x.grad.numpy()
    assert len(fused) == 2
    forward, backward = fused
    # forward: the sum runs inside the chain's loop; nothing is written
    assert forward.total and len(forward.arrays) == 2
    # backward reads x, y and the scalar seed; writes both gradients and
    # recomputes the forward intermediates instead of loading them
    assert len(backward.outputs) == 2
    assert sorted(a.size for a in backward.arrays) == [1, 1000, 1000]


def test_fused_results_equal_unfused(fused):
    rng = np.random.default_rng(1)
    xa, ya = rng.random((2, 3, 50))
    on = _grads(xa, ya)
    ng.fusion.set_enabled(False)
    off = _grads(xa, ya)
    for a, b in zip(on, off):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_hooks_and_retain_grad_inside_a_chain(fused):
    x = ng.tensor([1.0, 2.0, 3.0], requires_grad=True)
    mid = x * x
    mid.retain_grad()
    seen = []
    mid.register_hook(lambda g: seen.append(g.tolist()))
    (mid.exp() * 2).sum().backward()
    expected = (2 * np.exp(np.array([1.0, 4.0, 9.0]))).tolist()
    np.testing.assert_allclose(seen[0], expected)
    np.testing.assert_allclose(mid.grad.numpy(), expected)


def test_create_graph_through_fused_chain(fused):
    x = ng.tensor([0.5, 1.5], dtype=ng.float64, requires_grad=True)
    (g,) = ng.autograd.grad(ng.tanh(x * 2).sum(), x, create_graph=True)
    (gg,) = ng.autograd.grad(g.sum(), x)
    t = np.tanh(2 * x.detach().numpy())
    np.testing.assert_allclose(gg.numpy(), -8 * t * (1 - t * t))


def test_inplace_write_does_not_change_pending_values(fused):
    x = ng.tensor([1.0, 2.0])
    y = x * 10
    x.add_(1)
    assert y.tolist() == [10.0, 20.0]
    assert x.tolist() == [2.0, 3.0]


def test_version_check_still_fires(fused):
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = y * 2
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace"):
        z.sum().backward()


def test_errors_point_at_the_users_op(fused):
    x = ng.ones(3)
    with pytest.raises(RuntimeError, match="size of tensor a \\(3\\)"):
        (x * 2) + ng.ones(4)


def test_leaving_no_grad_flushes(fused):
    x = ng.ones(4)
    with ng.no_grad():
        y = x * 3 + 1
    assert y._data is not None and y.tolist() == [4.0] * 4


def test_depth_limit_materialises(fused):
    x = ng.ones(8)
    for _ in range(recorder.MAX_DEPTH + 5):
        x = x + 1
    assert x.tolist() == [recorder.MAX_DEPTH + 6.0] * 8


def test_broadcast_chain_uses_nd_kernel(fused):
    a = ng.tensor(np.arange(6.0).reshape(2, 3))
    b = ng.tensor([10.0, 20.0, 30.0])
    c = ng.tensor([[1.0], [2.0]])
    out = (a + b) * c
    np.testing.assert_array_equal(out.numpy(), (np.arange(6.0).reshape(2, 3)
                                                + [10, 20, 30]) * [[1], [2]])
    assert not fused[-1].flat


def test_float32_kernel_source_keeps_float32_constants():
    x = ng.tensor(np.ones(4, np.float32))
    from numgrad.ops import pointwise as pw
    from numgrad.fusion.chain import ArrayLeaf, Expr
    e = Expr(pw.mul, [ArrayLeaf(x.numpy()), 0.5], ng.float32, ng.float32,
             (4,), 4, 1)
    e2 = Expr(pw.exp, [e], ng.float32, ng.float32, (4,), 4, 2)
    source = codegen.kernel_source(Plan([e2]))
    assert "float32(s0)" in source and "m.exp(t0)" in source
    assert source.count("for i in range(n):") == 1


def test_switch_off_runs_eagerly(fused):
    ng.fusion.set_enabled(False)
    y = ng.ones(4) * 2
    assert y._data is not None
    assert not ng.fusion.is_enabled()


def test_trailing_sum_runs_in_the_chain_loop(fused):
    rng = np.random.default_rng(2)
    xa, ya = rng.random((2, 5000), dtype=np.float32)
    x = ng.tensor(xa, requires_grad=True)
    y = ng.tensor(ya)
    f = chain(ng, x, y)
    total = f.sum()
    mean = f.mean()
    # nothing written: both sums ran inside the chain's loop
    assert [p.total for p in fused] == [True, True]
    assert f._data is None
    reference = chain(np, xa.astype(np.float64), ya.astype(np.float64))
    np.testing.assert_allclose(total.item(), reference.sum(), rtol=1e-5)
    np.testing.assert_allclose(mean.item(), reference.mean(), rtol=1e-5)
    assert total.dtype == ng.float32 and total.grad_fn.name() == \
        "SumBackward0"
    total.backward()
    ng.fusion.set_enabled(False)
    x2 = ng.tensor(xa, requires_grad=True)
    chain(ng, x2, y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-6)


def test_inplace_write_to_a_value_read_by_pending_chains(fused):
    x = ng.tensor([-4.0, -1.0, 0.5, 3.0], requires_grad=True)
    y = x * 1                   # pending, then run by the in-place op
    z = y.sigmoid() * y         # pending, reads y's value
    y.relu_()
    np.testing.assert_allclose(
        z.detach().numpy(),
        (1 / (1 + np.exp(-x.detach().numpy()))) * x.detach().numpy(),
        rtol=1e-6)
