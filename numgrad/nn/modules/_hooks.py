"""Module hooks: handles, the global (every-module) hook registries, and
the call path that runs forward pre-hooks, ``forward``, forward hooks and
sets up the full backward (pre) hooks."""
import warnings
from collections import OrderedDict

from ...autograd.hooks import RemovableHandle
from ...tensor import Tensor
from ._backward_hook import BackwardHook

# Hooks registered for every module (``register_module_*``).
global_forward_pre_hooks = OrderedDict()
global_forward_hooks = OrderedDict()
global_forward_hooks_always_called = set()
global_forward_hooks_with_kwargs = set()
global_backward_pre_hooks = OrderedDict()
global_backward_hooks = OrderedDict()

LEGACY_HOOK_WARNING = (
    "register_backward_hook is deprecated: numgrad runs it as a full "
    "backward hook (grad_input w.r.t. the module's inputs). Please use "
    "register_full_backward_hook to get the documented behavior.")


class HookHandle(RemovableHandle):
    """A handle that also forgets the hook's flags (kwargs, always-call)."""

    def __init__(self, hooks_dict, fn, extra=(), prepend=False):
        super().__init__(hooks_dict, fn)
        self._extra = list(extra)
        if prepend:
            hooks_dict.move_to_end(self.id, last=False)

    def remove(self):
        for flags in self._extra:
            flags.discard(self.id)
        self._extra = []
        super().remove()


def register_module_forward_pre_hook(hook):
    return HookHandle(global_forward_pre_hooks, hook)


def register_module_forward_hook(hook, *, with_kwargs=False,
                                 always_call=False):
    handle = HookHandle(global_forward_hooks, hook,
                        (global_forward_hooks_always_called,
                         global_forward_hooks_with_kwargs))
    if with_kwargs:
        global_forward_hooks_with_kwargs.add(handle.id)
    if always_call:
        global_forward_hooks_always_called.add(handle.id)
    return handle


def register_module_full_backward_pre_hook(hook):
    return HookHandle(global_backward_pre_hooks, hook)


def register_module_full_backward_hook(hook):
    return HookHandle(global_backward_hooks, hook)


def register_module_backward_hook(hook):
    warnings.warn(LEGACY_HOOK_WARNING, FutureWarning, stacklevel=2)
    return HookHandle(global_backward_hooks, hook)


def has_hooks(module):
    return bool(module._forward_pre_hooks or module._forward_hooks
                or module._backward_pre_hooks or module._backward_hooks
                or global_forward_pre_hooks or global_forward_hooks
                or global_backward_pre_hooks or global_backward_hooks)


def _forward_hooks(module):
    return (*global_forward_hooks.items(), *module._forward_hooks.items())


def _with_kwargs(module, hook_id):
    return (hook_id in module._forward_hooks_with_kwargs
            or hook_id in global_forward_hooks_with_kwargs)


def _always_called(module, hook_id):
    return (hook_id in module._forward_hooks_always_called
            or hook_id in global_forward_hooks_always_called)


def call_with_hooks(module, args, kwargs):
    """``module(*args, **kwargs)`` with every hook, as PyTorch runs them;
    forward hooks with ``always_call`` also run when forward raises."""
    called = set()
    state = {"args": args, "kwargs": kwargs, "result": None}
    try:
        return _run(module, state, called)
    except Exception:
        _run_always_called(module, state, called)
        raise


def _run_pre_hooks(module, args, kwargs):
    for hook_id, hook in (*global_forward_pre_hooks.items(),
                          *module._forward_pre_hooks.items()):
        if hook_id in module._forward_pre_hooks_with_kwargs:
            result = hook(module, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        "forward pre-hook must return None or a tuple of "
                        f"(new_args, new_kwargs), but got {result}.")
                args, kwargs = result
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    return args, kwargs


def _run(module, state, called):
    args, kwargs = _run_pre_hooks(module, state["args"], state["kwargs"])
    state["args"], state["kwargs"] = args, kwargs
    backward_hooks = [*global_backward_hooks.values(),
                      *module._backward_hooks.values()]
    backward_pre_hooks = [*global_backward_pre_hooks.values(),
                          *module._backward_pre_hooks.values()]
    bw_hook = None
    if backward_hooks or backward_pre_hooks:
        bw_hook = BackwardHook(module, backward_hooks, backward_pre_hooks)
        args = bw_hook.setup_input_hook(args)
        state["args"] = args
    result = module.forward(*args, **kwargs)
    state["result"] = result
    for hook_id, hook in _forward_hooks(module):
        if _always_called(module, hook_id):
            called.add(hook_id)
        hook_result = _call_forward_hook(module, hook_id, hook, args,
                                         kwargs, result)
        if hook_result is not None:
            result = hook_result
            state["result"] = result
    if bw_hook is not None:
        if not isinstance(result, (Tensor, tuple)):
            warnings.warn("For backward hooks to be called, module output "
                          "should be a Tensor or a tuple of Tensors but "
                          f"received {type(result)}")
        result = bw_hook.setup_output_hook(result)
    return result


def _call_forward_hook(module, hook_id, hook, args, kwargs, result):
    if _with_kwargs(module, hook_id):
        return hook(module, args, kwargs, result)
    return hook(module, args, result)


def _run_always_called(module, state, called):
    args, kwargs, result = state["args"], state["kwargs"], state["result"]
    for hook_id, hook in _forward_hooks(module):
        if not _always_called(module, hook_id) or hook_id in called:
            continue
        try:
            hook_result = _call_forward_hook(module, hook_id, hook, args,
                                             kwargs, result)
            if hook_result is not None:
                result = hook_result
        except Exception as e:
            warnings.warn("module forward hook with ``always_call=True`` "
                          "raised an exception that was silenced as "
                          f"another error was raised in forward: {e}")
