"""Applying an op-table entry: dtype promotion, broadcasting, running the
kernel (or recording it for fusion) and creating the autograd node.

Everything is checked before anything is computed, so a failing op leaves
its inputs, their ``.grad`` and the graph untouched."""
import weakref

from .. import dtypes
from ..backends import shares_memory
from ..autograd import grad_mode
from ..autograd.node import (ERR_BACKWARD_TWICE, AccumulateGrad, Node, edge,
                             SavedTensor)
from ..fusion import recorder
from ..fusion.chain import ArrayLeaf, Expr
from ..tensor import Tensor


# ---- shared helpers ---------------------------------------------------
def broadcast_shapes(*shapes):
    ndim = max(len(s) for s in shapes)
    result = []
    for axis in range(-ndim, 0):
        size = 1
        for index, shape in enumerate(shapes):
            if -axis > len(shape):
                continue
            d = shape[axis]
            if d == 1 or d == size:
                continue
            if size == 1:
                size = d
                continue
            first = next(i for i, s in enumerate(shapes)
                         if -axis <= len(s) and s[axis] == size)
            names = "abcdefgh"
            raise RuntimeError(
                f"The size of tensor {names[first]} ({size}) must match "
                f"the size of tensor {names[index]} ({d}) at non-singleton "
                f"dimension {axis + ndim}")
        result.append(size)
    return tuple(result)


def _wants_grad(spec, tensors):
    if not spec.differentiable or not grad_mode.state.enabled:
        return False
    for t in tensors:
        if t is not None and t._requires_grad:
            return True
    return False


# ---- pointwise --------------------------------------------------------
def pointwise_dtypes(spec, operands):
    rule = spec.dtypes
    if rule == "same" or rule == "float":
        # The common case without the general promotion walk: tensors of
        # one floating dtype, with any Python numbers.
        common = None
        for x in operands:
            if isinstance(x, Tensor):
                if common is None:
                    common = x._dtype
                elif x._dtype is not common:
                    common = None
                    break
            elif not isinstance(x, (int, float)):
                common = None
                break
        if common is not None and common.category == 2:
            return common, common
    if rule == "where":
        result = dtypes.result_type(*operands[1:])
        return result, result
    promoted = dtypes.result_type(*operands)
    if rule == "same":
        return promoted, promoted
    if rule == "float":
        if not promoted.is_floating_point:
            promoted = dtypes.get_default_dtype()
        return promoted, promoted
    if rule == "bool":
        return dtypes.bool_, promoted
    if rule == "logical":
        return dtypes.bool_, dtypes.bool_
    if rule == "integral":
        if promoted.is_floating_point:
            raise RuntimeError(f"{spec.name} is not implemented for "
                               f"floating point tensors ({promoted})")
        return promoted, promoted
    raise ValueError(f"unknown dtype rule {rule!r}")


class PointwiseCtx:
    __slots__ = ("needs_input_grad", "scalars")


def check_same_device(first, other):
    raise RuntimeError(
        "Expected all tensors to be on the same device, but found at least "
        f"two devices, {first} and {other}!")


def apply_pointwise(spec, operands):
    shape = None
    broadcast = False
    args = []
    depth = 0
    wants_grad = False
    device = None
    for i, x in enumerate(operands):
        if isinstance(x, Tensor):
            if device is None:
                device = x._device
            elif x._device is not device and x._device != device:
                if x._shape == () and x._device.type == "cpu" \
                        and not x._requires_grad:
                    # As in PyTorch, a zero-dim CPU tensor is a scalar to
                    # a CUDA op (it promotes like one, too).
                    operands = list(operands)
                    operands[i] = x = x.item()
                    args.append(x)
                    continue
                check_same_device(device, x._device)
            if shape is None:
                shape = x._shape
            elif x._shape != shape:
                broadcast = True
            if x._requires_grad:
                wants_grad = True
            expr = x._expr
            if expr is None:
                args.append(ArrayLeaf(x._data))
            else:
                args.append(expr)
                if expr.depth > depth:
                    depth = expr.depth
        elif x is None:
            raise TypeError(f"{spec.name}(): expected a Tensor or a number, "
                            "got None")
        else:
            args.append(x)
    if shape is None:
        raise TypeError(f"{spec.name}() needs at least one Tensor operand")
    if broadcast:
        shape = broadcast_shapes(*[x._shape for x in operands
                                   if isinstance(x, Tensor)])
    out_dtype, compute = pointwise_dtypes(spec, operands)
    size = 1
    for d in shape:
        size *= d
    expr = Expr(spec, args, out_dtype, compute, shape, size, depth + 1,
                device)
    out = recorder.emit(expr, Tensor)
    if wants_grad and spec.differentiable and grad_mode.state.enabled:
        _attach_pointwise_node(spec, operands, out)
    return out


