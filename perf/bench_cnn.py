"""(7) CNN workloads, numgrad against torch in the same run, float32:

* ``conv2d_fwd`` / ``conv2d_fwdbwd``: ``Conv2d(64, 64, 3, padding=1)`` at
  batch 8 on 56x56 (forward only, and forward + ``out.sum().backward()``
  into the input, weight and bias); ``conv2d_fwd`` also at batch 2 on
  28x28, the only CNN case ``--quick`` keeps.  ``extra_info['flops']``
  (forward ``2*N*Cout*Hout*Wout*Cin*9``, forward + backward 3x that) lets
  ``run.py`` report GFLOP/s;
* ``matmul``: a 1024^3 float32 matmul, whose NumPy time is the BLAS peak
  the conv GFLOP/s are read against (also in ``--quick``: it is cheap);
* ``resnet50_fwd`` / ``efficientnet_lite0_fwd``: inference forward at
  batch 1, 224x224, eval mode, under ``no_grad`` on both sides, the same
  weights on both sides (ResNet-50: numgrad's random init loaded into the
  torch ResNet-50 below, which has torchvision's module names; Lite0: the
  shipped ImageNet weights in ``efficientnet_lite_pytorch``'s model);
* ``gradcam_resnet50`` / ``gradcam_efficientnet_lite0``: one Grad-CAM call
  at batch 1 (layer4 / ``_head_act``, class 281): ``examples/grad_cam.py``'s
  ``GradCAM`` (``numgrad``: its default pruned backward;
  ``numgrad_fullbwd``: ``prune_backward = False``, a backward into every
  parameter) against pytorch-grad-cam's algorithm written in torch
  (:class:`TorchGradCAM`, full backward as pytorch-grad-cam does);
* ``resnet50_fwdbwd``: a training-mode ResNet-50 forward + cross-entropy +
  backward at batch 8, 224x224, each round in a fresh interpreter: the
  CPU time of that first full-size step (after a small warm-up step that
  compiles/initialises kernels) and, in ``extra_info['peak_rss_delta']``,
  ``ru_maxrss`` after the step minus the RSS right before it.

Every in-process case checks its first result before timing it: the conv
against NumPy, the models and Grad-CAM against the other library's result
(torch's when numgrad is timed and torch is installed, numgrad's when
torch is timed).
"""
import functools
import importlib.util
import os

import numpy as np
import pytest

import _common
from _common import sync

PERF_DIR = os.path.dirname(os.path.abspath(__file__))
GRAD_CAM_SCRIPT = os.path.join(_common.REPO, "examples", "grad_cam.py")
IMAGE = 224
CAM_CLASS = 281        # "tabby": an explicit target, no argmax tie to flip

# (batch, channels, height/width): the full conv size and the quick one
CONV_FULL = (8, 64, 56)
CONV_SMALL = (2, 64, 28)
MATMUL_N = 1024


def _conv_flops(batch, ch, hw):
    """Forward flops of Conv2d(ch, ch, 3, padding=1) on (batch, ch, hw, hw)."""
    return 2 * batch * ch * hw * hw * ch * 9


def _shape_id(batch, ch, hw):
    return f"{batch}x{ch}x{hw}x{hw}"


def full_only(test):
    """Leave a benchmark out of ``--quick``: it is not collected at all,
    so it is not listed as missing (as ``--quick``'s lack of N=1e7)."""
    return None if _common.quick() else test


def _torch(perf, impl):
    return perf.require_torch() if impl == "torch" else None


# ---------------------------------------------------------------- conv
@functools.lru_cache(maxsize=None)
def _conv_data(batch, ch, hw):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, ch, hw, hw), dtype=np.float32)
    bound = 1 / np.sqrt(ch * 9)
    w = rng.uniform(-bound, bound, (ch, ch, 3, 3)).astype(np.float32)
    b = rng.uniform(-bound, bound, ch).astype(np.float32)
    return x, w, b


