"""PyTorch-style tensor printing."""
import numpy as np

from . import dtypes

_DEFAULT_SUFFIX_FREE = ("int64", "bool")


def _float_formatter(values):
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return lambda v: _special(v) or f"{v:.4f}"
    absmax = np.abs(finite).max()
    nonzero = np.abs(finite[finite != 0])
    absmin = nonzero.min() if nonzero.size else 0
    integral = np.all(finite == np.round(finite))
    if integral and absmax < 1e8:
        return lambda v: _special(v) or f"{v:.0f}."
    sci = absmax >= 1e8 or (absmin and (absmin < 1e-4
                                        or absmax / absmin > 1e3))
    if sci:
        return lambda v: _special(v) or f"{v:.4e}"
    return lambda v: _special(v) or f"{v:.4f}"


def _special(v):
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def _formatter(array):
    if array.dtype.kind == "f":
        return _float_formatter(array.astype(np.float64).reshape(-1))
    if array.dtype.kind == "b":
        return lambda v: "True" if v else "False"
    return lambda v: str(int(v))


def _render(array, fmt, width, indent):
    if array.ndim == 0:
        return fmt(array.item()).rjust(width)
    if array.ndim == 1:
        items = [fmt(v).rjust(width) for v in array.tolist()]
        if len(items) > 1000:
            items = items[:3] + ["..."] + items[-3:]
        per_line = max(1, 80 // (width + 2))
        lines = [", ".join(items[i:i + per_line])
                 for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = list(array)
    if len(rows) > 1000:
        rows = rows[:3] + rows[-3:]
    sep = "," + "\n" * (array.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(_render(r, fmt, width, indent + 1)
                          for r in rows) + "]"


def format_tensor(t):
    array = t._host()
    fmt = _formatter(array)
    flat = array.reshape(-1)
    if flat.size > 1000:
        flat = np.concatenate([flat[:3], flat[-3:]])
    width = max((len(fmt(v)) for v in flat.tolist()), default=1)
    prefix = "tensor("
    if array.size == 0 and array.ndim == 1:
        body = "[]"
    else:
        body = _render(array, fmt, width, len(prefix))
    suffix = []
    if array.size == 0 and array.ndim != 1:
        suffix.append(f"size={tuple(array.shape)}")
    if t.device.type != "cpu":
        suffix.append(f"device='{t.device}'")
    default = (dtypes.get_default_dtype().name,) + _DEFAULT_SUFFIX_FREE
    if t.dtype.name not in default:
        suffix.append(f"dtype=numgrad.{t.dtype.name}")
    if t.grad_fn is not None:
        suffix.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffix.append("requires_grad=True")
    return prefix + ", ".join([body] + suffix) + ")"
