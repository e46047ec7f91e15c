"""Reading and writing checkpoints without importing torch.

Supported formats
-----------------
* PyTorch zip format (``torch.save`` default since torch 1.6), read in
  ``_torch_zip``.
* PyTorch legacy format (``_use_new_zipfile_serialization=False``), read
  in ``_legacy``.
* numpy ``.npz`` archives and single ``.npy`` files (``_npz``).
* safetensors files (``_safetensors``).

Pickles are read with a restricted unpickler (``_unpickle``): only the
handful of globals that describe tensors, storages, dtypes and
``collections.OrderedDict`` are resolved, to local, side-effect free
stand-ins.  Any other global raises :class:`pickle.UnpicklingError`;
numgrad never executes code from a checkpoint.

Files are untrusted: every size, offset and stride a file claims is
checked against the bytes it holds before anything is allocated, so
loading takes memory proportional to the file, and a malformed file
raises :class:`CorruptCheckpointError` (a ``RuntimeError``, as torch
raises, and a ``pickle.UnpicklingError``), a ``pickle.UnpicklingError``
for a refused pickle, or a ``ValueError`` for an .npy dtype numgrad does
not load.

Tensors come back as views of their storage, as ``torch.load`` gives
them: tensors saved from one storage share memory, and an expanded
(stride-0) tensor keeps its strides and is read-only.

Writing (``_writer``) produces the PyTorch zip format, or ``.npz`` /
``.safetensors`` when the target path has that suffix.
"""
import collections
import io
import os

import numpy as np

from ..tensor import Tensor
from . import _legacy, _npz, _safetensors, _torch_zip
from ._common import CorruptCheckpointError, corrupt, open_zip
from ._legacy import MAGIC_NUMBER, PROTOCOL_VERSION
from ._unpickle import DType, LazyTensor, Storage
from ._writer import save

__all__ = ["load", "save", "load_arrays", "CorruptCheckpointError",
           "MAGIC_NUMBER", "PROTOCOL_VERSION"]


def _load_zip(fh, start, end):
    zf = open_zip(fh)
    with zf:
        names = zf.namelist()
        if _torch_zip.is_torch_zip(names):
            return _torch_zip.load(zf, end)
        if names and all(n.endswith(".npy") for n in names):
            return _npz.load_npz(zf, end)
        if any("/code/" in n or n.endswith("/constants.pkl")
               for n in names):
            raise RuntimeError(
                "this looks like a TorchScript archive (torch.jit.save); "
                "only torch.save checkpoints are supported")
        raise RuntimeError("unrecognised zip archive: neither a PyTorch "
                           "checkpoint nor an .npz file")


def _load_structure(fh):
    """Detect the format of ``fh`` (seekable, at the start of the data)."""
    start = fh.tell()
    end = fh.seek(0, os.SEEK_END)
    total = end - start
    fh.seek(start)
    head = fh.read(16)
    fh.seek(start)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _load_zip(fh, start, end)
    if head[:6] == b"\x93NUMPY":
        return _npz.load_npy(fh)
    if _safetensors.looks_like(head, total):
        return _safetensors.load(fh, start, total)
    if head[:1] == b"\x80":
        return _legacy.load(fh)
    if total > 262:
        fh.seek(start + 257)
        if fh.read(5) == b"ustar":
            raise RuntimeError(
                "the pre-0.4 PyTorch tar checkpoint format is not supported")
    raise RuntimeError("unrecognised checkpoint format (expected a PyTorch "
                       "zip or legacy checkpoint, .npz or safetensors file)")


class _Opened:
    """Context manager yielding a seekable binary file positioned at 0."""

    def __init__(self, f):
        self.f = f
        self.close = False

    def __enter__(self):
        f = self.f
        if isinstance(f, (str, bytes, os.PathLike)):
            fh = open(f, "rb")
            self.close = True
            self.fh = fh
            return fh
        if not hasattr(f, "read"):
            raise TypeError("expected a path or a binary file object, got "
                            f"{type(f).__name__}")
        seekable = getattr(f, "seekable", None)
        if seekable is not None and seekable():
            try:
                pos = f.tell()
            except (OSError, ValueError):
                pos = None
            if pos == 0:
                self.fh = f
                return f
        data = f.read()
        if isinstance(data, str):
            raise TypeError("expected a binary file object, got a text one")
        self.fh = io.BytesIO(data)
        return self.fh

    def __exit__(self, *exc):
        if self.close:
            self.fh.close()
        return False


