"""Modules, optimisers, state dicts and checkpoints on the ``cuda`` device:
the same values as on the CPU, and nothing crossing between host and
device where PyTorch keeps it on the device."""
import copy
import io
import pickle
import zipfile

import numpy as np
import pytest

import numgrad as ng
import numgrad.nn as nn
import numgrad.nn.functional as F
from numgrad import optim
from numgrad.backends.cuda import launch as launch_module
from numgrad.backends.cuda.array import DeviceArray
from numgrad.optim import _cuda_kernels

from .conftest import assert_same

CUDA = ng.device("cuda:0")


@pytest.fixture
def transfers(monkeypatch):
    """Counts host-to-device and device-to-host copies."""
    seen = []
    to_device = DeviceArray.from_host.__func__
    to_host = DeviceArray.copy_to_host

    def from_host(cls, host):
        seen.append("to device")
        return to_device(cls, host)

    def copy_to_host(self):
        seen.append("to host")
        return to_host(self)
    monkeypatch.setattr(DeviceArray, "from_host", classmethod(from_host))
    monkeypatch.setattr(DeviceArray, "copy_to_host", copy_to_host)
    return seen


# ---------------------------------------------------------------------
# optimiser kernels: the CUDA update equals the CPU update
# ---------------------------------------------------------------------

OPTIMISERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd-maximize": lambda ps: optim.SGD(ps, lr=0.1, maximize=True),
    "sgd-momentum-dampening": lambda ps: optim.SGD(
        ps, lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01),
    "sgd-nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9,
                                         nesterov=True, weight_decay=0.01),
    "adam": lambda ps: optim.Adam(ps, lr=0.05),
    "adam-amsgrad-wd": lambda ps: optim.Adam(ps, lr=0.05, amsgrad=True,
                                             weight_decay=0.1,
                                             maximize=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.05, weight_decay=0.1),
    "adamw-amsgrad": lambda ps: optim.AdamW(ps, lr=0.05, amsgrad=True),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01),
    "rmsprop-centered-momentum": lambda ps: optim.RMSprop(
        ps, lr=0.01, momentum=0.5, centered=True, weight_decay=0.1),
    "rmsprop-momentum-maximize": lambda ps: optim.RMSprop(
        ps, lr=0.01, momentum=0.5, maximize=True),
}


def _steps(make, device, dtype, transpose=False, steps=3):
    rng = np.random.default_rng(0)
    shape = (4, 3) if transpose else (3, 4)
    start = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal((3, 4)).astype(dtype) for _ in range(steps)]
    base = ng.tensor(start, device=device)
    # A transposed parameter is not contiguous: the update goes through
    # contiguous copies that are written back.
    p = nn.Parameter(base.t() if transpose else base)
    opt = make([p])
    for g in grads:
        p.grad = ng.tensor(g, device=device)
        opt.step()
    return p, opt


