"""NaN, infinities, signed zeros, huge integers and empty dims give
PyTorch's answers, in eager kernels and in fused chains alike: a silent
wrong number here makes a diverging model look healthy."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import numgrad
import numgrad.nn.functional as F

SPECIAL = [math.nan, math.inf, -math.inf, 0.0, -0.0, 0.5, -0.5, 1.5, -1.5,
           2.5, -2.5, 3.0, 1e30, -1e30, 1e-30, 2.0 ** 40 + 0.5]

# Ops whose results are exact, so they must match PyTorch bit for bit
# (signed zeros included); each as (numgrad call, torch call).
EXACT = {
    "relu": (numgrad.relu, torch.relu),
    "abs": (numgrad.abs, torch.abs),
    "neg": (numgrad.neg, torch.neg),
    "sign": (numgrad.sign, torch.sign),
    "floor": (numgrad.floor, torch.floor),
    "ceil": (numgrad.ceil, torch.ceil),
    "trunc": (numgrad.trunc, torch.trunc),
    "clamp": (lambda x: numgrad.clamp(x, -1.0, 2.0),
              lambda x: torch.clamp(x, -1.0, 2.0)),
    "hardtanh": (F.hardtanh, torch.nn.functional.hardtanh),
    "relu6": (F.relu6, torch.nn.functional.relu6),
    "threshold": (lambda x: F.threshold(x, 0.5, 7.0),
                  lambda x: torch.nn.functional.threshold(x, 0.5, 7.0)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.5),
                   lambda x: torch.nn.functional.leaky_relu(x, 0.5)),
}


def _assert_same_bits(got, want):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    assert np.array_equal(got, want, equal_nan=True), (got, want)
    same_sign = np.signbit(got) == np.signbit(want)
    assert same_sign[~np.isnan(want)].all(), (got, want)


@pytest.mark.parametrize("name", sorted(EXACT))
@pytest.mark.parametrize("size", [len(SPECIAL), 5000])
def test_special_values_match_torch(name, size):
    # 5000 elements are past the fusion threshold: the chain's kernel.
    values = np.resize(np.array(SPECIAL, np.float32), size)
    ours, theirs = EXACT[name]
    got = ours(numgrad.tensor(values) * 1.0).numpy()
    _assert_same_bits(got, theirs(torch.tensor(values) * 1.0).numpy())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(SPECIAL),
                          st.floats(width=32, allow_nan=True,
                                    allow_infinity=True)),
                min_size=1, max_size=12),
       st.sampled_from(sorted(EXACT)),
       st.sampled_from(["float32", "float64"]))
def test_exact_ops_agree_with_torch_on_any_float(values, name, dtype):
    ours, theirs = EXACT[name]
    x = np.array(values, dtype=dtype)
    _assert_same_bits(ours(numgrad.tensor(x)).numpy(),
                      theirs(torch.tensor(x)).numpy())


def test_relu_nan_reaches_the_loss():
    x = numgrad.tensor([math.nan, 1.0], requires_grad=True)
    loss = F.relu(x).sum()
    assert math.isnan(loss.item())
    loss.backward()
    # PyTorch's threshold_backward: NaN is not > 0, so no gradient.
    assert x.grad.tolist() == [0.0, 1.0]


# ---- integer division --------------------------------------------------
INT64 = st.integers(-2 ** 62, 2 ** 62)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(INT64, INT64.filter(bool)), min_size=1,
                max_size=10),
       st.sampled_from(["int64", "int32", "int16"]))
def test_integer_quotients_are_exact(pairs, dtype):
    info = np.iinfo(dtype)
    a = np.array([p[0] for p in pairs]).clip(info.min + 1, info.max)
    b = np.array([p[1] for p in pairs]).clip(info.min + 1, info.max)
    b[b == 0] = 1
    a, b = a.astype(dtype), b.astype(dtype)
    na, nb = numgrad.tensor(a), numgrad.tensor(b)
    ta, tb = torch.tensor(a), torch.tensor(b)
    assert (na // nb).tolist() == (ta // tb).tolist()
    assert (na % nb).tolist() == (ta % tb).tolist()
    assert numgrad.div(na, nb, rounding_mode="trunc").tolist() == \
        torch.div(ta, tb, rounding_mode="trunc").tolist()
    assert numgrad.remainder(na, 7).tolist() == \
        torch.remainder(ta, 7).tolist()
    assert (int(a[0]) // nb).tolist() == (int(a[0]) // tb).tolist()
    assert (int(a[0]) % nb).tolist() == (int(a[0]) % tb).tolist()


def test_integer_quotient_past_float32_precision():
    a = numgrad.tensor([2 ** 24 + 1, 2 ** 40 + 3])
    assert (a // 1).tolist() == [2 ** 24 + 1, 2 ** 40 + 3]
    assert (a % 5).tolist() == [(2 ** 24 + 1) % 5, (2 ** 40 + 3) % 5]


@pytest.mark.parametrize("divide", [
    lambda a, b: a // b, lambda a, b: a % b,
    lambda a, b: numgrad.div(a, b, rounding_mode="trunc"),
    lambda a, b: numgrad.div(a, b, rounding_mode="floor"),
    lambda a, b: numgrad.remainder(a, b),
])
@pytest.mark.parametrize("divisor", [0, "tensor"])
def test_integer_division_by_zero_raises_like_torch(divide, divisor):
    a = numgrad.tensor([5, 3])
    b = numgrad.tensor([1, 0]) if divisor == "tensor" else divisor
    with pytest.raises(RuntimeError, match="^ZeroDivisionError$"):
        divide(a, b)


def test_inplace_integer_division_by_zero_leaves_the_tensor():
    a = numgrad.tensor([7, -7])
    version = a._version.value
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        a //= 0
    assert a.tolist() == [7, -7] and a._version.value == version


def test_float_division_by_zero_is_ieee():
    a = numgrad.tensor([5.0, -5.0, 0.0])
    t = torch.tensor([5.0, -5.0, 0.0])
    _assert_same_bits((a // 0.0).numpy(), (t // 0.0).numpy())
    _assert_same_bits((a / 0).numpy(), (t / 0).numpy())


def test_bool_floor_division_is_refused_like_torch():
    with pytest.raises(NotImplementedError, match="div_floor_cpu"):
        numgrad.tensor([True]) // numgrad.tensor([True])


# ---- reductions over empty dims ----------------------------------------
EMPTY_REDUCTIONS = {
    "amax last dim": lambda m, z, y: z.amax(-1),
    "amax all": lambda m, z, y: z.amax(),
    "amax tuple": lambda m, z, y: y.amax((0, 1)),
    "amax kept dim": lambda m, z, y: z.amax(0),
    "amin kept dim keepdim": lambda m, z, y: y.amin(1, keepdim=True),
    "max all": lambda m, z, y: z.max(),
    "min all": lambda m, z, y: z.min(),
    "argmax all": lambda m, z, y: z.argmax(),
    "argmin empty dim": lambda m, z, y: z.argmin(-1),
    "max empty dim": lambda m, z, y: z.max(-1),
    "min empty dim keepdim": lambda m, z, y: z.min(1, keepdim=True),
    "max kept dim": lambda m, z, y: y.max(1),
    "argmax kept dim": lambda m, z, y: y.argmax(1),
    "max 1-d": lambda m, z, y: m.zeros(0).max(0),
    "softmax over empty": lambda m, z, y: m.softmax(z, 1),
    "softmax kept": lambda m, z, y: m.softmax(y, 0),
    "log_softmax over empty": lambda m, z, y: m.log_softmax(z, 1),
    "logsumexp over empty": lambda m, z, y: m.logsumexp(y, 0),
    "logsumexp over all": lambda m, z, y: m.logsumexp(y, (0, 1)),
    "logsumexp kept": lambda m, z, y: m.logsumexp(y, 1),
    "sum": lambda m, z, y: y.sum(0),
    "prod": lambda m, z, y: y.prod(0),
    "norm": lambda m, z, y: y.norm(dim=0),
    "all": lambda m, z, y: z.all(1),
    "any": lambda m, z, y: y.any(0),
}


def _outcome(module, case):
    try:
        result = case(module, module.zeros(3, 0), module.zeros(0, 3))
    except Exception as e:  # the error is the outcome compared
        return type(e).__name__, str(e)
    results = result if isinstance(result, tuple) else (result,)
    return [(tuple(r.shape), str(r.dtype).split(".")[-1],
             np.asarray(r.tolist(), dtype=np.float64).tolist())
            for r in results]


@pytest.mark.parametrize("name", sorted(EMPTY_REDUCTIONS))
def test_reductions_over_empty_dims_follow_torch(name):
    case = EMPTY_REDUCTIONS[name]
    assert _outcome(numgrad, case) == _outcome(torch, case)


def test_empty_reductions_have_gradients():
    x = numgrad.zeros(0, 3, requires_grad=True)
    (numgrad.logsumexp(x, 0).sum() + numgrad.softmax(x, 0).sum()).backward()
    assert x.grad.shape == (0, 3)


# ---- printing ----------------------------------------------------------
_rng = np.random.default_rng(0)
PRINTED = {
    "4e6 vector": np.arange(4_000_000, dtype=np.float32),
    "2000x2000": np.arange(4_000_000, dtype=np.float32).reshape(2000, 2000),
    "3-d summarised": np.arange(24000, dtype=np.float32).reshape(20, 30, 40),
    "2 long rows": np.arange(2000, dtype=np.float32).reshape(2, 1000),
    "1001 ints": np.arange(1001),
    "empty 2-d": np.zeros((3, 0), np.float32),
    "empty ints": np.zeros(0, np.int64),
    "empty bools": np.zeros((0, 2), bool),
    "normal": _rng.standard_normal((5, 7)).astype(np.float32),
    "tiny": (_rng.standard_normal(3) * 1e-5).astype(np.float32),
    "wide range": np.array([1e9, 1.0], np.float32),
    "specials": np.array([np.nan, np.inf, -np.inf, 0.0], np.float32),
    "scalar": np.array(3.5, np.float32),
    "int scalar": np.array(7),
    "bools": np.array([True, False]),
    "int matrix": _rng.integers(-1000, 1000, (40, 40)),
    "4-d": (_rng.standard_normal((3, 4, 5, 6)) * 100).astype(np.float32),
    "signed zero": np.array([-0.0, 1.0], np.float32),
    "float64": _rng.standard_normal(4),
    "int32": np.array([1, 2], np.int32),
}


@pytest.mark.parametrize("name", sorted(PRINTED))
@pytest.mark.parametrize("options", [
    {}, {"precision": 2}, {"sci_mode": True}, {"threshold": 5, "edgeitems": 1},
    {"profile": "short"}, {"linewidth": 60}])
def test_repr_matches_torch(name, options):
    array = PRINTED[name]
    numgrad.set_printoptions(**options)
    torch.set_printoptions(**options)
    try:
        ours = repr(numgrad.tensor(array)).replace("numgrad.", "torch.")
        theirs = repr(torch.tensor(array))
    finally:
        numgrad.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")
    assert ours == theirs


def test_repr_formats_only_what_it_shows(monkeypatch):
    from numgrad import _format
    formatted = []
    original = _format._Formatter.format
    monkeypatch.setattr(_format._Formatter, "format",
                        lambda self, v: formatted.append(v)
                        or original(self, v))
    # An expanded view: materialising it would need 40 GB.
    text = repr(numgrad.ones(1).expand(10 ** 10))
    assert text == "tensor([1., 1., 1.,  ..., 1., 1., 1.])"
    assert len(formatted) == 6


def test_repr_suffixes():
    x = numgrad.ones(2, requires_grad=True)
    assert repr(x) == "tensor([1., 1.], requires_grad=True)"
    assert repr(x * 2) == "tensor([2., 2.], grad_fn=<MulBackward0>)"
    assert repr(numgrad.zeros(0, 2, dtype=numgrad.int64)) == \
        "tensor([], size=(0, 2), dtype=numgrad.int64)"


# ---- the global generator ----------------------------------------------
def test_each_process_seeds_itself_from_the_os():
    import subprocess
    import sys
    code = ("import numgrad; print(numgrad.initial_seed(), "
            "numgrad.randn(3).tolist())")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True,
                           text=True, check=True).stdout for _ in range(2)}
    assert len(runs) == 2


def test_manual_seed_still_reproduces():
    numgrad.manual_seed(123)
    first = numgrad.randn(4).tolist()
    numgrad.manual_seed(123)
    assert numgrad.randn(4).tolist() == first
    assert numgrad.initial_seed() == 123
