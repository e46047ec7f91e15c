"""Source generation for fused elementwise kernels.

1. Each op's scalar formula is parsed once into an AST (``FormulaInliner``);
   rendering substitutes argument names and types numeric literals with the
   node's compute dtype, so float32 chains never widen to float64.
2. ``kernel_source`` walks a ``Plan`` in topological order and emits one
   assignment per node inside a single loop over the output.
3. Two loop templates: *flat* (every array is the output's size and
   contiguous, or a single element) which LLVM vectorises, and *nd* (arrays
   passed as broadcast views, one nested loop per dimension).  Both come as
   a serial and a ``prange`` variant in the same file.
4. CUDA chains use the same element lines inside a grid-stride loop over
   the output (``@cuda.jit``, ``m`` = the CUDA device math); the nd
   variant turns the flat index into one index per dimension.
5. float16 is a storage format: loads widen it to float32, every
   arithmetic runs in float32 and each float16 node's result is rounded
   to float16 (``m.half_round``), so a fused chain keeps exactly the
   values eager execution stores.  On the CPU, where Numba has no
   float16 type, kernels take float16 arrays as their uint16 bits behind
   a small wrapper that makes those views."""
import ast
import inspect
import textwrap


class FormulaInliner:
    def __init__(self, fn, arg_names):
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
        func = tree.body[0]
        body = [s for s in func.body
                if not (isinstance(s, ast.Expr)
                        and isinstance(s.value, ast.Constant))]
        if len(body) != 1 or not isinstance(body[0], ast.Return):
            raise TypeError(f"formula {fn.__qualname__} must be a single "
                            "return statement")
        self.expr = body[0].value
        self.arg_names = set(arg_names)
        # Module-level numeric constants are inlined: generated files do
        # not import the formula's module, and the source hash then
        # tracks their values.
        self.constants = {
            name: value for name, value in fn.__globals__.items()
            if isinstance(value, (int, float)) and not isinstance(value,
                                                                  bool)}

    def render(self, args, dtype_name):
        tree = _Substitute(args, dtype_name, self.constants).visit(
            _copy(self.expr))
        return ast.unparse(tree)


def _copy(node):
    return ast.parse(ast.unparse(node), mode="eval").body


class _Substitute(ast.NodeTransformer):
    def __init__(self, args, dtype_name, constants):
        self.args = args
        self.dtype_name = dtype_name
        self.constants = constants

    def visit_Name(self, node):
        if node.id in self.args:
            return ast.parse(self.args[node.id], mode="eval").body
        if node.id in self.constants:
            return self.visit_Constant(ast.Constant(self.constants[node.id]))
        return node

    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return node
        return ast.Call(func=ast.Name(id=self.dtype_name, ctx=ast.Load()),
                        args=[node], keywords=[])


HEADER = """\
import numpy as np
from numba import njit, prange
from numgrad.ops import kernel_math as m
bool_ = np.bool_
float16, float32, float64 = np.float16, np.float32, np.float64
int8, int16, int32, int64 = np.int8, np.int16, np.int32, np.int64
uint8, uint16 = np.uint8, np.uint16
"""

_DECORATOR = ("@njit(cache=True, error_model='numpy', fastmath={{'contract'}}"
              "{parallel})")


TOTAL_BLOCK = 4096


CUDA_HEADER = HEADER.replace(
    "from numba import njit, prange\n", "from numba import cuda\n").replace(
    "numgrad.ops import kernel_math", "numgrad.backends.cuda import device_math")


def kernel_source(plan):
    if plan.on_device:
        return cuda_kernel_source(plan)
    params = ([f"a{i}" for i in range(len(plan.arrays))]
              + [f"s{i}" for i in range(len(plan.scalars))])
    params += ["n"] if plan.total else [f"o{i}" for i in
                                        range(len(plan.outputs))]
    halves = _half_params(plan)
    lines = [HEADER]
    for parallel in (False, True):
        name = "kernel_par" if parallel else "kernel"
        lines.append("")
        lines.append(_DECORATOR.format(
            parallel=", parallel=True" if parallel else ""))
        lines.append(f"def {'_' if halves else ''}{name}"
                     f"({', '.join(params)}):")
        lines.extend(_total_body(plan, parallel) if plan.total
                     else _body(plan, parallel))
    if halves:
        lines += _bits_wrappers(params, halves)
    return "\n".join(lines) + "\n"


