"""Every layer against PyTorch with the same weights: outputs, the input
gradient and every parameter gradient (and buffers after the call); plus
the statistics of freshly initialised layers."""
import math

import numpy as np
import pytest

import numgrad as ng
import numgrad.nn as nn
import numgrad.nn.functional as F


def _to_ng(value, requires_grad=False):
    array = value.detach().numpy() if hasattr(value, "detach") else value
    return ng.tensor(np.array(array), requires_grad=requires_grad)


def _copy_weights(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy().copy()
                          for k, v in theirs.state_dict().items()})


def _compare(torch, ours, theirs, *arrays, train=True, rtol=1e-4,
             atol=1e-5, grad=True, kwargs=None):
    """Runs both layers on ``arrays`` and compares outputs, gradients of
    every floating input and parameter, and the buffers afterwards."""
    kwargs = kwargs or {}
    _copy_weights(ours, theirs)
    ours.train(train)
    theirs.train(train)
    t_inputs = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f")
                for a in arrays]
    n_inputs = [ng.tensor(a, requires_grad=grad and a.dtype.kind == "f")
                for a in arrays]
    # in-place layers must not write into leaves: feed them a copy
    t_args = [t * 1 if t.requires_grad else t for t in t_inputs]
    n_args = [t * 1 if t.requires_grad else t for t in n_inputs]
    t_out = theirs(*t_args, **kwargs)
    n_out = ours(*n_args, **kwargs)
    if isinstance(t_out, tuple):
        for a, b in zip(n_out[1:], t_out[1:]):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        t_out, n_out = t_out[0], n_out[0]
    np.testing.assert_allclose(n_out.detach().numpy(),
                               t_out.detach().numpy(), rtol=rtol, atol=atol)
    if grad:
        seed = np.random.default_rng(1).standard_normal(
            tuple(t_out.shape)).astype(np.float32)
        t_out.backward(torch.tensor(seed))
        n_out.backward(ng.tensor(seed))
        for a, b in zip(n_inputs, t_inputs):
            if b.requires_grad:
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(),
                                           rtol=rtol, atol=atol)
        t_params = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            np.testing.assert_allclose(
                p.grad.numpy(), t_params[name].grad.numpy(), rtol=rtol,
                atol=atol, err_msg=name)
    t_buffers = dict(theirs.named_buffers())
    for name, b in ours.named_buffers():
        np.testing.assert_allclose(b.numpy(), t_buffers[name].numpy(),
                                   rtol=rtol, atol=atol, err_msg=name)
    return n_out


def _randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(
        np.float32)


# ---- linear --------------------------------------------------------------------
def test_linear_bilinear_identity(torch):
    _compare(torch, nn.Linear(5, 3), torch.nn.Linear(5, 3), _randn(4, 5))
    _compare(torch, nn.Linear(5, 3, bias=False),
             torch.nn.Linear(5, 3, bias=False), _randn(2, 4, 5))
    _compare(torch, nn.Bilinear(3, 4, 2), torch.nn.Bilinear(3, 4, 2),
             _randn(5, 3), _randn(5, 4, seed=1))
    _compare(torch, nn.Identity(), torch.nn.Identity(), _randn(3))


# ---- convolution -------------------------------------------------------------------
CONV2D_CASES = [
    dict(in_channels=3, out_channels=4, kernel_size=3),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=2,
         padding=(1, 2), dilation=(1, 2), groups=2, bias=False),
    dict(in_channels=2, out_channels=2, kernel_size=3, padding="same",
         dilation=2),
    dict(in_channels=2, out_channels=3, kernel_size=3, padding=1,
         padding_mode="reflect"),
    dict(in_channels=2, out_channels=3, kernel_size=3, padding=(2, 1),
         padding_mode="replicate"),
    dict(in_channels=2, out_channels=3, kernel_size=3, padding=1,
         padding_mode="circular"),
    dict(in_channels=4, out_channels=4, kernel_size=3, padding=1, groups=4),
]


