"""matmul in all of PyTorch's shape cases, through NumPy's BLAS."""
import numpy as np

from ..creation import _finish
from ..dtypes import cast_array
from .arith import where
from .registry import op
from .shape import reshape, sum_to_size, transpose, unsqueeze, squeeze


@op("mm", save=("a", "b"))
def _matmul(ctx, a, b):
    if a.dtype == np.float16:
        # NumPy has no float16 BLAS; PyTorch accumulates in float32 too.
        product = np.matmul(a.astype(np.float32), b.astype(np.float32))
        return cast_array(product, np.float16)
    return np.matmul(a, b)


@_matmul.backward
def _(ctx, g):
    a, b = ctx.a, ctx.b
    needs = ctx.needs_input_grad
    grad_a = grad_b = None
    if needs[0]:
        grad_a = sum_to_size(_matmul(g, transpose(b, -1, -2)), a.shape)
    if needs[1]:
        grad_b = sum_to_size(_matmul(transpose(a, -1, -2), g), b.shape)
    return grad_a, grad_b


def _describe(t):
    return "x".join(str(s) for s in t.shape)


def matmul(input, other):
    a, b = input, other
    if a.dim() == 0 or b.dim() == 0:
        raise RuntimeError(
            "both arguments to matmul need to be at least 1D, but they are "
            f"{a.dim()}D and {b.dim()}D")
    if a.dtype is not b.dtype:
        raise RuntimeError(
            "expected m1 and m2 to have the same dtype, but got: "
            f"{a.dtype.name} != {b.dtype.name}")
    k_a = a.shape[-1]
    k_b = b.shape[-2] if b.dim() > 1 else b.shape[0]
    if k_a != k_b:
        if a.dim() == 1 and b.dim() == 1:
            raise RuntimeError(
                "inconsistent tensor size, expected tensor [{}] and src "
                "[{}] to have the same number of elements, but got {} and "
                "{} elements respectively".format(k_a, k_b, k_a, k_b))
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_rows(a)}x{k_a} "
            f"and {k_b}x{b.shape[-1] if b.dim() > 1 else 1})")
    if a.dim() > 2 or b.dim() > 2:
        batch_a = a.shape[:-2] if a.dim() > 2 else ()
        batch_b = b.shape[:-2] if b.dim() > 2 else ()
        try:
            np.broadcast_shapes(batch_a, batch_b)
        except ValueError:
            raise RuntimeError(
                "The size of tensor a must match the size of tensor b at "
                f"non-singleton dimension: batch shapes {list(batch_a)} and "
                f"{list(batch_b)} (matmul of {list(a.shape)} and "
                f"{list(b.shape)})") from None
    squeeze_front = a.dim() == 1
    squeeze_back = b.dim() == 1
    if squeeze_front:
        a = unsqueeze(a, 0)
    if squeeze_back:
        b = unsqueeze(b, 1)
    out = _matmul(a, b)
    if squeeze_front:
        out = squeeze(out, -2)
    if squeeze_back:
        out = squeeze(out, -1)
    return out


def _rows(t):
    return int(np.prod(t.shape[:-1])) if t.dim() > 1 else 1


def mm(input, mat2):
    if input.dim() != 2 or mat2.dim() != 2:
        raise RuntimeError("self must be a matrix")
    return matmul(input, mat2)


def bmm(input, mat2):
    if input.dim() != 3 or mat2.dim() != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    return matmul(input, mat2)


def mv(input, vec):
    return matmul(input, vec)


def dot(input, other):
    if input.dim() != 1 or other.dim() != 1:
        raise RuntimeError("1D tensors expected, but got "
                           f"{input.dim()}D and {other.dim()}D tensors")
    return matmul(input, other)


def outer(input, vec2):
    return matmul(reshape(input, (-1, 1)), reshape(vec2, (1, -1)))


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    product = matmul(mat1, mat2)
    if alpha != 1:
        product = product * alpha
    return product + (input if beta == 1 else input * beta)


def linear(input, weight, bias=None):
    out = matmul(input, transpose(weight, 0, 1) if weight.dim() == 2
                 else weight)
    return out if bias is None else out + bias


def einsum(equation, *operands):
    raise NotImplementedError("einsum is not implemented in numgrad yet")


def tril(input, diagonal=0):
    mask = _finish(np.tril(np.ones(input._shape[-2:], bool), diagonal),
                   False, input.device)
    return where(mask, input, 0)


def triu(input, diagonal=0):
    mask = _finish(np.triu(np.ones(input._shape[-2:], bool), diagonal),
                   False, input.device)
    return where(mask, input, 0)
