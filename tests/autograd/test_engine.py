"""The engine: many roots, inputs=, retain_graph, create_graph, grad(),
version counters, in-place ops, hooks order, errors that leave state
untouched."""
import gc
import weakref

import numpy as np
import pytest

import numgrad as ng


def test_multiple_roots_and_grad_tensors():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    a, b = x * 2, x * x
    ng.autograd.backward([a.sum(), b], [None, ng.tensor([1.0, 10.0])])
    assert x.grad.tolist() == [4.0, 42.0]


def test_inputs_restricts_accumulation():
    x = ng.tensor([1.0], requires_grad=True)
    y = ng.tensor([2.0], requires_grad=True)
    (x * y).sum().backward(inputs=[x])
    assert x.grad.item() == 2.0 and y.grad is None


def test_grad_does_not_touch_dot_grad_and_allow_unused():
    x = ng.tensor([3.0], requires_grad=True)
    z = ng.tensor([1.0], requires_grad=True)
    (g,) = ng.autograd.grad((x ** 3).sum(), x)
    assert g.item() == 27.0 and x.grad is None
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        ng.autograd.grad((x * 2).sum(), [x, z])
    gx, gz = ng.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gz is None
    gx, gz = ng.autograd.grad((x * 2).sum(), [x, z], materialize_grads=True)
    assert gz.tolist() == [0.0]


def test_higher_order_gradients():
    x = ng.tensor([2.0], dtype=ng.float64, requires_grad=True)
    y = x ** 3
    (g,) = ng.autograd.grad(y.sum(), x, create_graph=True)
    assert g.item() == 12.0 and g.grad_fn is not None
    (gg,) = ng.autograd.grad(g.sum(), x, create_graph=True)
    assert gg.item() == 12.0
    (ggg,) = ng.autograd.grad(gg.sum(), x)
    assert ggg.item() == 6.0


def test_backward_create_graph_gives_grad_with_grad_fn():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    with pytest.warns(UserWarning, match="reference cycle"):
        (x * x * x).sum().backward(create_graph=True)
    assert x.grad.grad_fn is not None
    (g2,) = ng.autograd.grad(x.grad.sum(), x)
    assert g2.tolist() == [6.0, 12.0]


def test_retain_graph_default_frees_saved_values():
    x = ng.tensor([1.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a "
                       "second time"):
        y.backward()
    z = (x + 1).sum()   # add saves nothing: a second backward is fine
    z.backward()
    z.backward()


def test_version_counter_rejects_modified_saved_tensor():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = y * 1
    with ng.no_grad():
        pass
    y.add_(1)
    with pytest.raises(RuntimeError, match=r"modified by an inplace "
                       r"operation: \[numgrad.FloatTensor \[2\]\], which is "
                       r"output 0 of ExpBackward0, is at version 1; "
                       r"expected version 0 instead"):
        z.sum().backward()


def test_leaf_inplace_error_and_no_grad_allows_it():
    x = ng.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires "
                       "grad is being used in an in-place operation"):
        x.add_(1)
    assert x.tolist() == [1.0] and x._version.value == 0
    with ng.no_grad():
        x.add_(1)
    assert x.tolist() == [2.0] and x._version.value == 1


def test_inplace_ops_record_graph():
    x = ng.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x * 1
    y.mul_(2).add_(1).clamp_(min=0)
    assert y.tolist() == [3.0, 0.0, 7.0]
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 0.0, 2.0]


def test_data_access_bypasses_autograd():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    x.data.fill_(3.0)
    assert x.tolist() == [3.0, 3.0] and x.is_leaf
    x.data = ng.tensor([5.0, 6.0])
    assert x.tolist() == [5.0, 6.0] and x.requires_grad


def test_failed_op_leaves_everything_untouched():
    x = ng.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * 2).sum().backward()
    grad_before = x.grad.tolist()
    with pytest.raises(RuntimeError):
        x + ng.ones(2)
    with pytest.raises(RuntimeError):
        x.reshape(2, 2)
    assert x.grad.tolist() == grad_before and x.is_leaf
    assert x._version.value == 0


def test_backward_errors():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="element 0 of tensors does not "
                       "require grad"):
        ng.tensor([1.0]).sum().backward()
    with pytest.raises(RuntimeError, match="Mismatch in shape: "
                       "grad_output\\[0\\]"):
        (x * 2).backward(ng.ones(3))


def test_hook_returning_wrong_shape_raises():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: ng.ones(3))
    with pytest.raises(RuntimeError, match="hook 'lambda' has changed the "
                       "size of value|changed the size"):
        y.sum().backward()


def test_hook_errors_and_post_accumulate_hook():
    with pytest.raises(RuntimeError, match="cannot register a hook on a "
                       "tensor that doesn't require gradient"):
        ng.ones(2).register_hook(print)
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_post_accumulate_grad_hook(lambda p: seen.append(
        p.grad.tolist()))
    (x * 3).sum().backward()
    assert seen == [[3.0, 3.0]]
    with pytest.raises(RuntimeError, match="post accumulate grad hooks "
                       "cannot be registered on non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="can't retain_grad on Tensor "
                       "that has requires_grad=False"):
        ng.ones(1).retain_grad()


def test_leaf_hook_modifies_accumulated_grad():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 0 + 7)
    (x * 3).sum().backward()
    assert x.grad.tolist() == [7.0, 7.0]