def _numpy_conv(x, w, b):
    """3x3, stride 1, padding 1, in float64, via sliding windows."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), (2, 3))
    return np.einsum("nchwkl,ockl->nohw", win, w.astype(np.float64),
                     optimize=True) + b[None, :, None, None]


@functools.lru_cache(maxsize=None)
def _numpy_conv_sum_grads(batch, ch, hw):
    """Gradients of ``conv(x).sum()`` w.r.t. x, weight and bias."""
    x, w, _ = _conv_data(batch, ch, hw)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), (2, 3))
    gw = np.broadcast_to(win.sum(axis=(0, 2, 3))[None], w.shape)
    gb = np.full(ch, float(batch * hw * hw))
    gxp = np.zeros_like(xp)
    wsum = w.astype(np.float64).sum(axis=0)          # (c, 3, 3)
    for k in range(3):
        for j in range(3):
            gxp[:, :, k:k + hw, j:j + hw] += wsum[None, :, k, j, None, None]
    return gxp[:, :, 1:-1, 1:-1], np.array(gw), gb


def _close(got, want, rtol=1e-3):
    got = got if isinstance(got, np.ndarray) else got.detach().numpy()
    assert got.dtype == np.float32, got.dtype
    scale = float(np.max(np.abs(want))) or 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


def _conv_setup(perf, impl, batch, ch, hw, requires_grad):
    x, w, b = _conv_data(batch, ch, hw)
    torch = _torch(perf, impl)

    def build():
        if torch is not None:
            conv = torch.nn.Conv2d(ch, ch, 3, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(w))
                conv.bias.copy_(torch.from_numpy(b))
            return conv, torch.tensor(x, requires_grad=requires_grad)
        import numgrad
        conv = numgrad.nn.Conv2d(ch, ch, 3, padding=1)
        with numgrad.no_grad():
            conv.weight.copy_(numgrad.from_numpy(w.copy()))
            conv.bias.copy_(numgrad.from_numpy(b.copy()))
        return conv, numgrad.tensor(x, requires_grad=requires_grad)
    return perf.attempt(build)


CONV_FWD_SIZES = (CONV_SMALL,) if _common.quick() else (CONV_SMALL,
                                                         CONV_FULL)


@pytest.mark.parametrize("impl", ("numgrad", "torch"))
@pytest.mark.parametrize("size", CONV_FWD_SIZES,
                         ids=[_shape_id(*s) for s in CONV_FWD_SIZES])
def test_conv2d_fwd(perf, size, impl):
    """``Conv2d(64, 64, 3, padding=1)`` forward; the input requires grad
    (the graph is recorded, as mid-network)."""
    perf.setup("conv2d_fwd", impl, refs=("torch",), shape=_shape_id(*size))
    perf.benchmark.extra_info["flops"] = _conv_flops(*size)
    conv, x = _conv_setup(perf, impl, *size, requires_grad=True)

    def step():
        out = conv(x)
        sync(out)
        return out
    want = _numpy_conv(*_conv_data(*size))
    perf.run(step, check=lambda out: _close(out, want))


@full_only
@pytest.mark.parametrize("impl", ("numgrad", "torch"))
def test_conv2d_fwdbwd(perf, impl):
    """Forward + ``out.sum().backward()``: gradients of the input, the
    weight and the bias, reset to None every call."""
    perf.setup("conv2d_fwdbwd", impl, refs=("torch",),
               shape=_shape_id(*CONV_FULL))
    perf.benchmark.extra_info["flops"] = 3 * _conv_flops(*CONV_FULL)
    conv, x = _conv_setup(perf, impl, *CONV_FULL, requires_grad=True)

    def step():
        x.grad = None
        conv.weight.grad = None
        conv.bias.grad = None
        conv(x).sum().backward()
        sync(x.grad, conv.weight.grad, conv.bias.grad)
        return x.grad, conv.weight.grad, conv.bias.grad

    def check(grads):
        for got, want in zip(grads, _numpy_conv_sum_grads(*CONV_FULL)):
            _close(got, want)
    perf.run(step, check=check)


@pytest.mark.parametrize("impl", ("numgrad", "torch", "numpy"))
def test_matmul(perf, impl):
    """``a @ b`` on two 1024x1024 float32 matrices (no grad): the NumPy
    time is the BLAS peak the conv GFLOP/s are read against."""
    n = MATMUL_N
    perf.setup("matmul", impl, refs=("torch", "numpy"), N=str(n))
    perf.benchmark.extra_info["flops"] = 2 * n ** 3
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    want = a.astype(np.float64) @ b.astype(np.float64)
    if impl == "numpy":
        perf.run(lambda: a @ b, check=lambda out: _close(out, want))
        return
    torch = _torch(perf, impl)
    if torch is None:
        import numgrad as lib
    else:
        lib = torch
    at, bt = perf.attempt(lambda: (lib.tensor(a), lib.tensor(b)))

    def step():
        out = at @ bt
        sync(out)
        return out
    perf.run(step, check=lambda out: _close(out, want))


# ------------------------------------------------------- torch ResNet-50
def torch_resnet50(torch, num_classes=1000):
    """torchvision's ResNet-50 (v1.5) with torchvision's module names, so
    numgrad's ``resnet50().state_dict()`` loads into it unchanged
    (torchvision itself is not installable next to torch 2.13)."""
    nn = torch.nn

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            width = planes
            self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample
            self.stride = stride

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity
            return self.relu(out)

    class ResNet(nn.Module):
        def __init__(self, layers=(3, 4, 6, 3)):
            super().__init__()
            self.inplanes = 64
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.layer1 = self._make_layer(64, layers[0])
            self.layer2 = self._make_layer(128, layers[1], 2)
            self.layer3 = self._make_layer(256, layers[2], 2)
            self.layer4 = self._make_layer(512, layers[3], 2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(2048, num_classes)

        def _make_layer(self, planes, blocks, stride=1):
            downsample = None
            if stride != 1 or self.inplanes != planes * 4:
                downsample = nn.Sequential(
                    nn.Conv2d(self.inplanes, planes * 4, 1, stride,
                              bias=False),
                    nn.BatchNorm2d(planes * 4))
            layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes * 4
            layers += [Bottleneck(self.inplanes, planes)
                       for _ in range(1, blocks)]
            return nn.Sequential(*layers)

        def features(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            return self.layer4(self.layer3(self.layer2(self.layer1(x))))

        def head(self, feats):
            return self.fc(torch.flatten(self.avgpool(feats), 1))

        def forward(self, x):
            return self.head(self.features(x))

    return ResNet()


# ------------------------------------------------------------- the models
@functools.lru_cache(maxsize=None)
def _numgrad_model(name):
    """The numgrad model (eval mode), built once per session: ResNet-50
    with seeded random weights, Lite0 with the shipped ImageNet weights."""
    import numgrad
    from numgrad import models
    numgrad.manual_seed(0)
    if name == "resnet50":
        return models.resnet50().eval()
    return models.efficientnet_lite0(weights="DEFAULT").eval()


@functools.lru_cache(maxsize=None)
def _torch_model(name):
    """The torch model with the numgrad model's weights, eval mode."""
    import torch
    sd = {k: torch.tensor(np.array(v.numpy(), copy=True))
          for k, v in _numgrad_model(name).state_dict().items()}
    if name == "resnet50":
        model = torch_resnet50(torch)
    else:
        import efficientnet_lite_pytorch as pkg
        model = pkg.EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(sd)
    return model.eval()


