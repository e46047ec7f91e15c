"""SPEC.md sections 4-6 with ``device = ng.device("cuda:0")``: the values
SPEC gives, and the CPU's results for the same weights and inputs.

Section 6 runs the real ResNet-18 and ResNet-50 architectures (torchvision's
module tree, blocks and forward) on 16x16 images, narrowed to 2 and 1 stem
channels instead of 64 and with 10 classes instead of 1000: the CUDA
simulator runs every GPU thread as a Python thread, so that each
convolution or BatchNorm still costs it a few tenths of a second (the
whole file takes about two minutes there; tests/test_models.py runs
SPEC's sizes on the CPU)."""
import copy
import importlib.util
import os

import numpy as np
import pytest

import numgrad as ng
import numgrad.nn as nn
import numgrad.nn.functional as F
from numgrad import models

from ..test_spec_4_5 import MyNet, MyNetReordered
from .conftest import assert_same

DEVICE = ng.device("cuda:0")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


# ---------------------------------------------------------------------
# 4. Modules and module hooks
# ---------------------------------------------------------------------

@pytest.mark.parametrize("net_class", [MyNet, MyNetReordered])
def test_section4_full_backward_hook(net_class):
    leaf = ng.tensor([1, 2, 3, 4], dtype=ng.float32, requires_grad=True)
    inp = leaf.to(DEVICE)
    net = net_class().to(DEVICE)
    seen = []
    net.register_full_backward_hook(
        lambda m, grad_input, grad_output: seen.append(
            (grad_input, grad_output)))
    out = net(inp)
    assert out.device == DEVICE
    out.backward()
    assert out.cpu().tolist() == [20.5]
    assert net.f1.weight.grad.device == DEVICE
    assert net.f1.weight.grad.cpu().tolist() == [[0.25, 0.5, 0.75, 1.0]]
    assert net.f1.bias.grad.cpu().tolist() == [0.25]
    # the gradient comes back across the move to the device
    assert leaf.grad.device.type == "cpu"
    assert leaf.grad.tolist() == [2, 2, 2, 2]
    assert len(seen) == 1
    (grad_input,), (grad_output,) = seen[0]
    assert grad_input.device == DEVICE and grad_output.device == DEVICE
    assert grad_input.cpu().tolist() == [2, 2, 2, 2]
    assert grad_output.cpu().tolist() == [1.0]


def test_section4_forward_hooks_and_tensor_hooks():
    net = MyNet().to(DEVICE)
    calls = []
    pre = net.register_forward_pre_hook(
        lambda m, args: calls.append(("pre", args[0].device)))
    post = net.f1.register_forward_hook(
        lambda m, args, out: calls.append(("post", out.device)))
    x = ng.ones(4, device=DEVICE, requires_grad=True)
    y = net(x)
    grads = []
    x.register_hook(lambda g: grads.append(g.device))
    y.register_hook(lambda g: g * 2)          # a replacement gradient
    y.backward()
    assert calls == [("pre", DEVICE), ("post", DEVICE)]
    assert grads == [DEVICE]
    assert x.grad.cpu().tolist() == [4.0, 4.0, 4.0, 4.0]
    pre.remove()
    post.remove()
    net(x)
    assert len(calls) == 2


def test_section4_module_api():
    net = MyNet().to(DEVICE)
    assert all(p.requires_grad and p.device == DEVICE
               for p in net.parameters())
    assert list(net.state_dict()) == ["f1.weight", "f1.bias"]
    net.f1.bias.requires_grad = False
    net(ng.ones(4, device=DEVICE)).backward()
    assert net.f1.bias.grad is None
    assert net.f1.weight.grad.device == DEVICE
    assert net.eval() is net and not net.f1.training
    net.train()
    w = ng.randn(1, 4, device=DEVICE)
    net.f1.weight = nn.Parameter(w.t().t())
    assert net.f1.weight in list(net.parameters())
    net.load_state_dict({"f1.weight": ng.full((1, 4), 2.0),
                         "f1.bias": ng.zeros(1)})
    assert net.f1.weight.device == DEVICE
    assert net(ng.ones(4, device=DEVICE)).cpu().tolist() == [2.0]
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    seq.to(DEVICE)
    assert seq[-1].weight.device == DEVICE
    assert seq[1:](ng.ones(2, 3, device=DEVICE)).device == DEVICE


