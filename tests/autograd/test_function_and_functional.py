"""autograd.Function, gradcheck itself, and autograd.functional."""
import numpy as np
import pytest

import numgrad as ng


class Cube(ng.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x * x * x * scale

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        assert ctx.needs_input_grad == (True, False)
        return g * 3 * x * x * ctx.scale, None


def test_custom_function_and_double_backward():
    x = ng.tensor([1.0, 2.0], dtype=ng.float64, requires_grad=True)
    y = Cube.apply(x, 2.0)
    assert y.grad_fn.name() == "CubeBackward"
    y.sum().backward()
    assert x.grad.tolist() == [6.0, 24.0]
    assert ng.autograd.gradcheck(lambda t: Cube.apply(t, 2.0), (x,))
    assert ng.autograd.gradgradcheck(lambda t: Cube.apply(t, 2.0), (x,))


def test_gradcheck_detects_a_wrong_backward():
    class Wrong(ng.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3

    x = ng.tensor([1.0], dtype=ng.float64, requires_grad=True)
    with pytest.raises(ng.autograd.GradcheckError, match="Jacobian mismatch"):
        ng.autograd.gradcheck(Wrong.apply, (x,))


def test_jacobian_hessian_vjp_jvp():
    F = ng.autograd.functional
    x = ng.tensor([1.0, 2.0], dtype=ng.float64)
    jac = F.jacobian(lambda t: t * t, x)
    np.testing.assert_allclose(jac.numpy(), np.diag([2.0, 4.0]))
    hess = F.hessian(lambda t: (t ** 3).sum(), x)
    np.testing.assert_allclose(hess.numpy(), np.diag([6.0, 12.0]))
    out, v = F.vjp(lambda t: t * t, x, ng.tensor([1.0, 1.0],
                                                  dtype=ng.float64))
    assert v.tolist() == [2.0, 4.0] and out.tolist() == [1.0, 4.0]
    out, jv = F.jvp(lambda t: t * t, x, ng.tensor([1.0, 0.0],
                                                  dtype=ng.float64))
    assert jv.tolist() == [2.0, 0.0]


def test_jacobian_against_torch(torch):
    def f(L, a, b):
        return (a * b).exp() + a.sin()
    a = np.random.rand(3)
    b = np.random.rand(3)
    ours = ng.autograd.functional.jacobian(
        lambda x, y: f(ng, x, y), (ng.tensor(a), ng.tensor(b)))
    theirs = torch.autograd.functional.jacobian(
        lambda x, y: f(torch, x, y), (torch.tensor(a), torch.tensor(b)))
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-10)


def test_saved_tensors_hooks():
    packed = []

    def pack(t):
        packed.append(t.shape)
        return t

    x = ng.tensor([1.0, 2.0], requires_grad=True)
    with ng.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = x.exp()
    y.sum().backward()
    assert packed and x.grad is not None