@pytest.mark.parametrize("case", CONV2D_CASES)
def test_conv2d(torch, case):
    ours = nn.Conv2d(**case)
    theirs = torch.nn.Conv2d(**case)
    _compare(torch, ours, theirs, _randn(2, case["in_channels"], 7, 8))


def test_conv1d(torch):
    case = dict(in_channels=3, out_channels=4, kernel_size=3, stride=2,
                padding=1)
    _compare(torch, nn.Conv1d(**case), torch.nn.Conv1d(**case),
             _randn(2, 3, 9))
    case = dict(in_channels=2, out_channels=2, kernel_size=3,
                padding="same", padding_mode="reflect")
    _compare(torch, nn.Conv1d(**case), torch.nn.Conv1d(**case),
             _randn(2, 2, 6))


def test_conv_transpose(torch):
    case = dict(in_channels=4, out_channels=2, kernel_size=3, stride=2,
                padding=1, output_padding=1)
    _compare(torch, nn.ConvTranspose2d(**case),
             torch.nn.ConvTranspose2d(**case), _randn(2, 4, 3, 4))
    case = dict(in_channels=4, out_channels=4, kernel_size=2, stride=2,
                groups=2, bias=False)
    _compare(torch, nn.ConvTranspose2d(**case),
             torch.nn.ConvTranspose2d(**case), _randn(1, 4, 3, 3))
    case = dict(in_channels=2, out_channels=3, kernel_size=3, stride=2)
    _compare(torch, nn.ConvTranspose1d(**case),
             torch.nn.ConvTranspose1d(**case), _randn(2, 2, 5))
    # output_size picks the output padding
    case = dict(in_channels=2, out_channels=2, kernel_size=3, stride=2,
                padding=1)
    _compare(torch, nn.ConvTranspose2d(**case),
             torch.nn.ConvTranspose2d(**case), _randn(1, 2, 4, 4),
             kwargs={"output_size": [8, 8]})
    with pytest.raises(ValueError, match="requested an output size"):
        nn.ConvTranspose2d(**case)(ng.ones(1, 2, 4, 4), output_size=[3, 3])


def test_conv_argument_errors():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")


# ---- normalisation ---------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    {}, {"momentum": None}, {"affine": False},
    {"track_running_stats": False}, {"momentum": 0.3, "eps": 1e-3}])
def test_batchnorm2d(torch, kwargs):
    ours, theirs = nn.BatchNorm2d(3, **kwargs), torch.nn.BatchNorm2d(
        3, **kwargs)
    for step in range(3):   # running statistics accumulate over calls
        _compare(torch, ours, theirs, _randn(4, 3, 5, 5, seed=step) * 2 + 1)
        theirs.load_state_dict({k: torch.tensor(v.numpy())
                                for k, v in ours.state_dict().items()})
    _compare(torch, ours, theirs, _randn(2, 3, 4, 4, seed=9), train=False)


