"""Runs a plan's kernel: allocates outputs, lays arrays out for the flat or
the nd template, and picks the parallel variant only for large outputs,
where it pays for waking the thread pool."""
import numpy as np

from .cache import kernels_for, rebuild_uncached
from .chain import Plan

PARALLEL_MIN_ELEMENTS = 1 << 17


def run(outputs):
    """Evaluate ``Expr`` outputs (same shape); returns NumPy arrays."""
    plan = Plan(outputs)
    serial, parallel = kernels_for(plan)
    shape = plan.shape
    size = outputs[0].size
    if plan.flat:
        arrays = [a.reshape(-1) for a in plan.arrays]
        results = [np.empty(size, outputs[k].dtype.np)
                   for k in range(len(outputs))]
    else:
        arrays = [np.broadcast_to(a, shape) for a in plan.arrays]
        results = [np.empty(shape, outputs[k].dtype.np)
                   for k in range(len(outputs))]
    use_parallel = size >= PARALLEL_MIN_ELEMENTS
    kernel = parallel if use_parallel else serial
    try:
        kernel(*arrays, *plan.scalars, *results)
    except Exception:
        # Most likely a corrupt on-disk entry; a real bug fails again.
        serial, parallel = rebuild_uncached(plan)
        kernel = parallel if use_parallel else serial
        kernel(*arrays, *plan.scalars, *results)
    if plan.flat:
        results = [r.reshape(shape) for r in results]
    return results
