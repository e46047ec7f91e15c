"""Tests for numgrad.ops.scalar_math (branch-free, vectorisable scalar math).

Accuracy is measured in ulps against NumPy evaluated in higher precision
(float64 for float32 inputs, long double for float64 inputs); sweeps run in
njit helpers so that the whole file stays fast.
"""
import math
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit, types

import numgrad.ops.scalar_math as m

NAMES = ["exp", "log", "log1p", "expm1", "tanh", "sigmoid", "erf", "sin",
         "cos", "softplus"]

# Max ulp error allowed by the sweeps (measured values are in the module
# docstring; these bounds leave a little headroom).
MAX_ULP32 = dict(exp=1.0, log=1.0, log1p=1.0, expm1=1.5, tanh=1.5,
                 sigmoid=2.5, erf=1.5, sin=1.0, cos=1.0, softplus=2.0)
MAX_ULP64 = dict(exp=1.0, log=1.0, log1p=1.0, expm1=1.5, tanh=1.5,
                 sigmoid=2.5, erf=1.5, sin=1.0, cos=1.0, softplus=2.0)

# Is np.longdouble wider than float64 (x86 Linux: 80-bit)?  If not, the
# float64 reference itself carries up to ~1 ulp of error.
_LD_EXTENDED = np.finfo(np.longdouble).nmant > 52
_REF64_SLACK = 0.0 if _LD_EXTENDED else 1.0


# ---------------------------------------------------------------------------
# njit helpers
# ---------------------------------------------------------------------------

_APPLY = {}


def apply(name):
    """njit loop ``out[i] = m.<name>(x[i])`` (module-attribute access)."""
    if name not in _APPLY:
        f = getattr(m, name)

        @njit
        def _apply(x):
            out = np.empty_like(x)
            for i in range(x.size):
                out[i] = f(x[i])
            return out
        _APPLY[name] = _apply
    return _APPLY[name]


@njit
def _ulp_stats32(y, ref):
    """Max ulp error of float32 results y against a float64 reference, and the
    number of results that are wrong in a non-finite way (nan/inf/overflow)."""
    worst = 0.0
    iworst = -1
    nbad = 0
    for i in range(y.size):
        r = ref[i]
        v = np.float64(y[i])
        if np.isnan(r):
            if not np.isnan(v):
                nbad += 1
            continue
        if abs(r) >= 3.4028235677973366e38:      # rounds to +-inf in float32
            if not (np.isinf(v) and (v > 0) == (r > 0)):
                nbad += 1
            continue
        if not np.isfinite(v):
            nbad += 1
            continue
        a = abs(r)
        if a < 1.1754943508222875e-38:
            ulp = 1.401298464324817e-45
        else:
            ulp = math.ldexp(1.0, math.frexp(a)[1] - 24)
        e = abs(v - r) / ulp
        if e > worst:
            worst = e
            iworst = i
    return worst, iworst, nbad


def ulp_error64(y, ref):
    """ulp errors of float64 results against a long double reference."""
    ref = np.asarray(ref, dtype=np.longdouble)
    err = np.zeros(y.shape)
    fin = np.isfinite(ref) & (np.abs(ref) < np.longdouble(np.finfo(np.float64).max))
    a = np.maximum(np.abs(ref[fin]), np.longdouble(np.finfo(np.float64).tiny))
    ulp = np.ldexp(np.longdouble(1), np.frexp(a)[1] - 53)
    err[fin] = np.abs(y[fin].astype(np.longdouble) - ref[fin]) / ulp
    nan = np.isnan(ref)
    err[nan != np.isnan(y)] = np.inf
    other = ~fin & ~nan                 # +-inf, or beyond the float64 range
    with np.errstate(over="ignore"):
        err[other & (y != ref.astype(np.float64))] = np.inf
    return err


@njit
def _erf64(x):
    out = np.empty(x.size)
    for i in range(x.size):
        out[i] = math.erf(x[i])
    return out


# ---------------------------------------------------------------------------
# references
# ---------------------------------------------------------------------------

