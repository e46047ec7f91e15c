"""Optimizers and learning-rate schedulers with PyTorch's API
(``numgrad.optim.SGD``, ``Adam``, ``AdamW``, ``RMSprop`` and
``numgrad.optim.lr_scheduler``)."""
from . import lr_scheduler  # noqa: F401
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler"]
