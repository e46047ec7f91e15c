"""CUDA forwards of the movement ops (``numgrad/ops/shape.py``)."""
from ...backends.cuda.array import DeviceArray, copy_into
from ..shape import _concat_arrays
from . import same_code, twin

same_code("permute", "clone", "to_copy")


@twin("reshape")
def reshape(ctx, x, shape, copy_ok=True):
    ctx.input_shape = x.shape
    if not copy_ok and not x.is_contiguous():
        raise RuntimeError(
            "view size is not compatible with input tensor's size and "
            "stride (at least one dimension spans across two contiguous "
            "subspaces). Use .reshape(...) instead.")
    return x.reshape(shape)


@twin("expand")
def expand(ctx, x, shape):
    ctx.input_shape = x.shape
    return x.broadcast_to(shape)


@twin("cat")
def cat(ctx, a, b, dim):
    ctx.split = a.shape[dim]
    return _concat_arrays((a, b), dim, a.device)


@twin("flip")
def flip(ctx, x, dims):
    reverse = slice(None, None, -1)
    return x[tuple(reverse if d in dims else slice(None)
                   for d in range(x.ndim))].copy()


@twin("repeat")
def repeat(ctx, x, repeats):
    # np.tile as one broadcast copy: x viewed as (1, s0, 1, s1, ...) and
    # written into a (r0, s0, r1, s1, ...) array, which is the result.
    ctx.input_shape = x.shape
    padded = x[(None,) * (len(repeats) - x.ndim)]
    spread = padded[(None, slice(None)) * len(repeats)]
    tiled = DeviceArray.empty(
        [n for r, s in zip(repeats, padded.shape) for n in (r, s)], x.dtype)
    copy_into(tiled, spread)
    return tiled.reshape([r * s for r, s in zip(repeats, padded.shape)])
