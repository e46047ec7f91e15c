"""Optimizer base class, with PyTorch's parameter groups, per-parameter
state, hooks and ``state_dict`` format."""
import functools
import itertools
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from copy import deepcopy

import numpy as np

from .. import dtypes
from ..autograd.grad_mode import enable_grad, no_grad
from ..autograd.hooks import RemovableHandle
from ..backends import copy_into, device_of, filled
from ..ops.inplace import storage_for_write
from ..tensor import Tensor
from . import _kernels

__all__ = ["Optimizer", "required", "register_optimizer_step_pre_hook",
           "register_optimizer_step_post_hook"]


class _RequiredParameter:
    """Singleton class representing a required parameter for an
    Optimizer."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()

_global_step_pre_hooks = OrderedDict()
_global_step_post_hooks = OrderedDict()


def register_optimizer_step_pre_hook(hook):
    """Register a pre hook common to all optimizers:
    ``hook(optimizer, args, kwargs) -> None or (args, kwargs)``."""
    return RemovableHandle(_global_step_pre_hooks, hook)


def register_optimizer_step_post_hook(hook):
    """Register a post hook common to all optimizers:
    ``hook(optimizer, args, kwargs) -> None``."""
    return RemovableHandle(_global_step_post_hooks, hook)


def _typename(obj):
    if isinstance(obj, Tensor):
        return "numgrad." + {"float32": "FloatTensor",
                             "float64": "DoubleTensor",
                             "int64": "LongTensor"}.get(obj.dtype.name,
                                                        "Tensor")
    module = type(obj).__module__
    name = type(obj).__qualname__
    return name if module in (None, "builtins") else f"{module}.{name}"


def _to_scalar(x):
    """A Python number for ``x`` (a number or a one-element tensor)."""
    if isinstance(x, Tensor):
        return x.item()
    return x


def _profile_hook_step(func):
    """Wraps a subclass's ``step`` so the step pre/post hooks run."""

    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        if _global_step_pre_hooks or self._optimizer_step_pre_hooks:
            for pre_hook in itertools.chain(
                    list(_global_step_pre_hooks.values()),
                    list(self._optimizer_step_pre_hooks.values())):
                result = pre_hook(self, args, kwargs)
                if result is not None:
                    if isinstance(result, tuple) and len(result) == 2:
                        args, kwargs = result
                    else:
                        raise RuntimeError(
                            f"{func} must return None or a tuple of "
                            f"(new_args, new_kwargs), but got {result}.")
        out = func(self, *args, **kwargs)
        if _global_step_post_hooks or self._optimizer_step_post_hooks:
            for post_hook in itertools.chain(
                    list(self._optimizer_step_post_hooks.values()),
                    list(_global_step_post_hooks.values())):
                post_hook(self, args, kwargs)
        return out

    wrapper.hooked = True
    return wrapper