def _sigmoid_ref(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def ref(name, x):
    """NumPy reference evaluated in the dtype of x (pass a wider dtype)."""
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            return _sigmoid_ref(x)
        if name == "softplus":
            return np.logaddexp(x.dtype.type(0), x)
        if name == "erf":       # NumPy has no erf: libm's (float64 only)
            return _erf64(x.astype(np.float64)).astype(x.dtype)
        return getattr(np, name)(x)


# ---------------------------------------------------------------------------
# float32: every 521st bit pattern of the whole float32 range (8.2M points,
# ~16000 per binade, both signs, subnormals, inf and NaN patterns included)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_float32_sweep(name):
    f = apply(name)
    step = 521
    chunk = 521 << 16
    worst, worst_x, nbad = 0.0, None, 0
    for start in range(0, 1 << 32, chunk):
        x = np.arange(start, min(start + chunk, 1 << 32), step,
                      dtype=np.uint64).astype(np.uint32).view(np.float32)
        y = f(x)
        assert y.dtype == np.float32
        with np.errstate(invalid="ignore"):      # signalling NaN patterns
            r = ref(name, x.astype(np.float64))
        w, iw, nb = _ulp_stats32(y, r)
        nbad += nb
        if w > worst:
            worst, worst_x = w, x[iw]
    assert nbad == 0, name
    assert worst <= MAX_ULP32[name], (name, worst, worst_x)


# ---------------------------------------------------------------------------
# float64: random, log-spaced and function-specific samples
# ---------------------------------------------------------------------------

def _samples64(name, n=60_000, seed=0):
    rng = np.random.default_rng(seed)

    def lu(lo, hi, signed=True):
        v = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
        return v * rng.choice([-1.0, 1.0], n) if signed else v

    def un(lo, hi):
        return rng.uniform(lo, hi, n)

    logsweep = np.geomspace(1e-300, 1e300, 4001)
    parts = {
        "exp": [lu(1e-300, 746), un(-746, 710), un(-1, 1), un(700, 710)],
        "expm1": [lu(1e-300, 746), un(-2, 2), lu(1e-10, 1)],
        "log": [lu(1e-320, 1.7e308, False), un(0.5, 2), 1 + lu(1e-16, 1e-3),
                logsweep],
        "log1p": [lu(1e-300, 1e308, False), un(-1, 1),
                  -1 + lu(1e-16, 1, False), logsweep],
        "tanh": [lu(1e-300, 30), un(-2, 2)],
        "sigmoid": [lu(1e-300, 800), un(-40, 40)],
        "softplus": [lu(1e-300, 800), un(-40, 40)],
        "erf": [lu(1e-300, 7), un(-3, 3), un(0.9, 1.1)],
        "sin": [lu(1e-300, 1.5e6), un(-1e5, 1e5), lu(1e6, 1e300)],
        "cos": [lu(1e-300, 1.5e6), un(-1e5, 1e5), lu(1e6, 1e300)],
    }[name]
    if name not in ("log", "log1p"):
        parts.append(logsweep)
        parts.append(-logsweep)
    return np.concatenate(parts)


@pytest.mark.parametrize("name", NAMES)
def test_float64_sweep(name):
    x = _samples64(name)
    y = apply(name)(x)
    assert y.dtype == np.float64
    if name == "erf":
        r = ref(name, x)            # libm erf (itself <= 1 ulp)
        slack = 1.0
    else:
        r = ref(name, x.astype(np.longdouble))
        slack = _REF64_SLACK
    err = ulp_error64(y, r)
    i = int(np.argmax(err))
    assert err[i] <= MAX_ULP64[name] + slack, (name, err[i], x[i])


# ---------------------------------------------------------------------------
# special values
# ---------------------------------------------------------------------------

def _specials(dt):
    fi = np.finfo(dt)
    v = [0.0, -0.0, np.inf, -np.inf, np.nan, fi.smallest_subnormal,
         -fi.smallest_subnormal, fi.smallest_subnormal * 3, fi.tiny, -fi.tiny,
         fi.max, -fi.max, 1.0, -1.0, 0.5, -0.5, 2.0, 1e-30, -1e-30, 20.0,
         -20.0, 88.72, 89.0, -87.3, -100.0, -103.9, -104.0, 709.7, 710.0,
         -708.0, -745.0, -746.0, 1e5, -1e5, 3e6, 1e30, -1e30, 1e300]
    with np.errstate(over="ignore"):
        return np.array(v, dtype=dt)


def _same(a, b):
    """Identical values: equal with the same sign of zero, or both NaN."""
    return (np.isnan(a) & np.isnan(b)) | ((a == b) & (np.signbit(a) == np.signbit(b)))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_special_values_match_numpy(name, dt):
    x = _specials(dt)
    y = apply(name)(x)
    assert y.dtype == dt
    wide = np.float64 if dt is np.float32 else np.longdouble
    r = ref(name, x.astype(wide))
    with np.errstate(over="ignore"):
        r_dt = r.astype(dt)
    nonfinite_or_zero = ~np.isfinite(r_dt) | (r_dt == 0)
    # zeros, infinities and NaNs must match exactly (including sign of zero)
    bad = nonfinite_or_zero & ~_same(y, r_dt)
    assert not bad.any(), list(zip(x[bad], y[bad], r_dt[bad]))
    # everything else within a few ulps (subnormal ulps included)
    fin = ~nonfinite_or_zero
    with np.errstate(over="ignore"):
        tol = 4 * np.spacing(np.abs(r_dt[fin]).astype(dt))
    assert np.all(np.abs(y[fin].astype(wide) - r[fin]) <= tol), \
        list(zip(x[fin], y[fin], r_dt[fin]))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_explicit_special_values(dt):
    fi = np.finfo(dt)
    inf, nan, tiny = dt(np.inf), dt(np.nan), fi.smallest_subnormal
    cases = {
        "exp": [(0.0, 1.0), (-0.0, 1.0), (inf, inf), (-inf, 0.0), (tiny, 1.0),
                (1e4, inf), (-1e4, 0.0)],
        "log": [(0.0, -inf), (-0.0, -inf), (-1.0, nan), (-inf, nan),
                (inf, inf), (1.0, 0.0), (-tiny, nan)],
        "log1p": [(0.0, 0.0), (-0.0, -0.0), (-1.0, -inf), (-2.0, nan),
                  (inf, inf), (-inf, nan), (tiny, tiny), (-tiny, -tiny)],
        "expm1": [(0.0, 0.0), (-0.0, -0.0), (inf, inf), (-inf, -1.0),
                  (tiny, tiny), (-tiny, -tiny), (1e4, inf), (-1e4, -1.0)],
        "tanh": [(0.0, 0.0), (-0.0, -0.0), (inf, 1.0), (-inf, -1.0),
                 (30.0, 1.0), (-30.0, -1.0), (tiny, tiny), (-tiny, -tiny),
                 (fi.max, 1.0), (-fi.max, -1.0)],
        "sigmoid": [(0.0, 0.5), (-0.0, 0.5), (inf, 1.0), (-inf, 0.0),
                    (fi.max, 1.0), (-fi.max, 0.0), (1e4, 1.0), (-1e4, 0.0),
                    (tiny, 0.5)],
        "erf": [(0.0, 0.0), (-0.0, -0.0), (inf, 1.0), (-inf, -1.0),
                (10.0, 1.0), (-10.0, -1.0), (fi.max, 1.0), (-fi.max, -1.0)],
        "sin": [(0.0, 0.0), (-0.0, -0.0), (inf, nan), (-inf, nan),
                (tiny, tiny), (-tiny, -tiny)],
        "cos": [(0.0, 1.0), (-0.0, 1.0), (inf, nan), (-inf, nan), (tiny, 1.0)],
        "softplus": [(inf, inf), (-inf, 0.0), (fi.max, fi.max),
                     (-fi.max, 0.0), (1e4, 1e4), (-1e4, 0.0)],
    }
    for name, pairs in cases.items():
        x = np.array([p[0] for p in pairs] + [nan], dtype=dt)
        want = np.array([p[1] for p in pairs] + [nan], dtype=dt)
        got = apply(name)(x)
        ok = _same(got, want)
        assert ok.all(), (name, list(zip(x[~ok], got[~ok], want[~ok])))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_saturation_and_no_nan(dt):
    """Extreme finite inputs never produce NaN; monotone saturating functions
    stay inside their ranges."""
    fi = np.finfo(dt)
    with np.errstate(over="ignore", invalid="ignore"):
        g = np.geomspace(float(fi.tiny), float(fi.max), 2000)
    g = np.where(np.isfinite(g) & (g < float(fi.max)), g, float(fi.max)).astype(dt)
    x = np.concatenate([g, -g])
    for name in NAMES:
        y = apply(name)(x)
        if name not in ("log", "log1p"):
            assert not np.isnan(y).any(), name
    s = apply("sigmoid")(x)
    assert np.all((s >= 0) & (s <= 1))
    t = apply("tanh")(x)
    assert np.all((t >= -1) & (t <= 1))
    e = apply("erf")(x)
    assert np.all((e >= -1) & (e <= 1))
    sp = apply("softplus")(x)
    assert np.all(sp >= 0) and np.all(sp >= x)


def test_huge_trig_arguments():
    """|x| beyond the Cody-Waite range goes to the libm fallback, both from
    a vectorised loop and in scalar code."""
    x64 = np.array([1e22, -1e22, 2.0 ** 20 + 0.5, 1e6, 3e8, 1e300, 5e15]
                   + [0.5] * 13)
    ref_sin = np.sin(x64.astype(np.longdouble)).astype(np.float64)
    ref_cos = np.cos(x64.astype(np.longdouble)).astype(np.float64)
    assert abs(apply("sin")(x64)[0] - (-0.8522008497671888)) < 1e-15
    assert np.all(ulp_error64(apply("sin")(x64), ref_sin) <= 1)
    assert np.all(ulp_error64(apply("cos")(x64), ref_cos) <= 1)
    with np.errstate(over="ignore"):
        x32 = x64.astype(np.float32)             # 1e300 -> inf
    for name in ("sin", "cos"):
        y = apply(name)(x32)
        with np.errstate(invalid="ignore"):
            r = getattr(np, name)(x32.astype(np.float64))
        w, _, nb = _ulp_stats32(y, r)
        assert nb == 0 and w <= 0.6
    # scalar (non-loop) path
    assert m.sin(1e22) == apply("sin")(np.array([1e22]))[0]
    assert m.cos(np.float32(3e8)) == apply("cos")(np.array([3e8], np.float32))[0]


# ---------------------------------------------------------------------------
# typing: float32 in -> float32 out, float64 in -> float64 out
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_return_types(name):
    f = getattr(m, name)

    @njit
    def call(x):
        return f(x)

    call(np.float32(0.5))
    call(np.float64(0.5))
    call(3)
    rets = {sig.args[0]: sig.return_type for sig in call.nopython_signatures}
    assert rets[types.float32] == types.float32
    assert rets[types.float64] == types.float64
    assert rets[types.int64] == types.float64

    # no accidental float64 arithmetic in the float32 kernels (sin/cos
    # deliberately reduce and evaluate in float64, then round once)
    if name not in ("sin", "cos"):
        llvm_ir = call.inspect_llvm((types.float32,))
        # only the compiled function itself, not the CPython boxing wrapper
        # (which converts through double) or the cfunc wrapper
        blocks = [blk.split("\n}", 1)[0]
                  for blk in llvm_ir.split("\ndefine ")[1:]]
        funcs = [blk for blk in blocks
                 if not re.search(r"@(_ZN7cpython|cfunc\.)", blk.split("\n", 1)[0])]
        assert len(funcs) == 1
        dbl = [ln for ln in funcs[0].splitlines() if "double" in ln]
        assert not dbl, dbl[:5]

    # plain Python calls keep the type as well
    assert type(f(np.float32(0.5))) is np.float32
    assert type(f(0.5)) is np.float64


def test_called_from_njit_function_and_expression():
    @njit
    def g(v):
        return m.tanh(v) * m.exp(-v) + m.sigmoid(v) - m.softplus(v)

    for dt in (np.float32, np.float64):
        v = dt(0.3)
        got = g(v)
        want = np.tanh(0.3) * np.exp(-0.3) + 1 / (1 + np.exp(-0.3)) \
            - np.log1p(np.exp(0.3))
        assert abs(got - want) < 1e-6


def test_fastmath_caller_keeps_special_values():
    @njit(fastmath=True)
    def k(x, out):
        for i in range(x.size):
            out[i] = m.exp(x[i]) + m.log(x[i])

    x = np.array([np.nan, np.inf, -1.0, 0.0, 1.0] * 4)
    out = np.empty_like(x)
    k(x, out)
    with np.errstate(all="ignore"):
        want = np.exp(x) + np.log(x)
    assert np.all(_same(out, want)), (out[:5], want[:5])


# ---------------------------------------------------------------------------
# vectorisation
# ---------------------------------------------------------------------------

_VEC_RE = r"<(4|8|16) x float>"


def test_exp_loop_is_vectorised():
    @njit
    def k(x, out):
        for i in range(x.size):
            out[i] = m.exp(x[i])

    x = np.linspace(-5, 5, 64).astype(np.float32)
    out = np.empty_like(x)
    k(x, out)
    llvm_ir = k.inspect_llvm(k.signatures[0])
    assert re.search(r"<(8|16) x float>", llvm_ir), "float32 exp loop not vectorised"
    # the polynomial itself runs on vectors, no scalar libm call remains
    assert re.search(r"fmuladd\.v(8|16)f32", llvm_ir)
    assert not re.search(r"@(expf|exp|llvm\.exp\.f32)\(", llvm_ir)
    np.testing.assert_allclose(out, np.exp(x), rtol=2e-7)


@pytest.mark.parametrize("name", NAMES)
def test_all_functions_vectorise(name):
    k = apply(name)
    x = np.linspace(0.1, 2, 64).astype(np.float32)
    k(x)
    llvm_ir = k.inspect_llvm((types.float32[::1],))
    assert re.search(_VEC_RE, llvm_ir), name


# ---------------------------------------------------------------------------
# on-disk caching of callers
# ---------------------------------------------------------------------------

_CACHED_KERNEL = textwrap.dedent("""
    import numpy as np
    from numba import njit
    import numgrad.ops.scalar_math as m

    @njit(cache=True)
    def k(x, out):
        for i in range(x.size):
            out[i] = m.tanh(x[i]) * m.exp(-x[i]) + m.sin(x[i])
""")

_RUNNER = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    import cached_kernel as ck
    x = np.linspace(-3, 3, 101).astype(np.float32)
    x[7] = 1e30                      # exercises the huge-argument sin path
    out = np.empty_like(x)
    ck.k(x, out)
    print(sum(ck.k.stats.cache_hits.values()),
          sum(ck.k.stats.cache_misses.values()), out.dtype,
          repr(float(out[50])), repr(float(out[7])))
""")


def test_cache_true_caller(tmp_path):
    (tmp_path / "cached_kernel.py").write_text(_CACHED_KERNEL)
    (tmp_path / "runner.py").write_text(_RUNNER)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NUMBA_DISABLE_JIT", None)
    runs = []
    for _ in range(2):
        p = subprocess.run([sys.executable, str(tmp_path / "runner.py"), str(tmp_path)],
                           capture_output=True, text=True, env=env, timeout=300)
        assert p.returncode == 0, p.stderr
        runs.append(p.stdout.split())
    (h1, m1, dt1, v1, b1), (h2, m2, dt2, v2, b2) = runs
    assert dt1 == dt2 == "float32"
    assert (h1, m1) == ("0", "1")        # compiled and saved
    assert (h2, m2) == ("1", "0")        # loaded from the on-disk cache
    assert (v1, b1) == (v2, b2)
    assert float(v1) == 0.0                       # x == 0
    xb = np.float64(np.float32(1e30))
    want_b = np.tanh(xb) * np.exp(-xb) + np.sin(xb)
    assert float(b1) == pytest.approx(want_b, rel=1e-6)