def test_batchnorm1d(torch):
    _compare(torch, nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4),
             _randn(6, 4))
    _compare(torch, nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4),
             _randn(3, 4, 5))
    bn = nn.BatchNorm1d(4)
    assert int(bn.num_batches_tracked) == 0
    bn(ng.randn(3, 4))
    assert int(bn.num_batches_tracked) == 1
    bn.eval()
    bn(ng.randn(3, 4))
    assert int(bn.num_batches_tracked) == 1
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        bn(ng.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(4)(ng.randn(1, 4))


def test_layer_and_group_norm(torch):
    _compare(torch, nn.LayerNorm(6), torch.nn.LayerNorm(6), _randn(3, 6))
    _compare(torch, nn.LayerNorm((4, 5), elementwise_affine=False),
             torch.nn.LayerNorm((4, 5), elementwise_affine=False),
             _randn(2, 4, 5))
    ln, tln = nn.LayerNorm(5), torch.nn.LayerNorm(5)
    with torch.no_grad():
        tln.weight.uniform_(0.5, 1.5)
        tln.bias.uniform_(-1, 1)
    _compare(torch, ln, tln, _randn(2, 3, 5))
    gn, tgn = nn.GroupNorm(2, 6), torch.nn.GroupNorm(2, 6)
    with torch.no_grad():
        tgn.weight.uniform_(0.5, 1.5)
        tgn.bias.uniform_(-1, 1)
    _compare(torch, gn, tgn, _randn(3, 6, 4, 4))
    with pytest.raises(ValueError, match="divisible by num_groups"):
        nn.GroupNorm(4, 6)


# ---- activations -----------------------------------------------------------------------
ACTIVATIONS = [
    ("ReLU", {}), ("ReLU", {"inplace": True}), ("ReLU6", {}),
    ("ReLU6", {"inplace": True}), ("LeakyReLU", {"negative_slope": 0.2}),
    ("LeakyReLU", {"inplace": True}), ("GELU", {}),
    ("GELU", {"approximate": "tanh"}), ("SiLU", {}),
    ("SiLU", {"inplace": True}), ("Sigmoid", {}), ("Tanh", {}),
    ("Softmax", {"dim": 1}), ("LogSoftmax", {"dim": -1}),
    ("Hardswish", {}), ("Hardsigmoid", {}), ("Hardswish", {"inplace": True}),
    ("ELU", {"alpha": 0.7}), ("Softplus", {"beta": 2.0}), ("Mish", {}),
    ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("LogSigmoid", {}),
    ("SELU", {}), ("CELU", {"alpha": 1.5}), ("Softsign", {}),
    ("Tanhshrink", {}), ("GLU", {}), ("PReLU", {}),
    ("Threshold", {"threshold": 0.1, "value": -2.0}), ("Softmin", {"dim": 1}),
]


@pytest.mark.parametrize("name,kwargs", ACTIVATIONS)
def test_activations(torch, name, kwargs):
    x = _randn(4, 6) * 4
    x[0, :3] = [0.0, 6.0, -3.0]     # kinks of relu, relu6 and hardswish
    _compare(torch, getattr(nn, name)(**kwargs),
             getattr(torch.nn, name)(**kwargs), x)


def test_inplace_activation_modifies_input():
    x = ng.randn(5) * 1
    y = nn.ReLU(inplace=True)(x)
    assert y is x and (x.numpy() >= 0).all()
    leaf = ng.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        nn.ReLU(inplace=True)(leaf)


def test_softmax_implicit_dim_warns():
    with pytest.warns(UserWarning, match="Implicit dimension"):
        nn.Softmax()(ng.randn(2, 3))


# ---- dropout ------------------------------------------------------------------------
def test_dropout_statistics_and_modes():
    x = ng.ones(200, 100, requires_grad=True)
    layer = nn.Dropout(0.3)
    out = layer(x)
    values = out.detach().numpy()
    kept = values != 0
    assert abs(1 - kept.mean() - 0.3) < 0.02
    np.testing.assert_allclose(values[kept], 1 / 0.7, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), values, rtol=1e-6)
    layer.eval()
    assert layer(x) is x
    assert F.dropout(x, 0.0) is x
    assert (F.dropout(x, 1.0).detach().numpy() == 0).all()
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    ng.manual_seed(3)
    a = F.dropout(ng.ones(50)).numpy()
    ng.manual_seed(3)
    np.testing.assert_array_equal(a, F.dropout(ng.ones(50)).numpy())
    channels = nn.Dropout2d(0.5)(ng.ones(4, 8, 3, 3)).numpy()
    per_channel = channels.reshape(4, 8, 9)
    assert (per_channel.min(-1) == per_channel.max(-1)).all()


