"""Reductions, shape ops, indexing, matmul and softmax: values and
gradients against torch, gradcheck and gradgradcheck in float64."""
import numpy as np
import pytest

import numgrad as ng

# (name, input shapes, fn(lib, *tensors)); lib is numgrad or torch, so one
# lambda states the call once for both libraries.
CASES = [
    ("sum_all", [(3, 4)], lambda L, x: x.sum()),
    ("sum_dim", [(3, 4, 2)], lambda L, x: x.sum(1)),
    ("sum_dims_keepdim", [(3, 4, 2)], lambda L, x: x.sum((0, 2), keepdim=True)),
    ("mean_dim", [(3, 4)], lambda L, x: x.mean(-1)),
    ("mean_all", [(3, 4)], lambda L, x: L.mean(x)),
    ("prod_dim", [(3, 4)], lambda L, x: x.prod(1)),
    ("amax", [(3, 4)], lambda L, x: L.amax(x, 1)),
    ("amin_keepdim", [(3, 4)], lambda L, x: L.amin(x, 0, keepdim=True)),
    ("max_all", [(3, 4)], lambda L, x: x.max()),
    ("max_dim_values", [(3, 4)], lambda L, x: x.max(1)[0]),
    ("min_dim_keepdim", [(3, 4)], lambda L, x: x.min(0, keepdim=True).values),
    ("var", [(3, 5)], lambda L, x: x.var(1)),
    ("var_all_biased", [(3, 5)], lambda L, x: x.var(unbiased=False)),
    ("std", [(4, 5)], lambda L, x: x.std(0, keepdim=True)),
    ("norm", [(3, 4)], lambda L, x: x.norm()),
    ("norm_dim_p1", [(3, 4)], lambda L, x: x.norm(p=1, dim=1)),
    ("norm_p3", [(3, 4)], lambda L, x: x.norm(p=3)),
    ("logsumexp", [(3, 4)], lambda L, x: L.logsumexp(x, 1)),
    ("softmax", [(3, 4)], lambda L, x: L.softmax(x, 1)),
    ("log_softmax", [(2, 3, 4)], lambda L, x: L.log_softmax(x, -1)),
    ("reshape", [(3, 4)], lambda L, x: x.reshape(2, -1) * 2),
    ("view", [(3, 4)], lambda L, x: x.view(4, 3)),
    ("flatten", [(2, 3, 4)], lambda L, x: x.flatten(1)),
    ("squeeze", [(3, 1, 4)], lambda L, x: x.squeeze(1)),
    ("unsqueeze", [(3, 4)], lambda L, x: x.unsqueeze(-1)),
    ("transpose", [(2, 3, 4)], lambda L, x: x.transpose(0, 2)),
    ("t", [(3, 4)], lambda L, x: x.t()),
    ("T", [(3, 4)], lambda L, x: x.T),
    ("permute", [(2, 3, 4)], lambda L, x: x.permute(2, 0, 1)),
    ("expand", [(3, 1)], lambda L, x: x.expand(3, 4)),
    ("expand_as", [(1, 4), (3, 4)], lambda L, x, y: x.expand_as(y) * y),
    ("repeat", [(2, 3)], lambda L, x: x.repeat(2, 1, 3)),
    ("cat", [(2, 3), (4, 3)], lambda L, x, y: L.cat([x, y], 0)),
    ("cat_dim1", [(2, 3), (2, 1), (2, 2)], lambda L, x, y, z: L.cat([x, y, z], 1)),
    ("stack", [(2, 3), (2, 3)], lambda L, x, y: L.stack([x, y], 1)),
    ("split", [(5, 3)], lambda L, x: x.split(2)[1] * x.split(2)[2].sum()),
    ("split_sizes", [(5, 3)], lambda L, x: x.split([1, 4])[1]),
    ("chunk", [(6, 2)], lambda L, x: x.chunk(3)[2]),
    ("flip", [(3, 4)], lambda L, x: x.flip(0, 1)),
    ("getitem_int", [(3, 4)], lambda L, x: x[1]),
    ("getitem_chain", [(3, 4)], lambda L, x: x[0][1]),
    ("getitem_slices", [(3, 4, 5)], lambda L, x: x[1:, ::2, -1]),
    ("getitem_none_ellipsis", [(3, 4)], lambda L, x: x[None, ..., 1:3]),
    ("getitem_int_array", [(5, 3)], lambda L, x: x[[0, 2, 0, 4]]),
    ("getitem_mask", [(3, 4)], lambda L, x: x[x > 0.5]),
    ("gather", [(3, 4)], lambda L, x: L.gather(x, 1, L.tensor([[0, 1], [2, 2], [3, 0]]))),
    ("gather_smaller_index", [(3, 4)], lambda L, x: L.gather(x, 1, L.tensor([[0, 2], [1, 0]]))),
    ("index_select", [(4, 3)], lambda L, x: L.index_select(x, 0, L.tensor([3, 1, 1]))),
    ("matmul_2d", [(3, 4), (4, 5)], lambda L, a, b: a @ b),
    ("matmul_1d_1d", [(4,), (4,)], lambda L, a, b: L.matmul(a, b)),
    ("matmul_1d_2d", [(4,), (4, 5)], lambda L, a, b: L.matmul(a, b)),
    ("matmul_2d_1d", [(3, 4), (4,)], lambda L, a, b: L.matmul(a, b)),
    ("matmul_batched", [(2, 3, 4), (2, 4, 5)], lambda L, a, b: L.matmul(a, b)),
    ("matmul_broadcast", [(2, 1, 3, 4), (5, 4, 2)], lambda L, a, b: a @ b),
    ("matmul_batched_1d", [(2, 3, 4), (4,)], lambda L, a, b: a @ b),
    ("mm", [(3, 4), (4, 2)], lambda L, a, b: L.mm(a, b)),
    ("outer", [(3,), (4,)], lambda L, a, b: L.outer(a, b)),
    ("linear", [(2, 4), (3, 4), (3,)], lambda L, x, w, b: L.nn.functional.linear(x, w, b)
     if L.__name__ == "torch" else ng.ops.linalg.linear(x, w, b)),
    ("clone_contiguous", [(3, 4)], lambda L, x: x.t().contiguous().clone()),
    ("to_float64", [(3,)], lambda L, x: x.to(L.float64) * 2),
]
IDS = [c[0] for c in CASES]