class Optimizer:
    r"""Base class for all optimizers.

    Args:
        params (iterable): an iterable of :class:`numgrad.Tensor` s,
            ``(name, tensor)`` pairs or :class:`dict` s (parameter groups).
        defaults (dict): default values of the optimization options, used
            when a parameter group doesn't specify them.
    """

    def __init__(self, params, defaults):
        self.defaults = defaults
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        self._optimizer_state_dict_pre_hooks = OrderedDict()
        self._optimizer_state_dict_post_hooks = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks = OrderedDict()
        self._optimizer_load_state_dict_post_hooks = OrderedDict()
        self._patch_step_function()

        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an "
                "iterable of Tensors or dicts, but got " + _typename(params))

        self.state = defaultdict(dict)
        self.param_groups = []

        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]

        for param_group in param_groups:
            self.add_param_group(param_group)

    # ---- pickling ------------------------------------------------------
    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name in ("_optimizer_step_pre_hooks",
                     "_optimizer_step_post_hooks",
                     "_optimizer_state_dict_pre_hooks",
                     "_optimizer_state_dict_post_hooks",
                     "_optimizer_load_state_dict_pre_hooks",
                     "_optimizer_load_state_dict_post_hooks"):
            if name not in self.__dict__:
                setattr(self, name, OrderedDict())
        self._patch_step_function()
        self.defaults.setdefault("differentiable", False)

    def __repr__(self):
        format_string = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            format_string += "\n"
            format_string += f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    format_string += f"    {key}: {group[key]}\n"
        format_string += ")"
        return format_string

    # ---- hooks ---------------------------------------------------------
    def _patch_step_function(self):
        cls = self.__class__
        if not getattr(cls.step, "hooked", False):
            cls.step = _profile_hook_step(cls.step)

    def register_step_pre_hook(self, hook):
        return RemovableHandle(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook):
        return RemovableHandle(self._optimizer_step_post_hooks, hook)

    def _register(self, hooks, hook, prepend):
        handle = RemovableHandle(hooks, hook)
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_state_dict_pre_hook(self, hook, prepend=False):
        return self._register(self._optimizer_state_dict_pre_hooks, hook,
                              prepend)

    def register_state_dict_post_hook(self, hook, prepend=False):
        return self._register(self._optimizer_state_dict_post_hooks, hook,
                              prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend=False):
        return self._register(self._optimizer_load_state_dict_pre_hooks,
                              hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend=False):
        return self._register(self._optimizer_load_state_dict_post_hooks,
                              hook, prepend)

    # ---- state_dict ----------------------------------------------------
    def state_dict(self):
        """The optimizer state as a dict with ``state`` (per-parameter
        state keyed by integer parameter index) and ``param_groups`` (the
        groups' options, with ``params`` as lists of those indices)."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)

        param_mappings = {}
        start_index = 0

        def pack_group(group):
            nonlocal start_index
            packed = {k: v for k, v in group.items() if k != "params"}
            param_mappings.update(
                {id(p): i for i, p in enumerate(group["params"], start_index)
                 if id(p) not in param_mappings})
            packed["params"] = [param_mappings[id(p)]
                                for p in group["params"]]
            start_index += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {
            (param_mappings[id(k)] if isinstance(k, Tensor) else k): v
            for k, v in self.state.items()}
        state_dict = {"state": packed_state, "param_groups": param_groups}

        for post_hook in self._optimizer_state_dict_post_hooks.values():
            result = post_hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    @staticmethod
    def _process_value_according_to_param_policy(param, value, param_id,
                                                 param_groups, key=None):
        # State goes to its parameter's device (exp_avg of a CUDA
        # parameter is a CUDA tensor); the step counter stays a host
        # number, read by the host code that computes the step's scalars.
        if key == "step":
            return value.cpu()
        if param.is_floating_point():
            return value.to(param.device, param.dtype)
        return value.to(param.device)

    def load_state_dict(self, state_dict):
        """Load a state produced by :meth:`state_dict` (this optimizer's or
        a same-shaped one's)."""
        state_dict = state_dict.copy()
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result

        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])

        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of "
                             "parameter groups")
        param_lens = (len(g["params"]) for g in groups)
        saved_lens = (len(g["params"]) for g in saved_groups)
        if any(p_len != s_len
               for p_len, s_len in zip(param_lens, saved_lens)):
            raise ValueError("loaded state dict contains a parameter group "
                             "that doesn't match the size of optimizer's "
                             "group")

        id_map = dict(zip(
            itertools.chain.from_iterable(g["params"] for g in saved_groups),
            itertools.chain.from_iterable(g["params"] for g in groups)))

        def _cast(param, value, param_id=None, param_groups=None, key=None):
            if isinstance(value, Tensor):
                value = Optimizer._process_value_according_to_param_policy(
                    param, value, param_id, param_groups, key)
                return _own_tensor(value)
            if isinstance(value, np.ndarray):
                return _cast(param, Tensor._make(np.array(value)), param_id,
                             param_groups, key)
            if isinstance(value, dict):
                return {k: _cast(param, v, param_id=param_id,
                                 param_groups=param_groups, key=k)
                        for k, v in value.items()}
            if isinstance(value, Iterable) and not isinstance(value, str):
                return type(value)(_cast(param, v, param_id=param_id,
                                         param_groups=param_groups)
                                   for v in value)
            return value

        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = _cast(param, v, param_id=k,
                                     param_groups=state_dict["param_groups"])
            else:
                state[k] = v

        def update_group(group, new_group):
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng)
                        for g, ng in zip(groups, saved_groups)]
        self.__setstate__({"state": state, "param_groups": param_groups})

        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    # ---- gradients and steps ---------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all optimized tensors (to ``None`` by
        default, else to zeros in place)."""
        for group in self.param_groups:
            for p in group["params"]:
                grad = p._grad
                if grad is None:
                    continue
                if set_to_none:
                    p._grad = None
                else:
                    if grad.grad_fn is not None:
                        grad.detach_()
                    else:
                        grad.requires_grad_(False)
                    storage_for_write(grad)[...] = 0
                    grad._version.value += 1

    def step(self, closure=None):
        """Perform a single optimization step.

        Args:
            closure (Callable, optional): A closure that reevaluates the
                model and returns the loss.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _update_group(self, group):
        """One group's in-place parameter update: each optimiser's own."""
        raise NotImplementedError

    @staticmethod
    def _advance_step(param_state):
        """Increment the per-parameter ``step`` tensor; returns it."""
        step = param_state["step"]
        array = step._value()
        array += 1
        step._version.value += 1
        return float(array)

    @staticmethod
    def _writable_params(group):
        """(param, its array ready for writing, its gradient's array) for
        each parameter of the group that has a gradient."""
        for p in group["params"]:
            g = p._grad
            if g is None:
                continue
            pa = storage_for_write(p)
            ga = g._value()
            if ga.dtype != pa.dtype:
                _check_grad_dtype(p, pa, ga)
            yield p, pa, ga

    def _step_counts_as_tensors(self):
        # Older state dicts keep ``step`` as a number; PyTorch's is a
        # float32 tensor.
        for group in self.param_groups:
            for p in group["params"]:
                p_state = self.state.get(p, [])
                if len(p_state) != 0 and not isinstance(p_state["step"],
                                                        Tensor):
                    p_state["step"] = Tensor._make(
                        np.array(float(p_state["step"]), np.float32))

    def add_param_group(self, param_group):
        """Add a parameter group (a dict with ``params`` and, optionally,
        per-group options) to :attr:`param_groups`."""
        if not isinstance(param_group, dict):
            raise TypeError(
                f"param_group must be a dict, but got {type(param_group)}")

        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered "
                "collections, but the ordering of tensors in sets will "
                "change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)

        extracted_param_tensors = []
        extracted_param_names = []
        for param in param_group["params"]:
            if isinstance(param, tuple):
                extracted_param_names.append(param[0])
                extracted_param_tensors.append(param[1])
            else:
                extracted_param_tensors.append(param)
        param_group["params"] = extracted_param_tensors
        if extracted_param_names:
            if len(extracted_param_names) == len(extracted_param_tensors):
                param_group["param_names"] = extracted_param_names
            else:
                raise ValueError(
                    "all optimizer params should be with/without names. "
                    "Some param names are missing")

        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but "
                                "one of the params is " + _typename(param))
            if not self.defaults.get("differentiable", None) and not (
                    param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required "
                    f"optimization parameter {name}")
            param_group.setdefault(name, default)

        params = param_group["params"]
        if len(params) != len({id(p) for p in params}):
            warnings.warn(
                "optimizer contains a parameter group with duplicate "
                "parameters; in future, this will cause an error; see "
                "github.com/pytorch/pytorch/issues/40967 for more "
                "information", stacklevel=3)

        param_set = set()
        for group in self.param_groups:
            param_set.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                current_group_txt = ("with names" if "param_names"
                                     in param_group else "without names")
                raise ValueError(
                    "all optimizer param groups should be with/without "
                    f"names. cannot add param group {current_group_txt} to "
                    "the optimizer")

        if not param_set.isdisjoint(id(p) for p in param_group["params"]):
            raise ValueError(
                "some parameters appear in more than one parameter group")

        self.param_groups.append(param_group)


