"""Elementwise ops: a scalar formula and one partial per input.

``m`` is kernel math inside compiled code and ``tensor_math`` under
``create_graph``; partials name only what they need, and that is all the
graph saves (``out`` saves the result instead of the input)."""
from .registry import pointwise

SQRT_HALF = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327
TWO_OVER_SQRT_PI = 1.1283791670955126
SQRT_2_OVER_PI = 0.7978845608028654

# ---- arithmetic ---------------------------------------------------------


@pointwise("add")
def add(a, b, m):
    return a + b


@add.partial("a")
def _(m):
    return 1


@add.partial("b")
def _(m):
    return 1


@pointwise("sub")
def sub(a, b, m):
    return a - b


@sub.partial("a")
def _(m):
    return 1


@sub.partial("b")
def _(m):
    return -1


@pointwise("mul")
def mul(a, b, m):
    return a * b


# float16 times a number multiplies by the number in float32, as PyTorch
# does (either side: ``2.5 * x`` is ``x.mul(2.5)`` there).
mul.opmath_inputs = ("a", "b")


@mul.partial("a")
def _(b, m):
    return b


@mul.partial("b")
def _(a, m):
    return a


@pointwise("div", dtypes="float")
def div(a, b, m):
    return a / b


div.opmath_inputs = ("b",)


@div.partial("a")
def _(b, m):
    return 1 / b


@div.partial("b")
def _(a, b, m):
    return -a / (b * b)


@pointwise("pow")
def pow(a, b, m):
    return m.pow(a, b)


@pow.partial("a")
def _(a, b, m):
    return m.where(b == 0, 0.0, b * m.pow(a, b - 1))


@pow.partial("b")
def _(a, b, out, m):
    return m.where((a == 0) & (b >= 0), 0.0, out * m.log(a))


@pointwise("neg")
def neg(x, m):
    return -x


@neg.partial("x")
def _(m):
    return -1


@pointwise("abs")
def abs(x, m):
    return m.abs(x)


@abs.partial("x")
def _(x, m):
    return m.sign(x)


@pointwise("sign")
def sign(x, m):
    return m.sign(x)


@sign.partial("x")
def _(m):
    return 0


@pointwise("reciprocal", dtypes="float")
def reciprocal(x, m):
    return 1 / x


@reciprocal.partial("x")
def _(out, m):
    return -out * out


@pointwise("maximum")
def maximum(a, b, m):
    return m.maximum(a, b)


@maximum.partial("a")
def _(a, b, m):
    return m.where(a > b, 1.0, m.where(a == b, 0.5, 0.0))


@maximum.partial("b")
def _(a, b, m):
    return m.where(b > a, 1.0, m.where(a == b, 0.5, 0.0))


@pointwise("minimum")
def minimum(a, b, m):
    return m.minimum(a, b)


@minimum.partial("a")
def _(a, b, m):
    return m.where(a < b, 1.0, m.where(a == b, 0.5, 0.0))


@minimum.partial("b")
def _(a, b, m):
    return m.where(b < a, 1.0, m.where(a == b, 0.5, 0.0))


@pointwise("clamp", node_name="ClampBackward1")
def clamp(x, lo, hi, m):
    return m.minimum(m.maximum(x, lo), hi)


@clamp.partial("x")
def _(x, lo, hi, m):
    return m.where((x >= lo) & (x <= hi), 1.0, 0.0)


@clamp.partial("lo")
def _(x, lo, m):
    return m.where(x < lo, 1.0, 0.0)


@clamp.partial("hi")
def _(x, hi, m):
    return m.where(x > hi, 1.0, 0.0)


@pointwise("clamp_min")
def clamp_min(x, lo, m):
    return m.maximum(x, lo)


@clamp_min.partial("x")
def _(x, lo, m):
    return m.where(x >= lo, 1.0, 0.0)


@clamp_min.partial("lo")
def _(x, lo, m):
    return m.where(x < lo, 1.0, 0.0)


