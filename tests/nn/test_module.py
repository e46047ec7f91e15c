"""nn.Module's API: registration, traversal, state dicts, modes, moves,
containers and printing, compared with PyTorch where it matters."""
import copy
import pickle
import re
from collections import OrderedDict

import numpy as np
import pytest

import numgrad as ng
import numgrad.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.ReLU(inplace=True)
        self.register_buffer("scale", ng.ones(1))
        self.register_buffer("cache", ng.zeros(2), persistent=False)

    def forward(self, x):
        return self.act(self.bn(self.conv(x))) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Block(), nn.MaxPool2d(2))
        self.head = nn.Linear(4 * 2 * 2, 3)
        self.alpha = nn.Parameter(ng.tensor([0.5]))

    def forward(self, x):
        return self.head(self.features(x).flatten(1)) * self.alpha


def _torch_net(torch):
    tnn = torch.nn

    class Block(tnn.Module):  # noqa: F811
        def __init__(self):
            super().__init__()
            self.conv = tnn.Conv2d(3, 4, 3, padding=1, bias=False)
            self.bn = tnn.BatchNorm2d(4)
            self.act = tnn.ReLU(inplace=True)
            self.register_buffer("scale", torch.ones(1))
            self.register_buffer("cache", torch.zeros(2), persistent=False)

    class Net(tnn.Module):  # noqa: F811
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(Block(), tnn.MaxPool2d(2))
            self.head = tnn.Linear(4 * 2 * 2, 3)
            self.alpha = tnn.Parameter(torch.tensor([0.5]))
    return Net()


# ---- registration --------------------------------------------------------
def test_attribute_registration():
    m = nn.Module()
    m.w = nn.Parameter(ng.ones(2))
    m.sub = nn.Linear(2, 2)
    m.register_buffer("buf", ng.zeros(3))
    m.plain = 5
    assert list(m._parameters) == ["w"]
    assert list(m._modules) == ["sub"]
    assert list(m._buffers) == ["buf"]
    assert m.plain == 5 and "plain" in m.__dict__
    # replacing a parameter with another Parameter re-registers it
    new = nn.Parameter(ng.zeros(2))
    m.w = new
    assert m.w is new and m._parameters["w"] is new
    # None is allowed for registered names
    m.w = None
    assert m.w is None and "w" in m._parameters
    assert [n for n, _ in m.named_parameters()] == ["sub.weight",
                                                   "sub.bias"]
    # a buffer name takes any tensor
    m.buf = ng.ones(1)
    assert m._buffers["buf"].shape == (1,)
    m.register_parameter("p", None)
    assert m.p is None
    del m.sub
    assert "sub" not in m._modules
    with pytest.raises(AttributeError, match="has no attribute 'sub'"):
        m.sub


def test_reassigning_weight_reregisters():
    lin = nn.Linear(3, 2)
    W = ng.randn(3, 2)
    lin.weight = nn.Parameter(W.t())
    assert lin.weight.shape == (2, 3)
    assert lin.weight is lin._parameters["weight"]
    out = lin(ng.ones(1, 3))
    out.sum().backward()
    assert lin.weight.grad.shape == (2, 3)


def test_registration_errors():
    m = nn.Module()
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", ng.ones(1))
    with pytest.raises(KeyError, match="empty string"):
        m.register_parameter("", None)
    m.x = 1
    with pytest.raises(KeyError, match="attribute 'x' already exists"):
        m.register_buffer("x", ng.ones(1))
    with pytest.raises(TypeError, match="cannot assign"):
        m.register_parameter("q", ng.ones(1))
    m.q = nn.Parameter(ng.ones(1))
    with pytest.raises(TypeError, match="as parameter 'q'"):
        m.q = ng.ones(1)
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("s", 3)
    with pytest.raises(ValueError, match="non-leaf"):
        m.register_parameter("r", _non_leaf_param())

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ng.ones(1))
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def _non_leaf_param():
    p = nn.Parameter(ng.ones(1))
    p.grad_fn = (p * 2).grad_fn
    return p


def test_buffer_class_and_dir():
    m = nn.Module()
    m.stats = nn.Buffer(ng.zeros(2))
    m.tmp = nn.Buffer(ng.zeros(2), persistent=False)
    assert list(m._buffers) == ["stats", "tmp"]
    assert list(m.state_dict()) == ["stats"]
    m.w = nn.Parameter(ng.ones(1))
    names = dir(m)
    assert "stats" in names and "w" in names and "forward" in names


