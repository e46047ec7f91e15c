"""Branch-free, SIMD-vectorisable scalar math for compiled kernels.

Numba from PyPI has no SVML, so ``math.exp``/``math.tanh``/... inside a
loop are scalar libm calls and block vectorisation.  The functions here are
written as plain float arithmetic (Cody-Waite range reduction + minimax
polynomials, bit manipulation through integer bitcasts, selects instead of
branches), so LLVM inlines them and vectorises the calling loop::

    import numgrad.ops.scalar_math as m

    @njit(cache=True)
    def k(x, out):
        for i in range(x.size):
            out[i] = m.tanh(x[i]) * m.exp(-x[i])

Public functions (one scalar in, same type out): ``exp log log1p expm1 tanh
sigmoid erf sin cos softplus``.

* float32 in -> float32 out, float64 in -> float64 out (integers/bools are
  treated as float64).  Each public name is a pure-Python stub with a
  ``numba.extending.overload`` that picks a separate float32 or float64
  kernel; every constant is pre-converted to the kernel's type, so no
  float64 literal leaks into float32 arithmetic.  The float32 kernels are
  pure float32 except ``sin``/``cos``, which reduce and evaluate in float64
  and round once (more accurate, still vectorised).
* Callable as module attributes from ``@njit`` code, from ``cache=True``
  callers (their on-disk cache works; note that, as always with numba,
  editing this file does not invalidate callers' caches), and from
  ``fastmath=True`` callers: kernels are compiled with explicit
  ``fastmath=False`` (otherwise numba would let them inherit the caller's
  fastmath and lose their NaN/inf handling) and inlined by LLVM, which keeps
  their per-instruction flags.  From plain Python the stubs go through a
  small jitted wrapper and return np.float32 / np.float64.  The kernels
  themselves are not disk-cached: the first caller in a process compiles
  the ones it uses (~0.1-0.3 s each; a cache hit of the caller needs none).
* Special values follow NumPy: +-0 (sign kept where numpy keeps it), +-inf,
  NaN propagation, subnormal inputs and outputs, overflow to inf and
  gradual underflow to 0 (exp, expm1, sigmoid, softplus), log(0) = -inf,
  log(x<0) = nan, log1p(-1) = -inf, tanh/erf saturate to exactly +-1,
  sigmoid is exactly 0 / 1 at the extremes (never NaN), softplus(x) == x for
  large x and exp(x) (subnormal included) for very negative x.

Accuracy: max error in ulps (of the correctly rounded result) measured on
x86-64 with FMA.  float32: every 31st float32 bit pattern (139M inputs, the
whole range incl. subnormals, inf, NaN) against libm in float64.  float64:
~1M random, log-spaced and targeted inputs against numpy long double (erf:
45k inputs against mpmath).

    function   float32  float64   method
    exp         0.86     0.87     x = n ln2 + r (2-part ln2), deg 6/11 poly,
                                  2**n via exponent bits, two-step scaling
    log         0.84     0.82     x = 2**k m, m in [sqrt(1/2), sqrt(2)),
                                  fdlibm log1p(f) = 2 atanh(f/(2+f)) form
    log1p       0.83     0.80     log of u = 1+x plus exact rounding
                                  correction c/u
    expm1       1.25     0.98     as exp, expm1(r) kept as a double-word,
                                  2*(s*u + (s - 1/2)), s = 2**(n-1)
    tanh        1.30     1.30     |x| < 0.625: x + x^3 P(x^2); else
                                  1 - 2/(exp(2|x|) + 1)
    sigmoid     2.33     2.11     (1 or e) / (1 + e), e = exp(-|x|)
    erf         0.99     0.93     |x| < 1: x + x P(x^2); else
                                  1 - exp(-x^2) Q(|x| - x0), clamped at
                                  4 (f32) / 6 (f64)
    sin, cos    0.56     0.76     Cody-Waite by pi/2 (float32: in float64
                                  with a 2-part pi/2; float64: fdlibm
                                  3-round 118-bit reduction), quadrant by
                                  select; |x| <= 2**20 (see below)
    softplus    1.56     1.51     max(x, 0) + log1p(exp(-|x|))

sin/cos beyond the Cody-Waite range (|x| > 2**20, and +-inf): the kernels
call a tiny non-inlined LLVM function ``f(a, res) = a != 0 ? libm(a) : res``
with ``a = x`` for such lanes and 0 otherwise.  It carries a
"vector-function-abi-variant" attribute, so LLVM's loop vectoriser calls a
vector version once per vector; that returns immediately unless some lane is
huge and then calls libm (correctly rounded-ish) for the vector.  Results are
therefore correct for every input; the price in the common case is one cheap
call per vector (~0.3 ns/element for float32).  The 0.56 ulp float32 maximum
comes from that libm range; below 2**20 float32 sin/cos are within 0.501 ulp.

Performance (``perf/bench_scalar_math.py``): float32, ns/element for a
loop over 1e5 elements (in cache; 2-core AVX-512 VM, loop vectorised to
8 lanes), NumPy / numgrad / numba + ``math.*``:

    exp 0.35/0.50/2.0   log 0.33/0.46/2.4   log1p 0.40/0.50/8.7
    expm1 0.29/0.55/9.6 tanh 0.24/0.53/12   sigmoid 0.73/0.58/2.8 (numpy expr)
    erf -/0.70/13       sin 0.46/0.97/7.5   cos 0.46/1.09/7.7
    softplus 11/1.35/8.3 (np.logaddexp)

At 1e7 elements everything is partly memory bound (~1.5-4 ns/element).

CUDA: everything is plain arithmetic + LLVM intrinsics (fmuladd, rint,
fabs, copysign, bitcasts, select), all generic; the huge-argument sin/cos
fallback lowers to a plain select on ``llvm.sin``/``llvm.cos`` when the
target has no CPU code library.  Not tested under numba-cuda.

Polynomial coefficients: Remez exchange in 60-digit mpmath (relative error,
with the leading terms fixed), then rounded to the kernel's type.
"""
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core.codegen import CPUCodeLibrary
from numba.extending import intrinsic, overload