def _attach_pointwise_node(spec, operands, out):
    needs = []
    edges = []
    meta = []
    names = spec.input_names
    skip = spec.no_grad_inputs
    for x, name in zip(operands, names):
        if isinstance(x, Tensor):
            need = x._requires_grad and name not in skip
            edges.append(edge(x))
            meta.append((x._shape, x._dtype))
        else:
            need = False
            edges.append((None, 0))
            meta.append(None)
        needs.append(need)
    ctx = PointwiseCtx()
    ctx.needs_input_grad = needs
    node = Node(spec, ctx, tuple(edges), tuple(meta))
    saved = {}
    scalars = {}
    for name, need in zip(names, needs):
        if not need:
            continue
        for use in spec.grad_specs[name].uses:
            if use in saved or use in scalars:
                continue
            if use == "out":
                saved[use] = SavedTensor(out, node, True)
                continue
            value = operands[names.index(use)]
            if isinstance(value, Tensor):
                saved[use] = SavedTensor(value, node, False)
            else:
                scalars[use] = value
    node.saved = saved
    ctx.scalars = scalars
    out._requires_grad = True
    out.grad_fn = node


def pointwise_backward(node, grads):
    spec = node.spec
    ctx = node.ctx
    g = grads[0]
    if node.freed:
        raise RuntimeError(ERR_BACKWARD_TWICE)
    values = dict(ctx.scalars)
    for name in node.saved:
        values[name] = node.saved_tensor(name)
    create_graph = grad_mode.state.enabled
    result = []
    for name, need in zip(spec.input_names, ctx.needs_input_grad):
        if not need:
            result.append(None)
            continue
        grad_spec = spec.grad_specs[name]
        uses = [values[u] for u in grad_spec.uses]
        if create_graph:
            from . import tensor_math
            partial = grad_spec.partial_fn(*uses, tensor_math)
            result.append(g * partial)
        else:
            result.append(apply_pointwise(grad_spec, [g] + uses))
    return result


# ---- structured ops ---------------------------------------------------
class OpCtx:
    """Forward kernels may set attributes on it; backward reads them and
    the saved tensors (``ctx.<input name>``, ``ctx.out``)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        node_ref = self.__dict__.get("_node")
        node = node_ref() if node_ref is not None else None
        if node is None or node.saved is None and not node.freed:
            raise AttributeError(name)
        if node.freed:
            raise RuntimeError(ERR_BACKWARD_TWICE)
        if name not in node.saved:
            raise AttributeError(name)
        return node.saved_tensor(name)


def apply_structured(spec, inputs, params):
    # A forward given ``precomputed`` (its value, from a fused kernel)
    # does not read its inputs: they stay pending, unmaterialised.
    lazy = params.get("precomputed") is not None
    device = None
    for t in inputs:
        if isinstance(t, Tensor):
            if device is None:
                device = t._device
            elif t._device != device:
                check_same_device(device, t._device)
        elif t is not None:
            raise TypeError(f"{spec.name}(): expected Tensor inputs, got "
                            f"{type(t).__name__}")
    arrays = [None if t is None or lazy else t._value() for t in inputs]
    forward = spec.forward
    if device is not None and device.type == "cuda":
        if spec.cuda is None:
            from . import cuda  # noqa: F401  (the twins register on import)
        forward = spec.cuda
        if forward is None:
            raise NotImplementedError(
                f"numgrad has no CUDA kernel for '{spec.name}' yet; move "
                "its inputs to the CPU with .cpu()")
    ctx = OpCtx()
    out_array = forward(ctx, *arrays, **params)
    out = Tensor._make(out_array)
    if spec.view and not lazy and out_array.base is not None \
            and shares_memory(out_array, arrays[0]):
        out._version = inputs[0]._version
        out._view_of = inputs[0]
    if _wants_grad(spec, inputs):
        needs = tuple(t is not None and t._requires_grad for t in inputs)
        ctx.needs_input_grad = needs
        ctx.params = params
        node = Node(spec, ctx, tuple(edge(t) for t in inputs),
                    tuple(None if t is None else (t._shape, t._dtype)
                          for t in inputs))
        ctx._node = weakref.ref(node)
        saved = {}
        for name in spec.save:
            if name == "out":
                saved[name] = SavedTensor(out, node, True)
            else:
                t = inputs[spec.input_names.index(name)]
                if t is not None:
                    saved[name] = SavedTensor(t, node, False)
        node.saved = saved
        out._requires_grad = True
        out.grad_fn = node
    return out


def _bind_registry():
    from . import registry
    registry._apply_pointwise = apply_pointwise
    registry._apply_structured = apply_structured


_bind_registry()
