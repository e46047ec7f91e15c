"""CUDA forward of matmul (``numgrad/ops/linalg.py``): one tiled
shared-memory kernel over a batch of matrices.

Each block computes TILE x TILE elements of one product matrix, a thread
per element, walking the shared dimension a TILE x TILE tile of each
operand at a time through shared memory; blocks stride over the
(batch, tile row, tile column) grid, so any grid size covers any batch.
The kernel reads its operands through their strides (transposed views
are not copied) and accumulates in the operands' precision, as cuBLAS
does: float32 in float32, float64 in float64."""
import numba
import numpy as np
from numba import cuda

from ...backends.cuda import simulated
from ...backends.cuda.array import DeviceArray
from ...backends.cuda.launch import device_function, grid_for, launch
from . import twin

# The simulator runs each thread of a block as an OS thread and a barrier
# costs it milliseconds, so it gets small tiles; they also make the test
# suite's small matrices span several tiles and their ragged edges.
TILE = 4 if simulated() else 16


@device_function
def _tiled_product(a, b, out, tile_a, tile_b, zero):
    batches, rows, cols = out.shape
    depth = a.shape[2]
    ty = cuda.threadIdx.y
    tx = cuda.threadIdx.x
    tile_rows = (rows + TILE - 1) // TILE
    tile_cols = (cols + TILE - 1) // TILE
    per_matrix = tile_rows * tile_cols
    # The loop bounds are the same for every thread of the block, so all
    # of them reach each barrier.
    for tile in range(cuda.blockIdx.x, batches * per_matrix,
                      cuda.gridDim.x):
        batch = tile // per_matrix
        row = (tile % per_matrix) // tile_cols * TILE + ty
        col = tile % tile_cols * TILE + tx
        acc = zero
        for k0 in range(0, depth, TILE):
            k = k0 + tx
            if row < rows and k < depth:
                tile_a[ty, tx] = a[batch, row, k]
            else:
                tile_a[ty, tx] = zero
            k = k0 + ty
            if k < depth and col < cols:
                tile_b[ty, tx] = b[batch, k, col]
            else:
                tile_b[ty, tx] = zero
            cuda.syncthreads()
            for j in range(TILE):
                acc += tile_a[ty, j] * tile_b[j, tx]
            cuda.syncthreads()
        if row < rows and col < cols:
            out[batch, row, col] = acc


@cuda.jit(cache=True)
def _matmul_float32(a, b, out):
    tile_a = cuda.shared.array((TILE, TILE), numba.float32)
    tile_b = cuda.shared.array((TILE, TILE), numba.float32)
    _tiled_product(a, b, out, tile_a, tile_b, numba.float32(0))


@cuda.jit(cache=True)
def _matmul_float64(a, b, out):
    tile_a = cuda.shared.array((TILE, TILE), numba.float64)
    tile_b = cuda.shared.array((TILE, TILE), numba.float64)
    _tiled_product(a, b, out, tile_a, tile_b, numba.float64(0))


_KERNELS = {np.dtype(np.float32): _matmul_float32,
            np.dtype(np.float64): _matmul_float64}


def _batched(x, batch):
    """``x`` broadcast to ``batch`` + its matrix shape, with the batch
    dimensions merged into one: a view where their strides allow it (a
    broadcast operand gets stride 0), else one contiguous copy."""
    full = x.broadcast_to(tuple(batch) + x.shape[-2:])
    dims = [(n, s) for n, s in zip(batch, full.strides) if n != 1]
    if any(s != inner_s * inner_n
           for (_, s), (inner_n, inner_s) in zip(dims, dims[1:])):
        full = full.copy()
        dims = [(n, s) for n, s in zip(batch, full.strides) if n != 1]
    count = int(np.prod(batch, dtype=np.int64))
    stride = dims[-1][1] if dims else 0
    return full.as_strided((count,) + x.shape[-2:],
                           (stride,) + full.strides[-2:])


@twin("mm")
def matmul(ctx, a, b):
    if a.dtype == np.float16:
        # Half inputs accumulate in float32 (cuBLAS's default for them).
        return matmul(ctx, a.astype(np.float32),
                      b.astype(np.float32)).astype(np.float16)
    kernel = _KERNELS.get(a.dtype)
    if kernel is None:
        raise RuntimeError(f"matmul on CUDA supports floating-point "
                           f"tensors only, got {a.dtype}")
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    rows, cols = a.shape[-2], b.shape[-1]
    out = DeviceArray.empty(batch + (rows, cols), a.dtype)
    if out.size:
        count = out.size // (rows * cols)
        tiles = count * -(-rows // TILE) * -(-cols // TILE)
        blocks, _ = grid_for(tiles * TILE * TILE, TILE * TILE)
        launch(kernel, (blocks, (TILE, TILE)), _batched(a, batch),
               _batched(b, batch), out.reshape(count, rows, cols))
    return out