__all__ = ["exp", "log", "log1p", "expm1", "tanh", "sigmoid", "erf",
           "sin", "cos", "softplus"]


# ---------------------------------------------------------------------------
# Low-level helpers emitted straight as LLVM instructions.
# They are type-generic over float32 / float64 and never promote.
# ---------------------------------------------------------------------------

def _llty(t):
    return ir.FloatType() if t == types.float32 else ir.DoubleType()


def _intrinsic_call(builder, name, t, args):
    fnty = ir.FunctionType(t, [t] * len(args))
    fn = builder.module.declare_intrinsic(name, [t], fnty)
    return builder.call(fn, args)


@intrinsic
def _fma(typingctx, a, b, c):
    """a*b + c, fused where the target has FMA (llvm.fmuladd)."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        return _intrinsic_call(builder, "llvm.fmuladd", _llty(a), args)
    return a(a, a, a), codegen


@intrinsic
def _select(typingctx, cond, a, b):
    """Branch-free ``a if cond else b`` (LLVM select)."""
    if not (isinstance(cond, types.Boolean) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.select(args[0], args[1], args[2])
    return a(cond, a, a), codegen


@intrinsic
def _rint(typingctx, a):
    """Round to nearest integer (ties to even), result stays floating."""
    if not isinstance(a, types.Float):
        return None

    def codegen(context, builder, sig, args):
        return _intrinsic_call(builder, "llvm.rint", _llty(a), args)
    return a(a), codegen


@intrinsic
def _fabs(typingctx, a):
    if not isinstance(a, types.Float):
        return None

    def codegen(context, builder, sig, args):
        return _intrinsic_call(builder, "llvm.fabs", _llty(a), args)
    return a(a), codegen


@intrinsic
def _copysign(typingctx, a, b):
    """|a| with the sign bit of b."""
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return _intrinsic_call(builder, "llvm.copysign", _llty(a), args)
    return a(a, a), codegen


@intrinsic
def _fdiv(typingctx, a, b):
    """IEEE division without Python's ZeroDivisionError check."""
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.fdiv(args[0], args[1])
    return a(a, a), codegen


@intrinsic
def _isnan(typingctx, a):
    if not isinstance(a, types.Float):
        return None

    def codegen(context, builder, sig, args):
        return builder.fcmp_unordered("uno", args[0], args[0])
    return types.boolean(a), codegen


def _int_layout(t):
    # (int type, mantissa bits, exponent bias, 1.5 * 2**mantissa_bits)
    if t == types.float32:
        return ir.IntType(32), 23, 127, 12582912.0
    return ir.IntType(64), 52, 1023, 6755399441055744.0


@intrinsic
def _pow2(typingctx, n):
    """2**n for an integral-valued float n inside the normal exponent range.

    Built from the bit pattern: (n + 1.5*2**p) puts n in the low mantissa
    bits, shifting them into the exponent field yields 2**n.  Only vector
    friendly float add, integer shift/add and bitcasts are used.
    """
    if not isinstance(n, types.Float):
        return None

    def codegen(context, builder, sig, args):
        it, p, bias, magic = _int_layout(n)
        t = _llty(n)
        v = builder.fadd(args[0], ir.Constant(t, magic))
        i = builder.bitcast(v, it)
        i = builder.shl(i, ir.Constant(it, p))
        i = builder.add(i, ir.Constant(it, bias << p))
        return builder.bitcast(i, t)
    return n(n), codegen


