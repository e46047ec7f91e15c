"""numgrad.autograd.graph: Node and saved-tensor hooks."""
from .node import Node  # noqa: F401
from .saved_hooks import saved_tensors_hooks  # noqa: F401


def increment_version(tensor):
    tensor._version.value += 1
