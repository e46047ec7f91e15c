"""torch's process-wide switches that scripts set at the top: float32
matmul precision, deterministic algorithms and the CPU thread count.
(``_config`` holds numgrad's own switches, read from the environment.)"""
import builtins
import warnings

import numba

_MATMUL_PRECISIONS = ("highest", "high", "medium")
# "none" until someone chooses, as torch reports backends' fp32_precision
_state = {"matmul_precision": "highest", "fp32_precision": "none",
          "deterministic": False, "warn_only": False}


def set_float32_matmul_precision(precision):
    """Record the precision float32 matmuls may use.  numgrad always
    multiplies float32 in float32 (BLAS on the CPU, its own kernels on
    CUDA), which is "highest"; "high" and "medium" only permit less (TF32,
    bfloat16 passes), so every setting is honoured."""
    if not isinstance(precision, str):
        raise RuntimeError("set_float32_matmul_precision expects a str, "
                           f"but got {type(precision).__name__}")
    if precision not in _MATMUL_PRECISIONS:
        warnings.warn(f"{precision} is not one of 'highest', 'high', or "
                      "'medium'; the current set_float32_matmul_precision "
                      "call has no effect.", UserWarning, stacklevel=2)
        return
    _state["matmul_precision"] = precision
    _state["fp32_precision"] = "ieee" if precision == "highest" else "tf32"


def get_float32_matmul_precision():
    return _state["matmul_precision"]


_FP32_PRECISIONS = {"ieee": "highest", "tf32": "high", "none": None}


def get_fp32_precision():
    """``backends.cuda.matmul.fp32_precision``: the newer spelling of the
    matmul precision ("ieee" is "highest", "tf32" is "high")."""
    return _state["fp32_precision"]


def set_fp32_precision(value):
    if value not in _FP32_PRECISIONS:
        raise ValueError(f"fp32_precision must be one of "
                         f"{sorted(_FP32_PRECISIONS)}, got {value!r}")
    if _FP32_PRECISIONS[value] is not None:
        set_float32_matmul_precision(_FP32_PRECISIONS[value])
    _state["fp32_precision"] = value


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Record the request.  No numgrad kernel consults it: CPU kernels
    repeat bit for bit at a fixed thread count, but some CUDA backward
    kernels (conv2d's weight gradient, index scatter-adds, pooling and
    interpolation gradients) add with atomics, so their float sums may
    differ in the last bits from run to run, where PyTorch would raise."""
    if not isinstance(mode, builtins.bool):
        raise TypeError("use_deterministic_algorithms(): argument 'mode' "
                        f"must be bool, not {type(mode).__name__}")
    _state["deterministic"] = mode
    _state["warn_only"] = builtins.bool(warn_only)


def are_deterministic_algorithms_enabled():
    return _state["deterministic"]


def is_deterministic_algorithms_warn_only_enabled():
    return _state["warn_only"]


_DEBUG_MODES = {"default": 0, "warn": 1, "error": 2}


def set_deterministic_debug_mode(debug_mode):
    """0/"default", 1/"warn", 2/"error": another spelling of
    use_deterministic_algorithms."""
    if not isinstance(debug_mode, (builtins.int, str)):
        raise TypeError("debug_mode must be str or int, but got "
                        f"{type(debug_mode)}")
    if isinstance(debug_mode, str):
        if debug_mode not in _DEBUG_MODES:
            raise RuntimeError(
                "invalid value of debug_mode, expected one of `default`, "
                f"`warn`, `error`, but got {debug_mode}")
        debug_mode = _DEBUG_MODES[debug_mode]
    if debug_mode not in (0, 1, 2):
        raise RuntimeError("invalid value of debug_mode, expected 0, 1, "
                           f"or 2, but got {debug_mode}")
    use_deterministic_algorithms(debug_mode > 0, warn_only=debug_mode == 1)


def get_deterministic_debug_mode():
    if not _state["deterministic"]:
        return 0
    return 1 if _state["warn_only"] else 2


def set_num_threads(num):
    """Threads for numgrad's parallel CPU kernels (Numba's).  Numba
    starts its pool once, at NUMBA_NUM_THREADS (default: every core), so
    a larger request gets the whole pool; and Numba counts per Python
    thread, so this applies to kernels launched from the calling thread.
    BLAS (NumPy's matmul) keeps its own thread count."""
    if not isinstance(num, builtins.int) or isinstance(num, builtins.bool):
        raise RuntimeError("set_num_threads expects an int, but got "
                           f"{type(num).__name__}")
    if num <= 0:
        raise RuntimeError("set_num_threads expects a positive integer")
    numba.set_num_threads(builtins.min(num, numba.config.NUMBA_NUM_THREADS))


def get_num_threads():
    return numba.get_num_threads()
