"""Tensor hooks: register_hook, retain_grad, post-accumulate-grad hooks."""
import weakref

from .hooks import RemovableHandle


def register_tensor_hook(tensor, hook):
    if not tensor._requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't "
                           "require gradient")
    node = tensor.grad_fn
    if node is None:
        if tensor._backward_hooks is None:
            tensor._backward_hooks = {}
        return RemovableHandle(tensor._backward_hooks, hook)
    if node.tensor_pre_hooks is None:
        node.tensor_pre_hooks = {}
    hooks = node.tensor_pre_hooks.setdefault(tensor._output_nr, {})
    return RemovableHandle(hooks, hook)


def retain_grad(tensor):
    if not tensor._requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has "
                           "requires_grad=False")
    if tensor.grad_fn is None or tensor._retains_grad:
        return
    node = tensor.grad_fn
    if node.retain_grad_hooks is None:
        node.retain_grad_hooks = {}
    node.retain_grad_hooks[tensor._output_nr] = weakref.ref(tensor)
    tensor._retains_grad = True


def register_post_accumulate_grad_hook(tensor, hook):
    if not tensor._requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't "
                           "require gradient")
    if tensor.grad_fn is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered "
                           "on non-leaf tensors")
    if tensor._post_accumulate_grad_hooks is None:
        tensor._post_accumulate_grad_hooks = {}
    return RemovableHandle(tensor._post_accumulate_grad_hooks, hook)
