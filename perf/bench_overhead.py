"""(1) per-op overhead and (2) SPEC's scalar graph."""
import numpy as np
import pytest

from _common import sync

ADD_IMPLS = ("numgrad", "torch", "numpy")


def _lib(perf, impl):
    if impl == "torch":
        return perf.require_torch()
    import numgrad
    return numgrad


# ------------------------------------------------------------------ (1)
@pytest.mark.parametrize("impl", ADD_IMPLS)
def test_add_1elem(perf, impl):
    """``a + b`` on one-element float32 tensors that require grad; the
    result is not read (under lazy fusion this is the cost of dispatching
    and recording one op)."""
    perf.setup("add_1elem", impl, refs=("torch", "numpy"))
    if impl == "numpy":
        a = np.ones(1, np.float32)
        b = np.ones(1, np.float32)
        perf.run(lambda: np.add(a, b))
        return
    lib = _lib(perf, impl)
    a, b = perf.attempt(lambda: (
        lib.ones(1, dtype=lib.float32, requires_grad=True),
        lib.ones(1, dtype=lib.float32, requires_grad=True)))
    perf.run(lambda: a + b)


@pytest.mark.parametrize("impl", ADD_IMPLS)
def test_add_1elem_materialized(perf, impl):
    """Same as add_1elem, but the result is forced to exist
    (``.detach().numpy()``), so a lazily fused op is also executed."""
    perf.setup("add_1elem_materialized", impl, refs=("torch", "numpy"))
    if impl == "numpy":
        a = np.ones(1, np.float32)
        b = np.ones(1, np.float32)
        perf.run(lambda: np.add(a, b))
        return
    lib = _lib(perf, impl)
    a, b = perf.attempt(lambda: (
        lib.ones(1, dtype=lib.float32, requires_grad=True),
        lib.ones(1, dtype=lib.float32, requires_grad=True)))

    def step():
        c = a + b
        sync(c)
        return c
    perf.run(step, check=lambda c: _close(c, [2.0]))


# ------------------------------------------------------------------ (2)
def _scalar_leaves(lib):
    x1 = lib.tensor(2.0, requires_grad=True)
    x2 = lib.tensor(3.0, requires_grad=True)
    return x1, x2


def _spec_graph(x1, x2):
    return (x1 ** 2 + 2 * x2) ** 2


@pytest.mark.parametrize("impl", ("numgrad", "torch"))
def test_scalar_graph_fwd(perf, impl):
    """SPEC's ``y = (x1 ** 2 + 2 * x2) ** 2`` on 0-d tensors, forward
    only (the graph is recorded; ``y`` is forced)."""
    perf.setup("scalar_graph_fwd", impl, refs=("torch",))
    lib = _lib(perf, impl)
    x1, x2 = perf.attempt(lambda: _scalar_leaves(lib))

    def step():
        y = _spec_graph(x1, x2)
        sync(y)
        return y
    perf.run(step, check=lambda y: _close(y, 100.0))


@pytest.mark.parametrize("impl", ("numgrad", "torch"))
def test_scalar_graph_fwdbwd(perf, impl):
    """SPEC's scalar graph, forward + ``y.backward()``; grads are reset
    (set to None) every iteration."""
    perf.setup("scalar_graph_fwdbwd", impl, refs=("torch",))
    lib = _lib(perf, impl)
    x1, x2 = perf.attempt(lambda: _scalar_leaves(lib))

    def step():
        x1.grad = None
        x2.grad = None
        y = _spec_graph(x1, x2)
        y.backward()
        sync(x1.grad, x2.grad)
        return x1.grad, x2.grad
    perf.run(step, check=lambda g: (_close(g[0], 80.0), _close(g[1], 40.0)))


def _close(t, expected):
    value = np.asarray(t.detach().numpy(), dtype=np.float64)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
