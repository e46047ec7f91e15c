"""numgrad.nn: PyTorch's ``torch.nn`` — Module, Parameter, layers, losses,
``functional`` and ``init``."""
import importlib

from . import functional, init  # noqa: F401
from .modules import *  # noqa: F401,F403
from .parameter import Buffer, Parameter  # noqa: F401
from . import modules  # noqa: F401


def __getattr__(name):
    # ``nn.utils`` is a separate subpackage; import it on first use.
    if name == "utils":
        return importlib.import_module(".utils", __name__)
    raise AttributeError(f"module 'numgrad.nn' has no attribute '{name}'")
