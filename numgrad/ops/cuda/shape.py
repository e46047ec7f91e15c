"""CUDA forwards of the movement ops (``numgrad/ops/shape.py``)."""
from ...backends.cuda.array import DeviceArray, copy_into
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
    shape = list(a.shape)
    shape[dim] += b.shape[dim]
    out = DeviceArray.empty(shape, a.dtype)
    lead = (slice(None),) * dim
    copy_into(out[lead + (slice(0, a.shape[dim]),)], a)
    copy_into(out[lead + (slice(a.shape[dim], None),)], b)
    return out
