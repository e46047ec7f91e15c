"""Threads recording, running and differentiating independent graphs at
once, with fusion on: every result matches a float64 NumPy reference and
no thread sees another's half-built kernel or pending value."""
import threading

import numpy as np

import numgrad as ng
from numgrad.fusion import cache

THREADS = 4
GRAPHS = 200
# sizes: below the fusion threshold, fused, and fused with the parallel
# (prange) kernel, which Numba's workqueue layer cannot run concurrently
SIZES = (300, 5000, 5000, 5000, 140_000)


def _reference(a, w):
    s = 1 / (1 + np.exp(-a))
    f = s * a + 0.5 * a * a
    t = np.tanh(f)
    h = a.reshape(-1, 4) @ w
    loss = t.sum() + (h * h).sum()
    dt = (1 - t * t) * (s * (1 - s) * a + s + a)
    dh = (2 * h) @ w.T
    return loss, dt + dh.reshape(-1)


def _graph(rng, size):
    a = rng.standard_normal(size)
    w = rng.standard_normal((4, 3)) * 0.5
    x = ng.tensor(a.astype(np.float32), requires_grad=True)
    wt = ng.tensor(w.astype(np.float32))
    t = ng.tanh(ng.sigmoid(x) * x + 0.5 * x * x)
    h = x.reshape(-1, 4) @ wt
    loss = t.sum() + (h * h).sum()
    loss.backward()
    want_loss, want_grad = _reference(a, w)
    np.testing.assert_allclose(loss.item(), want_loss, rtol=1e-4)
    np.testing.assert_allclose(x.grad.numpy(), want_grad, rtol=1e-3,
                               atol=1e-4)


def test_threads_run_independent_graphs(tmp_path, monkeypatch):
    # a cold cache, so threads also race to write and import kernels
    monkeypatch.setenv("NUMGRAD_CACHE_DIR", str(tmp_path / "kernels"))
    monkeypatch.setattr(cache, "_directory", [None])
    monkeypatch.setattr(cache, "_memory", {})
    errors = []
    start = threading.Barrier(THREADS)

    def work(seed):
        rng = np.random.default_rng(seed)
        try:
            start.wait()
            for i in range(GRAPHS):
                _graph(rng, SIZES[i % len(SIZES)])
        except BaseException as e:  # reported below, with its thread
            errors.append((seed, e))

    threads = [threading.Thread(target=work, args=(seed,))
               for seed in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