# ---- helpers for the subclasses' steps ---------------------------------




def _own_tensor(value):
    """A tensor owning a C-contiguous copy of ``value``'s data, on its
    device (loaded state must not alias the state dict it came from)."""
    return Tensor._make(value._value().copy())


def _zeros_like(array):
    """Zeros shaped like ``array``, made on its device."""
    return Tensor._make(filled(array.shape, 0, array.dtype,
                               device_of(array)))


def _empty_like(array):
    return Tensor._make(filled(array.shape, None, array.dtype,
                               device_of(array)))


def kernels_for(p):
    """The module of fused update kernels for ``p``'s device: ``_kernels``
    (Numba, CPU) or ``_cuda_kernels`` (their CUDA twins, same names and
    signatures; imported on first use, as numba.cuda is)."""
    if p._device.type == "cuda":
        from . import _cuda_kernels
        return _cuda_kernels
    return _kernels


def _scalar_step():
    """A fresh ``step`` counter: a float32 0-d tensor, as in PyTorch."""
    return Tensor._make(np.zeros((), np.float32))


def _check_grad_dtype(p, pa, ga):
    if ga.dtype != pa.dtype:
        raise RuntimeError(
            f"expected the gradient of a {dtypes.from_numpy_dtype(pa.dtype)} "
            f"parameter to have the same dtype, got "
            f"{dtypes.from_numpy_dtype(ga.dtype)}")


_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def fast_path(p, arrays):
    """Whether ``arrays`` can go straight to a kernel: float32/float64 and
    C-contiguous."""
    if p._dtype.np not in _KERNEL_DTYPES:
        return False
    for a in arrays:
        if not a.flags.c_contiguous:
            return False
    return True


def _contiguous_copy(a, dtype):
    if isinstance(a, np.ndarray):
        return np.array(a, dtype=dtype, order="C")
    return a.astype(dtype)


def run_flat(kernel, arrays, scalars):
    """Run a fused kernel on flat views of ``arrays``, going through
    contiguous (and, for half precision, float32) copies that are written
    back afterwards for arrays that are not C-contiguous float32/float64.
    An array passed twice is passed as the same flat array twice.  The
    copies are made on the arrays' device."""
    flats = []
    seen = {}
    write_back = []
    for a in arrays:
        key = id(a)
        if key in seen:
            flats.append(seen[key])
            continue
        if a.dtype in _KERNEL_DTYPES and a.flags.c_contiguous:
            flat = a.reshape(-1)
        else:
            dt = a.dtype if a.dtype in _KERNEL_DTYPES else np.float32
            c = _contiguous_copy(a, dt)
            flat = c.reshape(-1)
            if a.flags.writeable:
                write_back.append((a, c))
        seen[key] = flat
        flats.append(flat)
    kernel(*flats, *scalars)
    for a, c in write_back:
        copy_into(a, c)
