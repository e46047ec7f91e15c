"""Module hooks: forward pre/post hooks (with replacement and kwargs),
removal, global hooks, and full backward (pre) hooks on the module's real
inputs and outputs, compared with PyTorch; in-place layers after hooked
modules; the Grad-CAM pattern (forward hook + tensor hook)."""
import numpy as np
import pytest

import numgrad as ng
import numgrad.nn as nn
import numgrad.nn.functional as F
from numgrad.autograd.hooks import RemovableHandle
from numgrad.nn.modules import module as module_file


def _np(t):
    return None if t is None else t.detach().numpy()


# ---- forward hooks -------------------------------------------------------------
def test_forward_pre_hook_replaces_input():
    lin = nn.Linear(2, 2)
    handle = lin.register_forward_pre_hook(lambda m, args: args[0] * 0)
    assert isinstance(handle, RemovableHandle)
    out = lin(ng.ones(1, 2))
    np.testing.assert_allclose(out.detach().numpy(), lin.bias.detach()
                               .numpy()[None])
    handle.remove()
    lin.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    out = lin(ng.ones(1, 2))
    expected = 2 * lin.weight.detach().numpy().sum(1) + \
        lin.bias.detach().numpy()
    np.testing.assert_allclose(out.detach().numpy()[0], expected, rtol=1e-6)


def test_forward_hook_replaces_output_and_order():
    calls = []
    m = nn.Identity()
    m.register_forward_hook(lambda mod, a, out: calls.append("second"))
    m.register_forward_hook(lambda mod, a, out: calls.append("first"),
                            prepend=True)
    h = m.register_forward_hook(lambda mod, a, out: out + 1)
    assert m(ng.zeros(1)).item() == 1.0
    assert calls == ["first", "second"]
    h.remove()
    assert m(ng.zeros(1)).item() == 0.0
    with m.register_forward_hook(lambda mod, a, out: out * 0 + 5):
        assert m(ng.zeros(1)).item() == 5.0
    assert m(ng.zeros(1)).item() == 0.0


class TwoArgs(nn.Module):
    def forward(self, x, y, scale=1.0):
        return (x + y) * scale


def test_hooks_with_kwargs():
    m = TwoArgs()
    seen = {}

    def pre(mod, args, kwargs):
        seen["pre"] = (len(args), dict(kwargs))
        return args, {"scale": 3.0}

    def post(mod, args, kwargs, out):
        seen["post"] = dict(kwargs)
        return out + 1

    m.register_forward_pre_hook(pre, with_kwargs=True)
    m.register_forward_hook(post, with_kwargs=True)
    out = m(ng.ones(2), ng.ones(2), scale=2.0)
    assert seen["pre"] == (2, {"scale": 2.0})
    assert seen["post"] == {"scale": 3.0}
    np.testing.assert_allclose(out.numpy(), [7.0, 7.0])
    m.register_forward_pre_hook(lambda mod, a, k: 5, with_kwargs=True)
    with pytest.raises(RuntimeError, match="forward pre-hook must return"):
        m(ng.ones(2), ng.ones(2))


def test_always_call_forward_hook_runs_on_error():
    class Broken(nn.Module):
        def forward(self, x):
            raise ValueError("boom")
    m = Broken()
    calls = []
    m.register_forward_hook(lambda mod, a, out: calls.append(out),
                            always_call=True)
    m.register_forward_hook(lambda mod, a, out: calls.append("never"))
    with pytest.raises(ValueError, match="boom"):
        m(ng.ones(1))
    assert calls == [None]


def test_global_forward_hooks():
    calls = []
    handle = module_file.register_module_forward_hook(
        lambda mod, a, out: calls.append(type(mod).__name__))
    pre = module_file.register_module_forward_pre_hook(
        lambda mod, a: calls.append("pre"))
    try:
        nn.Sequential(nn.ReLU())(ng.ones(1))
    finally:
        handle.remove()
        pre.remove()
    assert calls == ["pre", "pre", "ReLU", "Sequential"]
    nn.ReLU()(ng.ones(1))
    assert len(calls) == 4


