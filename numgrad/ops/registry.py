"""The op table.

Grammar of an entry (every op in numgrad is one of two shapes):

``@pointwise(name, inputs=..., dtypes=...)`` over a *scalar formula*
    ``def f(a, b, m): return ...`` written with arithmetic and ``m.*``
    (``m`` is scalar kernel math in compiled code and numgrad's tensor
    functions under ``create_graph``).  ``@f.partial("a")`` declares
    d out / d a as a formula of the op's inputs and ``out``; the engine
    multiplies it by the incoming gradient and sums over broadcast
    dimensions.  Only the names a partial uses are saved for backward.
    From this one declaration numgrad derives the eager CPU kernel, the
    fused kernels, the eager backward kernel and the differentiable
    backward.

``@op(name, save=...)`` over a *forward kernel* ``def f(ctx, x, ..., **params)``
    taking NumPy arrays and returning one array.  ``save`` names the inputs
    (and ``"out"``) that backward reads as ``ctx.<name>``; ``@f.backward``
    ``def _(ctx, grad)`` returns one gradient per input, computed with
    differentiable numgrad ops so higher-order gradients work.  The
    ``cuda`` slot holds the device kernel where one exists.  A forward
    may take ``precomputed=`` (its result, computed by a fused kernel);
    its array inputs are then None and are not materialised.
"""
import inspect
import types

OP_TABLE = {}


def _node_name(name):
    return "".join(p.capitalize() for p in name.split("_")) + "Backward0"


class OpSpec:
    kind = "structured"

    def __init__(self, name, forward, save=(), node_name=None,
                 differentiable=True, view=False):
        self.name = name
        # A view op's output may share its input's storage; it then
        # shares its version counter too, so in-place writes through
        # either are seen by saved-tensor checks.
        self.view = view
        self.forward = forward
        self.node_name = node_name or _node_name(name)
        params = list(inspect.signature(forward).parameters.values())[1:]
        self.input_names = tuple(
            p.name for p in params
            if p.kind == p.POSITIONAL_OR_KEYWORD and p.default is p.empty)
        self.save = tuple(save)
        self.backward_fn = None
        self.differentiable = differentiable
        self.cuda = None
        if name in OP_TABLE:
            raise ValueError(f"op {name!r} registered twice")
        OP_TABLE[name] = self

    def backward(self, fn):
        self.backward_fn = fn
        return fn

    def __call__(self, *inputs, **params):
        return _apply_structured(self, inputs, params)

    def run_backward(self, node, grads):
        return self.backward_fn(node.ctx, *grads)

    def __repr__(self):
        return f"<op {self.name}>"


def op(name, save=(), node_name=None, differentiable=True, view=False):
    def register(forward):
        return OpSpec(name, forward, save, node_name, differentiable, view)
    return register


class PointwiseSpec:
    """An elementwise op: one scalar formula and its partials."""
    kind = "pointwise"

    def __init__(self, name, formula, dtypes, node_name=None,
                 differentiable=True, version=1):
        self.name = name
        self.formula = formula
        params = list(inspect.signature(formula).parameters)
        if params[-1] != "m":
            raise TypeError(f"{name}: a formula's last parameter is 'm'")
        self.input_names = tuple(params[:-1])
        self.dtypes = dtypes
        self.node_name = node_name or _node_name(name)
        self.differentiable = differentiable
        self.version = version
        self.partials = {}
        self.grad_specs = {}
        self._inline = None
        self.cuda = None
        self.keep_dtype_inputs = ()
        # Inputs that, as single values, join float16 arithmetic in
        # float32 instead of being rounded to float16 first (PyTorch's
        # mul and div do this).
        self.opmath_inputs = ()
        self.no_grad_inputs = ()
        if name in OP_TABLE:
            raise ValueError(f"op {name!r} registered twice")
        OP_TABLE[name] = self

    def partial(self, input_name):
        if input_name not in self.input_names:
            raise ValueError(f"{self.name} has no input {input_name!r}")

        def register(fn):
            self.partials[input_name] = fn
            self.grad_specs[input_name] = GradSpec(self, input_name, fn)
            return fn
        return register

    def inline(self, args, dtype_name):
        """Source of the formula with ``args`` substituted."""
        if self._inline is None:
            from ..fusion.codegen import FormulaInliner
            self._inline = FormulaInliner(self.formula, self.input_names)
        return self._inline.render(args, dtype_name)

    def run_backward(self, node, grads):
        from .apply import pointwise_backward
        return pointwise_backward(node, grads)

    def __call__(self, *operands):
        return _apply_pointwise(self, operands)

    def __get__(self, instance, owner=None):
        # Bound like a function when installed as a Tensor method.
        if instance is None:
            return self
        return types.MethodType(self, instance)

    def __repr__(self):
        return f"<pointwise op {self.name}>"


class GradSpec:
    """``g * d op / d input`` as a pointwise formula of its own, so the
    eager backward and the fused backward are generated like any op."""
    kind = "pointwise"
    differentiable = False
    dtypes = "same"
    no_grad_inputs = ()

    def __init__(self, op_spec, input_name, partial_fn):
        self.op_spec = op_spec
        self.input_name = input_name
        self.partial_fn = partial_fn
        names = list(inspect.signature(partial_fn).parameters)
        if names[-1] != "m":
            raise TypeError(f"{op_spec.name}: a partial's last parameter "
                            "is 'm'")
        self.uses = tuple(names[:-1])
        bad = set(self.uses) - set(op_spec.input_names) - {"out"}
        if bad:
            raise TypeError(f"{op_spec.name}: partial for {input_name!r} "
                            f"names unknown values {sorted(bad)}")
        self.input_names = ("g",) + self.uses
        self.name = f"{op_spec.name}.grad_{input_name}"
        self.version = op_spec.version
        self.keep_dtype_inputs = op_spec.keep_dtype_inputs
        self._inline = None

    @property
    def opmath_inputs(self):
        return self.op_spec.opmath_inputs

    def inline(self, args, dtype_name):
        if self._inline is None:
            from ..fusion.codegen import FormulaInliner
            self._inline = FormulaInliner(self.partial_fn, self.uses)
        body = self._inline.render(args, dtype_name)
        return f"({args['g']}) * ({body})"


def pointwise(name, dtypes="same", node_name=None, differentiable=True,
              version=1):
    """dtypes: 'same' (promoted inputs), 'float' (integers compute in the
    default float type), 'bool' (comparisons: result bool), 'logical'."""
    def register(formula):
        return PointwiseSpec(name, formula, dtypes, node_name,
                             differentiable, version)
    return register


def validate():
    """Every op must be complete: a backward or an explicit statement
    that it is not differentiable."""
    problems = []
    for name, spec in OP_TABLE.items():
        if not spec.differentiable:
            continue
        if spec.kind == "pointwise":
            missing = (set(spec.input_names) - set(spec.partials)
                       - set(spec.no_grad_inputs))
            if missing:
                problems.append(f"{name}: no partial for {sorted(missing)}")
        elif spec.backward_fn is None:
            problems.append(f"{name}: no backward")
    if problems:
        raise RuntimeError("incomplete op table: " + "; ".join(problems))


def _apply_pointwise(spec, operands):
    # Rebound to apply.apply_pointwise once apply.py is imported (it
    # imports this module, so it cannot be imported here at load time).
    from .apply import apply_pointwise
    return apply_pointwise(spec, operands)


def _apply_structured(spec, inputs, params):
    from .apply import apply_structured
    return apply_structured(spec, inputs, params)
