"""SPEC.md sections 1-3, as written."""
import warnings

import numpy as np
import pytest

import numgrad as ng


def test_scalar_backward():
    x = ng.tensor([2.0], requires_grad=True)
    y = 3 * ng.pow(x, 2) + 2 * x
    y.backward()
    assert repr(x.grad) == "tensor([14.])"


def test_vector_backward_and_accumulation():
    x = ng.tensor([2.0, 3.0, 4.0], requires_grad=True)
    y = 3 * ng.pow(x, 2) + 2 * x
    assert repr(y) == "tensor([16., 33., 56.], grad_fn=<AddBackward0>)"
    ng.autograd.backward(y, retain_graph=True,
                         grad_tensors=ng.tensor([1.0, 1.0, 1.0]))
    assert repr(x.grad) == "tensor([14., 20., 26.])"
    y.backward(retain_graph=True, gradient=ng.tensor([3.0, 2.0, 1.0]))
    assert repr(x.grad) == "tensor([56., 60., 52.])"
    x.grad.zero_()
    assert x.grad.tolist() == [0, 0, 0]


def test_section_1_errors():
    x = ng.tensor([2.0, 3.0], requires_grad=True)
    assert x.grad is None
    y = 3 * ng.pow(x, 2)
    with pytest.raises(RuntimeError, match="grad can be implicitly created "
                       "only for scalar outputs"):
        y.backward()
    y.sum().backward()
    with pytest.raises(RuntimeError, match="only Tensors of floating point "
                       "dtype can require gradients"):
        ng.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="Trying to backward through the "
                       "graph a second time.*retain_graph=True"):
        y.sum().backward()


def test_chain_rule_and_accumulation():
    x1 = ng.tensor(2.0)
    x2 = ng.tensor(3.0)
    x1.requires_grad_(True)
    x2.requires_grad_(True)
    for expected in ((80, 40), (160, 80)):
        y = (x1 ** 2 + 2 * x2) ** 2
        y.backward()
        assert (x1.grad.item(), x2.grad.item()) == expected


def test_detach():
    x = ng.arange(4.0, requires_grad=True)
    y = x * x
    u = y.detach()
    assert not u.requires_grad and u.grad_fn is None
    np.testing.assert_array_equal(u.numpy(), y.detach().numpy())
    z = u * x
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), u.numpy())
    w = x * 2
    w.detach_()
    assert w.grad_fn is None and not w.requires_grad


def test_hooks_leaves_and_non_leaf_grad(capsys):
    x = ng.tensor([1, 2], dtype=ng.float32, requires_grad=True)
    y = x * 2
    y.register_hook(print)
    z = ng.mean(y)
    z.backward()
    assert capsys.readouterr().out.strip() == "tensor([0.5000, 0.5000])"
    assert x.grad.tolist() == [1.0, 1.0]
    with pytest.warns(UserWarning, match="not a leaf Tensor"):
        assert y.grad is None
    assert x.is_leaf and not y.is_leaf
    assert y.grad_fn.name() == "MulBackward0"


def test_hook_replacement_handle_and_store():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    handle = y.register_hook(lambda g: g * 10)
    y.sum().backward(retain_graph=True)
    assert x.grad.tolist() == [30.0, 30.0]
    handle.remove()
    x.grad = None
    y.sum().backward(retain_graph=True)
    assert x.grad.tolist() == [3.0, 3.0]
    stored = {}

    def keep(g):
        y.grad = g
        stored["g"] = g
    y.register_hook(keep)
    y.sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert y.grad.tolist() == [1.0, 1.0]


def test_retain_grad_and_requires_grad_propagation():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    c = ng.tensor([5.0, 6.0])
    y = x * c
    y.retain_grad()
    assert (c * c).requires_grad is False and y.requires_grad
    (y * y).sum().backward()
    assert y.grad.tolist() == [10.0, 24.0]


def test_no_grad_records_nothing():
    x = ng.tensor([1.0], requires_grad=True)
    with ng.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None

    @ng.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad
    assert (x * 2).requires_grad