# ---- pooling -----------------------------------------------------------------------------
POOLS = [
    ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("MaxPool2d", dict(kernel_size=2, return_indices=True)),
    ("MaxPool2d", dict(kernel_size=3, stride=2, ceil_mode=True,
                       dilation=1)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1,
                       count_include_pad=False)),
    ("AdaptiveAvgPool2d", dict(output_size=(3, 2))),
    ("AdaptiveAvgPool2d", dict(output_size=1)),
    ("AdaptiveMaxPool2d", dict(output_size=(2, 3))),
    ("AdaptiveMaxPool2d", dict(output_size=2, return_indices=True)),
]


@pytest.mark.parametrize("name,kwargs", POOLS)
def test_pool2d(torch, name, kwargs):
    _compare(torch, getattr(nn, name)(**kwargs),
             getattr(torch.nn, name)(**kwargs), _randn(2, 3, 7, 6))


def test_pool1d(torch):
    for name, kwargs in [("MaxPool1d", dict(kernel_size=3, stride=2)),
                         ("AvgPool1d", dict(kernel_size=2)),
                         ("AdaptiveAvgPool1d", dict(output_size=3)),
                         ("AdaptiveMaxPool1d", dict(output_size=4))]:
        _compare(torch, getattr(nn, name)(**kwargs),
                 getattr(torch.nn, name)(**kwargs), _randn(2, 3, 9))


# ---- shape, embedding, upsampling -------------------------------------------------------
def test_flatten_unflatten(torch):
    _compare(torch, nn.Flatten(), torch.nn.Flatten(), _randn(2, 3, 4))
    _compare(torch, nn.Flatten(0, 1), torch.nn.Flatten(0, 1),
             _randn(2, 3, 4))
    _compare(torch, nn.Unflatten(1, (3, 4)), torch.nn.Unflatten(1, (3, 4)),
             _randn(2, 12))
    with pytest.raises(TypeError, match="tuple of ints"):
        nn.Unflatten(1, (2.0, 3))


@pytest.mark.parametrize("kwargs", [
    {}, {"padding_idx": 1}, {"padding_idx": -1},
    {"scale_grad_by_freq": True}, {"max_norm": 1.0}])
def test_embedding(torch, kwargs):
    ours = nn.Embedding(6, 3, **kwargs)
    theirs = torch.nn.Embedding(6, 3, **kwargs)
    idx = np.array([[1, 2, 4, 1], [5, 1, 0, 2]])
    _compare(torch, ours, theirs, idx)
    np.testing.assert_allclose(ours.weight.detach().numpy(),
                               theirs.weight.detach().numpy(), rtol=1e-5)
    if kwargs.get("padding_idx") is not None:
        fresh = nn.Embedding(6, 3, **kwargs)
        row = kwargs["padding_idx"] % 6
        assert (fresh.weight.detach().numpy()[row] == 0).all()
        assert (ours.weight.grad.numpy()[row] == 0).all()


def test_embedding_errors_and_pretrained():
    emb = nn.Embedding(4, 2)
    with pytest.raises(IndexError, match="index out of range"):
        emb(ng.tensor([4]))
    with pytest.raises(AssertionError, match="Padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)
    weights = ng.randn(3, 2)
    frozen = nn.Embedding.from_pretrained(weights)
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(ng.tensor([2])).numpy(),
                                  weights.numpy()[[2]])


@pytest.mark.parametrize("kwargs", [
    dict(scale_factor=2, mode="nearest"),
    dict(size=(5, 7), mode="bilinear", align_corners=False),
    dict(scale_factor=1.5, mode="bilinear", align_corners=True)])
def test_upsample(torch, kwargs):
    _compare(torch, nn.Upsample(**kwargs), torch.nn.Upsample(**kwargs),
             _randn(1, 2, 3, 4))


# ---- initialisation statistics ----------------------------------------------------------
def _stats(t):
    values = t.detach().numpy().astype(np.float64).reshape(-1)
    return values.mean(), values.std(), values.min(), values.max()