@intrinsic
def _frexp_sqrt2(typingctx, x):
    """Split a positive normal x into (m, k) with x = m * 2**k and
    m in [sqrt(1/2), sqrt(2)); k is returned as an integral float."""
    if not isinstance(x, types.Float):
        return None
    retty = types.UniTuple(x, 2)

    def codegen(context, builder, sig, args):
        it, p, bias, _ = _int_layout(x)
        t = _llty(x)
        if x == types.float32:
            lo_m = 0x3F3504F3                # bits of ~sqrt(1/2)
            one = 0x3F800000
        else:
            lo_m = 0x3FE6A09E << 32
            one = 0x3FF00000 << 32
        ix = builder.bitcast(args[0], it)
        ix = builder.add(ix, ir.Constant(it, one - lo_m))
        e = builder.lshr(ix, ir.Constant(it, p))
        # k = e - bias, converted to float with the magic-number trick
        # (int64 -> double conversion does not vectorise on AVX2).
        kb = builder.or_(e, ir.Constant(it, (bias + p) << p))
        kf = builder.fsub(builder.bitcast(kb, t),
                          ir.Constant(t, float(2 ** p + bias)))
        mb = builder.add(builder.and_(ix, ir.Constant(it, (1 << p) - 1)),
                         ir.Constant(it, lo_m))
        m = builder.bitcast(mb, t)
        return context.make_tuple(builder, retty, [m, kf])
    return retty(x), codegen


# ---------------------------------------------------------------------------
# Huge-argument fallback for sin/cos.
#
# Cody-Waite reduction is only valid for |x| <= 2**20.  Beyond that we want the
# (correct) libm result without paying a scalar libm call per element in the
# common case.  The kernels therefore finish with an unconditional
# ``_sin_big(a, res)`` (a = x for huge lanes, 0 otherwise): a tiny non-inlined
# LLVM function carrying a "vector-function-abi-variant" attribute, so LLVM's
# loop vectoriser replaces it by one call per vector to a variant that returns
# ``res`` immediately when no lane needs the fallback, and calls libm only for
# vectors that contain a huge argument.  (A plain select on a libm call would
# be speculated: libm for every element.)
# ---------------------------------------------------------------------------

_BIG_VFS = {"float": (2, 4, 8, 16), "double": (2, 4, 8)}


def _big_ir(fname, func, lty):
    """LLVM IR of ``fname(a, res) = a != 0 ? func(a) : res`` plus its
    vector variants (which skip libm entirely when every lane has a == 0)."""
    sfx = "f32" if lty == "float" else "f64"
    lines = [
        f"define weak_odr {lty} @{fname}({lty} %a, {lty} %res) #0 {{",
        "entry:",
        f"  %nz = fcmp one {lty} %a, 0.0",
        "  br i1 %nz, label %slow, label %fast",
        "fast:",
        f"  ret {lty} %res",
        "slow:",
        f"  %r = call {lty} @llvm.{func}.{sfx}({lty} %a)",
        f"  ret {lty} %r",
        "}",
        f"declare {lty} @llvm.{func}.{sfx}({lty})",
    ]
    variants = []
    for vf in _BIG_VFS[lty]:
        vt = f"<{vf} x {lty}>"
        vname = f"{fname}_v{vf}"
        variants.append(f"_ZGV_LLVM_N{vf}vv_{fname}({vname})")
        lines += [
            f"define weak_odr {vt} @{vname}({vt} %a, {vt} %res) #1 {{",
            "entry:",
            f"  %nz = fcmp one {vt} %a, zeroinitializer",
            f"  %bits = bitcast <{vf} x i1> %nz to i{vf}",
            f"  %any = icmp ne i{vf} %bits, 0",
            "  br i1 %any, label %slow, label %fast, !prof !0",
            "fast:",
            f"  ret {vt} %res",
            "slow:",
            f"  %r = call {vt} @llvm.{func}.v{vf}{sfx}({vt} %a)",
            f"  %sel = select <{vf} x i1> %nz, {vt} %r, {vt} %res",
            f"  ret {vt} %sel",
            "}",
            f"declare {vt} @llvm.{func}.v{vf}{sfx}({vt})",
        ]
    lines += [
        'attributes #0 = { noinline nounwind readnone '
        f'"vector-function-abi-variant"="{",".join(variants)}" }}',
        "attributes #1 = { noinline nounwind readnone }",
        '!0 = !{!"branch_weights", i32 1, i32 1000}',
    ]
    return "\n".join(lines) + "\n"


