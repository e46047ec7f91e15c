"""(6) MLP 784-256-10, batch 64, float32: forward, loss, backward and a
manual SGD update under no_grad."""
import numpy as np
import pytest

from _common import sync

BATCH, D_IN, D_HID, D_OUT = 64, 784, 256, 10
LR = 0.01


def _setup(perf, impl):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((D_IN, D_HID), dtype=np.float32) * 0.05,
              np.zeros(D_HID, np.float32),
              rng.standard_normal((D_HID, D_OUT), dtype=np.float32) * 0.05,
              np.zeros(D_OUT, np.float32)]
    x = rng.standard_normal((BATCH, D_IN), dtype=np.float32)
    target = rng.integers(0, D_OUT, BATCH).astype(np.int64)
    if impl == "torch":
        lib = perf.require_torch()
    else:
        import numgrad as lib

    def build():
        params = [lib.tensor(a, requires_grad=True) for a in arrays]
        return params, lib.tensor(x), lib.tensor(target)
    params, xt, tt = perf.attempt(build)
    return lib, params, xt, tt


def _forward(lib, params, x):
    w1, b1, w2, b2 = params
    return lib.relu(x @ w1 + b1) @ w2 + b2


def _loss_gather(lib, logits, target):
    return -lib.log_softmax(logits, dim=1).gather(
        1, target.unsqueeze(1)).mean()


def _cross_entropy(impl):
    if impl == "torch":
        import torch.nn.functional as F
    else:
        import numgrad.nn.functional as F
    return F.cross_entropy


def _sgd_step(lib, params, x, target, loss_fn):
    for p in params:
        p.grad = None
    loss = loss_fn(_forward(lib, params, x), target)
    loss.backward()
    with lib.no_grad():
        for p in params:
            p -= LR * p.grad
    sync(*params)
    return loss


def _fwdbwd(lib, params, x, target, loss_fn):
    for p in params:
        p.grad = None
    loss = loss_fn(_forward(lib, params, x), target)
    loss.backward()
    sync(*(p.grad for p in params))
    return loss


def _check_loss(loss):
    value = float(loss.detach().numpy())
    assert np.isfinite(value) and 0.5 < value < 10, value


@pytest.mark.parametrize("impl", ("numgrad", "torch"))
def test_mlp_fwdbwd(perf, impl):
    """Forward + log_softmax/gather NLL loss + backward (no update)."""
    perf.setup("mlp_fwdbwd", impl, refs=("torch",), shape="784-256-10",
               batch=BATCH)
    lib, params, x, t = _setup(perf, impl)
    perf.run(lambda: _fwdbwd(lib, params, x, t,
                             lambda o, tt: _loss_gather(lib, o, tt)),
             check=_check_loss)


@pytest.mark.parametrize("impl", ("numgrad", "torch"))
def test_mlp_sgd_step(perf, impl):
    """One SGD step: forward, log_softmax/gather NLL loss, backward,
    ``p -= lr * p.grad`` under no_grad."""
    perf.setup("mlp_sgd_step", impl, refs=("torch",), shape="784-256-10",
               batch=BATCH)
    lib, params, x, t = _setup(perf, impl)
    perf.run(lambda: _sgd_step(lib, params, x, t,
                               lambda o, tt: _loss_gather(lib, o, tt)),
             check=_check_loss)


@pytest.mark.parametrize("impl", ("numgrad", "torch"))
def test_mlp_sgd_step_ce(perf, impl):
    """The SGD step with ``nn.functional.cross_entropy`` as the loss
    (missing until numgrad.nn.functional exists)."""
    perf.setup("mlp_sgd_step_ce", impl, refs=("torch",), shape="784-256-10",
               batch=BATCH)
    lib, params, x, t = _setup(perf, impl)
    loss_fn = perf.attempt(lambda: _cross_entropy(impl))
    perf.run(lambda: _sgd_step(lib, params, x, t, loss_fn),
             check=_check_loss)