def _model(perf, impl, name):
    if impl == "torch":
        perf.require_torch()
        return perf.attempt(lambda: _torch_model(name))
    return perf.attempt(lambda: _numgrad_model(name))


@functools.lru_cache(maxsize=None)
def _image(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((1, 3, IMAGE, IMAGE), dtype=np.float32)


@functools.lru_cache(maxsize=None)
def _logits(lib, name):
    """Inference logits of the given library's model on ``_image()``,
    computed outside the timing (the cross-check reference)."""
    if lib == "torch":
        import torch
        with torch.no_grad():
            return _torch_model(name)(torch.from_numpy(_image())).numpy()
    import numgrad
    with numgrad.no_grad():
        return _numgrad_model(name)(numgrad.from_numpy(_image())).numpy()


def _other(impl):
    return "numgrad" if impl == "torch" else "torch"


def _have_torch():
    return importlib.util.find_spec("torch") is not None


def _check_logits(impl, name):
    def check(out):
        got = out.detach().numpy()
        assert got.shape == (1, 1000) and got.dtype == np.float32
        assert np.isfinite(got).all()
        if impl != "torch" and not _have_torch():
            return
        want = _logits(_other(impl), name)
        scale = float(np.max(np.abs(want)))
        np.testing.assert_allclose(got, want, rtol=1e-4,
                                   atol=max(2e-4, 1e-5 * scale))
    return check


MODEL_NAMES = ("resnet50", "efficientnet_lite0")


@full_only
@pytest.mark.parametrize("impl", ("numgrad", "torch"))
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_fwd(perf, name, impl):
    """Inference forward, batch 1, 224x224, eval mode, under no_grad."""
    perf.setup(f"{name}_fwd", impl, refs=("torch",), batch=1)
    model = _model(perf, impl, name)
    if impl == "torch":
        import torch as lib
    else:
        import numgrad as lib
    x = lib.from_numpy(_image().copy())

    def step():
        with lib.no_grad():
            out = model(x)
        sync(out)
        return out
    perf.run(step, check=_check_logits(impl, name))


# --------------------------------------------------------------- Grad-CAM
@functools.lru_cache(maxsize=None)
def _grad_cam_module():
    spec = importlib.util.spec_from_file_location("numgrad_grad_cam_example",
                                                  GRAD_CAM_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TorchGradCAM:
    """pytorch-grad-cam's ``GradCAM`` algorithm (jacobgil/pytorch-grad-cam,
    ``BaseCAM`` + ``ActivationsAndGradients``) for one target layer: a
    forward hook keeps the layer's output and registers a tensor hook for
    its gradient; ``model.zero_grad()``; the target is the class logit;
    ``loss.backward(retain_graph=True)`` -- a full backward into every
    parameter; weights = mean gradient over H, W; ReLU of the weighted sum;
    min-max; bilinear resize to the input size; min-max again (the
    aggregation over layers).  If the layer runs more than once per
    forward, its last call is used.  pytorch-grad-cam resizes with OpenCV's
    INTER_LINEAR, which is ``F.interpolate(..., 'bilinear',
    align_corners=False)``."""

    def __init__(self, torch, model, layer):
        self.torch = torch
        self.model = model.eval()
        self.activations = []
        self.gradients = []
        self.handles = [layer.register_forward_hook(self._save_activation),
                        layer.register_forward_hook(self._save_gradient)]

    def _save_activation(self, module, input, output):
        self.activations.append(output.cpu().detach())

    def _save_gradient(self, module, input, output):
        if not output.requires_grad:
            return

        def store(grad):
            self.gradients = [grad.cpu().detach()] + self.gradients
        output.register_hook(store)

    def _scale(self, cam, size=None):
        lo = cam.amin(dim=(1, 2), keepdim=True)
        cam = cam - lo
        cam = cam / (1e-7 + cam.amax(dim=(1, 2), keepdim=True))
        if size is not None:
            cam = self.torch.nn.functional.interpolate(
                cam[:, None], size=size, mode="bilinear",
                align_corners=False)[:, 0]
        return cam

    def __call__(self, x, category):
        torch = self.torch
        self.activations, self.gradients = [], []
        outputs = self.model(x)
        self.model.zero_grad()
        loss = sum(output[category] for output in outputs)
        loss.backward(retain_graph=True)
        # the layer's last call (Lite0's _swish runs for stem and head;
        # gradients arrive in reverse order and are prepended)
        acts, grads = self.activations[-1], self.gradients[-1]
        weights = grads.mean(dim=(2, 3))
        cam = torch.relu((weights[:, :, None, None] * acts).sum(dim=1))
        cam = self._scale(cam, tuple(x.shape[-2:]))
        cam = torch.relu(cam[:, None].mean(dim=1))   # aggregate 1 layer
        out = self._scale(cam).numpy()
        self.activations, self.gradients = [], []
        return out

    def release(self):
        for h in self.handles:
            h.remove()
        self.handles = []


def _cam_layer(model, name, impl="numgrad"):
    """ResNet-50: layer4.  Lite0: the rectified head features, numgrad's
    ``_head_act``; the package has no such module but calls its one
    ``_swish`` (ReLU6) for the stem and then for the head, so torch hooks
    ``_swish`` and :class:`TorchGradCAM` keeps that layer's last call."""
    if name == "resnet50":
        return model.layer4
    return model._swish if impl == "torch" else model._head_act


@functools.lru_cache(maxsize=None)
def _torch_reference_cam(name):
    """Grad-CAM by hand in torch, without hooks: the layer output with
    ``retain_grad``, the logit's backward, then the same arithmetic."""
    import torch
    F = torch.nn.functional
    model = _torch_model(name)
    x = torch.from_numpy(_image().copy())
    if name == "resnet50":
        feats = model.features(x)
        head = model.head
    else:
        feats = model.extract_features(x)

        def head(f):
            return model._fc(model._dropout(model._avg_pooling(f)
                                            .flatten(1)))
    feats.retain_grad()
    model.zero_grad()
    head(feats)[0, CAM_CLASS].backward()
    model.zero_grad(set_to_none=True)
    A, g = feats.detach(), feats.grad
    cam = F.relu((g.mean((2, 3), keepdim=True) * A).sum(1))

    def minmax(c):
        c = c - c.amin(dim=(1, 2), keepdim=True)
        return c / (c.amax(dim=(1, 2), keepdim=True) + 1e-7)
    cam = F.interpolate(minmax(cam)[:, None], size=(IMAGE, IMAGE),
                        mode="bilinear", align_corners=False)[:, 0]
    return minmax(cam).numpy()


@functools.lru_cache(maxsize=None)
def _numgrad_reference_cam(name):
    gc = _grad_cam_module()
    model = _numgrad_model(name)
    import numgrad
    with gc.GradCAM(model, [_cam_layer(model, name)]) as cam:
        return cam(numgrad.from_numpy(_image().copy()),
                   [gc.ClassifierOutputTarget(CAM_CLASS)])


def _check_cam(impl, name):
    def check(out):
        assert out.shape == (1, IMAGE, IMAGE) and out.dtype == np.float32
        assert np.isfinite(out).all()
        assert out.min() >= 0 and out.max() <= 1 and out.max() > 0.5
        if impl == "torch" or _have_torch():
            want = _torch_reference_cam(name)
        else:          # no torch: numgrad_fullbwd against the pruned call
            want = None if impl == "numgrad" else \
                _numgrad_reference_cam(name)
        if want is not None:
            np.testing.assert_allclose(out, want, atol=2e-3)
    return check


@full_only
@pytest.mark.parametrize("impl", ("numgrad", "numgrad_fullbwd", "torch"))
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_gradcam(perf, name, impl):
    """One Grad-CAM call, batch 1, 224x224, class 281, on ResNet-50's
    layer4 / Lite0's ``_head_act``: numgrad's example class (default
    pruned backward; ``numgrad_fullbwd``: ``prune_backward = False``)
    vs pytorch-grad-cam's algorithm in torch (full backward)."""
    layer_name = "layer4" if name == "resnet50" else "_head_act"
    perf.setup(f"gradcam_{name}", impl, refs=("torch",), layer=layer_name)
    model = _model(perf, impl, name)
    if impl == "torch":
        import torch
        x = torch.from_numpy(_image().copy())
        cam = TorchGradCAM(torch, model, _cam_layer(model, name, impl))
        try:
            perf.run(lambda: cam(x, CAM_CLASS), check=_check_cam(impl, name))
        finally:
            cam.release()
        return
    import numgrad
    gc = perf.attempt(_grad_cam_module)
    x = numgrad.from_numpy(_image().copy())
    targets = [gc.ClassifierOutputTarget(CAM_CLASS)]
    with gc.GradCAM(model, [_cam_layer(model, name)]) as cam:
        cam.prune_backward = impl == "numgrad"
        perf.run(lambda: cam(x, targets), check=_check_cam(impl, name))


# --------------------------------------------- ResNet-50 train step memory
_MEM_CHILD = """\
import gc, json, os, resource, sys, time
import numpy as np
IMPL = {impl!r}
BATCH = {batch}

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

rng = np.random.default_rng(0)
x_np = rng.standard_normal((BATCH, 3, 224, 224), dtype=np.float32)
t_np = rng.integers(0, 1000, BATCH)
small_np = rng.standard_normal((2, 3, 64, 64), dtype=np.float32)
if IMPL == "torch":
    import torch as lib
    import torch.nn.functional as F
    sys.path.insert(0, {perf_dir!r})
    from bench_cnn import torch_resnet50
    lib.manual_seed(0)
    model = torch_resnet50(lib)
else:
    import numgrad as lib
    import numgrad.nn.functional as F
    from numgrad.models import resnet50
    lib.manual_seed(0)
    model = resnet50()
model.train()
params = list(model.parameters())

def step(x, t):
    for p in params:
        p.grad = None
    loss = F.cross_entropy(model(x), t)
    loss.backward()
    for p in params:
        p.grad.numpy()
    return float(loss.detach().numpy())

# warm-up at a small size (kernels compiled / loaded): a full-size one
# would leave freed blocks in the allocators' caches, counted in `before`
# and reused by the step, hiding part of its footprint
step(lib.from_numpy(small_np), lib.from_numpy(t_np[:2].copy()))
for p in params:
    p.grad = None
x = lib.from_numpy(x_np)
t = lib.from_numpy(t_np.copy())
gc.collect()
before = rss()
t0 = time.perf_counter()
c0 = time.process_time()
loss = step(x, t)
c1 = time.process_time()
t1 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"t": [c1 - c0, t1 - t0], "loss": loss,
                  "rss_before": before, "peak_rss": peak,
                  "peak_rss_delta": peak - before}}))
"""

MEM_BATCH = 8


@full_only
@pytest.mark.parametrize("impl", ("numgrad", "torch"))
def test_resnet50_fwdbwd_memory(perf, impl):
    """Training-mode ResNet-50 forward + cross-entropy + backward at batch
    8, 224x224, in a fresh interpreter per round: CPU time of the step and
    its peak RSS growth (``ru_maxrss`` after minus RSS before)."""
    perf.setup("resnet50_fwdbwd", impl, refs=("torch",), batch=MEM_BATCH)
    if impl == "torch":
        perf.require_torch()
    source = _MEM_CHILD.format(impl=impl, batch=MEM_BATCH,
                               perf_dir=PERF_DIR)
    first = perf.attempt(lambda: _common.run_child(source))
    assert np.isfinite(first["loss"]) and first["loss"] > 0, first
    samples, children = [], []

    def one():
        out = _common.run_child(source)
        samples.append(out["t"])
        children.append(out)
    perf.pedantic(one, samples, rounds=min(3, _common.subprocess_rounds()))
    info = perf.benchmark.extra_info
    for key in ("peak_rss_delta", "rss_before", "peak_rss"):
        info[key] = [c[key] for c in children]
