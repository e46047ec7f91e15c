"""Loss functions and modules against PyTorch: values, gradients w.r.t.
every floating input, second-order gradients, and errors."""
import numpy as np
import pytest

import numgrad as ng
import numgrad.nn as nn
import numgrad.nn.functional as F


def _rng(seed=0):
    return np.random.default_rng(seed)


def _pair(torch, array, requires_grad=True):
    float_like = array.dtype.kind == "f"
    return (ng.tensor(array, requires_grad=requires_grad and float_like),
            torch.tensor(array, requires_grad=requires_grad and float_like))


def _check(torch, name, arrays, kwargs=None, tkwargs=None, rtol=1e-5,
           atol=1e-6, second_order=False, torch_name=None, frozen=()):
    """Compares F.<name>(*arrays, **kwargs) with torch's, and the
    gradients of every floating input (except positions in ``frozen``)."""
    kwargs = kwargs or {}
    pairs = [_pair(torch, a, i not in frozen) for i, a in enumerate(arrays)]
    ours = getattr(F, name)(*[p[0] for p in pairs], **kwargs)
    tkw = {k: (torch.tensor(v.numpy()) if isinstance(v, ng.Tensor) else v)
           for k, v in (tkwargs if tkwargs is not None else kwargs).items()}
    theirs = getattr(torch.nn.functional, torch_name or name)(
        *[p[1] for p in pairs], **tkw)
    np.testing.assert_allclose(ours.detach().numpy(),
                               theirs.detach().numpy(), rtol=rtol,
                               atol=atol)
    seed = _rng(7).standard_normal(tuple(theirs.shape)).astype(
        arrays[0].dtype)
    grads = [p for p in pairs if p[1].requires_grad]
    n_grads = ng.autograd.grad(ours, [p[0] for p in grads],
                               ng.tensor(seed), create_graph=second_order,
                               allow_unused=True)
    t_grads = torch.autograd.grad(theirs, [p[1] for p in grads],
                                  torch.tensor(seed),
                                  create_graph=second_order,
                                  allow_unused=True)
    for a, b, (_, t) in zip(n_grads, t_grads, grads):
        a = np.zeros(t.shape) if a is None else a.detach().numpy()
        b = np.zeros(t.shape) if b is None else b.detach().numpy()
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    if second_order:
        n_second = ng.autograd.grad((n_grads[0] * n_grads[0]).sum(),
                                    grads[0][0])[0]
        t_second = torch.autograd.grad((t_grads[0] * t_grads[0]).sum(),
                                       grads[0][1])[0]
        np.testing.assert_allclose(n_second.numpy(), t_second.numpy(),
                                   rtol=1e-4, atol=1e-6)


REDUCTIONS = ["mean", "sum", "none"]


# ---- cross entropy and nll ---------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_class_indices(torch, reduction):
    logits = _rng().standard_normal((6, 5)).astype(np.float32)
    target = np.array([0, 4, 2, 2, 1, 3])
    _check(torch, "cross_entropy", [logits, target],
           {"reduction": reduction})
    weight = ng.tensor([0.5, 1.0, 2.0, 0.1, 3.0])
    _check(torch, "cross_entropy", [logits, np.array([0, 4, 2, -100, 1, 3])],
           {"reduction": reduction, "weight": weight})
    _check(torch, "cross_entropy", [logits, np.array([0, 4, 2, 2, 1, 3])],
           {"reduction": reduction, "weight": weight, "ignore_index": 2})


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_label_smoothing(torch, reduction):
    logits = _rng().standard_normal((6, 5)).astype(np.float32)
    target = np.array([0, 4, 2, 2, 1, 3])
    _check(torch, "cross_entropy", [logits, target],
           {"reduction": reduction, "label_smoothing": 0.2})
    weight = ng.tensor([0.5, 1.0, 2.0, 0.1, 3.0])
    _check(torch, "cross_entropy", [logits, target],
           {"reduction": reduction, "label_smoothing": 0.3,
            "weight": weight, "ignore_index": 2})


