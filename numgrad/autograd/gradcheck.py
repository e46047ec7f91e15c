"""gradcheck / gradgradcheck: analytical Jacobians (one backward per output
element) against central finite differences."""
import numpy as np


class GradcheckError(RuntimeError):
    pass


def _tensors(inputs):
    from ..tensor import Tensor
    return [i for i in inputs if isinstance(i, Tensor) and i.requires_grad]


def _flat_outputs(func, inputs):
    from ..tensor import Tensor
    out = func(*inputs)
    if isinstance(out, Tensor):
        return (out,)
    return tuple(o for o in out if isinstance(o, Tensor))


def _numerical(func, inputs, targets, eps):
    columns = []
    for t in targets:
        flat = t._value().reshape(-1)
        originals = t._host().reshape(-1)
        for k in range(flat.size):
            # Perturbs storage directly: no version bump, no graph change.
            # (Works on either device: a CUDA array's element assignment
            # is a one-element fill.)
            original = originals[k]
            flat[k] = original + eps
            plus = [o._host().astype(np.float64)
                    for o in _flat_outputs(func, inputs)]
            flat[k] = original - eps
            minus = [o._host().astype(np.float64)
                     for o in _flat_outputs(func, inputs)]
            flat[k] = original
            columns.append(np.concatenate(
                [((p - m) / (2 * eps)).reshape(-1)
                 for p, m in zip(plus, minus)]))
    return np.stack(columns, axis=0) if columns else np.zeros((0, 0))


def _analytical(func, inputs, targets):
    from .api import grad
    from ..creation import zeros_like
    outputs = _flat_outputs(func, inputs)
    sizes = [o.numel() for o in outputs]
    total_in = sum(t.numel() for t in targets)
    jac = np.zeros((total_in, sum(sizes)))
    col = 0
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            col += sizes[i]
            continue
        for k in range(sizes[i]):
            seed = zeros_like(out)
            seed._value().reshape(-1)[k] = 1
            grads = grad(out, targets, seed, retain_graph=True,
                         allow_unused=True)
            row = 0
            for t, g in zip(targets, grads):
                n = t.numel()
                if g is not None:
                    jac[row:row + n, col] = g._host().reshape(-1)
                row += n
            col += 1
    return jac


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3,
              raise_exception=True, nondet_tol=0.0, check_undefined_grad=True,
              fast_mode=False, **unused):
    from ..tensor import Tensor
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    inputs = tuple(inputs)
    targets = _tensors(inputs)
    for t in targets:
        if t.dtype.name != "float64":
            import warnings
            warnings.warn(
                "Input #0 requires gradient and is not a double precision "
                "floating point. This check will likely fail if all the "
                "inputs are not of double precision floating point. ",
                UserWarning)
    numerical = _numerical(func, inputs, targets, eps)
    analytical = _analytical(func, inputs, targets)
    if not np.allclose(analytical, numerical, rtol=rtol, atol=atol,
                       equal_nan=True):
        diff = np.abs(analytical - numerical)
        where = np.unravel_index(np.argmax(diff), diff.shape)
        message = (
            "Jacobian mismatch for output 0 with respect to input 0,\n"
            f"numerical:{numerical}\nanalytical:{analytical}\n"
            f"largest difference {diff[where]} at (input element, output "
            f"element) {tuple(int(w) for w in where)}")
        if raise_exception:
            raise GradcheckError(message)
        return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5,
                  rtol=1e-3, gen_non_contig_grad_outputs=False,
                  raise_exception=True, **unused):
    """Checks second derivatives: the gradient of (outputs . v) w.r.t. the
    inputs, as a function of inputs and v, against finite differences."""
    from ..tensor import Tensor
    from ..creation import randn_like
    from .api import grad
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    inputs = tuple(inputs)
    outputs = _flat_outputs(func, inputs)
    if grad_outputs is None:
        grad_outputs = tuple(
            randn_like(o).requires_grad_(True) for o in outputs
            if o.requires_grad)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,)
    n_inputs = len(inputs)

    def first_order(*args):
        ins, vs = args[:n_inputs], args[n_inputs:]
        outs = [o for o in _flat_outputs(func, ins) if o.requires_grad]
        diff_inputs = _tensors(ins)
        grads = grad(outs, diff_inputs, vs, create_graph=True,
                     allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_order, inputs + tuple(grad_outputs), eps=eps,
                     atol=atol, rtol=rtol, raise_exception=raise_exception)