def test_forward_direct_call_bypasses_hooks():
    m = nn.ReLU()
    calls = []
    m.register_forward_hook(lambda *a: calls.append(1))
    m.forward(ng.ones(1))
    assert calls == []


# ---- full backward hooks vs torch ----------------------------------------------------
def _mixer_forward(self, x, flag, y):
    """Two tensor inputs and a non-tensor one, two outputs; ``order``
    changes which op forward ends with, not the function."""
    h = self.lin(x)
    if self.order == 0:
        a = h * y
        b = (h * 2).sum(1)
    else:
        a = y * h * 1.0
        b = (h.sum(1) * 4) / 2
    return a, b


def _make_mixer(lib, lib_nn, order):
    class LibMixer(lib_nn.Module):
        forward = _mixer_forward

        def __init__(self):
            super().__init__()
            self.lin = lib_nn.Linear(3, 3)
            self.order = order
    return LibMixer()


def _run_mixer(lib, lib_nn, tensor, order, state, x, y, seeds,
               replace=False):
    m = _make_mixer(lib, lib_nn, order)
    m.load_state_dict(state)
    record = {}

    def hook(mod, grad_input, grad_output):
        record["grad_input"] = grad_input
        record["grad_output"] = grad_output
        if replace:
            return tuple(None if g is None else g * 10 for g in grad_input)

    def pre_hook(mod, grad_output):
        record["pre"] = grad_output
        if replace:
            return (grad_output[0] * 3, grad_output[1])

    m.register_full_backward_pre_hook(pre_hook)
    m.register_full_backward_hook(hook)
    xt = tensor(x, requires_grad=True)
    yt = tensor(y, requires_grad=True)
    a, b = m(xt * 1, "flag", yt)
    (a * tensor(seeds[0])).sum().backward(retain_graph=True)
    record_first = dict(record)
    record.clear()
    ((a * tensor(seeds[0])).sum() + (b * tensor(seeds[1])).sum()).backward()
    return record_first, record, xt.grad, yt.grad, m.lin.weight.grad


@pytest.mark.parametrize("replace", [False, True])
def test_full_backward_hook_matches_torch(torch, replace):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y = rng.standard_normal((4, 3)).astype(np.float32)
    seeds = (rng.standard_normal((4, 3)).astype(np.float32),
             rng.standard_normal(4).astype(np.float32))
    state = {k: v.detach().numpy() for k, v in
             torch.nn.Linear(3, 3).state_dict().items()}
    theirs = _run_mixer(torch, torch.nn, torch.tensor, 0,
                        {"lin." + k: torch.tensor(v)
                         for k, v in state.items()}, x, y, seeds, replace)
    for order in (0, 1):   # the result must not depend on the op order
        ours = _run_mixer(ng, nn, ng.tensor, order,
                          {"lin." + k: v for k, v in state.items()}, x, y,
                          seeds, replace)
        for rec_ours, rec_theirs in zip(ours[:2], theirs[:2]):
            for key in ("grad_input", "grad_output", "pre"):
                a, b = rec_ours[key], rec_theirs[key]
                assert len(a) == len(b), key
                for ga, gb in zip(a, b):
                    if gb is None:
                        assert ga is None, key
                    else:
                        np.testing.assert_allclose(_np(ga), _np(gb),
                                                   rtol=1e-5, atol=1e-6,
                                                   err_msg=key)
        # Entries near zero come from cancelling terms of size ~40, where
        # float32 rounding alone (FMA contraction in fused kernels) is a
        # few 1e-6.
        for ga, gb in zip(ours[2:], theirs[2:]):
            np.testing.assert_allclose(_np(ga), _np(gb), rtol=1e-5,
                                       atol=1e-5)


