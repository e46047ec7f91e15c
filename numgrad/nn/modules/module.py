"""Module: registration of parameters, buffers and submodules, the state
dict, train/eval, dtype/device moves, printing, and hook registration
(the hooked call path is in ``_hooks.py``, state-dict loading in
``_state_dict.py``)."""
import warnings
from collections import OrderedDict

from ... import dtypes
from ...autograd import grad_mode
from ...tensor import Tensor
from ..parameter import Buffer, Parameter
from . import _hooks, _state_dict
from ._hooks import (HookHandle as _HookHandle,  # noqa: F401
                     register_module_backward_hook,
                     register_module_forward_hook,
                     register_module_forward_pre_hook,
                     register_module_full_backward_hook,
                     register_module_full_backward_pre_hook)
from ._state_dict import IncompatibleKeys as _IncompatibleKeys  # noqa: F401

__all__ = ["Module", "register_module_forward_pre_hook",
           "register_module_forward_hook",
           "register_module_full_backward_pre_hook",
           "register_module_full_backward_hook",
           "register_module_backward_hook"]


def _typename(value):
    if isinstance(value, Tensor):
        return "numgrad." + type(value).__name__
    return type(value).__module__ + "." + type(value).__qualname__ \
        if type(value).__module__ != "builtins" else type(value).__name__


def _addindent(text, spaces):
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line
                                       for line in lines[1:])