# ---- traversal -----------------------------------------------------------
def test_traversal_matches_torch(torch):
    net, tnet = Net(), _torch_net(torch)
    assert ([n for n, _ in net.named_modules()]
            == [n for n, _ in tnet.named_modules()])
    assert ([n for n, _ in net.named_parameters()]
            == [n for n, _ in tnet.named_parameters()])
    assert ([n for n, _ in net.named_buffers()]
            == [n for n, _ in tnet.named_buffers()])
    assert list(net.state_dict()) == list(tnet.state_dict())
    assert ([n for n, _ in net.named_children()]
            == [n for n, _ in tnet.named_children()])
    assert len(list(net.modules())) == len(list(tnet.modules()))


def test_shared_modules_and_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, lin)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.modules())) == 2
    assert len(list(seq.named_modules(remove_duplicate=False))) == 3


def test_get_submodule_parameter_buffer():
    net = Net()
    assert net.get_submodule("features.0.bn") is net.features[0].bn
    assert net.get_parameter("head.bias") is net.head.bias
    assert net.get_buffer("features.0.bn.running_mean") is \
        net.features[0].bn.running_mean
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        net.get_submodule("features.nope")
    with pytest.raises(AttributeError, match="is not an nn.Module"):
        net.get_submodule("head.weight")


def test_apply_and_children():
    net = Net()
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen[-1] == "Net" and seen[0] == "Conv2d"
    assert [type(c).__name__ for c in net.children()] == ["Sequential",
                                                          "Linear"]


# ---- state dict ------------------------------------------------------------
def test_state_dict_round_trip():
    a, b = Net(), Net()
    a.features[0].bn.running_mean.fill_(3.0)
    sd = a.state_dict()
    assert isinstance(sd, OrderedDict)
    assert all(not t.requires_grad for t in sd.values())
    assert "features.0.cache" not in sd
    assert sd["features.0.bn.num_batches_tracked"].dtype == ng.int64
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for (name, t), (_, u) in zip(a.state_dict().items(),
                                 b.state_dict().items()):
        np.testing.assert_array_equal(t.numpy(), u.numpy(), err_msg=name)
    # loading copies in place: parameters keep their identity
    weight = b.head.weight
    b.load_state_dict({k: v.numpy() * 2 for k, v in sd.items()})
    assert b.head.weight is weight
    np.testing.assert_allclose(weight.detach().numpy(),
                               sd["head.weight"].numpy() * 2)
    assert weight.requires_grad and weight.grad_fn is None
    # keep_vars returns the parameters themselves
    assert a.state_dict(keep_vars=True)["alpha"] is a.alpha


def test_load_state_dict_from_torch(torch):
    tnet = _torch_net(torch)
    net = Net()
    net.load_state_dict({k: v.numpy() for k, v in tnet.state_dict().items()})
    for k, v in tnet.state_dict().items():
        np.testing.assert_array_equal(net.state_dict()[k].numpy(),
                                      v.numpy())


def test_load_state_dict_strict_errors(torch):
    conv = nn.Conv2d(1, 2, 3)
    bad = {"weight": ng.zeros(2, 1, 2, 2), "extra": ng.zeros(1)}
    with pytest.raises(RuntimeError) as err:
        conv.load_state_dict(bad)
    text = str(err.value)
    assert text.startswith("Error(s) in loading state_dict for Conv2d:\n\t")
    assert 'Missing key(s) in state_dict: "bias". ' in text
    assert 'Unexpected key(s) in state_dict: "extra". ' in text
    assert ("size mismatch for weight: copying a param with shape "
            "numgrad.Size([2, 1, 2, 2]) from checkpoint, the shape in "
            "current model is numgrad.Size([2, 1, 3, 3]).") in text
    tconv = torch.nn.Conv2d(1, 2, 3)
    with pytest.raises(RuntimeError) as terr:
        tconv.load_state_dict({"weight": torch.zeros(2, 1, 2, 2),
                               "extra": torch.zeros(1)})
    assert (text.replace("numgrad.Size", "torch.Size")
            == str(terr.value))
    # non-strict: returns the keys, still refuses a size mismatch
    keys = conv.load_state_dict({"extra": ng.zeros(1)}, strict=False)
    assert keys.missing_keys == ["weight", "bias"]
    assert keys.unexpected_keys == ["extra"]
    with pytest.raises(RuntimeError, match="size mismatch"):
        conv.load_state_dict({"weight": ng.zeros(1)}, strict=False)
    with pytest.raises(TypeError, match="dict-like"):
        conv.load_state_dict([1, 2])


