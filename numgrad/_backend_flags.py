"""The flags of torch.backends that training scripts set at the top
(``cudnn.benchmark``, ``cudnn.deterministic``, ``cuda.matmul.allow_tf32``,
``mps.is_available()``), attached to ``numgrad.backends``.

``numgrad.backends`` is numgrad's device layer, not a set of flags, so
these live here and ``install`` adds them as attributes without touching
its code.  numgrad uses neither cuDNN nor MPS: the flags are kept so
scripts run and read back what they set, and change no kernel."""
import sys
import types

from . import _settings
from .backends import cuda as _cuda_backend

_CUDNN_DOC = """cuDNN's flags.  numgrad's CUDA kernels are its own, so cuDNN
is never available; ``benchmark``, ``deterministic``, ``enabled`` and
``allow_tf32`` are plain settable attributes that change nothing."""


def _cudnn_is_available():
    return False


def _cudnn_version():
    return None


def _cudnn_is_acceptable(tensor):
    return False


def _mps_is_available():
    return False


def _mps_is_built():
    return False


class _MatmulFlags:
    """``backends.cuda.matmul``: ``allow_tf32`` and ``fp32_precision``
    are another view of ``set_float32_matmul_precision``, as in PyTorch.
    numgrad's CUDA matmul is float32 throughout whatever they say."""
    __slots__ = ()
    _reduced_precision = {"allow_fp16_reduced_precision_reduction": True,
                          "allow_bf16_reduced_precision_reduction": True}

    def __getattr__(self, name):
        if name == "allow_tf32":
            return _settings.get_float32_matmul_precision() != "highest"
        if name == "fp32_precision":
            return _settings.get_fp32_precision()
        if name in self._reduced_precision:
            return self._reduced_precision[name]
        raise AttributeError(f"Unknown attribute {name}")

    def __setattr__(self, name, value):
        if name == "allow_tf32":
            _settings.set_float32_matmul_precision(
                "high" if value else "highest")
        elif name == "fp32_precision":
            _settings.set_fp32_precision(value)
        elif name in self._reduced_precision:
            self._reduced_precision[name] = bool(value)
        else:
            raise AttributeError(f"Unknown attribute {name}")


def _namespace(name, doc, **attributes):
    module = types.ModuleType(f"numgrad.backends.{name}", doc)
    vars(module).update(attributes)
    return module


cudnn = _namespace("cudnn", _CUDNN_DOC, enabled=True, benchmark=False,
                   deterministic=False, allow_tf32=True, benchmark_limit=10,
                   is_available=_cudnn_is_available, version=_cudnn_version,
                   is_acceptable=_cudnn_is_acceptable)
mps = _namespace("mps", "Apple's Metal backend: numgrad has none.",
                 is_available=_mps_is_available, is_built=_mps_is_built)
matmul = _MatmulFlags()


def install(backends):
    """Attach the namespaces to the ``backends`` package; registering
    them in ``sys.modules`` makes ``import numgrad.backends.cudnn as
    cudnn`` work too, as the official examples write it."""
    for module in (cudnn, mps):
        short_name = module.__name__.rpartition(".")[2]
        sys.modules[module.__name__] = module
        setattr(backends, short_name, module)
    _cuda_backend.matmul = matmul
