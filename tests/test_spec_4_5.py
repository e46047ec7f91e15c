"""SPEC.md sections 4 (modules and module hooks) and 5 (layers and the
conv + linear example), run as written."""
import numpy as np
import pytest

import numgrad as ng
import numgrad.nn as nn
import numgrad.nn.functional as F


class MyMean(nn.Module):
    def forward(self, input):
        return input / 4


class MyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.f1 = nn.Linear(4, 1, bias=True)
        self.f2 = MyMean()
        self.f1.weight.data.fill_(8.0)
        self.f1.bias.data.fill_(2.0)

    def forward(self, input):
        return self.f2(self.f1(input))


class MyNetReordered(MyNet):
    """The same function with a different last op in forward."""

    def forward(self, input):
        return (self.f1(input) * 0.5) / 2


def _run_section4(net_class):
    device = ng.device("cuda:0" if ng.cuda.is_available() else "cpu")
    inp = ng.tensor([1, 2, 3, 4], dtype=ng.float32,
                    requires_grad=True).to(device)
    net = net_class().to(device)
    seen = []
    net.register_full_backward_hook(
        lambda m, grad_input, grad_output: seen.append(
            (grad_input, grad_output)))
    out = net(inp)
    out.backward()
    return inp, net, out, seen


@pytest.mark.parametrize("net_class", [MyNet, MyNetReordered])
def test_section4_full_backward_hook(net_class):
    inp, net, out, seen = _run_section4(net_class)
    np.testing.assert_allclose(out.detach().numpy(), [20.5])
    np.testing.assert_allclose(net.f1.weight.grad.numpy(),
                               [[0.25, 0.5, 0.75, 1.0]])
    np.testing.assert_allclose(net.f1.bias.grad.numpy(), [0.25])
    np.testing.assert_allclose(inp.grad.numpy(), [2, 2, 2, 2])
    assert len(seen) == 1
    grad_input, grad_output = seen[0]
    assert isinstance(grad_input, tuple) and len(grad_input) == 1
    np.testing.assert_allclose(grad_input[0].numpy(), [2, 2, 2, 2])
    assert isinstance(grad_output, tuple) and len(grad_output) == 1
    np.testing.assert_allclose(grad_output[0].numpy(), [1.0])


def test_section4_forward_hooks_and_handles():
    net = MyNet()
    calls = []
    pre = net.register_forward_pre_hook(
        lambda m, args: calls.append(("pre", args[0].shape)))
    post = net.register_forward_hook(
        lambda m, args, out: calls.append(("post", out.shape)))
    net(ng.ones(4))
    assert calls == [("pre", (4,)), ("post", (1,))]
    pre.remove()
    post.remove()
    net(ng.ones(4))
    assert len(calls) == 2


def test_section4_module_api():
    net = MyNet()
    assert all(p.requires_grad for p in net.parameters())
    assert [n for n, _ in net.named_parameters()] == ["f1.weight", "f1.bias"]
    assert list(net.state_dict()) == ["f1.weight", "f1.bias"]
    net.f1.bias.requires_grad = False
    net(ng.ones(4)).backward()
    assert net.f1.bias.grad is None
    assert net.f1.weight.grad is not None
    assert net.eval() is net and not net.f1.training
    net.train()
    assert net.f2.training
    w = ng.randn(1, 4)
    net.f1.weight = nn.Parameter(w.t().t())
    assert net.f1.weight in list(net.parameters())
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    assert isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.Linear)
    assert len(seq[1:]) == 2


def test_section5_conv_linear_example():
    x = ng.tensor([1, 2, 3, 1, 1, 2, 2, 1, 2], dtype=ng.float32,
                  requires_grad=True).reshape(1, 1, 3, 3)
    x.retain_grad()
    conv = nn.Conv2d(1, 1, kernel_size=(2, 2), bias=False)
    conv.load_state_dict({"weight": ng.tensor(
        [1, 0, 1, 2], dtype=ng.float32).reshape(1, 1, 2, 2)})
    conv_out = conv(x)
    np.testing.assert_allclose(conv_out.detach().numpy(),
                               [[[[4., 7.], [5., 6.]]]])
    fc = nn.Linear(4, 2, bias=False)
    fc.load_state_dict({"weight": ng.tensor([[0, 1, 0, 1], [1, 0, 1, 1]],
                                            dtype=ng.float32)})
    fc_out = fc(conv_out.reshape(1, -1))
    np.testing.assert_allclose(fc_out.detach().numpy(), [[13., 15.]])
    ng.autograd.backward(fc_out[0][0], retain_graph=True,
                         create_graph=False)
    np.testing.assert_allclose(x.grad.numpy(),
                               [[[[0, 1, 0], [0, 2, 2], [0, 1, 2]]]])
    x.grad.zero_()
    with pytest.warns(UserWarning, match="create_graph=True"):
        ng.autograd.backward(fc_out[0][1], retain_graph=False,
                             create_graph=True)
    np.testing.assert_allclose(x.grad.detach().numpy(),
                               [[[[1, 0, 0], [2, 3, 0], [1, 3, 2]]]])
    assert x.grad.grad_fn is not None


def test_section5_higher_order_through_layers():
    lin = nn.Linear(3, 1)
    x = ng.randn(2, 3, requires_grad=True)
    y = F.softplus(lin(x)).sum()
    (gx,) = ng.autograd.grad(y, x, create_graph=True)
    (ggx,) = ng.autograd.grad(gx.sum(), x)
    # d/dx softplus(w.x+b) = sigmoid(z) w; second: sigmoid'(z) w (w.1)
    z = lin(x).detach().numpy()
    w = lin.weight.detach().numpy()
    s = 1 / (1 + np.exp(-z))
    expected = s * (1 - s) * w * w.sum()
    np.testing.assert_allclose(ggx.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_section5_linear_keyword_arguments():
    X = ng.randn(5, 3)
    W = ng.randn(3, 2)
    B = ng.randn(2)
    out = F.linear(X, weight=W.t(), bias=B)
    np.testing.assert_allclose(out.numpy(),
                               X.numpy() @ W.numpy() + B.numpy(),
                               rtol=1e-5, atol=1e-6)