def test_cross_entropy_spatial_and_unbatched(torch):
    logits = _rng().standard_normal((2, 4, 3, 5)).astype(np.float32)
    target = _rng(1).integers(0, 4, (2, 3, 5))
    target[0, 0, 0] = -100
    for reduction in REDUCTIONS:
        _check(torch, "cross_entropy", [logits, target],
               {"reduction": reduction})
    _check(torch, "cross_entropy", [logits, target],
           {"weight": ng.tensor([1.0, 2.0, 0.5, 1.5]),
            "label_smoothing": 0.1})
    _check(torch, "cross_entropy", [logits[0, :, 0, 0], np.array(2)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probabilities(torch, reduction):
    logits = _rng().standard_normal((4, 3)).astype(np.float32)
    probs = _rng(2).dirichlet(np.ones(3), 4).astype(np.float32)
    _check(torch, "cross_entropy", [logits, probs], {"reduction": reduction})
    _check(torch, "cross_entropy", [logits, probs],
           {"reduction": reduction, "weight": ng.tensor([1.0, 0.2, 3.0]),
            "label_smoothing": 0.25})


def test_cross_entropy_second_order(torch):
    logits = _rng().standard_normal((5, 4))
    target = np.array([0, 3, 1, 1, 2])
    _check(torch, "cross_entropy", [logits, target], second_order=True,
           rtol=1e-7, atol=1e-9)
    _check(torch, "cross_entropy", [logits, target],
           {"label_smoothing": 0.1, "weight": ng.tensor(
               [1.0, 2.0, 3.0, 0.5], dtype=ng.float64)},
           second_order=True, rtol=1e-7, atol=1e-9)
    x = ng.tensor(logits, requires_grad=True)
    assert ng.autograd.gradgradcheck(
        lambda t: F.cross_entropy(t, ng.tensor(target)), (x,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(torch, reduction):
    logp = np.log(_rng().dirichlet(np.ones(4), 5)).astype(np.float32)
    target = np.array([0, 3, -100, 1, 2])
    _check(torch, "nll_loss", [logp, target], {"reduction": reduction})
    _check(torch, "nll_loss", [logp, target],
           {"reduction": reduction, "weight": ng.tensor([1., 2., 3., 4.])})
    spatial = _rng().standard_normal((2, 3, 4)).astype(np.float32)
    _check(torch, "nll_loss", [spatial, _rng(3).integers(0, 3, (2, 4))],
           {"reduction": reduction})


def test_classification_errors():
    x = ng.randn(3, 4)
    with pytest.raises(ValueError, match="batch_size"):
        F.cross_entropy(x, ng.tensor([0, 1]))
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        F.cross_entropy(x, ng.tensor([0, 1, 7]))
    with pytest.raises(ValueError, match="not a valid value"):
        F.cross_entropy(x, ng.tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(RuntimeError, match="label_smoothing"):
        F.cross_entropy(x, ng.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="weight tensor"):
        F.nll_loss(x, ng.tensor([0, 1, 2]), weight=ng.ones(3))
    with pytest.raises(RuntimeError, match="Long"):
        F.nll_loss(x, ng.tensor([0.0, 1.0, 2.0]))
    loss = F.cross_entropy(x, ng.tensor([-100, -100, -100]))
    assert np.isnan(loss.item())


# ---- regression losses ----------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(torch, reduction):
    a = _rng().standard_normal((4, 5)).astype(np.float32) * 2
    b = _rng(1).standard_normal((4, 5)).astype(np.float32)
    kw = {"reduction": reduction}
    _check(torch, "mse_loss", [a, b], kw)
    _check(torch, "l1_loss", [a, b], kw)
    for beta in (1.0, 0.5, 0.0):
        _check(torch, "smooth_l1_loss", [a, b], dict(kw, beta=beta))
    for delta in (1.0, 0.3):
        _check(torch, "huber_loss", [a, b], dict(kw, delta=delta))
    weight = ng.tensor(_rng(4).random((4, 5)).astype(np.float32))
    _check(torch, "mse_loss", [a, b], dict(kw, weight=weight))
    _check(torch, "l1_loss", [a, b], dict(kw, weight=weight))
    _check(torch, "huber_loss", [a, b], dict(kw, weight=weight))


def test_regression_broadcast_warns(torch):
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(ng.randn(3, 1), ng.randn(3))


# ---- binary losses ----------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(torch, reduction):
    p = _rng().uniform(0.02, 0.98, (3, 4)).astype(np.float32)
    t = _rng(1).uniform(0, 1, (3, 4)).astype(np.float32)
    _check(torch, "binary_cross_entropy", [p, t], {"reduction": reduction})
    _check(torch, "binary_cross_entropy", [p, t],
           {"reduction": reduction,
            "weight": ng.tensor([1.0, 2.0, 0.5, 3.0])}, rtol=2e-5)
    edge = np.array([0.0, 1.0, 0.5, 1e-30], dtype=np.float32)
    _check(torch, "binary_cross_entropy",
           [edge, np.array([1.0, 0.0, 1.0, 1.0], dtype=np.float32)],
           {"reduction": reduction})


def test_binary_cross_entropy_second_order(torch):
    p = _rng().uniform(0.05, 0.95, 6)
    t = _rng(1).uniform(0, 1, 6)
    _check(torch, "binary_cross_entropy", [p, t], second_order=True,
           rtol=1e-7, atol=1e-9)
    with pytest.raises(ValueError, match="target size"):
        F.binary_cross_entropy(ng.rand(3), ng.rand(3, 1))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(ng.tensor([1.5]), ng.tensor([1.0]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(torch, reduction):
    x = _rng().standard_normal((4, 3)).astype(np.float32) * 5
    x[0, 0] = 0.0
    x[0, 1] = 40.0
    x[0, 2] = -40.0
    t = _rng(1).uniform(0, 1, (4, 3)).astype(np.float32)
    kw = {"reduction": reduction}
    _check(torch, "binary_cross_entropy_with_logits", [x, t], kw)
    _check(torch, "binary_cross_entropy_with_logits", [x, t],
           dict(kw, pos_weight=ng.tensor([1.0, 3.0, 0.5]),
                weight=ng.tensor([2.0, 1.0, 0.5])))


def test_bce_with_logits_second_order(torch):
    x = _rng().standard_normal(5) * 3
    t = _rng(1).uniform(0, 1, 5)
    _check(torch, "binary_cross_entropy_with_logits", [x, t],
           {"pos_weight": ng.tensor(np.full(5, 2.0))}, second_order=True,
           rtol=1e-7, atol=1e-9)


# ---- kl divergence and the rest --------------------------------------------------------
def test_kl_div(torch):
    logq = np.log(_rng().dirichlet(np.ones(4), 3)).astype(np.float32)
    p = _rng(1).dirichlet(np.ones(4), 3).astype(np.float32)
    for reduction in ("sum", "none", "batchmean"):
        _check(torch, "kl_div", [logq, p], {"reduction": reduction})
        _check(torch, "kl_div", [logq, np.log(p + 1e-3)],
               {"reduction": reduction, "log_target": True})
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(ng.tensor(logq), ng.tensor(p))
    p[0, 0] = 0.0     # 0 * log 0 counts as 0
    np.testing.assert_allclose(
        F.kl_div(ng.tensor(logq), ng.tensor(p), reduction="sum").item(),
        torch.nn.functional.kl_div(torch.tensor(logq), torch.tensor(p),
                                   reduction="sum").item(), rtol=1e-5)


def test_other_losses(torch):
    a = _rng().standard_normal(6).astype(np.float32)
    b = _rng(1).standard_normal(6).astype(np.float32)
    sign = np.array([1, -1, 1, -1, -1, 1], dtype=np.float32)
    _check(torch, "margin_ranking_loss", [a, b, sign], {"margin": 0.2})
    _check(torch, "hinge_embedding_loss", [a, sign], {"margin": 0.5})
    _check(torch, "soft_margin_loss", [a, sign], frozen=(1,))
    m1 = _rng(2).standard_normal((6, 3)).astype(np.float32)
    m2 = _rng(3).standard_normal((6, 3)).astype(np.float32)
    _check(torch, "cosine_embedding_loss", [m1, m2, sign], {"margin": 0.1})
    rates = _rng(4).uniform(0.5, 3, 6).astype(np.float32)
    counts = np.floor(rates * 2).astype(np.float32)
    _check(torch, "poisson_nll_loss", [np.log(rates), counts],
           {"full": True})
    _check(torch, "poisson_nll_loss", [rates, counts], {"log_input": False})
    var = _rng(5).uniform(0.1, 2, 6).astype(np.float32)
    _check(torch, "gaussian_nll_loss", [a, b, var], {"full": True})


# ---- loss modules ---------------------------------------------------------------------------
def test_loss_modules(torch):
    logits = _rng().standard_normal((4, 3)).astype(np.float32)
    target = np.array([2, 0, 1, 1])
    weight = np.array([1.0, 2.0, 0.5], dtype=np.float32)
    ours = nn.CrossEntropyLoss(weight=ng.tensor(weight), label_smoothing=0.1,
                               ignore_index=0)
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor(weight),
                                       label_smoothing=0.1, ignore_index=0)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_allclose(
        ours(ng.tensor(logits), ng.tensor(target)).item(),
        theirs(torch.tensor(logits), torch.tensor(target)).item(),
        rtol=1e-6)
    pairs = [(nn.MSELoss(reduction="sum"), torch.nn.MSELoss(reduction="sum")),
             (nn.L1Loss(), torch.nn.L1Loss()),
             (nn.SmoothL1Loss(beta=0.5), torch.nn.SmoothL1Loss(beta=0.5)),
             (nn.HuberLoss(delta=0.5), torch.nn.HuberLoss(delta=0.5)),
             (nn.BCEWithLogitsLoss(pos_weight=ng.tensor([2.0, 1.0, 1.0])),
              torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(
                  [2.0, 1.0, 1.0]))),
             (nn.KLDivLoss(reduction="batchmean", log_target=True),
              torch.nn.KLDivLoss(reduction="batchmean", log_target=True))]
    probs = _rng(1).uniform(0, 1, (4, 3)).astype(np.float32)
    for a, b in pairs:
        np.testing.assert_allclose(
            a(ng.tensor(logits), ng.tensor(probs)).item(),
            b(torch.tensor(logits), torch.tensor(probs)).item(), rtol=1e-5)
    sig = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(
        nn.BCELoss()(ng.tensor(sig), ng.tensor(probs)).item(),
        torch.nn.BCELoss()(torch.tensor(sig), torch.tensor(probs)).item(),
        rtol=1e-5)
    logp = F.log_softmax(ng.tensor(logits), 1)
    np.testing.assert_allclose(
        nn.NLLLoss()(logp, ng.tensor(target)).item(),
        torch.nn.NLLLoss()(torch.log_softmax(torch.tensor(logits), 1),
                           torch.tensor(target)).item(), rtol=1e-6)
    with pytest.warns(UserWarning, match="size_average and reduce"):
        legacy = nn.MSELoss(size_average=False)
    assert legacy.reduction == "sum"


def test_loss_trains_a_layer():
    ng.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    x = ng.randn(64, 2)
    y = ng.tensor((x.numpy()[:, 0] * x.numpy()[:, 1] > 0).astype(np.int64))
    loss_fn = nn.CrossEntropyLoss()
    first = None
    for _ in range(60):
        loss = loss_fn(model(x), y)
        first = first if first is not None else loss.item()
        model.zero_grad()
        loss.backward()
        with ng.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
    assert loss.item() < 0.7 * first
