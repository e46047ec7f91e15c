"""Laziness is invisible: a pending value equals what eager execution gave
at the moment of the call, whatever the user does with shared memory in
between, and one value's failure stays with that value."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import numgrad as ng
from numgrad.fusion import executor, recorder

N = 64


@pytest.fixture
def fused(monkeypatch):
    monkeypatch.setattr(recorder, "MIN_ELEMENTS", 0)
    ng.fusion.set_enabled(True)
    yield
    ng.fusion.set_enabled(True)


def test_from_numpy_buffer_refilled_between_calls(fused):
    buf = np.ones(N, np.float32)
    x = ng.from_numpy(buf)
    results = []
    for value in (1.0, 2.0, 3.0):
        buf[:] = value
        results.append(ng.exp(x))
    for value, y in zip((1.0, 2.0, 3.0), results):
        np.testing.assert_allclose(y.numpy(), np.exp(np.float32(value)),
                                   rtol=1e-6)


def test_write_through_numpy_after_the_op(fused):
    x = ng.ones(N)
    y = ng.exp(x) * 2
    x.numpy()[:] = 0
    np.testing.assert_allclose(y.numpy(), 2 * np.e, rtol=1e-6)


def test_write_through_array_of_a_view(fused):
    x = ng.ones(2 * N)
    y = ng.tanh(x[::2]) + 1
    np.asarray(x)[:] = 5
    np.testing.assert_allclose(y.numpy(), np.tanh(1.0) + 1, rtol=1e-6)


def test_write_through_numpy_of_a_pending_input(fused):
    a = ng.ones(N) * 3          # pending
    b = a + 1                   # pending, reads a's Expr
    a.numpy()[:] = 0            # a runs, then the user overwrites it
    np.testing.assert_allclose(b.numpy(), 4.0)


def test_exported_values_still_fuse_downstream(fused, monkeypatch):
    """Only the op that reads shared storage runs at once; its result is
    numgrad's own, so the rest of the chain still fuses."""
    kernels = []
    real = executor.run

    def run(outputs):
        kernels.append(len(outputs))
        return real(outputs)
    monkeypatch.setattr(recorder, "run", run)
    x = ng.from_numpy(np.ones(N, np.float32))
    y = ng.exp(x)                       # eager: reads shared storage
    z = (y * 2 + 1).tanh()
    assert z._expr is not None          # still pending
    z.numpy()
    assert len(kernels) == 1


# A program is a list of steps over two NumPy buffers the user holds and
# the tensors made from them; each step's result must equal NumPy's at the
# time of the step.
UNARY = {"exp": np.exp, "tanh": np.tanh, "neg": np.negative,
         "sq": np.square}
STEP = st.one_of(
    st.tuples(st.just("op"), st.sampled_from(sorted(UNARY)),
              st.integers(0, 1)),
    st.tuples(st.just("add"), st.integers(0, 1), st.integers(0, 1)),
    st.tuples(st.just("fill"), st.integers(0, 1),
              st.floats(-2, 2, width=32)),
    st.tuples(st.just("inplace"), st.integers(0, 1),
              st.floats(-2, 2, width=32)),
    st.tuples(st.just("export"), st.integers(0, 1), st.just(0)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=12))
def test_any_interleaving_of_writes_and_ops_is_eager(steps):
    old = recorder.MIN_ELEMENTS
    recorder.set_min_elements(0)
    try:
        buffers = [np.full(N, 0.5, np.float32), np.full(N, -0.25,
                                                        np.float32)]
        tensors = [ng.from_numpy(b) for b in buffers]
        results = []
        for kind, a, b in steps:
            if kind == "op":
                name = a
                results.append((getattr(ng, name if name != "sq"
                                        else "square")(tensors[b]),
                                UNARY[name](buffers[b])))
            elif kind == "add":
                results.append((tensors[a] + tensors[b] * 2,
                                buffers[a] + buffers[b] * 2))
            elif kind == "fill":
                buffers[a][:] = b
            elif kind == "inplace":
                tensors[a].add_(b)
                buffers[a] += np.float32(b)
            else:
                tensors[a].numpy()[:] *= 0.5
                buffers[a] *= np.float32(0.5)
        for got, want in results:
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-5,
                                       atol=1e-6)
    finally:
        recorder.set_min_elements(old)


def test_a_failing_kernel_does_not_poison_later_flushes(fused, monkeypatch):
    real = executor.run
    broken = []

    def run(outputs):
        if any(o in broken for o in outputs):
            raise ValueError("kernel failed")
        return real(outputs)
    monkeypatch.setattr(recorder, "run", run)
    bad = ng.exp(ng.ones(N))
    broken.append(bad._expr)
    with pytest.raises(ValueError, match="kernel failed"):
        bad.numpy()
    # unrelated work: flushes, grad-mode exits and in-place writes
    good = ng.tanh(ng.ones(N)) + 1
    with ng.no_grad():
        pass
    ng.fusion.flush_all()
    np.testing.assert_allclose(good.numpy(), np.tanh(1.0) + 1, rtol=1e-6)
    # the failed value keeps failing where it is used, and only there
    with pytest.raises(ValueError, match="kernel failed"):
        bad.numpy()


def test_a_failing_sibling_does_not_fail_its_group(fused, monkeypatch):
    real = executor.run
    broken = []

    def run(outputs):
        if any(o in broken for o in outputs):
            raise ValueError("kernel failed")
        return real(outputs)
    monkeypatch.setattr(recorder, "run", run)
    x = ng.ones(N)
    bad = ng.exp(x)
    good = ng.tanh(x)               # a sibling: reads the same input
    broken.append(bad._expr)
    np.testing.assert_allclose(good.numpy(), np.tanh(1.0), rtol=1e-6)
    with pytest.raises(ValueError, match="kernel failed"):
        bad.numpy()
