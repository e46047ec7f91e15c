"""``numgrad.nn.utils``: gradient clipping and parameter/vector
conversion."""
from ...tensor import Tensor
from .clip_grad import (clip_grad_norm, clip_grad_norm_,  # noqa: F401
                        clip_grad_value_, clip_grads_with_norm_,
                        get_total_norm)

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_",
           "clip_grads_with_norm_", "get_total_norm",
           "parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """Flatten an iterable of parameters into one 1-D tensor (recorded by
    autograd, like ``torch.cat``)."""
    from ...ops.shape import cat
    return cat([param.reshape(-1) for param in parameters])


def vector_to_parameters(vec, parameters):
    """Copy slices of the 1-D ``vec`` into the parameters' ``data`` (each
    parameter's data becomes a view of ``vec``)."""
    if not isinstance(vec, Tensor):
        raise TypeError("expected torch.Tensor, but got: "
                        f"{type(vec).__module__}.{type(vec).__qualname__}")
    pointer = 0
    for param in parameters:
        num_param = param.numel()
        param.data = vec[pointer:pointer + num_param].view_as(param).data
        pointer += num_param