# ---------------------------------------------------------------------
# 5. Layers and the conv + linear example
# ---------------------------------------------------------------------

def test_section5_conv_linear_example():
    x = ng.tensor([1, 2, 3, 1, 1, 2, 2, 1, 2], dtype=ng.float32,
                  device=DEVICE, requires_grad=True).reshape(1, 1, 3, 3)
    x.retain_grad()
    conv = nn.Conv2d(1, 1, kernel_size=(2, 2), bias=False).to(DEVICE)
    conv.load_state_dict({"weight": ng.tensor(
        [1, 0, 1, 2], dtype=ng.float32).reshape(1, 1, 2, 2)})
    conv_out = conv(x)
    assert conv_out.device == DEVICE
    assert conv_out.cpu().tolist() == [[[[4., 7.], [5., 6.]]]]
    fc = nn.Linear(4, 2, bias=False).to(DEVICE)
    fc.load_state_dict({"weight": ng.tensor([[0, 1, 0, 1], [1, 0, 1, 1]],
                                            dtype=ng.float32)})
    fc_out = fc(conv_out.reshape(1, -1))
    assert fc_out.cpu().tolist() == [[13., 15.]]
    ng.autograd.backward(fc_out[0][0], retain_graph=True,
                         create_graph=False)
    assert x.grad.device == DEVICE
    assert x.grad.cpu().tolist() == [[[[0, 1, 0], [0, 2, 2], [0, 1, 2]]]]
    x.grad.zero_()
    with pytest.warns(UserWarning, match="create_graph=True"):
        ng.autograd.backward(fc_out[0][1], retain_graph=False,
                             create_graph=True)
    assert x.grad.detach().cpu().tolist() == \
        [[[[1, 0, 0], [2, 3, 0], [1, 3, 2]]]]
    assert x.grad.grad_fn is not None


def test_section5_higher_order_through_layers():
    ng.manual_seed(0)
    lin = nn.Linear(3, 1)
    x = ng.randn(2, 3)
    results = []
    for device in ("cpu", DEVICE):
        layer = copy.deepcopy(lin).to(device)
        xd = x.to(device).requires_grad_(True)
        y = F.softplus(layer(xd)).sum()
        (gx,) = ng.autograd.grad(y, xd, create_graph=True)
        (ggx,) = ng.autograd.grad(gx.sum(), xd)
        results.append((gx, ggx))
    for cpu, gpu in zip(*results):
        assert_same(cpu, gpu)


def test_section5_linear_keyword_arguments():
    X, W, B = ng.randn(5, 3), ng.randn(3, 2), ng.randn(2)
    out = F.linear(X.to(DEVICE), weight=W.to(DEVICE).t(), bias=B.to(DEVICE))
    assert_same(F.linear(X, weight=W.t(), bias=B), out)


# ---------------------------------------------------------------------
# 6. A ResNet and Grad-CAM
# ---------------------------------------------------------------------

WIDTHS = {"resnet18": 2, "resnet50": 1}
SIZE = 16        # layer3's and layer4's maps are then 1x1