def _half_params(plan):
    """Kernel parameters that are float16 arrays."""
    names = {f"a{i}" for i, a in enumerate(plan.arrays)
             if _numpy_name(a.dtype) == "float16"}
    if not plan.total:
        names |= {f"o{k}" for k, n in enumerate(plan.outputs)
                  if plan.nodes[n].dtype.name == "float16"}
    return names


def _bits_wrappers(params, halves):
    args = ", ".join(f"{p}.view(uint16)" if p in halves else p
                     for p in params)
    lines = []
    for name in ("kernel", "kernel_par"):
        lines += ["", "", f"def {name}({', '.join(params)}):",
                  f"    return _{name}({args})"]
    return lines


def _total_body(plan, parallel):
    """Sum of the chain's output without writing it: blocks of values go
    through a small buffer summed with independent accumulators, so the
    elementwise loop still vectorises (a plain running sum would not,
    without reassociation flags that could change the chain's maths)."""
    loop = "prange" if parallel else "range"
    out = _scalar_casts(plan, "    ")
    out += [f"    x{slot} = {_load(plan, slot, '0')}"
            for slot, a in enumerate(plan.arrays) if a.size == 1]
    out += ["    total = 0.0",
            f"    for block in {loop}((n + {TOTAL_BLOCK - 1}) // "
            f"{TOTAL_BLOCK}):",
            f"        buf = np.empty({TOTAL_BLOCK}, np.float64)",
            f"        start = block * {TOTAL_BLOCK}",
            f"        stop = min(start + {TOTAL_BLOCK}, n)",
            "        for i in range(start, stop):"]
    out += _element_lines(plan, "i", "            ")
    out += [f"            buf[i - start] = t{plan.outputs[0]}",
            "        total += m.block_sum(buf, stop - start)",
            "    return total"]
    return out


def _body(plan, parallel):
    loop = "prange" if parallel else "range"
    out = _scalar_casts(plan, "    ")
    hoisted = []
    if plan.flat:
        index = "i"
        for slot, a in enumerate(plan.arrays):
            if a.size == 1:
                hoisted.append(f"    x{slot} = {_load(plan, slot, '0')}")
        out.append("    n = o0.size")
        out.extend(hoisted)
        out.append(f"    for i in {loop}(n):")
        indent = "        "
    else:
        ndim = max(len(plan.shape), 1)
        dims = ", ".join(f"d{k}" for k in range(ndim))
        out.append(f"    {dims}, = o0.shape")
        indent = "    "
        for k in range(ndim):
            rng = loop if k == 0 else "range"
            out.append(f"{indent}for i{k} in {rng}(d{k}):")
            indent += "    "
        index = ", ".join(f"i{k}" for k in range(ndim))
    out += _element_lines(plan, index, indent)
    out += _stores(plan, index, indent)
    return out


def _stores(plan, index, indent):
    out = []
    for k, n in enumerate(plan.outputs):
        value = f"t{n}"
        if plan.nodes[n].dtype.name == "float16":
            value = f"h{n}" if not plan.on_device else f"m.half_store({value})"
        out.append(f"{indent}o{k}[{index}] = {value}")
    return out


def _element_lines(plan, index, indent):
    """Loads of the arrays at ``index``, then one assignment per node."""
    out = []
    for slot, a in enumerate(plan.arrays):
        if not (plan.flat and a.size == 1):
            out.append(f"{indent}x{slot} = {_load(plan, slot, index)}")
    for n, node in enumerate(plan.nodes):
        compute = _arithmetic(node.compute_dtype.name)
        args = dict(zip(node.spec.input_names, _refs(plan, node, n)))
        expr = node.spec.inline(_cast_args(args, node, plan, n), compute)
        if node.dtype.name != "float16":
            out.append(f"{indent}t{n} = {_np_name(node.dtype.name)}({expr})")
        elif plan.on_device:
            out.append(f"{indent}t{n} = m.half_round(float32({expr}))")
        else:
            # The bits are kept for a store; LLVM drops what is unused.
            out += [f"{indent}h{n} = m.half_store(float32({expr}))",
                    f"{indent}t{n} = m.half_load(h{n})"]
    return out


def _load(plan, slot, index):
    if _numpy_name(plan.arrays[slot].dtype) == "float16":
        return f"m.half_load(a{slot}[{index}])"
    return f"a{slot}[{index}]"


