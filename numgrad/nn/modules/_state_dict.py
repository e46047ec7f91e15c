"""Loading state dicts into modules: key matching, shape checks and the
in-place copies, with PyTorch's error messages."""
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from ...autograd import grad_mode
from ...tensor import Tensor


class IncompatibleKeys(
        namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def as_tensor(value):
    """A checkpoint entry as a tensor: numgrad tensors and NumPy arrays."""
    if isinstance(value, Tensor):
        return value.detach()
    if isinstance(value, (np.ndarray, np.generic)):
        return Tensor._make(np.asarray(value))
    return None


def _copy_entry(key, param, raw, error_msgs):
    value = as_tensor(raw)
    if value is None:
        error_msgs.append(
            f'While copying the parameter named "{key}", expected '
            "numgrad.Tensor or NumPy array from checkpoint but received "
            f"{type(raw)}")
        return
    if param.dim() == 0 and value.dim() == 1:
        value = value[0]
    if value.shape != param.shape:
        error_msgs.append(
            f"size mismatch for {key}: copying a param with shape "
            f"{value.shape} from checkpoint, the shape in current model is "
            f"{param.shape}.")
        return
    try:
        with grad_mode.no_grad():
            param.copy_(value)
    except Exception as ex:   # reported like PyTorch, loading goes on
        error_msgs.append(
            f'While copying the parameter named "{key}", whose dimensions '
            f"in the model are {param.shape} and whose dimensions in the "
            f"checkpoint are {value.shape}, an exception occurred : "
            f"{ex.args}.")


def load_local(module, state_dict, prefix, strict, missing_keys,
               unexpected_keys, error_msgs):
    """Module._load_from_state_dict: this module's own entries."""
    from .module import Module
    persistent = {k: v for k, v in module._buffers.items()
                  if k not in module._non_persistent_buffers_set}
    local_state = {k: v for k, v in (*module._parameters.items(),
                                     *persistent.items()) if v is not None}
    for name, param in local_state.items():
        key = prefix + name
        if key in state_dict:
            _copy_entry(key, param, state_dict[key], error_msgs)
        elif strict:
            missing_keys.append(key)
    extra_key = prefix + "_extra_state"
    if type(module).set_extra_state is not Module.set_extra_state:
        if extra_key in state_dict:
            module.set_extra_state(state_dict[extra_key])
        elif strict:
            missing_keys.append(extra_key)
    if not strict:
        return
    for key in state_dict:
        if not key.startswith(prefix) or key == extra_key:
            continue
        head = key[len(prefix):].split(".", 1)
        if len(head) > 1:
            if head[0] not in module._modules:
                unexpected_keys.append(key)
        elif head[0] not in local_state:
            unexpected_keys.append(key)


def load_state_dict(root, state_dict, strict=True):
    if not isinstance(state_dict, Mapping):
        raise TypeError("Expected state_dict to be dict-like, got "
                        f"{type(state_dict)}.")
    missing_keys, unexpected_keys, error_msgs = [], [], []
    metadata = getattr(state_dict, "_metadata", None)
    state_dict = OrderedDict(state_dict)

    def load(module, local_dict, prefix=""):
        local_metadata = ({} if metadata is None
                          else metadata.get(prefix[:-1], {}))
        # Keys are always collected; ``strict`` only decides the error.
        module._load_from_state_dict(local_dict, prefix, local_metadata,
                                     True, missing_keys, unexpected_keys,
                                     error_msgs)
        for name, child in module._modules.items():
            if child is not None:
                child_prefix = prefix + name + "."
                load(child, {k: v for k, v in local_dict.items()
                             if k.startswith(child_prefix)}, child_prefix)
        result = IncompatibleKeys(missing_keys, unexpected_keys)
        for hook in module._load_state_dict_post_hooks.values():
            hook(module, result)

    load(root, state_dict)
    if strict:
        if unexpected_keys:
            error_msgs.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected_keys)
                              + ". ")
        if missing_keys:
            error_msgs.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing_keys)
                              + ". ")
    if error_msgs:
        raise RuntimeError(f"Error(s) in loading state_dict for "
                           f"{type(root).__name__}:\n\t"
                           + "\n\t".join(error_msgs))
    return IncompatibleKeys(missing_keys, unexpected_keys)