INIT_CASES = [
    ("Linear", (256, 128)),
    ("Conv2d", (16, 32, 3)),
    ("Conv1d", (8, 16, 5)),
    ("ConvTranspose2d", (32, 16, 3)),
    ("Bilinear", (20, 30, 40)),
    ("Embedding", (300, 40)),
]


@pytest.mark.parametrize("name,args", INIT_CASES)
def test_default_initialisation_matches_torch(torch, name, args):
    torch.manual_seed(0)
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    for pname, p in ours.named_parameters():
        tp = dict(theirs.named_parameters())[pname]
        assert tuple(p.shape) == tuple(tp.shape)
        mean, std, lo, hi = _stats(p)
        tmean, tstd, tlo, thi = _stats(tp)
        n = p.numel()
        # sampling tolerance: a few standard errors of the mean and std
        assert abs(mean - tmean) < 6 * tstd / math.sqrt(n) + 1e-7, pname
        assert abs(std - tstd) < 0.15 * tstd + 1e-7, pname
        if name != "Embedding":   # uniform on [-bound, bound]
            shape = tuple(ours.weight.shape)
            fan_in = shape[1] if name == "Bilinear" \
                else int(np.prod(shape[1:]))
            bound = 1 / math.sqrt(fan_in)
            assert max(abs(lo), abs(hi)) <= bound * (1 + 1e-6), pname
            if n >= 100:
                assert max(abs(lo), abs(hi)) >= bound * 0.9, pname


def test_norm_layers_initialise_to_identity():
    for layer in (nn.BatchNorm2d(4), nn.LayerNorm(4), nn.GroupNorm(2, 4)):
        np.testing.assert_array_equal(layer.weight.detach().numpy(), 1)
        np.testing.assert_array_equal(layer.bias.detach().numpy(), 0)
    bn = nn.BatchNorm1d(3)
    np.testing.assert_array_equal(bn.running_mean.numpy(), 0)
    np.testing.assert_array_equal(bn.running_var.numpy(), 1)
    bn = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert bn.weight is None and bn.running_mean is None
    assert list(bn.state_dict()) == []


# ---- nn.init -------------------------------------------------------------------------------
def test_calculate_gain_matches_torch(torch):
    for name, param in [("linear", None), ("conv2d", None), ("sigmoid", None),
                        ("tanh", None), ("relu", None), ("leaky_relu", None),
                        ("leaky_relu", 0.2), ("selu", None)]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param))
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        nn.init.calculate_gain("swish")
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init._calculate_fan_in_and_fan_out(ng.empty(3))
    assert nn.init._calculate_fan_in_and_fan_out(ng.empty(4, 3, 5, 5)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(4, 3, 5, 5))


INITS = [
    ("uniform_", dict(a=-2.0, b=3.0)), ("normal_", dict(mean=1.0, std=2.0)),
    ("xavier_uniform_", dict(gain=2.0)), ("xavier_normal_", {}),
    ("kaiming_uniform_", dict(a=0.1, mode="fan_out")),
    ("kaiming_normal_", dict(nonlinearity="relu")),
    ("trunc_normal_", dict(std=0.5, a=-0.6, b=0.8)),
]


@pytest.mark.parametrize("name,kwargs", INITS)
def test_init_statistics_match_torch(torch, name, kwargs):
    ours = ng.empty(64, 32, 3, 3)
    theirs = torch.empty(64, 32, 3, 3)
    getattr(nn.init, name)(ours, **kwargs)
    getattr(torch.nn.init, name)(theirs, **kwargs)
    mean, std, lo, hi = _stats(ours)
    tmean, tstd, tlo, thi = _stats(theirs)
    n = ours.numel()
    assert abs(mean - tmean) < 6 * tstd / math.sqrt(n)
    assert abs(std - tstd) < 0.03 * tstd
    if "normal" not in name or name == "trunc_normal_":   # bounded
        assert abs(lo - tlo) < 0.05 * tstd and abs(hi - thi) < 0.05 * tstd