@pointwise("clamp_max")
def clamp_max(x, hi, m):
    return m.minimum(x, hi)


@clamp_max.partial("x")
def _(x, hi, m):
    return m.where(x <= hi, 1.0, 0.0)


@clamp_max.partial("hi")
def _(x, hi, m):
    return m.where(x > hi, 1.0, 0.0)


@pointwise("where", dtypes="where")
def where(cond, a, b, m):
    return m.where(cond, a, b)


where.keep_dtype_inputs = ("cond",)
where.no_grad_inputs = ("cond",)


@where.partial("a")
def _(cond, m):
    return m.where(cond, 1.0, 0.0)


@where.partial("b")
def _(cond, m):
    return m.where(cond, 0.0, 1.0)


# ---- exponentials and friends ------------------------------------------


@pointwise("exp", dtypes="float")
def exp(x, m):
    return m.exp(x)


@exp.partial("x")
def _(out, m):
    return out


@pointwise("log", dtypes="float")
def log(x, m):
    return m.log(x)


@log.partial("x")
def _(x, m):
    return 1 / x


@pointwise("log1p", dtypes="float")
def log1p(x, m):
    return m.log1p(x)


@log1p.partial("x")
def _(x, m):
    return 1 / (x + 1)


@pointwise("expm1", dtypes="float")
def expm1(x, m):
    return m.expm1(x)


@expm1.partial("x")
def _(out, m):
    return out + 1


@pointwise("sqrt", dtypes="float")
def sqrt(x, m):
    return m.sqrt(x)


@sqrt.partial("x")
def _(out, m):
    return 0.5 / out


@pointwise("rsqrt", dtypes="float")
def rsqrt(x, m):
    return 1 / m.sqrt(x)


@rsqrt.partial("x")
def _(out, m):
    return -0.5 * out * out * out


@pointwise("sin", dtypes="float")
def sin(x, m):
    return m.sin(x)


@sin.partial("x")
def _(x, m):
    return m.cos(x)


@pointwise("cos", dtypes="float")
def cos(x, m):
    return m.cos(x)


@cos.partial("x")
def _(x, m):
    return -m.sin(x)


@pointwise("tan", dtypes="float")
def tan(x, m):
    return m.sin(x) / m.cos(x)


@tan.partial("x")
def _(out, m):
    return 1 + out * out


@pointwise("tanh", dtypes="float")
def tanh(x, m):
    return m.tanh(x)


@tanh.partial("x")
def _(out, m):
    return 1 - out * out


@pointwise("sigmoid", dtypes="float")
def sigmoid(x, m):
    return m.sigmoid(x)


@sigmoid.partial("x")
def _(out, m):
    return out * (1 - out)


@pointwise("erf", dtypes="float")
def erf(x, m):
    return m.erf(x)


@erf.partial("x")
def _(x, m):
    return TWO_OVER_SQRT_PI * m.exp(-x * x)


# ---- activations --------------------------------------------------------


@pointwise("relu")
def relu(x, m):
    # Not where(x > 0, x, 0): NaN must come through, as in PyTorch (a
    # diverging model must not look healthy).
    return m.where(x < 0, 0, x)


@relu.partial("x")
def _(out, m):
    return m.where(out > 0, 1.0, 0.0)


@pointwise("leaky_relu")
def leaky_relu(x, slope, m):
    return m.where(x > 0, x, x * slope)


leaky_relu.no_grad_inputs = ("slope",)
leaky_relu.opmath_inputs = ("slope",)


@leaky_relu.partial("x")
def _(x, slope, m):
    return m.where(x > 0, 1.0, slope)


@pointwise("hardtanh")
def hardtanh(x, lo, hi, m):
    return m.minimum(m.maximum(x, lo), hi)


hardtanh.no_grad_inputs = ("lo", "hi")


@hardtanh.partial("x")
def _(x, lo, hi, m):
    return m.where((x > lo) & (x < hi), 1.0, 0.0)


