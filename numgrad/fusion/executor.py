"""Runs kernels: allocates outputs, lays arrays out for the flat or the nd
template, and picks the parallel variant only for large outputs, where it
pays for waking the thread pool.

``run_single`` is the eager path of one op on materialised inputs: its
kernel is found by a key built straight from the operands, skipping the
plan, because per-op Python overhead is what small graphs feel."""
import numpy as np

from .cache import kernels_for, rebuild_uncached
from .chain import ArrayLeaf, Plan, _collapse_broadcast, _plain_scalar

PARALLEL_MIN_ELEMENTS = 1 << 17
_single = {}


def run(outputs):
    """Evaluate ``Expr`` outputs (same shape); returns NumPy arrays (or
    DeviceArrays for a CUDA chain)."""
    plan = Plan(outputs)
    if plan.on_device:
        return _run_device(plan, outputs)
    serial, parallel = kernels_for(plan)
    shape = plan.shape
    size = outputs[0].size
    # Outputs are allocated in their final shape so each result owns its
    # buffer (the engine may then adopt it as a .grad without a copy).
    results = [np.empty(shape, o.dtype.np) for o in outputs]
    if plan.flat:
        arrays = [a.reshape(-1) for a in plan.arrays]
        targets = [r.reshape(-1) for r in results]
    else:
        arrays = [np.broadcast_to(a, shape) for a in plan.arrays]
        targets = results
    _launch(plan.key, serial, parallel, size, arrays, plan.scalars, targets)
    return results


def _launch(plan_key, serial, parallel, size, arrays, scalars, results):
    use_parallel = size >= PARALLEL_MIN_ELEMENTS
    kernel = parallel if use_parallel else serial
    try:
        kernel(*arrays, *scalars, *results)
    except Exception:
        # Most likely a corrupt on-disk entry; a real bug fails again.
        serial, parallel = rebuild_uncached(plan_key)
        kernel = parallel if use_parallel else serial
        kernel(*arrays, *scalars, *results)


def run_single(expr):
    """One op whose arguments are arrays and scalars (no pending Exprs)."""
    if expr.device.type != "cpu":
        return run([expr])[0]
    size = expr.size
    flat = True
    key = [expr.spec, expr.compute_dtype, expr.dtype]
    arrays = []
    originals = []
    scalars = []
    for arg in expr.args:
        if type(arg) is ArrayLeaf:
            a = arg.array
            originals.append(a)
            # The same classification as Plan: one element, the output's
            # size and contiguous, or anything else (nd template).
            if a.size == 1:
                key.append(a.dtype.char)
                arrays.append(a.reshape(1))
            elif a.size == size and a.flags.c_contiguous:
                key.append(a.dtype.str)
                arrays.append(a.reshape(-1))
            else:
                a = _collapse_broadcast(a)
                originals[-1] = a
                if a.size == 1:
                    key.append(a.dtype.char)
                    arrays.append(a)
                else:
                    flat = False
                    key.append(a.dtype.str)
        else:
            key.append(type(arg))
            scalars.append(_plain_scalar(arg))
    if len(originals) == 2 and originals[0] is originals[1] or \
            len(originals) > 2 and len(set(map(id, originals))) < \
            len(originals):
        # x * x: the plan passes a shared array once.
        return run([expr])[0]
    shape = expr.shape
    if not flat:
        key.append(len(shape))
        arrays = [np.broadcast_to(a, shape) for a in originals]
    key = tuple(key)
    entry = _single.get(key)
    if entry is None:
        plan = Plan([expr])
        serial, parallel = kernels_for(plan)
        # The plan's key, not the plan: a plan holds its input arrays.
        entry = _single[key] = (plan.key, serial, parallel)
    plan_key, serial, parallel = entry
    result = np.empty(shape, expr.dtype.np)
    target = result.reshape(-1) if flat else result
    if size < PARALLEL_MIN_ELEMENTS:
        try:
            serial(*arrays, *scalars, target)
            return result
        except Exception:
            pass
    _launch(plan_key, serial, parallel, size, arrays, scalars, [target])
    return result


def run_total(expr):
    """The float64 sum of a pending expression, or None where the chain
    cannot use the flat loop (it is then materialised as usual)."""
    plan = Plan([expr], total=True)
    if not plan.flat or plan.on_device:
        return None
    serial, parallel = kernels_for(plan)
    arrays = [a.reshape(-1) for a in plan.arrays]
    use_parallel = expr.size >= PARALLEL_MIN_ELEMENTS
    kernel = parallel if use_parallel else serial
    try:
        return kernel(*arrays, *plan.scalars, expr.size)
    except Exception:
        serial, parallel = rebuild_uncached(plan.key)
        kernel = parallel if use_parallel else serial
        return kernel(*arrays, *plan.scalars, expr.size)


# ---- CUDA ---------------------------------------------------------------
def _run_device(plan, outputs, targets=None):
    from ..backends.cuda.array import DeviceArray
    from ..backends.cuda.launch import grid_for, launch
    shape = plan.shape
    if targets is None:
        targets = [DeviceArray.empty(shape, o.dtype.np) for o in outputs]
    size = outputs[0].size
    if size == 0:
        return targets
    kernel, _ = kernels_for(plan)
    if plan.flat:
        arrays = [a.reshape(-1) for a in plan.arrays]
        written = [t.reshape(-1) for t in targets]
    else:
        arrays = [a.broadcast_to(shape) for a in plan.arrays]
        written = targets
    launch(kernel, grid_for(size), *arrays, *plan.scalars, *written)
    return targets


class _Copy:
    """The identity as a pointwise formula: a copy, cast to the target's
    dtype by the generated code's usual argument casts."""
    name = "copy"
    version = 1
    input_names = ("a",)
    keep_dtype_inputs = ()

    @staticmethod
    def inline(args, dtype_name):
        return args["a"]


def run_device_copy(target, source):
    """Write ``source`` (broadcast to ``target``'s shape, cast to its dtype)
    into the DeviceArray view ``target``: one kernel."""
    from .. import dtypes
    from ..backends import device
    from .chain import Expr
    if not target.writeable:
        raise RuntimeError("cannot write into a read-only tensor (it may "
                           "be an expanded view: clone() it first)")
    dtype = dtypes.from_numpy_dtype(target.dtype)
    expr = Expr(_Copy, [ArrayLeaf(source)], dtype, dtype, target.shape,
                target.size, 1, device("cuda", 0))
    plan = Plan([expr], nd=not target.is_contiguous())
    _run_device(plan, [expr], [target])


def run_device_fill(target, value):
    from ..backends.cuda.array import DeviceArray
    from ..backends.cuda.kernels import fill
    from ..backends.cuda.launch import grid_for, launch
    if target.size == 0:
        return
    dense = target if target.is_contiguous() else DeviceArray.empty(
        target.shape, target.dtype)
    launch(fill, grid_for(target.size), dense.reshape(-1),
           _plain_scalar(value))
    if dense is not target:
        run_device_copy(target, dense)