def _make_big(func):
    @intrinsic
    def _big(typingctx, a, res):
        """``func(a)`` (libm) where a != 0, else ``res`` (see above)."""
        if not (isinstance(a, types.Float) and a == res):
            return None

        def codegen(context, builder, sig, args):
            t = _llty(a)
            lty = "float" if a == types.float32 else "double"
            sfx = "f32" if a == types.float32 else "f64"
            library = getattr(context, "active_code_library", None)
            if not isinstance(library, CPUCodeLibrary):
                # not a CPU JIT target: plain select on the intrinsic
                r = _intrinsic_call(builder, f"llvm.{func}", t, [args[0]])
                nz = builder.fcmp_ordered("!=", args[0], ir.Constant(t, 0.0))
                return builder.select(nz, r, args[1])
            import llvmlite.binding as llvm
            fname = f"numgrad_scalar_math_{func}_{sfx}_big"
            mod = builder.module
            fn = mod.globals.get(fname)
            if fn is None:
                fn = ir.Function(mod, ir.FunctionType(t, [t, t]), fname)
                library.add_llvm_module(
                    llvm.parse_assembly(_big_ir(fname, func, lty)))
            return builder.call(fn, args)
        return a(a, a), codegen
    return _big


_sin_big = _make_big("sin")
_cos_big = _make_big("cos")


@intrinsic
def _quadrant(typingctx, n):
    """(n & 1 != 0, n & 2 != 0) for an integral float64 |n| < 2**51."""
    if n != types.float64:
        return None
    retty = types.UniTuple(types.boolean, 2)

    def codegen(context, builder, sig, args):
        t, it = ir.DoubleType(), ir.IntType(64)
        v = builder.fadd(args[0], ir.Constant(t, 6755399441055744.0))
        i = builder.bitcast(v, it)
        zero = ir.Constant(it, 0)
        b0 = builder.icmp_unsigned("!=", builder.and_(i, ir.Constant(it, 1)), zero)
        b1 = builder.icmp_unsigned("!=", builder.and_(i, ir.Constant(it, 2)), zero)
        return context.make_tuple(builder, retty, [b0, b1])
    return retty(n), codegen


@intrinsic
def _poly(typingctx, x, c):
    """Horner evaluation; c is a tuple of coefficients, highest degree first.

    Emitted as a straight chain of llvm.fmuladd (no loop, no bounds checks).
    """
    if not (isinstance(x, types.Float) and isinstance(c, types.UniTuple)
            and c.dtype == x):
        return None

    def codegen(context, builder, sig, args):
        xv, cv = args
        p = builder.extract_value(cv, 0)
        for i in range(1, c.count):
            p = _intrinsic_call(builder, "llvm.fmuladd", _llty(x),
                                [p, xv, builder.extract_value(cv, i)])
        return p
    return x(x, c), codegen


# ---------------------------------------------------------------------------
# Kernels.  _build(F) returns the kernels for one floating type F (np.float32
# or np.float64); every constant is converted to F up front so that no
# float64 literal can sneak into float32 arithmetic.
# ---------------------------------------------------------------------------

_LN2 = 0.6931471805599453
_LOG2E = 1.4426950408889634