def test_batchnorm_loads_without_num_batches_tracked():
    bn = nn.BatchNorm1d(3)
    sd = {k: v for k, v in bn.state_dict().items()
          if k != "num_batches_tracked"}
    assert bn.load_state_dict(sd).missing_keys == []


# ---- modes, grads, moves -----------------------------------------------------
def test_train_eval_flags():
    net = Net()
    assert all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="boolean"):
        net.train("yes")


def test_zero_grad_and_freeze():
    lin = nn.Linear(3, 2)
    lin(ng.ones(4, 3)).sum().backward()
    assert lin.weight.grad is not None
    lin.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(lin.weight.grad.numpy(), 0)
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None
    lin.requires_grad_(False)
    x = ng.ones(4, 3, requires_grad=True)
    lin(x).sum().backward()
    assert lin.weight.grad is None and lin.bias.grad is None
    assert x.grad is not None
    lin.requires_grad_()
    lin.weight.requires_grad = False
    lin(ng.ones(4, 3)).sum().backward()
    assert lin.weight.grad is None and lin.bias.grad is not None


def test_to_dtype_and_device():
    net = Net()
    weight = net.head.weight
    assert net.to("cpu") is net
    assert net.to(ng.device("cpu")) is net
    net.to(ng.float64)
    assert net.head.weight is weight and weight.dtype == ng.float64
    assert weight.requires_grad
    assert net.features[0].bn.running_var.dtype == ng.float64
    assert net.features[0].bn.num_batches_tracked.dtype == ng.int64
    out = net(ng.randn(2, 3, 4, 4, dtype=ng.float64))
    assert out.dtype == ng.float64
    net.float()
    assert weight.dtype == ng.float32
    with pytest.raises(TypeError, match="floating point"):
        net.to(ng.int64)
    net.double()
    assert net.alpha.dtype == ng.float64


# ---- printing ---------------------------------------------------------------------
def _same_repr(ng_module, torch_module):
    text = repr(ng_module)
    expected = repr(torch_module)
    assert text == expected


def test_repr_matches_torch(torch):
    tnn = torch.nn
    pairs = [
        (nn.Linear(3, 4, bias=False), tnn.Linear(3, 4, bias=False)),
        (nn.Conv2d(3, 8, 3, stride=2, padding=1, groups=1, bias=False),
         tnn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)),
        (nn.Conv2d(2, 4, 3, padding="same", dilation=2,
                   padding_mode="reflect"),
         tnn.Conv2d(2, 4, 3, padding="same", dilation=2,
                    padding_mode="reflect")),
        (nn.BatchNorm2d(8, momentum=None), tnn.BatchNorm2d(8, momentum=None)),
        (nn.LayerNorm(5), tnn.LayerNorm(5)),
        (nn.GroupNorm(2, 4), tnn.GroupNorm(2, 4)),
        (nn.MaxPool2d(3, 2, 1), tnn.MaxPool2d(3, 2, 1)),
        (nn.AvgPool2d(2), tnn.AvgPool2d(2)),
        (nn.AdaptiveAvgPool2d((1, 1)), tnn.AdaptiveAvgPool2d((1, 1))),
        (nn.Dropout(0.2), tnn.Dropout(0.2)),
        (nn.GELU("tanh"), tnn.GELU("tanh")),
        (nn.LeakyReLU(0.2, True), tnn.LeakyReLU(0.2, True)),
        (nn.ReLU6(inplace=True), tnn.ReLU6(inplace=True)),
        (nn.Softmax(dim=1), tnn.Softmax(dim=1)),
        (nn.Embedding(10, 3, padding_idx=0), tnn.Embedding(10, 3,
                                                            padding_idx=0)),
        (nn.Flatten(), tnn.Flatten()),
        (nn.Unflatten(1, (2, 3)), tnn.Unflatten(1, (2, 3))),
        (nn.Upsample(scale_factor=2, mode="bilinear"),
         tnn.Upsample(scale_factor=2, mode="bilinear")),
        (nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1),
         tnn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1)),
        (nn.CrossEntropyLoss(), tnn.CrossEntropyLoss()),
        (nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Hardswish(),
                       nn.ModuleList([nn.Linear(2, 2)] * 3
                                     + [nn.Identity()])),
         tnn.Sequential(tnn.Linear(2, 2), tnn.ReLU(), tnn.Hardswish(),
                        tnn.ModuleList([tnn.Linear(2, 2)] * 3
                                       + [tnn.Identity()]))),
    ]
    for ours, theirs in pairs:
        _same_repr(ours, theirs)
    _same_repr(Net(), _torch_net(torch))


