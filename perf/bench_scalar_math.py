"""Benchmark numgrad.ops.scalar_math against NumPy and numba + math.*.

Plain script (not a test):  python perf/bench_scalar_math.py [n] [dtype]
Prints ns/element, best of 5, for a 1e7-element float32 array by default.
"""
import math
import os
import sys
import time
import types

import numpy as np
from numba import njit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numgrad.ops.scalar_math as m  # noqa: E402

try:
    from scipy import special as _sp
except ImportError:  # pragma: no cover
    _sp = None


def _kernel(f):
    @njit
    def k(x, out):
        for i in range(x.size):
            out[i] = f(x[i])
    return k


def _libm_sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def _libm_softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _np_sigmoid(x, out):
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def _np_softplus(x, out):
    return np.logaddexp(x.dtype.type(0), x, out=out)


CASES = [
    # name, input range, numpy reference, math.* scalar version
    ("exp", (-80, 80), np.exp, math.exp),
    ("log", (1e-3, 1e3), np.log, math.log),
    ("log1p", (-0.9, 100), np.log1p, math.log1p),
    ("expm1", (-10, 10), np.expm1, math.expm1),
    ("tanh", (-10, 10), np.tanh, math.tanh),
    # numpy has no sigmoid/softplus/erf ufunc: closest idioms (scipy for erf)
    ("sigmoid", (-20, 20), _np_sigmoid, _libm_sigmoid),
    ("erf", (-4, 4), _sp.erf if _sp is not None else None, math.erf),
    ("sin", (-100, 100), np.sin, math.sin),
    ("cos", (-100, 100), np.cos, math.cos),
    ("softplus", (-20, 20), _np_softplus, _libm_softplus),
]


def best_of(fn, reps=5):
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10_000_000
    dtype = np.dtype(sys.argv[2] if len(sys.argv) > 2 else "float32")
    rng = np.random.default_rng(0)
    print(f"n = {n}, dtype = {dtype}, ns/element (best of 5); numpy writes "
          "into a preallocated out=")
    print(f"{'function':10s} {'numpy':>8s} {'numgrad':>8s} {'math.*':>8s}")
    for name, (lo, hi), npf, libm in CASES:
        x = rng.uniform(lo, hi, n).astype(dtype)
        out = np.empty_like(x)
        kn = _kernel(getattr(m, name))
        kl = _kernel(libm if isinstance(libm, types.BuiltinFunctionType)
                     else njit(libm))
        kn(x[:16], out[:16])
        kl(x[:16], out[:16])
        t_ng = best_of(lambda: kn(x, out)) / n * 1e9
        t_lm = best_of(lambda: kl(x, out)) / n * 1e9
        if npf is not None:
            with np.errstate(all="ignore"):
                t_np = best_of(lambda: npf(x, out=out)) / n * 1e9
            s_np = f"{t_np:8.2f}"
        else:
            s_np = f"{'n/a':>8s}"
        print(f"{name:10s} {s_np} {t_ng:8.2f} {t_lm:8.2f}", flush=True)


if __name__ == "__main__":
    main()