@pytest.mark.parametrize("name", sorted(OPTIMISERS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_optimiser_step_matches_cpu(name, dtype):
    make = OPTIMISERS[name]
    cpu, cpu_opt = _steps(make, "cpu", dtype)
    gpu, gpu_opt = _steps(make, "cuda", dtype)
    assert_same(cpu, gpu, rtol=1e-6, atol=1e-7)
    for key, value in cpu_opt.state[cpu].items():
        state = gpu_opt.state[gpu][key]
        # exp_avg and friends live beside the parameter; the step counter
        # is a host number, as in PyTorch.
        assert state.device.type == ("cpu" if key == "step" else "cuda")
        np.testing.assert_allclose(state.cpu().numpy(), value.numpy(),
                                   rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["sgd-nesterov", "adam-amsgrad-wd",
                                  "rmsprop-centered-momentum"])
def test_optimiser_step_on_a_non_contiguous_parameter(name):
    cpu, _ = _steps(OPTIMISERS[name], "cpu", "float32", transpose=True)
    gpu, _ = _steps(OPTIMISERS[name], "cuda", "float32", transpose=True)
    assert not gpu._value().is_contiguous()
    assert_same(cpu, gpu, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["sgd", "adam-amsgrad-wd",
                                  "rmsprop-centered-momentum"])
def test_optimiser_step_on_a_half_precision_parameter(name):
    # computed in float32 copies, written back rounded, as on the CPU
    cpu, _ = _steps(OPTIMISERS[name], "cpu", "float16")
    gpu, _ = _steps(OPTIMISERS[name], "cuda", "float16")
    assert gpu.dtype == ng.float16
    assert_same(cpu, gpu, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["sgd-nesterov", "adamw-amsgrad",
                                  "rmsprop-centered-momentum"])
def test_optimiser_step_copies_nothing_and_launches_one_kernel(
        name, transfers, monkeypatch):
    params = [nn.Parameter(ng.randn(3, 4, device="cuda")),
              nn.Parameter(ng.randn(5, device="cuda"))]
    opt = OPTIMISERS[name](params)
    for p in params:
        p.grad = ng.ones_like(p)
    opt.step()                      # creates the state, on the device
    launches = []
    real = launch_module.launch

    def counting(kernel, config, *args):
        launches.append(kernel)
        return real(kernel, config, *args)
    monkeypatch.setattr(launch_module, "launch", counting)
    monkeypatch.setattr(_cuda_kernels, "launch", counting)
    del transfers[:]
    opt.step()
    assert transfers == []
    assert len(launches) == len(params)


def test_zero_grad_on_device():
    p = nn.Parameter(ng.ones(3, device="cuda"))
    p.grad = ng.full((3,), 5.0, device="cuda")
    grad = p.grad
    opt = optim.SGD([p], lr=0.1)
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and grad.device == CUDA
    assert grad.cpu().tolist() == [0.0, 0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None


def test_clip_grad_value_on_device():
    p = nn.Parameter(ng.ones(3, device="cuda"))
    p.grad = ng.tensor([-5.0, 0.5, 3.0], device="cuda")
    nn.utils.clip_grad_value_([p], 2.0)
    assert p.grad.device == CUDA
    assert p.grad.cpu().tolist() == [-2.0, 0.5, 2.0]


def test_optimiser_state_dict_moves_to_the_parameters_device():
    cpu, cpu_opt = _steps(OPTIMISERS["adam-amsgrad-wd"], "cpu", "float32")
    gpu = nn.Parameter(cpu.detach().to("cuda"))
    gpu_opt = OPTIMISERS["adam-amsgrad-wd"]([gpu])
    gpu_opt.load_state_dict(cpu_opt.state_dict())
    state = gpu_opt.state[gpu]
    assert state["exp_avg"].device == CUDA
    assert state["step"].device.type == "cpu"
    grad = np.full((3, 4), 0.5, np.float32)
    for p, opt in ((cpu, cpu_opt), (gpu, gpu_opt)):
        p.grad = ng.tensor(grad, device=p.device)
        opt.step()
    assert_same(cpu, gpu, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------
# Module.to, factory kwargs, initialisers
# ---------------------------------------------------------------------

def _mlp():
    ng.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(),
                         nn.Linear(4, 2))


def test_module_to_moves_parameters_in_place_and_buffers():
    model = _mlp()
    weight = model[0].weight
    weight.grad = ng.ones(4, 3)
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert model.to(CUDA) is model
    # the same Parameter object, now on the device: the optimiser built
    # before the move updates the moved values
    assert model[0].weight is weight and weight.device == CUDA
    assert weight.grad.device == CUDA
    assert opt.param_groups[0]["params"][0] is weight
    for name, buf in model.named_buffers():
        assert buf.device == CUDA, name
    assert model[1].num_batches_tracked.dtype == ng.int64
    before = weight.detach().cpu().numpy()
    opt.step()
    np.testing.assert_allclose(weight.detach().cpu().numpy(), before - 0.1)
    model.cpu()
    assert weight.device.type == "cpu" and weight.grad.device.type == "cpu"
    assert all(b.device.type == "cpu" for b in model.buffers())


def test_module_cuda_and_to_with_dtype():
    model = _mlp().cuda().double()
    assert model[0].weight.device == CUDA
    assert model[0].weight.dtype == ng.float64
    assert model[1].num_batches_tracked.dtype == ng.int64
    model.to("cpu", ng.float32)
    assert model[0].weight.device.type == "cpu"
    assert model[0].weight.dtype == ng.float32


def test_factory_device_argument_gives_the_cpu_initial_values():
    ng.manual_seed(3)
    cpu = [nn.Linear(3, 4), nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3),
           nn.LayerNorm(4), nn.Embedding(5, 2)]
    ng.manual_seed(3)
    gpu = [nn.Linear(3, 4, device="cuda"), nn.Conv2d(2, 3, 3, device="cuda"),
           nn.BatchNorm2d(3, device="cuda"), nn.LayerNorm(4, device="cuda"),
           nn.Embedding(5, 2, device="cuda")]
    for a, b in zip(cpu, gpu):
        for (name, x), (_, y) in zip(a.state_dict().items(),
                                     b.state_dict().items()):
            assert y.device == CUDA, name
            np.testing.assert_array_equal(y.cpu().numpy(), x.numpy())


@pytest.mark.parametrize("init", [
    lambda t: nn.init.kaiming_normal_(t, mode="fan_out"),
    lambda t: nn.init.xavier_uniform_(t),
    lambda t: nn.init.orthogonal_(t),
    lambda t: nn.init.trunc_normal_(t, std=0.02),
    lambda t: nn.init.constant_(t, 0.25),
    lambda t: nn.init.eye_(t),
])
def test_initialisers_on_device_draw_what_the_cpu_draws(init):
    ng.manual_seed(5)
    cpu = nn.Parameter(ng.empty(4, 6))
    init(cpu)
    ng.manual_seed(5)
    gpu = nn.Parameter(ng.empty(4, 6, device="cuda"))
    assert init(gpu) is gpu
    assert gpu.device == CUDA and gpu.grad_fn is None
    np.testing.assert_array_equal(gpu.detach().cpu().numpy(),
                                  cpu.detach().numpy())


def test_dropout_masks_match_the_cpu_for_one_seed():
    x = np.arange(1.0, 25.0, dtype=np.float32).reshape(2, 3, 4)
    out = {}
    for device in ("cpu", "cuda"):
        ng.manual_seed(2)
        t = ng.tensor(x, device=device)
        out[device] = (F.dropout(t, 0.4), F.dropout2d(t, 0.5))
    for cpu, gpu in zip(out["cpu"], out["cuda"]):
        assert_same(cpu, gpu)


def test_one_hot_on_device():
    t = ng.tensor([0, 2, 1, 2], device="cuda")
    assert_same(F.one_hot(ng.tensor([0, 2, 1, 2])), F.one_hot(t))
    assert F.one_hot(t, 5).shape == (4, 5)
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(t, 2)


LOSSES = {
    "cross_entropy": lambda x, y, w, p: F.cross_entropy(x, y),
    "cross_entropy-weight-ignore": lambda x, y, w, p: F.cross_entropy(
        x, y, weight=w, ignore_index=2),
    "cross_entropy-smoothing": lambda x, y, w, p: F.cross_entropy(
        x, y, weight=w, label_smoothing=0.2, reduction="sum"),
    "cross_entropy-probabilities": lambda x, y, w, p: F.cross_entropy(
        x, p, weight=w),
    "nll_loss": lambda x, y, w, p: F.nll_loss(
        F.log_softmax(x, 1), y, weight=w, reduction="none"),
    "binary_cross_entropy": lambda x, y, w, p: F.binary_cross_entropy(
        x.sigmoid(), p),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_on_device_match_cpu(name):
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    targets = np.array([0, 2, 1, 2])
    weights = np.array([0.5, 1.0, 2.0], np.float32)
    probs = rng.dirichlet(np.ones(3), 4).astype(np.float32)
    results = []
    for device in ("cpu", "cuda"):
        x = ng.tensor(logits, device=device, requires_grad=True)
        loss = LOSSES[name](x, ng.tensor(targets, device=device),
                            ng.tensor(weights, device=device),
                            ng.tensor(probs, device=device))
        loss.backward(ng.ones_like(loss))
        results.append((loss, x.grad))
    for cpu, gpu in zip(*results):
        assert_same(cpu, gpu, rtol=1e-5, atol=1e-6)


def test_loss_checks_on_device():
    x = ng.tensor([[0.5, 1.5]], device="cuda")
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(x, ng.zeros(1, 2, device="cuda"))
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(x, ng.tensor([2], device="cuda"))


@pytest.mark.parametrize("options", [
    {}, {"padding_idx": 1}, {"max_norm": 1.0},
    {"scale_grad_by_freq": True, "padding_idx": 0}])
def test_embedding_on_device_matches_cpu(options):
    indices = np.array([[1, 3, 3], [0, 4, 1]])
    results = []
    for device in ("cpu", "cuda"):
        ng.manual_seed(6)
        layer = nn.Embedding(5, 3, device=device, **options)
        out = layer(ng.tensor(indices, device=device))
        out.backward(ng.ones_like(out))
        results.append((out, layer.weight.grad, layer.weight))
    for cpu, gpu in zip(*results):
        assert_same(cpu, gpu)


# ---------------------------------------------------------------------
# state dicts and checkpoints across devices
# ---------------------------------------------------------------------

def test_state_dict_of_a_cuda_module_holds_cuda_tensors():
    model = _mlp().cuda()
    sd = model.state_dict()
    assert list(sd) == list(_mlp().state_dict())
    assert all(v.device == CUDA for v in sd.values())
    assert not any(v.requires_grad for v in sd.values())


def test_load_state_dict_copies_across_devices_in_place():
    source = _mlp()
    with ng.no_grad():
        for p in source.parameters():
            p.mul_(3.0)
    target = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(),
                           nn.Linear(4, 2)).cuda()
    weight = target[0].weight
    target.load_state_dict(source.state_dict())
    assert target[0].weight is weight and weight.device == CUDA
    for (name, a), (_, b) in zip(source.state_dict().items(),
                                 target.state_dict().items()):
        assert b.device == CUDA
        np.testing.assert_array_equal(b.cpu().numpy(), a.numpy(), name)
    back = _mlp()
    back.load_state_dict(target.state_dict())
    for (name, a), (_, b) in zip(source.state_dict().items(),
                                 back.state_dict().items()):
        assert b.device.type == "cpu"
        np.testing.assert_array_equal(b.numpy(), a.numpy(), name)


@pytest.mark.parametrize("suffix", ["pt", "npz", "safetensors"])
def test_save_of_cuda_tensors_writes_host_data(tmp_path, suffix):
    model = _mlp().cuda()
    path = tmp_path / f"model.{suffix}"
    ng.save(model.state_dict(), str(path))
    loaded = ng.load(str(path))
    on_device = ng.load(str(path), map_location="cuda")
    for name, value in model.state_dict().items():
        assert loaded[name].device.type == "cpu"
        assert on_device[name].device == CUDA
        np.testing.assert_array_equal(loaded[name].numpy(),
                                      value.cpu().numpy(), name)
        assert_same(loaded[name], on_device[name], rtol=0, atol=0)


def test_save_keeps_views_of_one_cuda_tensor_sharing_a_storage():
    base = ng.arange(12.0, device="cuda").reshape(3, 4)
    buf = io.BytesIO()
    ng.save({"base": base, "row": base[1], "col": base[:, 2]}, buf)
    loaded = ng.load(io.BytesIO(buf.getvalue()),
                     map_location=ng.device("cuda:0"))
    host = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(loaded["row"].cpu().numpy(), host[1])
    np.testing.assert_array_equal(loaded["col"].cpu().numpy(), host[:, 2])
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as archive:
        storages = [n for n in archive.namelist() if "/data/" in n]
    assert storages == ["archive/data/0"]       # one for the three views


def test_pickle_and_deepcopy_keep_the_device():
    model = _mlp().cuda()
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        for (name, a), (_, b) in zip(model.state_dict().items(),
                                     clone.state_dict().items()):
            assert b.device == CUDA, name
            assert_same(a.cpu(), b, rtol=0, atol=0)
        assert isinstance(clone[0].weight, nn.Parameter)
        assert clone[0].weight.requires_grad


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf"),
                                       float("-inf"), 0.0])
