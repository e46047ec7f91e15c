"""Hand-written kernels the backend itself needs (the ops' kernels live
in ``numgrad/ops/cuda/``)."""
from numba import cuda


@cuda.jit(cache=True)
def fill(out, value):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = value