def test_grad_fn_names_and_next_functions():
    x = ng.tensor([1.0], requires_grad=True)
    y = (x.exp() + 1).sum()
    assert y.grad_fn.name() == "SumBackward0"
    add = y.grad_fn.next_functions[0][0]
    assert add.name() == "AddBackward0"
    exp_node = add.next_functions[0][0]
    assert exp_node.name() == "ExpBackward0"
    assert exp_node.next_functions[0][0].name() == "AccumulateGrad"
    assert exp_node.next_functions[0][0].variable is x


def test_graph_is_freed_when_outputs_die():
    x = ng.tensor(np.ones(10), requires_grad=True)
    y = (x * 2).exp()
    ref = weakref.ref(y.grad_fn)
    del y
    gc.collect()
    assert ref() is None


def test_grad_modes():
    x = ng.tensor([1.0], requires_grad=True)
    with ng.no_grad():
        assert not ng.is_grad_enabled()
        with ng.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    with ng.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    ng.set_grad_enabled(False)
    assert not ng.is_grad_enabled()
    ng.set_grad_enabled(True)
    with ng.inference_mode():
        y = x * 2
        assert not y.requires_grad and y.is_inference

    @ng.enable_grad()
    def f():
        return (x * 2).requires_grad
    with ng.no_grad():
        assert f()


def test_requires_grad_rules():
    x = ng.tensor([1.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="you can only change "
                       "requires_grad flags of leaf variables"):
        y.requires_grad_(False)
    with pytest.raises(RuntimeError, match="only Tensors of floating point"):
        ng.tensor([1]).requires_grad_()
    with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor "
                       "that requires grad"):
        x.numpy()


def test_assigning_grad_checks_shape():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    x.grad = ng.tensor([5.0, 5.0])
    (x * 1).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]
    with pytest.raises(RuntimeError, match="assigned grad has data of a "
                       "different size"):
        x.grad = ng.ones(3)


def test_repr_like_pytorch():
    assert repr(ng.tensor([1.0, 2.5])) == "tensor([1.0000, 2.5000])"
    assert repr(ng.tensor(2.0, requires_grad=True)) == \
        "tensor(2., requires_grad=True)"
    assert repr(ng.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(ng.tensor([1.0], dtype=ng.float64)) == \
        "tensor([1.], dtype=numgrad.float64)"
    assert repr(ng.tensor([[1.0, 2.0], [3.0, 4.0]])) == \
        "tensor([[1., 2.],\n        [3., 4.]])"
    assert repr(ng.tensor([True, False])) == "tensor([ True, False])"


def test_creation_functions():
    ng.manual_seed(3)
    a = ng.rand(2, 3)
    ng.manual_seed(3)
    assert ng.rand(2, 3).tolist() == a.tolist()
    assert ng.zeros(2, 3).shape == (2, 3) and ng.zeros(2).dtype == ng.float32
    assert ng.arange(5).dtype == ng.int64
    assert ng.arange(0, 1, 0.25).tolist() == [0, 0.25, 0.5, 0.75]
    assert ng.full((2,), 7).dtype == ng.int64
    assert ng.eye(2).tolist() == [[1, 0], [0, 1]]
    assert ng.linspace(0, 1, 3).tolist() == [0, 0.5, 1]
    assert ng.randint(0, 5, (10,)).dtype == ng.int64
    x = ng.tensor([[1, 2]], dtype=ng.float64)
    assert ng.ones_like(x).dtype == ng.float64
    assert ng.from_numpy(np.ones(3, np.int32)).dtype == ng.int32
    assert x.size() == (1, 2) and x.size(1) == 2 and x.dim() == 2
    assert x.numel() == 2 and x.T.shape == (2, 1) and x.long().dtype == \
        ng.int64
    assert np.asarray(x).dtype == np.float64


def test_inplace_through_a_view_is_seen_by_version_checks():
    x = ng.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = x * 1
    z = y.exp()
    v = z.detach().view(2, 2)
    v[0, 0] = 5.0
    with pytest.raises(RuntimeError, match="modified by an inplace"):
        z.sum().backward()
    w = ng.arange(4.0)
    w.view(2, 2)[1].fill_(0)
    assert w.tolist() == [0.0, 1.0, 0.0, 0.0]


def test_grad_never_aliases_a_tensor_someone_else_holds():
    kept = []
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: kept.append(g))
    (x * 3 + x).sum().backward()
    (x * 3 + x).sum().backward()      # accumulates in place into x.grad
    assert kept[0].tolist() == [4.0, 4.0]
    assert x.grad.tolist() == [8.0, 8.0]
    seed = ng.ones(2)
    y = ng.tensor([1.0, 2.0], requires_grad=True)
    y.clone().backward(seed)
    y.clone().backward(seed)
    assert seed.tolist() == [1.0, 1.0] and y.grad.tolist() == [2.0, 2.0]


def test_inplace_with_gradient_on_a_view_is_refused_not_wrong():
    x = ng.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = x * 1
    v = y[1:3]
    assert v._base is y
    with pytest.raises(RuntimeError, match="view of a tensor that requires "
                       "grad"):
        v.mul_(2)
    assert y.tolist() == [1.0, 2.0, 3.0, 4.0]
    with ng.no_grad():
        v.mul_(2)
    assert y.tolist() == [1.0, 4.0, 6.0, 4.0]