def test_clip_grad_norm_on_device_matches_cpu(norm_type):
    rng = np.random.default_rng(4)
    grads = [rng.standard_normal(s).astype(np.float32)
             for s in ((3, 4), (5,), (2, 1, 3))]
    results = {}
    for device in ("cpu", "cuda"):
        params = [nn.Parameter(ng.zeros(g.shape, device=device))
                  for g in grads]
        for p, g in zip(params, grads):
            p.grad = ng.tensor(g, device=device)
        total = nn.utils.clip_grad_norm_(params, 0.5, norm_type)
        results[device] = (total, params)
    (cpu_total, cpu_params), (gpu_total, gpu_params) = (results["cpu"],
                                                        results["cuda"])
    assert_same(cpu_total, gpu_total, rtol=1e-5)
    for a, b in zip(cpu_params, gpu_params):
        assert_same(a.grad, b.grad, rtol=1e-5)


def test_clip_grad_norm_nonfinite_on_device():
    p = nn.Parameter(ng.zeros(2, device="cuda"))
    p.grad = ng.tensor([1.0, float("inf")], device="cuda")
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


# ---------------------------------------------------------------------
# training: three steps on the device give the CPU's losses and weights
# ---------------------------------------------------------------------

TRAINERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                weight_decay=1e-3),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01, amsgrad=True),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5,
                                        centered=True),
}


