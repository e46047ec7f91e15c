"""Loading a state dict into a model, with an error that names the keys."""
import os

import numpy as np

import numgrad

_WRAPPERS = ("state_dict", "model_state_dict", "model")


class WeightsMismatchError(ValueError):
    """The weights' keys or shapes do not fit the model."""


def read_state_dict(weights):
    """A flat {name: Tensor} dict from a path or a mapping.

    Accepts what ``numgrad.load`` reads (PyTorch .pth, .npz,
    .safetensors), checkpoints that wrap the state dict under
    ``state_dict``/``model``, and DataParallel's ``module.`` prefix.
    """
    if isinstance(weights, (str, os.PathLike)):
        sd = numgrad.load(os.fspath(weights))
    else:
        sd = weights
    if not hasattr(sd, "items"):
        raise WeightsMismatchError(
            f"expected a state dict, found {type(sd).__name__}")
    for key in _WRAPPERS:
        # a state dict maps names to tensors: a mapping value is a wrapper
        inner = sd.get(key)
        if hasattr(inner, "items"):
            sd = inner
            break
    out = {}
    for name, value in sd.items():
        if isinstance(name, str) and name.startswith("module."):
            name = name[len("module."):]
        if isinstance(value, np.ndarray):
            value = numgrad.from_numpy(value)
        out[name] = value
    return out


def _shape(value):
    return tuple(getattr(value, "shape", ()))


def _listed(names, limit=6):
    text = ", ".join(names[:limit])
    if len(names) > limit:
        text += f" (+{len(names) - limit} more)"
    return text


def check_fits(model, sd, skip=()):
    """Raise WeightsMismatchError naming missing, unexpected and
    wrongly shaped keys; ``skip`` names model keys allowed to be absent."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd and k not in skip]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k} {_shape(sd[k])} vs {_shape(own[k])}"
              for k in own if k in sd and _shape(sd[k]) != _shape(own[k])]
    problems = []
    if missing:
        problems.append("missing keys: " + _listed(missing))
    if unexpected:
        problems.append("unexpected keys: " + _listed(unexpected))
    if shapes:
        problems.append("shape mismatch (file vs model): "
                        + _listed(shapes, 4))
    if problems:
        raise WeightsMismatchError(
            f"weights do not fit {type(model).__name__}: "
            + "; ".join(problems))


def load_weights_into(model, weights, skip=()):
    """Read ``weights`` (a path or a state dict), check every key and
    shape against ``model`` and load them; returns the model."""
    sd = read_state_dict(weights)
    sd = {k: v for k, v in sd.items() if k not in skip}
    check_fits(model, sd, skip)
    model.load_state_dict(sd, strict=not skip)
    return model