def _run_section6(model, x_np):
    """SPEC 6 on one device: forward and backward in training mode with a
    full backward hook on layer4's last convolution, then (in eval mode)
    the layers one by one and the gradient of a logit at layer4."""
    block = model.layer4[-1]
    # the block's last convolution: Bottleneck's conv3, BasicBlock's conv2
    conv = block.conv3 if hasattr(block, "conv3") else block.conv2
    hooked = []
    conv.register_full_backward_hook(
        lambda m, grad_input, grad_output: hooked.append(
            (grad_input[0], grad_output[0])))
    x = ng.tensor(x_np, device=model.fc.weight.device, requires_grad=True)
    output = model(x)
    output[0][0].backward()
    model.eval()
    with ng.no_grad():
        y = x.detach()
        for name in ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2",
                     "layer3", "layer4"]:
            y = getattr(model, name)(y)
    feats = y.detach().requires_grad_(True)
    logits = model.fc(ng.flatten(model.avgpool(feats), 1))
    logits[0, 0].backward()
    return {"output": output, "input.grad": x.grad,
            "hook grad_input": hooked[0][0],
            "hook grad_output": hooked[0][1], "features": y,
            "eval logits": logits, "features.grad": feats.grad}


@pytest.fixture(scope="module")
def grad_cam():
    path = os.path.join(ROOT, "examples", "grad_cam.py")
    spec = importlib.util.spec_from_file_location("grad_cam_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# SPEC 6's ResNet-50 (ResNet-18, whose BasicBlocks differ, runs in the
# Grad-CAM test below; both here cost minutes on the simulator).
@pytest.mark.parametrize("name", ["resnet50"])
def test_section6_resnet_on_device_matches_cpu(name):
    ng.manual_seed(0)
    # In float64: training-mode BatchNorm over layer4's 1x1 maps sees two
    # values per channel, and its gradient then cancels almost all of
    # itself, which float32 rounding (different on each device) would
    # dominate.
    cpu_model = getattr(models, name)(width=WIDTHS[name],
                                      num_classes=10).double()
    gpu_model = copy.deepcopy(cpu_model).to(DEVICE)
    x_np = np.random.default_rng(1).random((2, 3, SIZE, SIZE))
    cpu = _run_section6(cpu_model, x_np)
    gpu = _run_section6(gpu_model, x_np)
    channels = 8 * WIDTHS[name] * (4 if name == "resnet50" else 1)
    assert tuple(gpu["output"].shape) == (2, 10)
    assert tuple(gpu["input.grad"].shape) == (2, 3, SIZE, SIZE)
    assert tuple(gpu["hook grad_output"].shape) == (2, channels, 1, 1)
    assert tuple(gpu["features"].shape) == (2, channels, 1, 1)
    for key in cpu:
        assert gpu[key].device == DEVICE, key
        assert_same(cpu[key], gpu[key], rtol=1e-7, atol=1e-9)
    # the running statistics that the training-mode forward updated
    for (key, a), (_, b) in zip(cpu_model.state_dict().items(),
                                gpu_model.state_dict().items()):
        assert_same(a, b, rtol=1e-7, atol=1e-9)
    # dY/dA is constant over space here (avgpool then fc): W_fc / (1 * 1)
    assert_same(cpu_model.fc.weight[0].reshape(1, -1),
                gpu["features.grad"][:1, :, 0, 0], rtol=1e-7, atol=1e-9)


def test_section6_grad_cam_on_device_matches_cpu(grad_cam):
    ng.manual_seed(0)
    cpu_model = models.resnet18(width=WIDTHS["resnet18"], num_classes=10)
    gpu_model = copy.deepcopy(cpu_model).to(DEVICE)
    x_np = np.random.default_rng(2).normal(size=(1, 3, SIZE, SIZE)) \
        .astype(np.float32)
    maps = []
    for model in (cpu_model, gpu_model):
        x = ng.tensor(x_np, device=model.fc.weight.device)
        # layer1's 4x4 map and layer2.1.conv2's 2x2 (pre-activation)
        layers = [model.layer1, model.layer2[1].conv2]
        with grad_cam.GradCAM(model, layers) as cam:
            maps.append((cam(x, [grad_cam.ClassifierOutputTarget(3)]),
                         cam.outputs))
    (cpu_map, cpu_logits), (gpu_map, gpu_logits) = maps
    assert gpu_map.shape == (1, SIZE, SIZE) and gpu_map.max() > 0.5
    np.testing.assert_allclose(gpu_logits, cpu_logits, rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(gpu_map, cpu_map, atol=1e-4)