def _arithmetic(dtype_name):
    """The type a compute dtype does arithmetic in (PyTorch's opmath)."""
    return "float32" if dtype_name == "float16" else dtype_name


def _np_name(dtype_name):
    return "bool_" if dtype_name == "bool" else dtype_name


def _cast(source, compute):
    """``source`` converted to the compute dtype."""
    if compute == "float16":
        # Rounded to float16 as PyTorch's operand casts do, then kept in
        # float32 for the arithmetic.
        return f"m.half_round(float32({source}))"
    return f"{_np_name(compute)}({source})"


def _keeps_precision(node, name, kind, plan, slot):
    """PyTorch's float16 mul and div take a single-valued second operand
    (a Python number, a zero-dim tensor) in float32, not rounded to
    float16; ``opmath_inputs`` names those operands."""
    if name not in getattr(node.spec, "opmath_inputs", ()):
        return False
    return kind == "s" or kind == "a" and plan.arrays[slot].size == 1


def _refs(plan, node, n):
    refs = plan.key[0][n][2]
    return [f"{'x' if kind == 'a' else kind}{slot}" for kind, slot in refs]


def _cast_args(args, node, plan, n):
    """Cast each argument to the node's compute dtype where it differs."""
    compute = node.compute_dtype.name
    refs = plan.key[0][n][2]
    result = {}
    for (name, source), (kind, slot) in zip(args.items(), refs):
        if kind == "t":
            dtype = plan.nodes[slot].dtype.name
        elif kind == "a":
            dtype = _numpy_name(plan.arrays[slot].dtype)
        else:
            dtype = None
        target = compute
        if compute == "float16" and _keeps_precision(node, name, kind,
                                                     plan, slot):
            target = "float32"
        if dtype != target and name not in node.spec.keep_dtype_inputs:
            # Scalars are cast once, before the loop (see _scalar_casts):
            # an int64 -> float32 cast inside it made a chain 10x slower.
            source = (f"{source}_{target}" if kind == "s"
                      else _cast(source, target))
        result[name] = source
    return result


def _scalar_casts(plan, indent):
    """``sK_<dtype> = <dtype>(sK)`` for every cast a node makes."""
    casts = []
    for n, node in enumerate(plan.nodes):
        compute = node.compute_dtype.name
        for name, (kind, slot) in zip(node.spec.input_names,
                                      plan.key[0][n][2]):
            if kind == "s" and name not in node.spec.keep_dtype_inputs:
                target = compute
                if compute == "float16" and _keeps_precision(
                        node, name, kind, plan, slot):
                    target = "float32"
                line = (f"{indent}s{slot}_{target} = "
                        f"{_cast(f's{slot}', target)}")
                if line not in casts:
                    casts.append(line)
    return casts


def _numpy_name(np_dtype):
    return "bool" if np_dtype.kind == "b" else np_dtype.name


def cuda_kernel_source(plan):
    if plan.total:
        raise ValueError("fused totals run on the CPU only")
    params = ([f"a{i}" for i in range(len(plan.arrays))]
              + [f"s{i}" for i in range(len(plan.scalars))]
              + [f"o{i}" for i in range(len(plan.outputs))])
    out = [CUDA_HEADER, "", "@cuda.jit(cache=True)",
           f"def kernel({', '.join(params)}):"]
    out += _scalar_casts(plan, "    ")
    out.append("    n = o0.size")
    indent = "        "
    if plan.flat:
        index = "i"
        out += [f"    x{slot} = {_load(plan, slot, '0')}"
                for slot, a in enumerate(plan.arrays) if a.size == 1]
        out.append("    for i in range(cuda.grid(1), n, cuda.gridsize(1)):")
    else:
        ndim = max(len(plan.shape), 1)
        out.append(f"    {', '.join(f'd{k}' for k in range(ndim))}, = "
                   "o0.shape")
        out.append("    for flat in range(cuda.grid(1), n, "
                   "cuda.gridsize(1)):")
        out.append(f"{indent}rest = flat")
        for k in reversed(range(1, ndim)):
            out.append(f"{indent}i{k} = rest % d{k}")
            out.append(f"{indent}rest = rest // d{k}")
        out.append(f"{indent}i0 = rest")
        index = ", ".join(f"i{k}" for k in range(ndim))
    out += _element_lines(plan, index, indent)
    out += _stores(plan, index, indent)
    out.append("")
    out.append("kernel_par = kernel")
    return "\n".join(out) + "\n"