def _mlp_net():
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8),
                         nn.Tanh(), nn.Linear(8, 4))


def _cnn_net():
    # No bias before the BatchNorm: its gradient would be zero up to
    # rounding, which Adam and RMSprop scale up to full-size steps.
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(3, 4, 3, padding=1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 4))


NETS = {"mlp": (_mlp_net, (5, 6)), "cnn": (_cnn_net, (2, 2, 6, 6))}


def _train(net, optimiser, device):
    """Three steps; returns the losses, the model, and what a forward
    hook, a full backward hook and a tensor hook on the logits saw."""
    make, shape = NETS[net]
    ng.manual_seed(0)
    model = make().to(device)
    opt = TRAINERS[optimiser](model.parameters())
    rng = np.random.default_rng(1)
    x = ng.tensor(rng.standard_normal(shape).astype(np.float32),
                  device=device)
    y = ng.tensor(rng.integers(0, 4, shape[0]), device=device)
    seen = {"forward": [], "grad_input": [], "grad_output": [],
            "logits.grad": []}
    hooked = model[1]       # an inner layer: its input requires grad
    hooked.register_forward_hook(
        lambda m, args, out: seen["forward"].append(out.detach()))

    def backward_hook(module, grad_input, grad_output):
        seen["grad_input"].append(grad_input[0])
        seen["grad_output"].append(grad_output[0])
    hooked.register_full_backward_hook(backward_hook)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        logits = model(x)
        logits.register_hook(lambda g: seen["logits.grad"].append(g))
        loss = nn.CrossEntropyLoss()(logits, y)
        loss.backward()
        opt.step()
        losses.append(loss)
    return losses, model, seen


@pytest.mark.parametrize("optimiser", sorted(TRAINERS))
@pytest.mark.parametrize("net", sorted(NETS))
def test_three_training_steps_match_cpu(net, optimiser):
    cpu_losses, cpu_model, cpu_seen = _train(net, optimiser, "cpu")
    gpu_losses, gpu_model, gpu_seen = _train(net, optimiser, "cuda")
    for a, b in zip(cpu_losses, gpu_losses):
        assert_same(a, b, rtol=1e-4, atol=1e-6)
    for (name, a), (_, b) in zip(cpu_model.state_dict().items(),
                                 gpu_model.state_dict().items()):
        assert b.device == CUDA, name
        assert_same(a, b, rtol=1e-4, atol=1e-5)
    for key, values in cpu_seen.items():
        assert len(gpu_seen[key]) == len(values) == 3, key
        for a, b in zip(values, gpu_seen[key]):
            assert_same(a, b, rtol=1e-4, atol=1e-6)