def test_backward_hook_without_input_grad(torch):
    records = []
    for lib, lib_nn in ((ng, nn), (torch, torch.nn)):
        lin = lib_nn.Linear(3, 2)
        got = {}
        lin.register_full_backward_hook(
            lambda m, gi, go: got.update(gi=gi, go=go))
        with pytest.warns(UserWarning, match="no inputs require gradients"):
            lin(lib.ones(4, 3)).sum().backward()
        records.append(got)
    assert records[0]["gi"] == (None,) and records[1]["gi"] == (None,)
    np.testing.assert_allclose(_np(records[0]["go"][0]),
                               _np(records[1]["go"][0]))
    lin = nn.Linear(3, 2)
    lin.register_full_backward_hook(lambda m, gi, go: (ng.ones(4, 3),))
    with pytest.raises(RuntimeError, match="no input requires gradient"), \
            pytest.warns(UserWarning, match="no inputs require gradients"):
        lin(ng.ones(4, 3)).sum().backward()


def test_backward_hook_wrong_count_and_removal():
    lin = nn.Linear(3, 2)
    handle = lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    x = ng.ones(1, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="invalid number of grad_input"):
        lin(x).sum().backward()
    handle.remove()
    calls = []
    lin.register_full_backward_hook(lambda m, gi, go: calls.append(1))
    out = lin(x) + lin(x)    # two calls: the hook fires once per call
    out.sum().backward()
    assert calls == [1, 1]


def test_backward_hook_fires_after_input_grad_is_complete():
    class UsesInputTwice(nn.Module):
        def forward(self, x):
            return x * 2 + x.exp()
    m = UsesInputTwice()
    seen = []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append(gi[0]))
    x = ng.tensor([0.0, 1.0], requires_grad=True)
    m(x).sum().backward()
    np.testing.assert_allclose(seen[0].numpy(), 2 + np.exp([0.0, 1.0]),
                               rtol=1e-6)


def test_legacy_backward_hook_warns_and_acts_as_full():
    lin = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    seen = []
    with pytest.warns(FutureWarning, match="register_full_backward_hook"):
        lin.register_backward_hook(lambda m, gi, go: seen.append(gi))
    x = ng.ones(1, 2, requires_grad=True)
    lin(x).sum().backward()
    np.testing.assert_allclose(seen[0][0].numpy(), x.grad.numpy())


# ---- in-place layers after hooked modules ---------------------------------------------
def _net(inplace):
    ng.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3),
                         nn.ReLU(inplace=inplace), nn.Conv2d(3, 2, 1),
                         nn.ReLU(inplace=inplace),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(2, 2))


def _run_hooked(inplace):
    net = _net(inplace)
    records = []
    for i in (0, 1, 2, 3, 4):   # 2 and 4: the in-place ReLUs themselves
        net[i].register_full_backward_hook(
            lambda m, gi, go: records.append((_np(gi[0]), _np(go[0]))))
    x = ng.tensor(np.random.default_rng(0).standard_normal(
        (2, 2, 5, 5)).astype(np.float32), requires_grad=True)
    net(x).sum().backward()
    grads = {n: _np(p.grad) for n, p in net.named_parameters()}
    return records, _np(x.grad), grads


def test_inplace_relu_after_full_backward_hook():
    ref_records, ref_x, ref_grads = _run_hooked(False)
    records, x_grad, grads = _run_hooked(True)
    assert len(records) == len(ref_records) == 5
    for (gi, go), (rgi, rgo) in zip(records, ref_records):
        np.testing.assert_allclose(gi, rgi, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(go, rgo, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x_grad, ref_x, rtol=1e-5, atol=1e-6)
    for name in grads:
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=1e-5,
                                   atol=1e-6, err_msg=name)


