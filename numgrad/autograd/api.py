"""backward() and grad(): argument checking and seeding, then the engine."""
from .engine import run_backward


def _as_tuple(x):
    if x is None:
        return None
    from ..tensor import Tensor
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _make_grads(outputs, grad_outputs, is_grads_batched=False):
    from ..creation import ones_like
    from ..tensor import Tensor, Size
    grads = []
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(
            f"grad requires one gradient per output: got {len(outputs)} "
            f"tensors and {len(grad_outputs)} gradients.")
    for i, (out, grad) in enumerate(zip(outputs, grad_outputs)):
        if grad is None:
            if out.requires_grad and out.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for "
                                   "scalar outputs")
            grads.append(ones_like(out))
            continue
        if not isinstance(grad, Tensor):
            raise TypeError("gradients can be either Tensors or None, but "
                            f"got {type(grad).__name__}")
        if grad.shape != out.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of "
                f"{Size(grad.shape)!r} and output[{i}] has a shape of "
                f"{Size(out.shape)!r}.")
        if grad.dtype.is_floating_point != out.dtype.is_floating_point:
            raise RuntimeError(
                f"For complex Tensors, both grad_output and output are "
                f"required to have the same dtype. Mismatch in dtype: "
                f"grad_output[{i}] has a dtype of {grad.dtype} and "
                f"output[{i}] has a dtype of {out.dtype}.")
        grads.append(grad)
    return grads


def _check_outputs(outputs):
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not "
                "have a grad_fn")


def backward(tensors, grad_tensors=None, retain_graph=None,
             create_graph=False, grad_variables=None, inputs=None):
    tensors = _as_tuple(tensors)
    if grad_variables is not None:
        grad_tensors = grad_variables
    grad_tensors = _as_tuple(grad_tensors)
    if inputs is not None:
        inputs = _as_tuple(inputs)
        if not inputs:
            raise RuntimeError("'inputs' argument to backward() cannot be "
                               "empty.")
    _check_outputs(tensors)
    grads = _make_grads(tensors, grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph:
        import warnings
        warnings.warn(
            "Using backward() with create_graph=True will create a "
            "reference cycle between the parameter and its gradient which "
            "can cause a memory leak. We recommend using autograd.grad "
            "when creating the graph to avoid this. If you have to use "
            "this function, make sure to reset the .grad fields of your "
            "parameters to None after use to break the cycle and avoid "
            "the leak.", UserWarning, stacklevel=3)
    run_backward(tensors, grads, retain_graph, create_graph,
                 inputs=inputs, accumulate=True)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None,
         create_graph=False, only_inputs=True, allow_unused=None,
         is_grads_batched=False, materialize_grads=False):
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    if allow_unused is None:
        allow_unused = materialize_grads
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not "
                               "require grad")
    grad_outputs = _as_tuple(grad_outputs)
    _check_outputs(outputs)
    grads = _make_grads(outputs, grad_outputs)
    if retain_graph is None:
        retain_graph = create_graph
    result = run_backward(outputs, grads, retain_graph, create_graph,
                          inputs=inputs, accumulate=False)
    final = []
    for t, g in zip(inputs, result):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have "
                    "been used in the graph. Set allow_unused=True if this "
                    "is the desired behavior.")
            if materialize_grads:
                from ..creation import zeros_like
                g = zeros_like(t)
        elif g._shape != t._shape or g.dtype is not t.dtype:
            from .engine import _sum_to
            g = _sum_to(g, (t._shape, t.dtype))
        if g is not None and not create_graph:
            g = g.detach()
        final.append(g)
    return tuple(final)