def test_deterministic_inits_and_no_grad_recording(torch):
    w = nn.Parameter(ng.empty(3, 4))
    nn.init.eye_(w)
    np.testing.assert_array_equal(w.detach().numpy(), np.eye(3, 4))
    assert w.grad_fn is None and w.requires_grad
    nn.init.constant_(w, 0.5)
    assert (w.detach().numpy() == 0.5).all()
    nn.init.zeros_(w)
    nn.init.ones_(w)
    assert (w.detach().numpy() == 1).all()
    k = ng.empty(4, 2, 3, 3)
    nn.init.dirac_(k, groups=2)
    tk = torch.empty(4, 2, 3, 3)
    torch.nn.init.dirac_(tk, groups=2)
    np.testing.assert_array_equal(k.numpy(), tk.numpy())
    q = ng.empty(5, 3)
    nn.init.orthogonal_(q)
    np.testing.assert_allclose(q.numpy().T @ q.numpy(), np.eye(3),
                               atol=1e-5)
    ng.manual_seed(4)
    a = nn.init.normal_(ng.empty(5)).numpy().copy()
    ng.manual_seed(4)
    np.testing.assert_array_equal(a, nn.init.normal_(ng.empty(5)).numpy())
    with pytest.warns(UserWarning, match="zero-element"):
        nn.init.kaiming_uniform_(ng.empty(0, 3))


# ---- functional extras ---------------------------------------------------------------------
def test_functional_helpers(torch):
    TF = torch.nn.functional
    x = _randn(3, 4)
    pairs = [
        (F.normalize(ng.tensor(x), dim=1), TF.normalize(torch.tensor(x))),
        (F.cosine_similarity(ng.tensor(x), ng.tensor(x[::-1].copy())),
         TF.cosine_similarity(torch.tensor(x), torch.tensor(x[::-1].copy()))),
        (F.glu(ng.tensor(x)), TF.glu(torch.tensor(x))),
        (F.one_hot(ng.tensor([0, 2, 1])), TF.one_hot(torch.tensor([0, 2, 1]))),
        (F.one_hot(ng.tensor([[1], [0]]), 4),
         TF.one_hot(torch.tensor([[1], [0]]), 4)),
        (F.pad(ng.tensor(x), (1, 2)), TF.pad(torch.tensor(x), (1, 2))),
        (F.softmin(ng.tensor(x), 1), TF.softmin(torch.tensor(x), 1)),
        (F.rms_norm(ng.tensor(x), (4,)), TF.rms_norm(torch.tensor(x), (4,))),
        (F.pairwise_distance(ng.tensor(x), ng.tensor(x * 2)),
         TF.pairwise_distance(torch.tensor(x), torch.tensor(x * 2))),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5,
                                   atol=1e-6)
    assert F.one_hot(ng.tensor([1])).dtype == ng.int64
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(ng.tensor([3]), 3)


@pytest.mark.parametrize("name, args", [
    ("ZeroPad2d", ((1, 2, 0, 3),)), ("ConstantPad2d", (2, 1.5)),
    ("ReflectionPad2d", (1,)), ("ReplicationPad2d", ((2, 0, 1, 1),)),
    ("ReflectionPad1d", (2,)), ("ZeroPad1d", (1,))])
def test_padding_layers_match_torch(name, args, torch):
    x = np.random.default_rng(0).random((2, 3, 5, 6)).astype(np.float32)
    if name.endswith("1d"):
        x = x[:, :, 0]
    ours = getattr(nn, name)(*args)
    theirs = getattr(torch.nn, name)(*args)
    xt = ng.tensor(x, requires_grad=True)
    tt = torch.tensor(x, requires_grad=True)
    out, ref = ours(xt), theirs(tt)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy())
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), tt.grad.numpy())
    assert repr(ours) == repr(theirs)