def test_inplace_relu_hook_matches_torch_where_torch_runs(torch):
    """Torch refuses in-place ops on a hooked module's output; with the
    ReLU not in-place it runs, and numgrad's in-place run must agree."""
    net = _net(True)
    tnet = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.BatchNorm2d(3),
        torch.nn.ReLU(), torch.nn.Conv2d(3, 2, 1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(2, 2))
    tnet.load_state_dict({k: torch.tensor(v.numpy())
                          for k, v in net.state_dict().items()})
    got = []
    for lib_net, store in ((net, got), (tnet, got)):
        lib_net[1].register_full_backward_hook(
            lambda m, gi, go, store=store: store.append(
                (_np(gi[0]), _np(go[0]))))
    x = np.random.default_rng(1).standard_normal((2, 2, 4, 4)).astype(
        np.float32)
    net(ng.tensor(x, requires_grad=True)).sum().backward()
    tnet(torch.tensor(x, requires_grad=True)).sum().backward()
    np.testing.assert_allclose(got[0][0], got[1][0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[0][1], got[1][1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_np(net[0].weight.grad),
                               _np(tnet[0].weight.grad), rtol=1e-4,
                               atol=1e-5)


# ---- Grad-CAM: forward hook + tensor hook ---------------------------------------------------
def _grad_cam(lib, lib_nn, state, x):
    net = lib_nn.Sequential(
        lib_nn.Conv2d(3, 4, 3, padding=1), lib_nn.BatchNorm2d(4),
        lib_nn.ReLU(inplace=True), lib_nn.Conv2d(4, 4, 3, padding=1),
        lib_nn.ReLU(inplace=True), lib_nn.AdaptiveAvgPool2d(1),
        lib_nn.Flatten(), lib_nn.Linear(4, 3))
    net.load_state_dict(state)
    net.eval()
    activations, gradients = [], []

    def save(module, inputs, output):
        activations.append(output.detach().numpy().copy())

        def store(grad):
            gradients.insert(0, grad.detach().numpy().copy())
        output.register_hook(store)

    handles = [net[1].register_forward_hook(save),
               net[3].register_forward_hook(save)]
    inp = lib.tensor(x, requires_grad=True)
    out = net(inp)
    net.zero_grad()
    out[:, 1].sum().backward(retain_graph=True)
    for h in handles:
        h.remove()
    cams = []
    for act, grad in zip(activations, gradients[::-1]):
        weights = grad.mean(axis=(2, 3), keepdims=True)
        cams.append(np.maximum((weights * act).sum(1), 0))
    return activations, gradients, cams, _np(inp.grad)


def test_grad_cam_pattern_matches_torch(torch):
    ng.manual_seed(0)
    template = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(4, 3))
    with ng.no_grad():
        template[1].running_mean.fill_(0.1)
        template[1].running_var.fill_(2.0)
    state = template.state_dict()
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 6)).astype(
        np.float32)
    ours = _grad_cam(ng, nn, state, x)
    theirs = _grad_cam(torch, torch.nn, {k: torch.tensor(v.numpy())
                                         for k, v in state.items()}, x)
    for a_list, b_list in zip(ours[:3], theirs[:3]):
        assert len(a_list) == len(b_list) == 2
        for a, b in zip(a_list, b_list):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours[3], theirs[3], rtol=1e-4, atol=1e-5)


def test_grad_cam_with_full_backward_hook_and_inplace():
    """A tensor hook from a forward hook and a full backward hook on the
    same module, followed by an in-place ReLU: both see dY/dA."""
    net = _net(True)
    from_tensor_hook, from_module_hook = [], []

    def forward_hook(module, inputs, output):
        output.register_hook(lambda g: from_tensor_hook.append(_np(g)))
    net[3].register_forward_hook(forward_hook)
    net[3].register_full_backward_hook(
        lambda m, gi, go: from_module_hook.append(_np(go[0])))
    x = ng.randn(1, 2, 4, 4, requires_grad=True)
    out = net(x)
    out[0, 0].backward()
    np.testing.assert_allclose(from_tensor_hook[0], from_module_hook[0],
                               rtol=1e-6)
    reference = _net(False)
    captured = []

    def capture(module, inputs, output):
        output.register_hook(lambda g: captured.append(_np(g)))
    reference[3].register_forward_hook(capture)
    reference(x.detach().requires_grad_())[0, 0].backward()
    np.testing.assert_allclose(from_tensor_hook[0], captured[0], rtol=1e-5,
                               atol=1e-7)


def test_hooks_with_functional_ops_and_no_grad():
    lin = nn.Linear(2, 2)
    calls = []
    lin.register_full_backward_hook(lambda *a: calls.append(1))
    with ng.no_grad():
        out = lin(ng.ones(1, 2, requires_grad=True))
    assert out.grad_fn is None and calls == []
    y = F.relu(lin(ng.ones(1, 2, requires_grad=True)))
    y.sum().backward()
    assert calls == [1]
