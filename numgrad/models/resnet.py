"""ResNet-18/34/50 with torchvision's module names, structure and init.

The module tree is torchvision's exactly (``conv1``, ``bn1``, ``relu``,
``maxpool``, ``layer1`` .. ``layer4`` of ``BasicBlock``/``Bottleneck``,
``avgpool``, ``fc``), so a torchvision state dict loads unchanged::

    model = resnet50(weights="resnet50-0676ba61.pth")

No ImageNet weights ship with numgrad (torchvision downloads them at run
time, which numgrad never does): pass a local ``.pth``/``.npz``/
``.safetensors`` file.  Inputs are normalised with ``IMAGENET_MEAN`` /
``IMAGENET_STD`` at 224x224, as for torchvision's weights.
"""
import numgrad
from numgrad import nn

from ._weights import load_weights_into

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet34",
           "resnet50", "IMAGENET_MEAN", "IMAGENET_STD"]

# torchvision's ImageNet preprocessing (RGB in [0, 1], then (x - mean) / std)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def conv3x3(in_planes, out_planes, stride=1):
    """3x3 convolution with padding 1, no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride,
                     padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution, no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride,
                     bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    # torchvision's "ResNet v1.5": the stride sits on the 3x3 conv (conv2)
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """torchvision's ResNet.  ``width`` (64 in torchvision, whose weights
    need it) is the stem's and layer1's channel count, doubled at each
    later layer: a smaller one gives the same architecture at a fraction
    of the cost, for quick experiments and tests."""

    def __init__(self, block, layers, num_classes=1000,
                 zero_init_residual=False, width=64):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width * block.expansion, num_classes)
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out",
                                        nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if not zero_init_residual:
            return
        # each residual branch then starts as the identity (Goyal et al.)
        for m in self.modules():
            if isinstance(m, Bottleneck):
                nn.init.constant_(m.bn3.weight, 0)
            elif isinstance(m, BasicBlock):
                nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = numgrad.flatten(self.avgpool(x), 1)
        return self.fc(x)


def _resnet(name, block, layers, weights, num_classes, **kwargs):
    model = ResNet(block, layers, num_classes=num_classes, **kwargs)
    if weights is not None:
        if isinstance(weights, str) and weights.upper() in (
                "DEFAULT", "IMAGENET1K_V1", "IMAGENET1K_V2"):
            raise ValueError(
                f"no ImageNet weights ship with numgrad for {name}; pass "
                f"the path of a local torchvision checkpoint, e.g. "
                f"{name}(weights='{name}.pth')")
        load_weights_into(model, weights)
    return model


def resnet18(weights=None, num_classes=1000, **kwargs):
    """ResNet-18; ``weights`` is None or a path (or a state dict)."""
    return _resnet("resnet18", BasicBlock, [2, 2, 2, 2], weights,
                   num_classes, **kwargs)


def resnet34(weights=None, num_classes=1000, **kwargs):
    """ResNet-34; ``weights`` is None or a path (or a state dict)."""
    return _resnet("resnet34", BasicBlock, [3, 4, 6, 3], weights,
                   num_classes, **kwargs)


def resnet50(weights=None, num_classes=1000, **kwargs):
    """ResNet-50 (v1.5); ``weights`` is None or a path (or a state dict)."""
    return _resnet("resnet50", Bottleneck, [3, 4, 6, 3], weights,
                   num_classes, **kwargs)