def _hashable(x):
    # a tensor used as a key is hashable in the pickle, not as an array
    try:
        hash(x)
    except TypeError:
        raise corrupt(f"a set item or dict key of type {type(x).__name__} "
                      "is not hashable once loaded") from None
    return x


def _convert(obj, leaf, memo):
    """Rebuild containers, replacing tensors by ``leaf(lazy_or_array)``."""
    oid = id(obj)
    if oid in memo:
        return memo[oid]
    if isinstance(obj, (LazyTensor, np.ndarray)):
        res = leaf(obj)
    elif isinstance(obj, Storage):
        res = leaf(LazyTensor(obj, 0, (obj.numel,), (1,), obj.dtype))
    elif isinstance(obj, DType):
        res = obj.np.newbyteorder("=") if obj.np is not None else obj.name
    elif type(obj) in (collections.OrderedDict, dict):
        res = type(obj)()
        memo[oid] = res
        for k, v in obj.items():
            key = _hashable(_convert(k, leaf, memo))
            res[key] = _convert(v, leaf, memo)
        if type(obj) is collections.OrderedDict:
            for k, v in vars(obj).items():
                vars(res)[k] = _convert(v, leaf, memo)
    elif type(obj) is list:
        res = []
        memo[oid] = res
        res.extend(_convert(v, leaf, memo) for v in obj)
    elif type(obj) is tuple:
        res = tuple(_convert(v, leaf, memo) for v in obj)
    elif type(obj) in (set, frozenset):
        res = type(obj)(_hashable(_convert(v, leaf, memo)) for v in obj)
    else:
        res = obj
    memo[oid] = res
    return res


def _load_with(f, leaf):
    """Load ``f`` and rebuild its structure with ``leaf(array, requires_grad)``
    in place of every tensor."""
    def convert(x):
        if isinstance(x, LazyTensor):
            return leaf(x.materialize(), x.requires_grad)
        return leaf(x, False)

    with _Opened(f) as fh:
        structure = _load_structure(fh)
    try:
        return _convert(structure, convert, {})
    except RecursionError:
        raise corrupt("containers are nested too deeply") from None


def load_arrays(f):
    """Load a checkpoint, returning its structure with numpy arrays.

    ``f`` is a path or a binary file object holding a PyTorch (zip or
    legacy), ``.npz``/``.npy`` or safetensors file.  Containers
    (dict/OrderedDict, list, tuple) and scalars are kept; every tensor
    becomes a native-endian numpy array (float16/bfloat16 become float32)
    that views its storage: tensors saved from one storage share memory,
    and an expanded (stride-0) tensor is a read-only view.
    """
    return _load_with(f, lambda array, requires_grad: array)


def _check_map_location(map_location):
    """The device to load tensors to, or None for the CPU."""
    if map_location is None or callable(map_location) or \
            isinstance(map_location, dict):
        return None
    if isinstance(map_location, bytes):
        map_location = map_location.decode("ascii")
    loc = str(map_location)
    if loc == "cpu" or loc.startswith("cpu:"):
        return None
    if loc.startswith("cuda"):
        from ..backends import resolve
        try:
            return resolve(loc)
        except RuntimeError as exc:
            raise RuntimeError(
                f"numgrad.load(map_location={map_location!r}): a CUDA device "
                f"was requested but it is not available ({exc}); use "
                "map_location='cpu'") from None
    raise RuntimeError(f"numgrad.load: unsupported map_location "
                       f"{map_location!r} (use None, 'cpu' or 'cuda')")


def load(f, map_location=None, weights_only=True):
    """Load a checkpoint as numgrad Tensors (see :func:`load_arrays`).

    Only data is ever loaded: ``weights_only`` must be True (or left
    default); pickled code is refused with :class:`pickle.UnpicklingError`.
    ``map_location`` may be None, ``'cpu'``, a dict or a callable (all load
    to the CPU), or a CUDA device (``'cuda'``, ``'cuda:0'``, a
    ``numgrad.device``): tensors are then copied to it.
    """
    if weights_only is False:
        raise ValueError(
            "numgrad.load does not support weights_only=False: numgrad never "
            "executes pickle code, it only reads tensors, storages and "
            "containers (dict/OrderedDict/list/tuple/scalars)")
    device = _check_map_location(map_location)
    def to_tensor(array, requires_grad):
        # Not from_numpy: nobody else holds these arrays, so pending
        # values reading them need not run eagerly.
        t = Tensor._make(array)
        if device is not None:
            t = t.to(device)
        if requires_grad and hasattr(t, "requires_grad_"):
            t = t.requires_grad_(True)
        return t

    return _load_with(f, to_tensor)
