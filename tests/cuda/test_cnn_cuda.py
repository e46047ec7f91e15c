"""The CNN kernels on the CUDA device against the CPU: convolution,
pooling, normalisation, interpolation and padding, through
numgrad.nn.functional -- values, gradients (first and second order) and
float64 gradcheck on the device."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.backends.cuda import launch
from numgrad.nn import functional as F
from numgrad.ops.cuda import conv as cuda_conv

from .conftest import assert_same


def _arrays(shapes, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _seed_like(y):
    values = np.linspace(-1.0, 1.0, y.numel()).reshape(tuple(y.shape))
    return values.astype(y.dtype.name)


def _run(fn, arrays, device, second_order):
    """fn's output and the gradients of its inputs; with second_order,
    also the gradients of <grads, fixed weights> (the double backward)."""
    inputs = [ng.tensor(a, device=device, requires_grad=True)
              for a in arrays]
    out = fn(*inputs)
    seed = ng.tensor(_seed_like(out), device=device,
                     requires_grad=second_order)
    grads = ng.autograd.grad(out, inputs, seed, create_graph=second_order)
    results = [out] + list(grads)
    if second_order:
        total = sum((g * ng.tensor(_seed_like(g) + 2, device=device)).sum()
                    for g in grads)
        results += ng.autograd.grad(total, inputs + [seed],
                                    allow_unused=True)
    return results


def _parity(fn, arrays, second_order=False, rtol=1e-5, atol=1e-5):
    cpu = _run(fn, arrays, "cpu", second_order)
    gpu = _run(fn, arrays, "cuda", second_order)
    assert len(cpu) == len(gpu)
    for a, b in zip(cpu, gpu):
        assert (a is None) == (b is None)
        if a is not None:
            assert_same(a, b, rtol, atol)


def _gradcheck(fn, arrays):
    inputs = [ng.tensor(a, device="cuda", requires_grad=True)
              for a in arrays]
    assert ng.autograd.gradcheck(fn, inputs)


# ---- convolution ------------------------------------------------------------
CONV_CASES = [
    # (name, x shape, w shape, bias, kwargs)
    ("basic", (2, 3, 6, 6), (4, 3, 3, 3), True, dict(padding=1)),
    ("stride_dilation", (2, 3, 6, 6), (4, 3, 3, 3), False,
     dict(stride=2, padding=(1, 0), dilation=(1, 2))),
    ("groups", (2, 4, 6, 6), (6, 2, 3, 3), True, dict(groups=2, padding=1)),
    ("same_even_kernel", (1, 2, 5, 5), (3, 2, 2, 2), False,
     dict(padding="same")),
    ("pointwise_1x1", (2, 3, 4, 4), (5, 3, 1, 1), True, {}),
    ("depthwise", (2, 3, 6, 6), (3, 1, 3, 3), True,
     dict(groups=3, padding=1)),
    ("depthwise_multiplier_strided", (2, 3, 6, 6), (6, 1, 3, 3), False,
     dict(groups=3, stride=2, padding=1, dilation=(2, 1))),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv2d_matches_cpu(case):
    _, x_shape, w_shape, bias, kwargs = case
    shapes = [x_shape, w_shape] + ([(w_shape[0],)] if bias else [])
    _parity(lambda *t: F.conv2d(*t, **kwargs), _arrays(shapes))


def test_conv_transpose_and_conv1d_match_cpu():
    _parity(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1,
                                               output_padding=1),
            _arrays([(1, 4, 3, 3), (4, 2, 3, 3), (2,)]))
    _parity(lambda x, w: F.conv1d(x, w, stride=2, padding=2, dilation=2),
            _arrays([(2, 3, 9), (4, 3, 3)]))


@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_double_backward_matches_cpu(groups):
    # the backward of conv2d_input_grad and conv2d_weight_grad
    _parity(lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=groups),
            _arrays([(1, 2, 5, 5), (2, 2 // groups, 3, 3)]),
            second_order=True)


def test_conv2d_on_many_blocks_with_split_weight_gradient(monkeypatch):
    # Pretend the device keeps 6 blocks busy and splits K from 8 k-tiles:
    # tiles spread over several blocks, and the weight gradient (K = 4 * 8
    # * 8 = 256, 16 k-tiles) adds two partial products atomically.
    monkeypatch.setitem(launch.properties(), "max_blocks", 6)
    monkeypatch.setattr(cuda_conv, "MIN_SPLIT_KTILES", 8)
    splits = []

    def spy(kernel, config, *args):
        if kernel is cuda_conv._conv_gemm:
            splits.append(args[-1])
        launch.launch(kernel, config, *args)

    monkeypatch.setattr(cuda_conv, "launch", spy)
    _parity(lambda x, w: F.conv2d(x, w, padding=1),
            _arrays([(4, 2, 8, 8), (3, 2, 3, 3)]), rtol=1e-4)
    assert max(splits) == 2


def test_conv2d_float16_computes_in_float32():
    x, w = _arrays([(1, 2, 4, 4), (3, 2, 3, 3)], "float16")
    cpu = F.conv2d(ng.tensor(x), ng.tensor(w), padding=1)
    gpu = F.conv2d(ng.tensor(x, device="cuda"), ng.tensor(w, device="cuda"),
                   padding=1)
    assert_same(cpu, gpu, rtol=1e-3, atol=1e-3)


def test_conv2d_gradcheck_on_device():
    _gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(1, 2),
                                        padding=(1, 0)),
               _arrays([(1, 1, 2, 3), (2, 1, 2, 2), (2,)], "float64"))
    _gradcheck(lambda x, w: F.conv2d(x, w, groups=2, padding=1),   # depthwise
               _arrays([(1, 2, 3, 3), (2, 1, 2, 2)], "float64"))


# ---- pooling ----------------------------------------------------------------
POOL_CASES = [
    ("max_overlapping", (2, 3, 7, 7), lambda x: F.max_pool2d(x, 3, 2, 1)),
    ("max_dilated_ceil", (1, 2, 6, 5),
     lambda x: F.max_pool2d(x, 2, 1, 0, 2, ceil_mode=True)),
    ("max1d", (2, 2, 9), lambda x: F.max_pool1d(x, 3, 2, 1)),
    ("adaptive_max", (1, 2, 7, 5), lambda x: F.adaptive_max_pool2d(x, (3, 2))),
    ("avg_ceil_exclude_pad", (2, 2, 6, 6),
     lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True,
                            count_include_pad=False)),
    ("avg_divisor", (2, 2, 4, 4),
     lambda x: F.avg_pool2d(x, 2, divisor_override=3)),
    ("adaptive_avg", (1, 2, 7, 6), lambda x: F.adaptive_avg_pool2d(x, (3, 4))),
    ("adaptive_avg1d", (2, 3, 7), lambda x: F.adaptive_avg_pool1d(x, 3)),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=[c[0] for c in POOL_CASES])
def test_pool_matches_cpu(case):
    _, shape, fn = case
    _parity(fn, _arrays([shape]), second_order=True)


def test_max_pool_indices_match_cpu():
    (x,) = _arrays([(1, 2, 6, 5)])
    for fn in (lambda t: F.max_pool2d(t, 3, 2, 1, return_indices=True),
               lambda t: F.adaptive_max_pool2d(t, 2, return_indices=True)):
        out, idx = fn(ng.tensor(x))
        out_gpu, idx_gpu = fn(ng.tensor(x, device="cuda"))
        assert_same(out, out_gpu)
        assert_same(idx, idx_gpu)


def test_max_pool_nan_and_float16_match_cpu():
    (x,) = _arrays([(1, 1, 4, 4)])
    x[0, 0, 1, 1] = np.nan
    for a in (x, x.astype("float16")):
        cpu, idx = F.max_pool2d(ng.tensor(a), 2, return_indices=True)
        gpu, idx_gpu = F.max_pool2d(ng.tensor(a, device="cuda"), 2,
                                    return_indices=True)
        assert_same(cpu, gpu)
        assert_same(idx, idx_gpu)


def test_pool_gradcheck_on_device():
    _gradcheck(lambda x: F.max_pool2d(x, 2, 1), _arrays([(1, 1, 3, 3)],
                                                       "float64"))
    _gradcheck(lambda x: F.avg_pool2d(x, 2, 1, 1), _arrays([(1, 1, 3, 3)],
                                                          "float64"))


# ---- normalisation ----------------------------------------------------------
def _batch_norm(training, momentum=0.2):
    def run(x, w, b):
        device = x.device
        mean = ng.tensor(np.linspace(0, 1, 3, dtype="float32"),
                         device=device)
        var = ng.tensor(np.linspace(1, 2, 3, dtype="float32"), device=device)
        out = F.batch_norm(x, mean, var, w, b, training=training,
                           momentum=momentum)
        return out, mean, var
    return run


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_and_running_stats_match_cpu(training):
    arrays = _arrays([(4, 3, 2, 2), (3,), (3,)])
    _parity(lambda *t: _batch_norm(training)(*t)[0], arrays)
    cpu = _batch_norm(training)(*[ng.tensor(a) for a in arrays])
    gpu = _batch_norm(training)(*[ng.tensor(a, device="cuda")
                                  for a in arrays])
    for a, b in zip(cpu, gpu):
        assert_same(a, b)


def test_batch_norm_without_affine_or_running_stats_matches_cpu():
    _parity(lambda x: F.batch_norm(x, None, None, training=True),
            _arrays([(5, 3)]))


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_double_backward_matches_cpu(training):
    _parity(lambda *t: _batch_norm(training)(*t)[0],
            _arrays([(3, 3, 2, 2), (3,), (3,)]), second_order=True,
            rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", [
    ("affine", [(2, 5, 3, 4), (3, 4), (3, 4)],
     lambda x, w, b: F.layer_norm(x, (3, 4), w, b)),
    ("plain", [(4, 6)], lambda x: F.layer_norm(x, (6,))),
    ("group_norm", [(2, 4, 3, 3), (4,), (4,)],
     lambda x, w, b: F.group_norm(x, 2, w, b)),
], ids=lambda c: c[0])
def test_layer_and_group_norm_match_cpu(case):
    _, shapes, fn = case
    _parity(fn, _arrays(shapes), second_order=True, rtol=1e-4, atol=1e-4)


def test_layer_norm_weight_gradient_over_row_chunks(monkeypatch):
    # with room for more threads the affine gradients sum over row chunks
    monkeypatch.setitem(launch.properties(), "max_blocks", 4)
    _parity(lambda x, w, b: F.layer_norm(x, (3,), w, b),
            _arrays([(7, 3), (3,), (3,)]), rtol=1e-4)


def test_norm_gradcheck_on_device():
    _gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b,
                                            training=True),
               _arrays([(3, 2, 2), (2,), (2,)], "float64"))
    _gradcheck(lambda x, w, b: F.layer_norm(x, (3,), w, b),
               _arrays([(2, 3), (3,), (3,)], "float64"))


# ---- interpolation and padding ----------------------------------------------
RESAMPLE_CASES = [
    ("nearest_up", (1, 2, 3, 4),
     lambda x: F.interpolate(x, scale_factor=2, mode="nearest")),
    ("nearest_down", (1, 2, 5, 7),
     lambda x: F.interpolate(x, size=(2, 3), mode="nearest")),
    ("nearest_exact", (1, 2, 3, 4),
     lambda x: F.interpolate(x, size=(5, 7), mode="nearest-exact")),
    ("bilinear_align_corners", (2, 1, 3, 4),
     lambda x: F.interpolate(x, size=(5, 7), mode="bilinear",
                             align_corners=True)),
    ("bilinear", (2, 1, 3, 4),
     lambda x: F.interpolate(x, scale_factor=1.7, mode="bilinear")),
    ("linear", (2, 2, 4), lambda x: F.interpolate(x, size=9, mode="linear")),
    ("constant_pad", (2, 3, 4), lambda x: F.pad(x, (1, 2, 0, 1), value=0.5)),
    ("constant_crop", (2, 3, 4), lambda x: F.pad(x, (-1, 2, 1, -1))),
    ("reflect", (1, 2, 3, 4), lambda x: F.pad(x, (2, 1, 1, 2), "reflect")),
    ("replicate", (1, 2, 3, 4), lambda x: F.pad(x, (2, 1, 1, 2),
                                                "replicate")),
    ("circular", (1, 2, 3, 4), lambda x: F.pad(x, (2, 1, 1, -1),
                                               "circular")),
]


@pytest.mark.parametrize("case", RESAMPLE_CASES,
                         ids=[c[0] for c in RESAMPLE_CASES])
def test_resample_matches_cpu(case):
    _, shape, fn = case
    _parity(fn, _arrays([shape]), second_order=True)


@pytest.mark.parametrize("dtype", ["float16", "int64"])
def test_pad_keeps_dtype(dtype):
    (x,) = _arrays([(2, 3, 4)])
    x = (x * 4).astype(dtype)
    for fn in (lambda t: F.pad(t, (1, 2), value=3),
               lambda t: F.pad(t, (1, 1, 2, 0), "reflect")):
        assert_same(fn(ng.tensor(x)), fn(ng.tensor(x, device="cuda")))


def test_float16_interpolation_and_gradient_match_cpu():
    _parity(lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"),
            _arrays([(1, 1, 2, 3)], "float16"), rtol=1e-3, atol=1e-3)
    _parity(lambda x: F.pad(x, (1, 1), "replicate"),
            _arrays([(2, 3)], "float16"), rtol=1e-3, atol=1e-3)


def test_resample_gradcheck_on_device():
    _gradcheck(lambda x: F.interpolate(x, size=(3, 5), mode="bilinear"),
               _arrays([(1, 1, 2, 3)], "float64"))
    _gradcheck(lambda x: F.pad(x, (2, 1, 1, 1), "reflect"),
               _arrays([(1, 2, 3)], "float64"))
