"""jacobian, hessian, vjp, jvp, hvp, vhp built on ``grad``."""
from .api import grad


def _tuple(x):
    from ..tensor import Tensor
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _prepare(inputs, create_graph):
    return tuple(t.detach().requires_grad_(True) if not create_graph
                 or not t.requires_grad else t for t in inputs)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    from ..tensor import Tensor
    single_in = isinstance(inputs, Tensor)
    inputs = _prepare(_tuple(inputs), create_graph)
    from . import grad_mode
    with grad_mode.enable_grad():
        out = func(*inputs)
        outs = _tuple(out)
        grads = grad(outs, inputs, None if v is None else _tuple(v),
                     create_graph=create_graph, allow_unused=True,
                     materialize_grads=True)
    result_out = out if create_graph else (
        out.detach() if isinstance(out, Tensor)
        else tuple(o.detach() for o in out))
    return result_out, grads[0] if single_in else grads


def jacobian(func, inputs, create_graph=False, strict=False,
             vectorize=False, strategy="reverse-mode"):
    from ..tensor import Tensor
    from ..creation import zeros_like
    from . import grad_mode
    single_in = isinstance(inputs, Tensor)
    inputs = _prepare(_tuple(inputs), create_graph)
    with grad_mode.enable_grad():
        out = func(*inputs)
        single_out = isinstance(out, Tensor)
        outs = _tuple(out)
        result = []
        for o in outs:
            rows = [[] for _ in inputs]
            for k in range(o.numel()):
                seed = zeros_like(o)
                seed._value().reshape(-1)[k] = 1
                grads = grad(o, inputs, seed, retain_graph=True,
                             create_graph=create_graph, allow_unused=True,
                             materialize_grads=True)
                for i, g in enumerate(grads):
                    rows[i].append(g)
            per_input = []
            for i, t in enumerate(inputs):
                if rows[i]:
                    j = _stacked(rows[i]).reshape(tuple(o.shape) +
                                                  tuple(t.shape))
                else:
                    j = zeros_like(t).reshape(tuple(o.shape) + tuple(t.shape))
                per_input.append(j)
            result.append(per_input[0] if single_in else tuple(per_input))
    return result[0] if single_out else tuple(result)


def hessian(func, inputs, create_graph=False, strict=False,
            vectorize=False, outer_jacobian_strategy="reverse-mode"):
    from ..tensor import Tensor
    single_in = isinstance(inputs, Tensor)

    def gradient(*args):
        from . import grad_mode
        with grad_mode.enable_grad():
            out = func(*args)
            return grad(out, args, create_graph=True, allow_unused=True,
                        materialize_grads=True)

    if single_in:
        return jacobian(lambda x: gradient(x)[0], inputs,
                        create_graph=create_graph)
    return jacobian(gradient, tuple(inputs), create_graph=create_graph)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """Via the double-vjp trick: J v = d/du (u^T J)^T v."""
    from ..tensor import Tensor
    from ..creation import zeros_like
    from . import grad_mode
    inputs = _prepare(_tuple(inputs), create_graph)
    vs = _tuple(v) if v is not None else None
    with grad_mode.enable_grad():
        out = func(*inputs)
        outs = _tuple(out)
        us = tuple(zeros_like(o).requires_grad_(True) for o in outs)
        grads = grad(outs, inputs, us, create_graph=True, allow_unused=True,
                     materialize_grads=True)
        if vs is None:
            if any(t.numel() != 1 for t in inputs):
                raise RuntimeError("The vector v can only be None if the "
                                   "input to the user-provided function is "
                                   "a single Tensor with a single element.")
            from ..creation import ones_like
            vs = tuple(ones_like(t) for t in inputs)
        pairs = [(g, vv) for g, vv in zip(grads, vs) if g.requires_grad]
        if pairs:
            result = grad([p[0] for p in pairs], us, [p[1] for p in pairs],
                          create_graph=create_graph, allow_unused=True,
                          materialize_grads=True)
        else:
            result = tuple(zeros_like(o) for o in outs)
    out_ret = out if create_graph else (
        out.detach() if isinstance(out, Tensor)
        else tuple(o.detach() for o in out))
    return out_ret, result[0] if isinstance(out, Tensor) else result


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    from ..tensor import Tensor
    single_in = isinstance(inputs, Tensor)
    inputs = _prepare(_tuple(inputs), True)
    from . import grad_mode
    with grad_mode.enable_grad():
        out = func(*inputs)
        grads = grad(out, inputs, create_graph=True, allow_unused=True,
                     materialize_grads=True)
        result = grad(grads, inputs, _tuple(v), create_graph=create_graph,
                      allow_unused=True, materialize_grads=True)
    return out.detach(), result[0] if single_in else result


vhp = hvp


def _stacked(rows):
    # Through Tensor methods (new_zeros, differentiable __setitem__): the
    # op table, and so numgrad.stack, sits above autograd.
    out = rows[0].new_zeros((len(rows),) + tuple(rows[0].shape))
    for k, row in enumerate(rows):
        out[k] = row
    return out