# Minimax coefficients (Remez exchange in 60-digit mpmath), highest first.
_EXP_P = {  # exp(r) = 1 + r + r^2 * P(r),  |r| <= ln2/2
    np.float32: (1.3814613270510327298e-3, 8.3687098267135609475e-3,
                 4.1668387362939124272e-2, 1.6666520689818719076e-1,
                 4.999999345168875082e-1),
    np.float64: (2.500007031110307113797642e-8, 2.763023397794659456206277e-7,
                 2.755758627246857823184132e-6, 2.48014931360225878337264e-5,
                 1.984126950677314628768055e-4, 1.388888894359785200210011e-3,
                 8.333333333494335825076802e-3, 4.166666666653026542570919e-2,
                 1.666666666666641277207495e-1, 5.000000000000010616810542e-1),
}
_EXPM1_P = {  # expm1(r) = r + r^2 * P(r), relative minimax, |r| <= ln2/2
    np.float32: (1.9962148376547763528e-4, 1.3943198213866141151e-3,
                 8.3332200452202205798e-3, 4.1666327122567188433e-2,
                 1.6666666902350361913e-1, 5.0000000530248957507e-1),
    np.float64: (1.768772290626340052826105e-9, 2.510518361177097828099356e-8,
                 2.75679250629564479708941e-7, 2.755725548726300758860883e-6,
                 2.480157454319829185229607e-5, 1.98412698747450736903146e-4,
                 1.388888889559311035368274e-3, 8.333333333326159373722055e-3,
                 4.166666666665230098002728e-2, 1.666666666666667096968651e-1,
                 5.000000000000000861095909e-1),
}
_LOG_P = {  # log1p(f) = 2 atanh(s), s = f/(2+f):  R(z) = z * P(z), z = s*s
    np.float32: (0.2987172785124794163, 0.39977541572087855099,
                 0.66666776381646856137),
    np.float64: (0.1479594956748393697270238, 0.1531405056692168140465555,
                 0.1818356432547833975274008, 0.2222219857319815293799038,
                 0.285714287423874757870105, 0.3999999999941467910152908,
                 0.6666666666666734412091993),
}
_TANH_P = {  # tanh(x) = x + x^3 * P(x^2),  |x| <= 0.625, relative minimax
    np.float32: (-5.7049872249899844855e-3, 2.0639087447254923759e-2,
                 -5.3739715145946702726e-2, 1.3331442198869343408e-1,
                 -3.3333281942035964575e-1),
    np.float64: (-1.607256862423624578076607e-5, 7.714436463715150569743343e-5,
                 -2.285642095018588884530496e-4, 5.863165396259108203424179e-4,
                 -1.454958877801290870266465e-3, 3.591989173785756800289292e-3,
                 -8.863221002627817145230635e-3, 2.186948757609443899878007e-2,
                 -5.396825393126769463996151e-2, 1.333333333326209130240809e-1,
                 -3.333333333333285526495315e-1),
}

_ERF_A = {  # erf(x) = x * P(x^2), |x| < 1, relative minimax
    np.float32: (7.858032005133148e-05, -0.0008011560770175952,
                 0.005188500345628071, -0.026853916837515715,
                 0.11283588256178138, -0.37612626220346707,
                 1.1283791658716253),
    np.float64: (-7.780946081145579e-10, 1.3711834603152937e-08,
                 -1.6206528579666584e-07, 1.6447162384600292e-06,
                 -1.492471507913863e-05, 0.00012055293740222218,
                 -0.0008548325935616381, 0.005223977606274808,
                 -0.026866170643135193, 0.11283791670944385,
                 -0.37612638903183526, 1.1283791670955126),
}
_ERF_B = {  # erf(x) = 1 - exp(-x^2) * P(x - x0), 1 <= x <= 4 (f32) / 6 (f64)
    np.float32: (0.00010684332394225901, 0.00022506328053870233,
                 0.0005433204278384244, -0.0006611212928343238,
                 0.0023025014108933803, -0.00813225300892414,
                 0.02491462541572931, -0.07434218674474634,
                 0.21080760554629888),
    np.float64: (-2.1412119938680866e-13, -3.5552540547031467e-12,
                 -2.6817218803824985e-11, -1.1240901293538182e-10,
                 -2.637448823425791e-10, -1.9184477021141282e-10,
                 6.690243963057714e-10, 2.5635915333900263e-09,
                 2.1292219063437035e-09, 3.434577144014554e-09,
                 -2.3698250736075097e-08, 7.958275291332494e-08,
                 -4.0332371935323426e-07, 1.8409417505019842e-06,
                 -8.234043267598102e-06, 3.6182727057531585e-05,
                 -0.0001554695626034198, 0.0006526858262860716,
                 -0.002673074527675713, 0.010661133208226708,
                 -0.04132357782749278, 0.15529365560917116),
}

_SIN_S = {  # sin(r) = r + r^3 * S(r^2), |r| <= pi/4 (float32 evaluated in double)
    np.float32: (2.718121624162354590255435e-6, -1.983931226909407610898731e-4,
                 8.333329304841516488508846e-3, -1.666666664079704167739802e-1),
    np.float64: (1.589623013822643066027722e-10, -2.505074776248392558172944e-8,
                 2.755731362138300347189962e-6, -1.98412698295895293942966e-4,
                 8.333333333322118574691402e-3, -1.666666666666663072944922e-1),
}
_COS_C = {  # cos(r) = 1 - r^2/2 + r^4 * C(r^2), |r| <= pi/4
    np.float32: (-2.7205755468893621158965e-7, 2.47994601704367587785685e-5,
                 -1.388888350013896551180529e-3, 4.166666661949213187137479e-2),
    np.float64: (-1.135853651683288879366803e-11, 2.087570084188354090423102e-9,
                 -2.755731417929601486995363e-7, 2.480158728885170166023257e-5,
                 -1.388888888887305640586112e-3, 4.166666666666659292176659e-2),
}


