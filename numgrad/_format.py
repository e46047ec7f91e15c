"""PyTorch-style tensor printing.

Large tensors are summarised before anything is formatted: only the
``edgeitems`` rows and columns at each end of each dim are read, so the
cost of ``repr`` does not grow with the tensor."""
import math

import numpy as np

from . import dtypes

_DEFAULT_SUFFIX_FREE = ("int64", "bool")

_PROFILES = {
    "default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
    "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
    "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80),
}


class _PrintOptions:
    precision = 4
    threshold = 1000
    edgeitems = 3
    linewidth = 80
    sci_mode = None


PRINT_OPTS = _PrintOptions()


def set_printoptions(precision=None, threshold=None, edgeitems=None,
                     linewidth=None, profile=None, sci_mode=None):
    """As ``torch.set_printoptions``: a profile first, then each option
    given; ``sci_mode`` is always set (None lets the values decide)."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"profile must be one of {sorted(_PROFILES)}, "
                             f"got {profile!r}")
        for name, value in _PROFILES[profile].items():
            setattr(PRINT_OPTS, name, value)
    for name, value in (("precision", precision), ("threshold", threshold),
                        ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            setattr(PRINT_OPTS, name, value)
    PRINT_OPTS.sci_mode = sci_mode


def get_printoptions():
    return {name: getattr(PRINT_OPTS, name) for name in
            ("precision", "threshold", "edgeitems", "linewidth", "sci_mode")}


class _Formatter:
    """One width and style for every printed element, chosen from the
    values that are shown (PyTorch's rules: integral values print as
    ``3.``, a wide dynamic range or tiny values switch to scientific)."""

    def __init__(self, shown):
        self.floating = shown.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.width = True, False, 1
        precision = PRINT_OPTS.precision
        if not self.floating:
            self.width = max((len(self._plain(v)) for v in shown.tolist()),
                             default=1)
            return
        values = shown.astype(np.float64)
        values = values[np.isfinite(values) & (values != 0)]
        if not values.size:
            return  # zeros, NaN and inf print alike in every mode
        magnitudes = np.abs(values)
        low, high = magnitudes.min(), magnitudes.max()
        self.int_mode = bool(np.all(values == np.ceil(values)))
        self.sci_mode = (high / low > 1000 or high > 1e8 or low < 1e-4
                         if PRINT_OPTS.sci_mode is None
                         else PRINT_OPTS.sci_mode)
        if self.sci_mode:
            texts = [f"{v:.{precision}e}" for v in values.tolist()]
        elif self.int_mode:
            texts = [f"{v:.0f}." for v in values.tolist()]
        else:
            texts = [f"{v:.{precision}f}" for v in values.tolist()]
        self.width = max(len(t) for t in texts)

    @staticmethod
    def _plain(v):
        return str(v)

    def format(self, v):
        if not self.floating:
            text = self._plain(v)
        elif self.sci_mode:
            text = f"{v:.{PRINT_OPTS.precision}e}"
        elif self.int_mode:
            text = f"{v:.0f}"
            if math.isfinite(v):
                text += "."
        else:
            text = f"{v:.{PRINT_OPTS.precision}f}"
        return text.rjust(self.width)


def _summarised(array):
    """The elements a summarised print shows: the first and last
    ``edgeitems`` along every dim longer than twice that."""
    edge = PRINT_OPTS.edgeitems
    for axis, size in enumerate(array.shape):
        if size > 2 * edge:
            # Slices, not np.take: take copies a strided (e.g. expanded)
            # input whole before picking.
            head = (slice(None),) * axis + (slice(0, edge),)
            tail = (slice(None),) * axis + (slice(size - edge, size),)
            array = np.concatenate([array[head], array[tail]], axis=axis)
    return array


def _vector(array, formatter, indent, summarise):
    edge = PRINT_OPTS.edgeitems
    fmt = formatter.format
    if summarise and not edge:
        items = ["..."]
    elif summarise and len(array) > 2 * edge:
        items = ([fmt(v) for v in array[:edge].tolist()] + [" ..."]
                 + [fmt(v) for v in array[len(array) - edge:].tolist()])
    else:
        items = [fmt(v) for v in array.tolist()]
    per_line = max(1, int((PRINT_OPTS.linewidth - indent)
                          // (formatter.width + 2)))
    lines = [", ".join(items[i:i + per_line])
             for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(array, formatter, indent, summarise):
    if array.ndim == 0:
        return formatter.format(array.item())
    if array.ndim == 1:
        return _vector(array, formatter, indent, summarise)
    edge = PRINT_OPTS.edgeitems
    if summarise and len(array) > 2 * edge:
        rows = ([_nested(array[i], formatter, indent + 1, summarise)
                 for i in range(edge)] + ["..."]
                + [_nested(array[i], formatter, indent + 1, summarise)
                   for i in range(len(array) - edge, len(array))])
    else:
        rows = [_nested(row, formatter, indent + 1, summarise)
                for row in array]
    separator = "," + "\n" * (array.ndim - 1) + " " * (indent + 1)
    return "[" + separator.join(rows) + "]"


def _with_suffixes(text, suffixes, indent):
    """Suffixes go on the last line while they fit in the line width."""
    parts = [text]
    last_line = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line + len(suffix) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line += len(suffix) + 2
    return "".join(parts) + ")"


def format_tensor(t):
    prefix = "tensor("
    indent = len(prefix)
    array = t._host()
    suffixes = []
    default = dtypes.get_default_dtype().name
    if array.size == 0:
        body = "[]"
        if array.ndim != 1:
            suffixes.append(f"size={tuple(array.shape)}")
        # No element shows the dtype of an empty tensor.
        show_dtype = t.dtype.name != default
    else:
        summarise = array.size > PRINT_OPTS.threshold
        shown = _summarised(array) if summarise else array
        body = _nested(array, _Formatter(shown.reshape(-1)), indent,
                       summarise)
        show_dtype = t.dtype.name not in (default,) + _DEFAULT_SUFFIX_FREE
    if t.device.type != "cpu":
        suffixes.insert(0, f"device='{t.device}'")
    if show_dtype:
        suffixes.append(f"dtype=numgrad.{t.dtype.name}")
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _with_suffixes(prefix + body, suffixes, indent)