def test_parameter_repr_and_copy():
    p = nn.Parameter(ng.tensor([1.0, 2.0]))
    assert repr(p) == ("Parameter containing:\n"
                       "tensor([1., 2.], requires_grad=True)")
    assert repr(nn.Parameter(ng.ones(1), requires_grad=False)) == (
        "Parameter containing:\ntensor([1.])")
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.requires_grad
    q.data.fill_(0)
    assert p.tolist() == [1.0, 2.0]
    r = pickle.loads(pickle.dumps(p))
    assert isinstance(r, nn.Parameter) and r.tolist() == [1.0, 2.0]
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(ng.tensor([1, 2]))


def test_parameter_shares_storage():
    t = ng.zeros(3)
    p = nn.Parameter(t)
    t.fill_(2.0)
    assert p.tolist() == [2.0, 2.0, 2.0]
    assert (p * 2).__class__ is ng.Tensor


def test_deepcopy_module():
    net = Net()
    clone = copy.deepcopy(net)
    for (n, a), (_, b) in zip(net.named_parameters(),
                              clone.named_parameters()):
        assert a is not b
        np.testing.assert_array_equal(a.detach().numpy(),
                                      b.detach().numpy())
    out = clone(ng.randn(1, 3, 4, 4))
    out.sum().backward()
    assert net.head.weight.grad is None
    restored = pickle.loads(pickle.dumps(net))
    x = ng.randn(2, 3, 4, 4)
    net.eval()
    restored.eval()
    np.testing.assert_array_equal(net(x).detach().numpy(),
                                  restored(x).detach().numpy())
    assert isinstance(restored.alpha, nn.Parameter)


# ---- containers ----------------------------------------------------------------------
def test_sequential_container():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    seq.append(c)
    assert len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[-1] is c and seq[0] is a
    sliced = seq[1:]
    assert isinstance(sliced, nn.Sequential) and list(sliced) == [b, c]
    assert [n for n, _ in sliced.named_children()] == ["1", "2"]
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    out = seq(ng.ones(4, 2))
    assert out.shape == (4, 1)
    del seq[1]
    assert list(seq._modules) == ["0", "1"] and seq[1] is c
    seq.insert(1, b)
    assert list(seq) == [a, b, c]
    seq[1] = nn.Tanh()
    assert isinstance(seq[1], nn.Tanh)
    assert len(seq + nn.Sequential(nn.ReLU())) == 4
    named = nn.Sequential(OrderedDict([("fc", a), ("act", b)]))
    assert named.fc is a and named[1] is b
    assert seq.pop(0) is a and len(seq) == 2


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers.insert(0, nn.Identity())
    assert [type(m).__name__ for m in layers][:2] == ["Identity", "Linear"]
    assert isinstance(layers[-1], nn.Tanh)
    assert len(layers[1:3]) == 2
    del layers[0]
    assert isinstance(layers[0], nn.Linear)
    with pytest.raises(TypeError, match="iterable"):
        layers.extend(3)
    d = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    d["c"] = nn.Tanh()
    assert list(d.keys()) == ["a", "b", "c"] and "a" in d
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias"]
    assert d.pop("b").__class__ is nn.ReLU and len(d) == 2
    plist = nn.ParameterList([nn.Parameter(ng.ones(2)), ng.zeros(1)])
    assert len(list(plist.parameters())) == 2
    pdict = nn.ParameterDict({"x": nn.Parameter(ng.ones(1))})
    assert [n for n, _ in pdict.named_parameters()] == ["x"]


def test_forward_missing_and_init_kwargs():
    with pytest.raises(NotImplementedError,
                       match=re.escape('missing the required "forward"')):
        nn.Module()(ng.ones(1))
    with pytest.raises(TypeError, match="unexpected keyword"):
        nn.Module(foo=1)
