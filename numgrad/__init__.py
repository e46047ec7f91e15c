"""numgrad: PyTorch's autograd API with Numba-compiled, fused kernels."""
from . import dtypes as _dtypes
from .tensor import Tensor, Size  # noqa: F401
from . import ops as _ops  # registers the op table
from ._tensor_methods import install as _install
from .backends import device  # noqa: F401
from .dtypes import (bool_ as bool, uint8, int8, int16, int32,  # noqa: F401
                     int64, float16, float32, float64, dtype,
                     get_default_dtype, set_default_dtype, promote_types,
                     result_type)
from .creation import (tensor, as_tensor, from_numpy, zeros, ones,  # noqa
                       empty, full, zeros_like, ones_like, empty_like,
                       full_like, rand, randn, randint, rand_like,
                       randn_like, randint_like, randperm, arange, linspace,
                       logspace, eye, normal, nonzero)
from .random import manual_seed, seed, initial_seed  # noqa: F401
from .random import get_rng_state, set_rng_state  # noqa: F401
from .random import Generator, default_generator  # noqa: F401
from ._format import set_printoptions, get_printoptions  # noqa: F401
from .autograd import (no_grad, enable_grad, set_grad_enabled,  # noqa
                       inference_mode)
from .autograd.grad_mode import (is_grad_enabled,  # noqa: F401
                                 is_inference_mode_enabled)
from .ops.pointwise import (mul, pow, neg, abs, sign, reciprocal,  # noqa
                            exp, log, log1p, expm1, sqrt, rsqrt, sin, cos,
                            tan, tanh, sigmoid, erf, relu, maximum, minimum,
                            floor, ceil, trunc, eq, ne, lt, le, gt, ge,
                            isnan, logical_and, logical_or, logical_not,
                            logical_xor, clamp_min, clamp_max)
from .ops.arith import (add, sub, div, true_divide, floor_divide,  # noqa
                        remainder, clamp, clip, square, where, lerp,
                        addcmul, addcdiv, log2, log10, exp2, isinf,
                        isfinite, rsub)
from .ops.reduce import (sum, mean, prod, max, min, amax, amin,  # noqa
                         argmax, argmin, var, std, var_mean, std_mean, norm,
                         logsumexp, all, any, count_nonzero)
from .ops.softmax import softmax, log_softmax  # noqa: F401
from .ops.shape import (reshape, flatten, unflatten, squeeze,  # noqa
                        unsqueeze, transpose, t, permute, cat, stack, split,
                        chunk, unbind, flip, narrow, select, clone)
from .ops.shape import cat as concat, cat as concatenate  # noqa: F401
from .ops.shape import transpose as swapaxes  # noqa: F401
from .ops.index import gather, index_select, take_along_dim  # noqa
from .ops.index import masked_fill  # noqa: F401
from .ops.linalg import matmul, mm, bmm, mv, dot, outer, addmm, tril, triu  # noqa
from . import autograd, cuda, fusion  # noqa: F401
from .serialization import load, save  # noqa: F401
from . import accelerator, backends  # noqa: F401
from ._info import finfo, iinfo  # noqa: F401
from ._settings import (set_float32_matmul_precision,  # noqa: F401
                        get_float32_matmul_precision,
                        use_deterministic_algorithms,
                        are_deterministic_algorithms_enabled,
                        is_deterministic_algorithms_warn_only_enabled,
                        set_deterministic_debug_mode,
                        get_deterministic_debug_mode, set_num_threads,
                        get_num_threads)
from ._backend_flags import install as _install_backend_flags

_install()
_install_backend_flags(backends)  # backends.cudnn, .mps, .cuda.matmul

multiply, subtract, divide, negative = mul, sub, div, neg
half, double, short, long = float16, float64, int16, int64
float = float32
int = int32
__version__ = "0.1.0"


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


def is_floating_point(input):
    return input.dtype.is_floating_point


def broadcast_shapes(*shapes):
    from .ops.apply import broadcast_shapes as _bs
    return Size(_bs(*[tuple(s) for s in shapes]))


def broadcast_to(input, size):
    return input.expand(size)


def detach(input):
    return input.detach()


_LAZY_SUBMODULES = ("nn", "optim", "models", "utils", "compiler", "jit",
                    "onnx", "distributed")


def __getattr__(name):
    # These load on first use, keeping `import numgrad` fast: nn and what
    # builds on it (models, compile, jit) would add tens of milliseconds.
    if name in _LAZY_SUBMODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    if name == "compile":
        from .compiler import compile
        return compile
    raise AttributeError(f"module 'numgrad' has no attribute {name!r}")