# Explicit options: a callee compiled for a fastmath=True caller would
# otherwise inherit fastmath and lose its NaN/inf handling and compensations.
_kjit = njit(fastmath=False, error_model="numpy")


def _build(F):
    f32 = F is np.float32
    tup = lambda c: tuple(F(v) for v in c)  # noqa: E731

    ZERO, HALF, ONE, TWO = F(0.0), F(0.5), F(1.0), F(2.0)
    INF, NAN = F(np.inf), F(np.nan)
    LOG2E = F(_LOG2E)
    if f32:
        LN2HI = F(0.693145751953125)              # 15 significant bits
        LN2LO = F(_LN2 - 0.693145751953125)
        EXP_HI, EXP_LO = F(89.0), F(-104.0)       # exp overflows/underflows
        EXPM1_LO = F(-20.0)                       # expm1 == -1 below
        TINY = F(2.0 ** -25)                      # f(x) == x below (x~0)
        MIN_NORMAL, DENORM_SCALE, DENORM_K = F(2.0 ** -126), F(2.0 ** 23), F(-23.0)
    else:
        LN2HI = F(6.93147180369123816490e-01)     # 32 significant bits
        LN2LO = F(1.90821492927058770002e-10)
        EXP_HI, EXP_LO = F(710.0), F(-746.0)
        EXPM1_LO = F(-40.0)
        TINY = F(2.0 ** -54)
        MIN_NORMAL, DENORM_SCALE, DENORM_K = F(2.0 ** -1022), F(2.0 ** 54), F(-54.0)
    TANH_SMALL = F(0.625)
    TANH_CLAMP = F(10.0) if f32 else F(20.0)   # tanh == 1 beyond
    EXP_P = tup(_EXP_P[F])
    TANH_P = tup(_TANH_P[F])
    # erf(x) = x + x * (P(x^2) - 1): the leading x is then exact
    ERF_A = tup(_ERF_A[F][:-1] + (_ERF_A[F][-1] - 1.0,))
    ERF_B = tup(_ERF_B[F])
    ERF_SPLIT = ONE
    ERF_CLAMP, ERF_X0 = (F(4.0), F(2.5)) if f32 else (F(6.0), F(3.5))
    EXPM1_P = tup(_EXPM1_P[F])
    LOG_P = tup(_LOG_P[F])

    @_kjit
    def exp_reduce(x):
        # x = n*ln2 + r, |r| <= ln2/2 (Cody-Waite, n*LN2HI is exact)
        n = _rint(x * LOG2E)
        hi = x - n * LN2HI
        lo = n * LN2LO
        return n, hi, lo

    @_kjit
    def exp_kernel(x):
        """exp for x already clamped to [EXP_LO, EXP_HI] (no NaN)."""
        n, hi, lo = exp_reduce(x)
        r = hi - lo
        c = (hi - r) - lo                         # r + c == hi - lo exactly
        p = ONE + (r + _fma(r * r, _poly(r, EXP_P), c))
        # two-step scaling: exact in the normal range, single rounding for
        # subnormal results, overflows to inf.
        n1 = _rint(n * HALF)
        return p * _pow2(n1) * _pow2(n - n1)

    @_kjit
    def exp_fast(x):
        """exp for x with |x| < 87 (float32) / 708 (float64): one scaling."""
        n, hi, lo = exp_reduce(x)
        r = hi - lo
        c = (hi - r) - lo
        p = ONE + (r + _fma(r * r, _poly(r, EXP_P), c))
        return p * _pow2(n)

    @_kjit
    def exp_(x):
        xc = _select(x < EXP_HI, x, EXP_HI)      # NaN -> EXP_HI (fixed below)
        xc = _select(xc > EXP_LO, xc, EXP_LO)
        return _select(_isnan(x), x, exp_kernel(xc))

    @_kjit
    def expm1_(x):
        xc = _select(x < EXP_HI, x, EXP_HI)
        xc = _select(xc > EXPM1_LO, xc, EXPM1_LO)
        n, hi, lo = exp_reduce(xc)
        r = hi - lo
        c = (hi - r) - lo                         # r + c == hi - lo exactly
        # u = expm1(r + c) = uh + ul, kept unrounded (Fast2Sum, |r| >= |t|)
        t = _fma(r * r, _poly(r, EXPM1_P), _fma(c, r, c))
        uh = r + t
        ul = (r - uh) + t
        # expm1(x) = 2**n * u + (2**n - 1) = 2 * (s*u + (s - 1/2)), s = 2**(n-1)
        s = _pow2(n - ONE)
        res = TWO * _fma(s, ul, _fma(s, uh, s - HALF))
        res = _select(_fabs(x) < TINY, x, res)    # +-0, subnormals, tiny
        return _select(_isnan(x), x, res)

    @_kjit
    def log_kernel(m, k, corr):
        """log(m * 2**k) + corr  for m in [sqrt(1/2), sqrt(2))."""
        f = m - ONE
        s = _fdiv(f, TWO + f)
        z = s * s
        R = z * _poly(z, LOG_P)
        hfsq = HALF * f * f
        return k * LN2HI - ((hfsq - (s * (hfsq + R) + (k * LN2LO + corr))) - f)

    @_kjit
    def log_(x):
        sub = x < MIN_NORMAL
        xs = _select(sub, x * DENORM_SCALE, x)
        m, k = _frexp_sqrt2(xs)
        k = k + _select(sub, DENORM_K, ZERO)
        res = log_kernel(m, k, ZERO)
        res = _select(x == INF, x, res)
        res = _select(x == ZERO, -INF, res)
        return _select(x >= ZERO, res, NAN)       # x < 0 or NaN -> NaN

    @_kjit
    def log1p_core(x):
        """log1p for x > -1 finite (no special cases)."""
        u = ONE + x
        # c = (1 + x) - u exactly
        c = _select(u >= TWO, ONE - (u - x), x - (u - ONE))
        m, k = _frexp_sqrt2(u)
        return log_kernel(m, k, _fdiv(c, u))

    @_kjit
    def log1p_(x):
        res = log1p_core(x)
        res = _select(_fabs(x) < TINY, x, res)
        res = _select(x == INF, x, res)
        res = _select(x == -ONE, -INF, res)
        return _select(x >= -ONE, res, NAN)

    @_kjit
    def tanh_(x):
        a = _fabs(x)
        z = a * a
        small = _fma(z * a, _poly(z, TANH_P), a)
        ac = _select(a > TANH_CLAMP, TANH_CLAMP, a)   # keeps NaN
        big = ONE - _fdiv(TWO, exp_fast(ac + ac) + ONE)      # NaN stays NaN
        return _copysign(_select(a < TANH_SMALL, small, big), x)

    @_kjit
    def sigmoid_(x):
        a = _fabs(x)
        ac = _select(a < -EXP_LO, a, -EXP_LO)
        e = exp_kernel(-ac)                       # in (0, 1]
        num = _select(x >= ZERO, ONE, e)
        res = _fdiv(num, ONE + e)
        return _select(_isnan(x), x, res)

    @_kjit
    def softplus_(x):
        # log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))
        a = _fabs(x)
        ac = _select(a < -EXP_LO, a, -EXP_LO)
        e = exp_kernel(-ac)
        res = _select(x > ZERO, x, ZERO) + log1p_core(e)
        return _select(_isnan(x), x, res)

    @_kjit
    def erf_(x):
        a = _fabs(x)
        a = _select(a > ERF_CLAMP, ERF_CLAMP, a)  # erf == 1 beyond; keeps NaN
        small = _fma(a, _poly(a * a, ERF_A), a)
        e = exp_fast(-(a * a))
        big = _fma(-e, _poly(a - ERF_X0, ERF_B), ONE)
        return _copysign(_select(a < ERF_SPLIT, small, big), x)

    # ---- sin / cos ------------------------------------------------------
    D = np.float64
    INVPIO2 = D(6.36619772367581382433e-01)
    PIO2_1, PIO2_1T = D(1.57079632673412561417e+00), D(6.07710050650619224932e-11)
    PIO2_2 = D(6.07710050630396597660e-11)
    PIO2_3, PIO2_3T = D(2.02226624871116645580e-21), D(8.47842766036889956997e-32)
    DONE, DHALF = D(1.0), D(0.5)
    SIN_S = tuple(D(v) for v in _SIN_S[F])
    COS_C = tuple(D(v) for v in _COS_C[F])
    TRIG_LIMIT = F(2.0 ** 20)          # Cody-Waite valid below (n < 2**20)

    if f32:
        @_kjit
        def sincos_core(x, shift):
            # float32: reduce and evaluate in float64, round once at the end.
            X = D(x)
            n = _rint(X * INVPIO2)
            r = (X - n * PIO2_1) - n * PIO2_1T
            z = r * r
            s = _fma(r * z, _poly(z, SIN_S), r)
            c = _fma(z * z, _poly(z, COS_C), _fma(-DHALF, z, DONE))
            odd, neg = _quadrant(n + shift)
            v = _select(odd, c, s)
            return F(_select(neg, -v, v))
    else:
        @_kjit
        def sincos_core(x, shift):
            # fdlibm-style 3-round reduction to y0 + y1, |y0| <= pi/4
            # x - n*(p1 + p2 + p3 + p3t); n*p1, n*p2, n*p3 are exact and
            # d2, d3 are the exact rounding errors of the two subtractions.
            n = _rint(x * INVPIO2)
            t = x - n * PIO2_1
            w = n * PIO2_2
            r = t - w
            d2 = (t - r) - w
            t = r
            w = n * PIO2_3
            r = t - w
            d3 = (t - r) - w
            w = n * PIO2_3T - (d3 + d2)
            y0 = r - w
            y1 = (r - y0) - w
            z = y0 * y0
            v = z * y0
            s = y0 - ((z * (DHALF * y1 - v * _poly(z, SIN_S[:-1])) - y1)
                      - v * SIN_S[-1])
            hz = DHALF * z
            wc = DONE - hz
            c = wc + (((DONE - wc) - hz) + (z * (z * _poly(z, COS_C)) - y0 * y1))
            odd, neg = _quadrant(n + shift)
            v = _select(odd, c, s)
            return _select(neg, -v, v)

    SH0, SH1 = D(0.0), D(1.0)

    @_kjit
    def sin_(x):
        res = sincos_core(x, SH0)
        res = _select(x == ZERO, x, res)                # keep -0
        big = _fabs(x) > TRIG_LIMIT                     # also +-inf
        return _sin_big(_select(big, x, ZERO), res)

    @_kjit
    def cos_(x):
        res = sincos_core(x, SH1)
        big = _fabs(x) > TRIG_LIMIT
        return _cos_big(_select(big, x, ZERO), res)

    return dict(exp=exp_, log=log_, log1p=log1p_, expm1=expm1_, tanh=tanh_,
                sigmoid=sigmoid_, erf=erf_, sin=sin_, cos=cos_,
                softplus=softplus_)


