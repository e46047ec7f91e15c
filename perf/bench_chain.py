"""(3) the elementwise chain

    f = (sigmoid(x)*tanh(y) + x*x*0.5 - exp(-y)) / (1 + y*y)

forward only, and forward + ``f.sum().backward()`` (gradients of x and y),
float32, at every size in ``_common.sizes()``."""
import numpy as np
import pytest

import _common
from _common import chain, sync

IMPLS = ("numgrad", "numgrad_nofusion", "torch", "numpy")
REFS = ("torch", "numpy")
PARAMS = [(n, impl) for n in _common.sizes() for impl in IMPLS]
IDS = [f"{_common.fmt_n(n)}-{impl}" for n, impl in PARAMS]


def _leaves(perf, impl, n):
    x, y = _common.chain_inputs(n)
    if impl == "numpy":
        return np, x, y
    if impl == "torch":
        lib = perf.require_torch()
    else:
        import numgrad as lib
        if impl == "numgrad_nofusion":
            perf.attempt(lambda: _common.set_fusion(False))
    xt, yt = perf.attempt(lambda: (
        lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)))
    return lib, xt, yt


def _check_forward(x, y):
    want = _common.numpy_chain_forward(x, y)

    def check(out):
        got = out if isinstance(out, np.ndarray) else out.detach().numpy()
        assert got.dtype == np.float32, got.dtype
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    return check


def _check_grads(x, y):
    _, want_x, want_y = _common.numpy_chain_grads(x, y)

    def check(grads):
        for got, want in zip(grads, (want_x, want_y)):
            got = got if isinstance(got, np.ndarray) else \
                got.detach().numpy()
            assert got.dtype == np.float32, got.dtype
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    return check


@pytest.mark.parametrize("n,impl", PARAMS, ids=IDS)
def test_chain_fwd(perf, n, impl):
    """Forward only: inputs require grad, so the graph is recorded; the
    output is forced to exist."""
    perf.setup("chain_fwd", impl, refs=REFS, N=_common.fmt_n(n))
    lib, x, y = _leaves(perf, impl, n)
    if impl == "numpy":
        perf.run(lambda: _common.numpy_chain_forward(x, y),
                 check=_check_forward(x, y))
        return

    def step():
        f = chain(lib, x, y)
        sync(f)
        return f
    perf.run(step, check=_check_forward(*_common.chain_inputs(n)))


@pytest.mark.parametrize("n,impl", PARAMS, ids=IDS)
def test_chain_fwdbwd(perf, n, impl):
    """Forward + ``f.sum().backward()``; x.grad / y.grad reset each
    iteration.  NumPy: the hand-written forward and backward."""
    perf.setup("chain_fwdbwd", impl, refs=REFS, N=_common.fmt_n(n))
    lib, x, y = _leaves(perf, impl, n)
    if impl == "numpy":
        perf.run(lambda: _common.numpy_chain_grads(x, y)[1:],
                 check=_check_grads(x, y))
        return

    def step():
        x.grad = None
        y.grad = None
        chain(lib, x, y).sum().backward()
        sync(x.grad, y.grad)
        return x.grad, y.grad
    perf.run(step, check=_check_grads(*_common.chain_inputs(n)))