def _inputs(shapes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.1, 1.0, s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_values_and_grads_match_torch(case, torch):
    name, shapes, fn = case
    arrays = _inputs(shapes, "float32")
    ours = [ng.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(ng, *ours)
    ref = fn(torch, *theirs)
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    seed = np.random.default_rng(5).uniform(size=tuple(ref.shape))
    out.backward(ng.tensor(seed.astype("float32")))
    ref.backward(torch.tensor(seed.astype("float32")))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck_and_gradgradcheck(case):
    name, shapes, fn = case
    tensors = [ng.tensor(a, requires_grad=True)
               for a in _inputs(shapes, "float64", seed=1)]
    assert ng.autograd.gradcheck(lambda *t: fn(ng, *t), tensors)
    assert ng.autograd.gradgradcheck(lambda *t: fn(ng, *t), tensors)


def test_matmul_shape_error_names_both_shapes():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be "
                       r"multiplied \(2x3 and 4x5\)"):
        ng.ones(2, 3) @ ng.ones(4, 5)


def test_reshape_errors():
    with pytest.raises(RuntimeError, match=r"shape '\[5, -1\]' is invalid "
                       r"for input of size 12"):
        ng.ones(3, 4).reshape(5, -1)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        ng.ones(3, 4).t().view(12)


def test_dim_out_of_range():
    with pytest.raises(IndexError, match="Dimension out of range"):
        ng.ones(3, 4).sum(2)


def test_index_out_of_bounds():
    with pytest.raises(IndexError, match="index 3 is out of bounds for "
                       "dimension 0 with size 3"):
        ng.ones(3, 4)[3]


def test_argmax_argmin_and_integer_reductions():
    x = ng.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    assert x.argmax().item() == 3
    assert x.argmax(1).tolist() == [1, 0]
    assert x.argmin(0, keepdim=True).tolist() == [[0, 1, 0]]
    i = ng.tensor([[1, 2], [3, 4]])
    assert i.sum().dtype == ng.int64 and i.sum().item() == 10
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer "
                       "output dtype"):
        i.mean()


def test_setitem_with_gradient():
    x = ng.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = ng.tensor(10.0, requires_grad=True)
    y = x * 2
    y[1] = v * 3
    assert y.tolist() == [2.0, 30.0, 6.0]
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 0.0, 2.0]
    assert v.grad.item() == 3.0


def test_setitem_mask_on_plain_tensor():
    x = ng.arange(6.0).reshape(2, 3)
    x[x > 2] = 0
    assert x.tolist() == [[0, 1, 2], [0, 0, 0]]


def test_gather_index_larger_than_input_names_both_shapes():
    x = ng.ones(3, 4)
    with pytest.raises(RuntimeError, match=r"expected index \[4, 1\] to be "
                       r"no larger than self \[3, 4\] apart from dimension 1"):
        ng.gather(x, 1, ng.zeros(4, 1, dtype=ng.int64))