_K = {types.float32: _build(np.float32), types.float64: _build(np.float64)}


# ---------------------------------------------------------------------------
# Public API: pure-Python stubs, overloaded for numba.
#
# Inside @njit code ``m.exp(x)`` resolves, through numba's typing of the
# overloaded stub, to the float32 kernel for a float32 argument and to the
# float64 kernel for a float64 argument (integers and booleans are treated
# as float64).  The kernels are compiled as separate functions without
# fastmath and inlined by LLVM, so their instruction flags survive even in a
# ``fastmath=True`` caller.  Called from plain Python the stubs dispatch to a
# small jitted wrapper, so ``exp(np.float32(1))`` returns an np.float32.
# ---------------------------------------------------------------------------

_PY_CALLERS = {}


def _call_from_python(stub, x):
    disp = _PY_CALLERS.get(stub)
    if disp is None:
        def caller(v):
            return stub(v)
        disp = _PY_CALLERS[stub] = njit(caller)
    res = disp(x)
    return np.float32(res) if isinstance(x, np.float32) else np.float64(res)


def _register(stub):
    name = stub.__name__
    k32 = _K[types.float32][name]
    k64 = _K[types.float64][name]

    @overload(stub, jit_options=dict(fastmath=False, error_model="numpy"))
    def _ov(x):
        if x == types.float32:
            return lambda x: k32(x)
        if x == types.float64:
            return lambda x: k64(x)
        if isinstance(x, (types.Integer, types.Boolean)):
            return lambda x: k64(np.float64(x))
        return None
    return stub


def exp(x):
    """e**x."""
    return _call_from_python(exp, x)


def log(x):
    """Natural logarithm (log(0) = -inf, log(x<0) = nan)."""
    return _call_from_python(log, x)


def log1p(x):
    """log(1 + x), accurate for small x."""
    return _call_from_python(log1p, x)


def expm1(x):
    """exp(x) - 1, accurate for small x."""
    return _call_from_python(expm1, x)


def tanh(x):
    """Hyperbolic tangent."""
    return _call_from_python(tanh, x)


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), no overflow for any x."""
    return _call_from_python(sigmoid, x)


def erf(x):
    """Error function."""
    return _call_from_python(erf, x)


def sin(x):
    """Sine (radians)."""
    return _call_from_python(sin, x)


def cos(x):
    """Cosine (radians)."""
    return _call_from_python(cos, x)


def softplus(x):
    """log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|))."""
    return _call_from_python(softplus, x)


for _f in (exp, log, log1p, expm1, tanh, sigmoid, erf, sin, cos, softplus):
    _register(_f)
del _f