class Module:
    """Base class of every layer and model (PyTorch's ``nn.Module``)."""

    _version = 1
    training = True
    call_super_init = False

    def __init__(self, *args, **kwargs):
        if not self.call_super_init and kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got an "
                            f"unexpected keyword argument "
                            f"'{next(iter(kwargs))}'")
        if not self.call_super_init and args:
            raise TypeError(f"{type(self).__name__}.__init__() takes 1 "
                            f"positional argument but {len(args) + 1} were "
                            "given")
        setter = super().__setattr__
        setter("training", True)
        for name in ("_parameters", "_buffers", "_modules",
                     "_forward_pre_hooks", "_forward_hooks",
                     "_backward_pre_hooks", "_backward_hooks",
                     "_state_dict_hooks", "_state_dict_pre_hooks",
                     "_load_state_dict_pre_hooks",
                     "_load_state_dict_post_hooks"):
            setter(name, OrderedDict())
        for name in ("_non_persistent_buffers_set",
                     "_forward_pre_hooks_with_kwargs",
                     "_forward_hooks_with_kwargs",
                     "_forward_hooks_always_called"):
            setter(name, set())
        setter("_is_full_backward_hook", None)
        if self.call_super_init:
            super().__init__(*args, **kwargs)

    def forward(self, *input):
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required '
            '"forward" function')

    # ---- registration --------------------------------------------------
    def _check_new_name(self, kind, name, store):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before "
                                 "Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got "
                            f"{_typename(name)}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain "."')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if hasattr(self, name) and name not in store:
            raise KeyError(f"attribute '{name}' already exists")

    def register_buffer(self, name, tensor, persistent=True):
        self._check_new_name("buffer", name,
                             self.__dict__.get("_buffers", {}))
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to "
                            f"buffer '{name}' (numgrad Tensor or None "
                            "required)")
        if tensor is not None:
            tensor.__dict__.pop("_is_buffer", None)
            tensor.__dict__.pop("persistent", None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name, param):
        self._check_new_name("parameter", name,
                             self.__dict__.get("_parameters", {}))
        if param is None:
            self._parameters[name] = None
            return
        if not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_typename(param)}' object to "
                            f"parameter '{name}' (numgrad.nn.Parameter or "
                            "None required)")
        if param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. "
                "Model parameters must be created explicitly. To express "
                f"'{name}' as a function of another Tensor, compute the "
                "value in the forward() method.")
        self._parameters[name] = param

    def add_module(self, name, module):
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got "
                            f"{_typename(name)}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    register_module = add_module

    def __getattr__(self, name):
        state = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            values = state.get(store)
            if values is not None and name in values:
                return values[name]
        raise AttributeError(f"'{type(self).__name__}' object has no "
                             f"attribute '{name}'")

    def __setattr__(self, name, value):
        state = self.__dict__
        params = state.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before "
                                     "Module.__init__() call")
            self._forget(name, state, self._buffers, self._modules,
                         self._non_persistent_buffers_set)
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as "
                                f"parameter '{name}' (numgrad.nn.Parameter "
                                "or None expected)")
            self.register_parameter(name, value)
            return
        modules = state.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before "
                                     "Module.__init__() call")
            self._forget(name, state, self._parameters, self._buffers,
                         self._non_persistent_buffers_set)
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as "
                                f"child module '{name}' (numgrad.nn.Module "
                                "or None expected)")
            modules[name] = value
            return
        buffers = state.get("_buffers")
        if isinstance(value, Buffer):
            persistent = value.__dict__.get("persistent", True)
            self._forget(name, state, self._parameters, self._modules)
            self.register_buffer(name, value, persistent)
            return
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{_typename(value)}' as "
                                f"buffer '{name}' (numgrad.Tensor or None "
                                "expected)")
            buffers[name] = value
            return
        object.__setattr__(self, name, value)

    @staticmethod
    def _forget(name, *stores):
        for store in stores:
            if name in store:
                if isinstance(store, set):
                    store.discard(name)
                else:
                    del store[name]

    def __delattr__(self, name):
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        keys = (dir(type(self)) + list(self.__dict__) +
                list(self._parameters) + list(self._modules) +
                list(self._buffers))
        return sorted(k for k in set(keys) if not k[0].isdigit())

    def __setstate__(self, state):
        self.__dict__.update(state)

    # ---- traversal -------------------------------------------------------
    def _named_members(self, get_members, prefix="", recurse=True,
                       remove_duplicate=True):
        memo = set()
        modules = (self.named_modules(prefix=prefix,
                                      remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for module_prefix, module in modules:
            for name, value in get_members(module):
                if value is None or (remove_duplicate
                                     and id(value) in memo):
                    continue
                if remove_duplicate:
                    memo.add(id(value))
                yield (module_prefix + ("." if module_prefix else "")
                       + name, value)

    def named_parameters(self, prefix="", recurse=True,
                         remove_duplicate=True):
        yield from self._named_members(
            lambda m: m._parameters.items(), prefix, recurse,
            remove_duplicate)

    def parameters(self, recurse=True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members(
            lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def named_children(self):
        memo = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in memo:
                memo.add(id(module))
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub_prefix = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub_prefix,
                                            remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def get_submodule(self, target):
        if target == "":
            return self
        module = self
        for item in target.split("."):
            if not hasattr(module, item):
                raise AttributeError(module._get_name() + " has no "
                                     "attribute `" + item + "`")
            module = getattr(module, item)
            if not isinstance(module, Module):
                raise AttributeError("`" + item + "` is not an nn.Module")
        return module

    def _get_leaf(self, target, store, kind):
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(module._get_name() + " has no attribute `"
                                 + name + "`")
        if name not in getattr(module, store):
            raise AttributeError("`" + name + f"` is not {kind}")
        return getattr(module, name)

    def get_parameter(self, target):
        return self._get_leaf(target, "_parameters", "an nn.Parameter")

    def get_buffer(self, target):
        return self._get_leaf(target, "_buffers", "a buffer")

    # ---- modes and moves -------------------------------------------------
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
                continue
            grad = param.grad
            if grad.grad_fn is not None:
                grad.detach_()
            else:
                grad.requires_grad_(False)
            grad.zero_()

    def apply(self, fn):
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def _apply(self, fn, recurse=True):
        if recurse:
            for module in self.children():
                module._apply(fn)
        for param in self._parameters.values():
            if param is None:
                continue
            with grad_mode.no_grad():
                applied = fn(param)
            if applied is not param:
                param.data = applied
            if param._grad is not None:
                with grad_mode.no_grad():
                    grad_applied = fn(param._grad)
                if grad_applied is not param._grad:
                    param._grad = grad_applied.detach()
        for key, buf in self._buffers.items():
            if buf is not None:
                self._buffers[key] = fn(buf)
        return self

    def to(self, *args, **kwargs):
        """Moves and/or casts the parameters and buffers, in place: each
        parameter keeps its identity (its ``data`` is replaced, as in
        PyTorch), so an optimiser built before the move updates the moved
        values.  ``dtype`` applies to floating-point tensors only."""
        from ...backends import resolve
        device = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError("to() received an invalid combination of "
                            f"arguments: {sorted(kwargs)}")
        for arg in args:
            if isinstance(arg, dtypes.dtype):
                dtype = arg
            elif isinstance(arg, Tensor):
                dtype, device = arg.dtype, arg.device
            elif isinstance(arg, bool):
                continue
            elif arg is not None:
                device = arg
        if device is not None:
            device = resolve(device)
        if dtype is not None:
            dtype = dtypes.as_dtype(dtype)
            if not dtype.is_floating_point:
                raise TypeError("nn.Module.to only accepts floating point or "
                                "complex dtypes, but got desired "
                                f"dtype={dtype}")

        def convert(t):
            return t.to(device, dtype if t.is_floating_point() else None)
        return self._apply(convert)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else device)

    def type(self, dst_type):
        return self._apply(lambda t: t.to(dtypes.as_dtype(dst_type)))

    def float(self):
        return self._apply(lambda t: t.float() if t.is_floating_point()
                           else t)

    def double(self):
        return self._apply(lambda t: t.double() if t.is_floating_point()
                           else t)

    def half(self):
        return self._apply(lambda t: t.half() if t.is_floating_point()
                           else t)

    def share_memory(self):
        return self

    # ---- state dict ------------------------------------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = (param if keep_vars
                                              else param.detach())
        for name, buf in self._buffers.items():
            if buf is not None and name not in \
                    self._non_persistent_buffers_set:
                destination[prefix + name] = (buf if keep_vars
                                              else buf.detach())
        extra = type(self).get_extra_state is not Module.get_extra_state
        if extra:
            destination[prefix + "_extra_state"] = self.get_extra_state()

    def state_dict(self, *args, destination=None, prefix="",
                   keep_vars=False):
        if args:
            destination = args[0] if len(args) > 0 else destination
            prefix = args[1] if len(args) > 1 else prefix
            keep_vars = args[2] if len(args) > 2 else keep_vars
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        metadata = getattr(destination, "_metadata", None)
        if metadata is not None:
            metadata[prefix[:-1]] = {"version": self._version}
        for hook in self._state_dict_pre_hooks.values():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination,
                                  prefix=prefix + name + ".",
                                  keep_vars=keep_vars)
        for hook in self._state_dict_hooks.values():
            result = hook(self, destination, prefix, {})
            if result is not None:
                destination = result
        return destination

    def get_extra_state(self):
        raise RuntimeError(
            "Reached a code path in Module.get_extra_state() that should "
            "never be called.")

    def set_extra_state(self, state):
        raise RuntimeError(
            "Reached a code path in Module.set_extra_state() that should "
            "never be called.")

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs):
        for hook in self._load_state_dict_pre_hooks.values():
            hook(state_dict, prefix, local_metadata, strict, missing_keys,
                 unexpected_keys, error_msgs)
        _state_dict.load_local(self, state_dict, prefix, strict,
                               missing_keys, unexpected_keys, error_msgs)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copies (under no_grad, in place) numgrad tensors or NumPy arrays
        into the parameters and persistent buffers; returns the missing
        and unexpected keys."""
        return _state_dict.load_state_dict(self, state_dict, strict)

    def register_state_dict_pre_hook(self, hook):
        return _HookHandle(self._state_dict_pre_hooks, hook)

    def register_state_dict_post_hook(self, hook):
        return _HookHandle(self._state_dict_hooks, hook)

    def register_load_state_dict_pre_hook(self, hook):
        def call(state_dict, prefix, local_metadata, strict, missing,
                 unexpected, errors):
            hook(self, state_dict, prefix, local_metadata, strict, missing,
                 unexpected, errors)
        return _HookHandle(self._load_state_dict_pre_hooks, call)

    def register_load_state_dict_post_hook(self, hook):
        return _HookHandle(self._load_state_dict_post_hooks, hook)

    # ---- hooks -------------------------------------------------------------
    def register_forward_pre_hook(self, hook, *, prepend=False,
                                  with_kwargs=False):
        handle = _HookHandle(self._forward_pre_hooks, hook,
                             (self._forward_pre_hooks_with_kwargs,),
                             prepend)
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs.add(handle.id)
        return handle

    def register_forward_hook(self, hook, *, prepend=False,
                              with_kwargs=False, always_call=False):
        handle = _HookHandle(self._forward_hooks, hook,
                             (self._forward_hooks_with_kwargs,
                              self._forward_hooks_always_called), prepend)
        if with_kwargs:
            self._forward_hooks_with_kwargs.add(handle.id)
        if always_call:
            self._forward_hooks_always_called.add(handle.id)
        return handle

    def register_full_backward_pre_hook(self, hook, prepend=False):
        return _HookHandle(self._backward_pre_hooks, hook, (), prepend)

    def register_full_backward_hook(self, hook, prepend=False):
        self._is_full_backward_hook = True
        return _HookHandle(self._backward_hooks, hook, (), prepend)

    def register_backward_hook(self, hook):
        # The legacy hook attached to the last op of forward, so its
        # grad_input changed with the op order; numgrad runs it as a full
        # backward hook instead.
        warnings.warn(_hooks.LEGACY_HOOK_WARNING, FutureWarning, stacklevel=2)
        return self.register_full_backward_hook(hook)

    # ---- calling -----------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if not _hooks.has_hooks(self):
            return self.forward(*args, **kwargs)
        return _hooks.call_with_hooks(self, args, kwargs)

    # ---- printing ----------------------------------------------------------
    def _get_name(self):
        return type(self).__name__

    def extra_repr(self):
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = ["(" + key + "): " + _addindent(repr(module), 2)
                       for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        text = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"