@pointwise("gelu", dtypes="float")
def gelu(x, m):
    return 0.5 * x * (1 + m.erf(x * SQRT_HALF))


@gelu.partial("x")
def _(x, m):
    return (0.5 * (1 + m.erf(x * SQRT_HALF))
            + x * INV_SQRT_2PI * m.exp(-0.5 * x * x))


@pointwise("gelu_tanh", dtypes="float", node_name="GeluBackward0")
def gelu_tanh(x, m):
    return 0.5 * x * (1 + m.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))


@gelu_tanh.partial("x")
def _(x, m):
    return (0.5 * (1 + m.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
            + 0.5 * x * (1 - m.tanh(SQRT_2_OVER_PI
                                    * (x + 0.044715 * x * x * x)) ** 2)
            * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x))


@pointwise("silu", dtypes="float")
def silu(x, m):
    return x * m.sigmoid(x)


@silu.partial("x")
def _(x, m):
    return m.sigmoid(x) * (1 + x * (1 - m.sigmoid(x)))


@pointwise("softplus", dtypes="float")
def softplus(x, beta, threshold, m):
    return m.where(x * beta > threshold, x,
                   m.log1p(m.exp(x * beta)) / beta)


softplus.no_grad_inputs = ("beta", "threshold")
softplus.opmath_inputs = ("beta", "threshold")


@softplus.partial("x")
def _(x, beta, threshold, m):
    return m.where(x * beta > threshold, 1.0, m.sigmoid(x * beta))


# ---- comparisons and logic (not differentiable) -------------------------


@pointwise("eq", dtypes="bool", differentiable=False)
def eq(a, b, m):
    return a == b


@pointwise("ne", dtypes="bool", differentiable=False)
def ne(a, b, m):
    return a != b


@pointwise("lt", dtypes="bool", differentiable=False)
def lt(a, b, m):
    return a < b


@pointwise("le", dtypes="bool", differentiable=False)
def le(a, b, m):
    return a <= b


@pointwise("gt", dtypes="bool", differentiable=False)
def gt(a, b, m):
    return a > b


@pointwise("ge", dtypes="bool", differentiable=False)
def ge(a, b, m):
    return a >= b


@pointwise("isnan", dtypes="bool", differentiable=False)
def isnan(x, m):
    return x != x


@pointwise("logical_and", dtypes="logical", differentiable=False)
def logical_and(a, b, m):
    return a and b


@pointwise("logical_or", dtypes="logical", differentiable=False)
def logical_or(a, b, m):
    return a or b


@pointwise("logical_xor", dtypes="logical", differentiable=False)
def logical_xor(a, b, m):
    return a != b


@pointwise("logical_not", dtypes="logical", differentiable=False)
def logical_not(x, m):
    return not x


# Integer quotients in integer arithmetic: through a float quotient they
# were wrong past 2**24 (float32) and garbage for a zero divisor.  The
# callers (ops.arith) refuse zero divisors first, as PyTorch does.
@pointwise("floor_divide_integral", dtypes="integral", differentiable=False)
def floor_divide_integral(a, b, m):
    return a // b


@pointwise("trunc_divide_integral", dtypes="integral", differentiable=False)
def trunc_divide_integral(a, b, m):
    return a // b + m.where((a % b != 0) & ((a < 0) != (b < 0)), 1, 0)


@pointwise("remainder_integral", dtypes="integral", differentiable=False)
def remainder_integral(a, b, m):
    return a % b


@pointwise("floor")
def floor(x, m):
    return m.floor(x)


@pointwise("ceil")
def ceil(x, m):
    return m.ceil(x)


@pointwise("trunc")
def trunc(x, m):
    return m.where(x < 0, m.ceil(x), m.floor(x))


@floor.partial("x")
def _(m):
    return 0


@ceil.partial("x")
def _(m):
    return 0


@trunc.partial("x")
def _(m):
    return 0
