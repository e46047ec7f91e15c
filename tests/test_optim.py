"""numgrad.optim (optimizers, lr schedulers) and numgrad.nn.utils
(gradient clipping, parameter/vector conversion) against PyTorch."""
import copy
import math
import pickle

import numpy as np
import pytest

import numgrad
from numgrad import optim
from numgrad.nn.utils import (clip_grad_norm_, clip_grad_value_,
                              parameters_to_vector, vector_to_parameters)
from numgrad.optim import lr_scheduler

SHAPES = [(6, 5), (5,), (3, 6), (1,)]


# ---- helpers ----------------------------------------------------------------

def _arrays(shapes=SHAPES, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _grad_seq(shapes, steps, dtype, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(dtype) for s in shapes]
            for _ in range(steps)]


def _ng_params(arrays):
    return [numgrad.tensor(a.copy(), requires_grad=True) for a in arrays]


def _t_params(torch, arrays):
    return [torch.tensor(a.copy(), requires_grad=True) for a in arrays]


def _set_grads(params, grads, wrap):
    for p, g in zip(params, grads):
        p.grad = wrap(g.copy())


def _np(t):
    if hasattr(t, "detach"):
        t = t.detach()
    return np.asarray(t.numpy())


def _tols(dtype):
    return (dict(rtol=1e-10, atol=1e-12) if dtype == np.float64
            else dict(rtol=2e-5, atol=2e-6))


def _assert_state_close(ng_opt, t_opt, ng_params, t_params, tol):
    for p, tp in zip(ng_params, t_params):
        ng_state = ng_opt.state.get(p, {})
        t_state = t_opt.state.get(tp, {})
        assert set(ng_state) == set(t_state)
        for key, value in t_state.items():
            if key == "step":
                assert float(ng_state[key].item()) == float(value.item())
                assert ng_state[key].dtype == numgrad.float32
                continue
            np.testing.assert_allclose(_np(ng_state[key]), _np(value),
                                       **tol, err_msg=key)


OPTIMIZER_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.05, nesterov=True,
                 maximize=True)),
    ("SGD", dict(lr=0.05, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.5, weight_decay=0.01)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("Adam", dict(lr=0.01, maximize=True)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.4))),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, maximize=True, weight_decay=0.0)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5,
                     weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("RMSprop", dict(lr=0.001, momentum=0.3, maximize=True, alpha=0.5)),
]


def _case_id(case):
    name, kw = case
    args = ",".join(f"{k}={_stable(v)}" for k, v in kw.items())
    return f"{name}({args})"


def _stable(value):
    # A function's repr holds its address, which differs between pytest-xdist
    # workers; ids must be the same in every process.
    if callable(value):
        return getattr(value, "__name__", "fn").replace("<lambda>", "lambda")
    if isinstance(value, list):
        return "[" + ",".join(_stable(v) for v in value) + "]"
    return str(value)


# ---- optimizers against torch -----------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("case", OPTIMIZER_CASES, ids=_case_id)
def test_optimizer_matches_torch(torch, case, dtype):
    name, kw = case
    arrays = _arrays(dtype=dtype)
    ps, tps = _ng_params(arrays), _t_params(torch, arrays)
    opt = getattr(optim, name)(ps, **kw)
    topt = getattr(torch.optim, name)(tps, **kw)
    tol = _tols(dtype)
    for grads in _grad_seq(SHAPES, 7, dtype):
        _set_grads(ps, grads, numgrad.tensor)
        _set_grads(tps, grads, torch.tensor)
        opt.step()
        topt.step()
        for p, tp in zip(ps, tps):
            assert p.dtype == numgrad.float32 or dtype == np.float64
            np.testing.assert_allclose(_np(p), _np(tp), **tol)
    _assert_state_close(opt, topt, ps, tps, tol)
    assert opt.state_dict()["param_groups"] == \
        topt.state_dict()["param_groups"]


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_defaults_match_torch(torch, name):
    ps = _ng_params(_arrays())
    tps = _t_params(torch, _arrays())
    assert getattr(optim, name)(ps).defaults == \
        getattr(torch.optim, name)(tps).defaults


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9)),
                                     ("Adam", dict(lr=0.01)),
                                     ("RMSprop", dict(centered=True))])
def test_param_groups_and_missing_grads(torch, name, kw):
    arrays = _arrays()
    ps, tps = _ng_params(arrays), _t_params(torch, arrays)
    opt = getattr(optim, name)(
        [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.003}], **kw)
    topt = getattr(torch.optim, name)(
        [{"params": tps[:2]}, {"params": tps[2:], "lr": 0.003}], **kw)
    for step, grads in enumerate(_grad_seq(SHAPES, 4, np.float64)):
        # The last parameter gets a gradient only from the third step on.
        _set_grads(ps[:3], grads[:3], numgrad.tensor)
        _set_grads(tps[:3], grads[:3], torch.tensor)
        if step >= 2:
            ps[3].grad = numgrad.tensor(grads[3])
            tps[3].grad = torch.tensor(grads[3])
        opt.step()
        topt.step()
        if step < 2:
            assert ps[3] not in opt.state
        for p, tp in zip(ps, tps):
            np.testing.assert_allclose(_np(p), _np(tp), rtol=1e-10,
                                       atol=1e-12)
    _assert_state_close(opt, topt, ps, tps, _tols(np.float64))
    assert opt.state_dict()["param_groups"] == \
        topt.state_dict()["param_groups"]


def test_adam_lr_and_betas_change_between_steps(torch):
    arrays = _arrays()
    ps, tps = _ng_params(arrays), _t_params(torch, arrays)
    opt, topt = optim.Adam(ps), torch.optim.Adam(tps)
    for i, grads in enumerate(_grad_seq(SHAPES, 5, np.float64)):
        for o in (opt, topt):
            o.param_groups[0]["lr"] = 0.01 * (i + 1)
            o.param_groups[0]["betas"] = (0.9 - 0.1 * i, 0.999)
        _set_grads(ps, grads, numgrad.tensor)
        _set_grads(tps, grads, torch.tensor)
        opt.step()
        topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(_np(p), _np(tp), rtol=1e-10, atol=1e-12)


def test_tensor_lr(torch):
    arrays = _arrays()
    ps, tps = _ng_params(arrays), _t_params(torch, arrays)
    opt = optim.SGD(ps, lr=numgrad.tensor(0.1), momentum=0.5)
    topt = torch.optim.SGD(tps, lr=torch.tensor(0.1), momentum=0.5)
    for grads in _grad_seq(SHAPES, 3, np.float64):
        _set_grads(ps, grads, numgrad.tensor)
        _set_grads(tps, grads, torch.tensor)
        opt.step()
        topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(_np(p), _np(tp), rtol=1e-6)


@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("RMSprop", dict(momentum=0.5, centered=True)),
])
def test_non_contiguous_and_half_params(torch, name, kw):
    base = _arrays([(5, 6)], seed=3)[0]
    # A leaf whose storage is a transposed (non-contiguous) array.
    p = numgrad.Tensor._make(np.asfortranarray(base))
    p.requires_grad_(True)
    assert not p.is_contiguous()
    tp = torch.tensor(base.copy(), requires_grad=True)
    opt = getattr(optim, name)([p], **kw)
    topt = getattr(torch.optim, name)([tp], **kw)
    for grads in _grad_seq([(5, 6)], 4, np.float64):
        p.grad = numgrad.Tensor._make(np.asfortranarray(grads[0]))
        tp.grad = torch.tensor(grads[0])
        opt.step()
        topt.step()
    assert not p.is_contiguous()
    np.testing.assert_allclose(_np(p), _np(tp), rtol=1e-10, atol=1e-12)

    h = numgrad.tensor(base.astype(np.float16), requires_grad=True)
    hopt = getattr(optim, name)([h], **kw)
    h.grad = numgrad.tensor(np.ones((5, 6), np.float16))
    hopt.step()
    assert h.dtype == numgrad.float16
    assert np.isfinite(_np(h)).all()


def test_scalar_parameter(torch):
    p = numgrad.tensor(1.5, requires_grad=True)
    tp = torch.tensor(1.5, dtype=torch.float32, requires_grad=True)
    opt, topt = optim.Adam([p], lr=0.1), torch.optim.Adam([tp], lr=0.1)
    for g in (0.5, -1.0, 2.0):
        p.grad = numgrad.tensor(g)
        tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
    assert p.item() == pytest.approx(tp.item(), rel=1e-6)


# ---- in-place semantics -----------------------------------------------------

def test_step_writes_in_place_and_bumps_version():
    p = numgrad.tensor(np.ones(4, np.float32), requires_grad=True)
    storage = p._value()
    version = p._version.value
    opt = optim.Adam([p], lr=0.1)
    p.grad = numgrad.ones(4)
    opt.step()
    assert p._value() is storage
    assert p._version.value > version
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    np.testing.assert_allclose(storage, np.full(4, 0.9, np.float32))


def test_step_invalidates_saved_tensors():
    p = numgrad.tensor(np.ones(3, np.float32), requires_grad=True)
    loss = (p * p).sum()
    opt = optim.SGD([p], lr=0.1)
    p.grad = numgrad.ones(3)
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace"):
        loss.backward()


def test_step_does_not_record_graph():
    p = numgrad.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = numgrad.ones(3)
    opt.step()
    buf = opt.state[p]["momentum_buffer"]
    assert not buf.requires_grad and buf.grad_fn is None
    assert p.grad_fn is None


def test_training_loop_reduces_loss():
    numgrad.manual_seed(0)
    rng = np.random.default_rng(0)
    x = numgrad.tensor(rng.standard_normal((64, 3)).astype(np.float32))
    true_w = numgrad.tensor(np.array([[1.0], [-2.0], [0.5]], np.float32))
    y = x @ true_w
    for cls, kw in ((optim.SGD, dict(lr=0.1, momentum=0.9)),
                    (optim.Adam, dict(lr=0.05)),
                    (optim.AdamW, dict(lr=0.05)),
                    (optim.RMSprop, dict(lr=0.05))):
        w = numgrad.tensor(np.zeros((3, 1), np.float32), requires_grad=True)
        opt = cls([w], **kw)
        losses = []
        for _ in range(60):
            opt.zero_grad()
            loss = ((x @ w - y) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < 0.05 * losses[0], cls.__name__


def test_closure(torch):
    w = numgrad.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    calls = []

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        calls.append(numgrad.is_grad_enabled())
        return loss

    with numgrad.no_grad():
        loss = opt.step(closure)
    assert calls == [True]
    assert loss.item() == pytest.approx(5.0)
    np.testing.assert_allclose(_np(w), [0.8, 1.6])


# ---- zero_grad --------------------------------------------------------------

def test_zero_grad():
    p = numgrad.tensor(np.ones(3), requires_grad=True)
    q = numgrad.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([p, q], lr=0.1)
    p.grad = numgrad.tensor(np.ones(3))
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad
    np.testing.assert_array_equal(_np(p.grad), np.zeros(3))
    assert q.grad is None
    opt.zero_grad()
    assert p.grad is None


# ---- construction errors ----------------------------------------------------

def test_construction_errors():
    p = numgrad.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="optimizer got an empty parameter "
                       "list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate: -0.1"):
        optim.SGD([p], lr=-0.1)
    with pytest.raises(ValueError, match="Invalid momentum value"):
        optim.SGD([p], lr=0.1, momentum=-1)
    with pytest.raises(ValueError, match="Invalid weight_decay value"):
        optim.SGD([p], lr=0.1, weight_decay=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.Adam([p], lr=-1)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 0"):
        optim.Adam([p], betas=(1.0, 0.999))
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        optim.AdamW([p], betas=(0.9, -0.1))
    with pytest.raises(ValueError, match="Invalid epsilon value"):
        optim.Adam([p], eps=-1)
    with pytest.raises(ValueError, match="Invalid alpha value"):
        optim.RMSprop([p], alpha=-1)
    with pytest.raises(TypeError, match="optimizer can only optimize "
                       "Tensors"):
        optim.SGD([p, 3.0], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([p * 2], lr=0.1)
    q = numgrad.tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p, q]})
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([p, p], lr=0.1)


def test_add_param_group_and_required(torch):
    p = numgrad.tensor(np.ones(3), requires_grad=True)
    q = numgrad.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": q, "lr": 0.5})
    assert len(opt.param_groups) == 2
    assert opt.param_groups[1]["params"] == [q]
    assert opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["momentum"] == 0.9

    class Custom(optim.Optimizer):
        def __init__(self, params, lr=optim.optimizer.required):
            super().__init__(params, dict(lr=lr))

        def step(self, closure=None):
            return None

    with pytest.raises(ValueError, match="didn't specify a value of "
                       "required optimization parameter lr"):
        Custom([p])
    c = Custom([{"params": [p], "lr": 1.0}])
    assert repr(optim.optimizer.required) == "<required parameter>"
    assert "Parameter Group 0" in repr(c)


def test_named_parameters():
    p = numgrad.tensor(np.ones(3), requires_grad=True)
    q = numgrad.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([("a", p), ("b", q)], lr=0.1)
    assert opt.param_groups[0]["params"] == [p, q]
    assert opt.param_groups[0]["param_names"] == ["a", "b"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["a", "b"]
    with pytest.raises(ValueError, match="with/without names"):
        opt.add_param_group({"params": [numgrad.tensor(
            np.ones(1), requires_grad=True)]})


# ---- state_dict -------------------------------------------------------------

STATE_CASES = [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
]


@pytest.mark.parametrize("case", STATE_CASES, ids=_case_id)
def test_state_dict_format_matches_torch(torch, case):
    name, kw = case
    arrays = _arrays()
    ps, tps = _ng_params(arrays), _t_params(torch, arrays)
    opt = getattr(optim, name)([{"params": ps[:1]},
                                {"params": ps[1:], "lr": 0.002}], **kw)
    topt = getattr(torch.optim, name)([{"params": tps[:1]},
                                       {"params": tps[1:], "lr": 0.002}],
                                      **kw)
    for grads in _grad_seq(SHAPES, 3, np.float64):
        _set_grads(ps, grads, numgrad.tensor)
        _set_grads(tps, grads, torch.tensor)
        opt.step()
        topt.step()
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["param_groups"] == tsd["param_groups"]
    assert list(sd["state"]) == list(tsd["state"]) == [0, 1, 2, 3]
    for i in tsd["state"]:
        assert list(sd["state"][i]) == list(tsd["state"][i])
        for key, value in tsd["state"][i].items():
            np.testing.assert_allclose(_np(sd["state"][i][key]), _np(value),
                                       rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", STATE_CASES + [
    ("SGD", dict(lr=0.1)), ("Adam", dict(weight_decay=0.1, maximize=True))],
    ids=_case_id)
def test_state_dict_round_trip_continues_identically(case):
    name, kw = case
    arrays = _arrays(dtype=np.float32)
    grad_seq = _grad_seq(SHAPES, 8, np.float32)
    ps = _ng_params(arrays)
    opt = getattr(optim, name)(ps, **kw)
    for grads in grad_seq[:4]:
        _set_grads(ps, grads, numgrad.tensor)
        opt.step()

    # A fresh optimizer over copies of the parameters, loaded from the
    # state dict (passed through pickle, as a checkpoint would be).
    qs = [numgrad.tensor(_np(p).copy(), requires_grad=True) for p in ps]
    sd = pickle.loads(pickle.dumps(opt.state_dict()))
    opt2 = getattr(optim, name)(qs, lr=123.0)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert opt2.param_groups[0]["params"] == qs

    for grads in grad_seq[4:]:
        _set_grads(ps, grads, numgrad.tensor)
        _set_grads(qs, grads, numgrad.tensor)
        opt.step()
        opt2.step()
    for p, q in zip(ps, qs):
        np.testing.assert_array_equal(_np(p), _np(q))
    # The loaded state is the optimizer's own, not the state dict's.
    for key, value in sd["state"].get(0, {}).items():
        assert opt2.state[qs[0]][key] is not value


def test_state_dict_is_a_view_of_live_state():
    p = numgrad.tensor(np.ones(3), requires_grad=True)
    opt = optim.Adam([p])
    p.grad = numgrad.ones(3, dtype=numgrad.float64)
    opt.step()
    sd = opt.state_dict()
    assert sd["state"][0]["exp_avg"] is opt.state[p]["exp_avg"]
    assert sd["param_groups"][0] is not opt.param_groups[0]


def test_load_state_dict_from_torch(torch):
    """A state dict produced by torch (converted tensor by tensor) loads
    into the numgrad optimizer, which then continues as torch does."""
    arrays = _arrays(dtype=np.float32)
    grad_seq = _grad_seq(SHAPES, 6, np.float32)
    tps = _t_params(torch, arrays)
    topt = torch.optim.Adam(tps, lr=0.01, amsgrad=True)
    for grads in grad_seq[:3]:
        _set_grads(tps, grads, torch.tensor)
        topt.step()
    tsd = topt.state_dict()
    sd = {"param_groups": copy.deepcopy(tsd["param_groups"]),
          "state": {i: {k: numgrad.tensor(v.numpy().copy())
                        for k, v in s.items()}
                    for i, s in tsd["state"].items()}}
    ps = [numgrad.tensor(_np(t).copy(), requires_grad=True) for t in tps]
    opt = optim.Adam(ps)
    opt.load_state_dict(sd)
    assert opt.state[ps[0]]["step"].dtype == numgrad.float32
    for grads in grad_seq[3:]:
        _set_grads(ps, grads, numgrad.tensor)
        _set_grads(tps, grads, torch.tensor)
        opt.step()
        topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(_np(p), _np(tp), rtol=2e-5, atol=2e-6)


def test_load_state_dict_casts_to_param_dtype():
    p = numgrad.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    sd = {"state": {0: {"momentum_buffer": numgrad.tensor(
        np.ones(3, np.float64))}},
        "param_groups": [dict(opt.state_dict()["param_groups"][0])]}
    opt.load_state_dict(sd)
    assert opt.state[p]["momentum_buffer"].dtype == numgrad.float32


def test_load_state_dict_errors():
    p = numgrad.tensor(np.ones(3), requires_grad=True)
    q = numgrad.tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p, q], lr=0.1)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="different number of parameter "
                       "groups"):
        optim.SGD([{"params": [p]}, {"params": [q]}],
                  lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD([p], lr=0.1).load_state_dict(sd)


def test_optimizer_pickles_and_deepcopies():
    p = numgrad.tensor(np.ones(3), requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    p.grad = numgrad.ones(3, dtype=numgrad.float64)
    opt.step()
    clone = pickle.loads(pickle.dumps(opt))
    assert clone.param_groups[0]["lr"] == 0.1
    q = clone.param_groups[0]["params"][0]
    assert float(clone.state[q]["step"].item()) == 1.0
    q.grad = numgrad.ones(3, dtype=numgrad.float64)
    clone.step()
    assert float(clone.state[q]["step"].item()) == 2.0
    assert float(opt.state[p]["step"].item()) == 1.0


# ---- hooks ------------------------------------------------------------------

def test_step_hooks():
    p = numgrad.tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    events = []
    h1 = opt.register_step_pre_hook(lambda o, a, k: events.append("pre"))
    h2 = opt.register_step_post_hook(lambda o, a, k: events.append("post"))
    h3 = optim.optimizer.register_optimizer_step_pre_hook(
        lambda o, a, k: events.append("global"))
    opt.step()
    assert events == ["global", "pre", "post"]
    for h in (h1, h2, h3):
        h.remove()
    opt.step()
    assert events == ["global", "pre", "post"]


def test_state_dict_hooks():
    p = numgrad.tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    opt.register_state_dict_post_hook(
        lambda o, sd: sd["param_groups"][0].update(lr=0.7))
    opt.register_load_state_dict_pre_hook(
        lambda o, sd: {**sd, "param_groups": [
            {**sd["param_groups"][0], "lr": 0.9}]})
    sd = opt.state_dict()
    assert sd["param_groups"][0]["lr"] == 0.7
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.9


# ---- lr schedulers ----------------------------------------------------------

def _sched_pair(torch, opt_name, opt_kw, groups=2):
    arrays = _arrays()
    ps, tps = _ng_params(arrays), _t_params(torch, arrays)
    if groups == 2:
        ng_groups = [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.3}]
        t_groups = [{"params": tps[:2]}, {"params": tps[2:], "lr": 0.3}]
    else:
        ng_groups, t_groups = ps, tps
    return (getattr(optim, opt_name)(ng_groups, **opt_kw),
            getattr(torch.optim, opt_name)(t_groups, **opt_kw))


def _lr_lambda(epoch):
    return 0.95 ** epoch + 0.01 * (epoch % 3)


SCHEDULER_CASES = [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("StepLR", dict(step_size=1)),
    ("MultiStepLR", dict(milestones=[3, 10, 10, 40], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.93)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=17, eta_min=0.001)),
    ("CosineAnnealingLR", dict(T_max=60, eta_min=0.01)),
    ("LambdaLR", dict(lr_lambda=_lr_lambda)),
    ("LambdaLR", dict(lr_lambda=[_lr_lambda, lambda e: 1.0 / (e + 1)])),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.97)),
    ("LinearLR", dict(start_factor=0.25, total_iters=12)),
    ("ConstantLR", dict(factor=0.5, total_iters=9)),
    ("PolynomialLR", dict(total_iters=40, power=2.0)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=70)),
    ("OneCycleLR", dict(max_lr=[0.5, 2.0], total_steps=70,
                        anneal_strategy="linear", pct_start=0.4)),
    ("OneCycleLR", dict(max_lr=0.8, epochs=7, steps_per_epoch=10,
                        three_phase=True, div_factor=10.0,
                        final_div_factor=100.0, base_momentum=0.8,
                        max_momentum=0.9)),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=70, cycle_momentum=False)),
]


@pytest.mark.parametrize("opt_name,opt_kw", [
    ("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1)),
    ("AdamW", dict(lr=0.1, betas=(0.85, 0.99)))])
@pytest.mark.parametrize("case", SCHEDULER_CASES, ids=_case_id)
def test_scheduler_matches_torch(torch, case, opt_name, opt_kw):
    name, kw = case
    opt, topt = _sched_pair(torch, opt_name, opt_kw)
    sched = getattr(lr_scheduler, name)(opt, **kw)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    assert sched.get_last_lr() == tsched.get_last_lr()
    steps = 69 if name == "OneCycleLR" else 65
    for _ in range(steps):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert sched.get_last_lr() == tsched.get_last_lr()
        for g, tg in zip(opt.param_groups, topt.param_groups):
            assert g["lr"] == tg["lr"]
            for key in ("momentum", "betas"):
                if key in tg:
                    assert g[key] == tg[key]
    assert sched.last_epoch == tsched.last_epoch


def test_one_cycle_lr_too_many_steps():
    p = numgrad.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(2):
        opt.step()
        sched.step()
    opt.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        sched.step()
        sched.step()


def test_one_cycle_errors():
    p = numgrad.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="total_steps OR"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="anneal_strategy"):
        lr_scheduler.OneCycleLR(opt, 1.0, 10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="pct_start"):
        lr_scheduler.OneCycleLR(opt, 1.0, 10, pct_start=2.0)
    rms = optim.RMSprop([p])
    rms.defaults.pop("momentum")
    with pytest.raises(ValueError, match="momentum or beta1"):
        lr_scheduler.OneCycleLR(rms, 1.0, 10)


def test_scheduler_chaining_matches_torch(torch):
    opt, topt = _sched_pair(torch, "SGD", dict(lr=0.2, momentum=0.9))
    scheds = [lr_scheduler.ExponentialLR(opt, 0.9),
              lr_scheduler.MultiStepLR(opt, [5, 15], 0.1)]
    tscheds = [torch.optim.lr_scheduler.ExponentialLR(topt, 0.9),
               torch.optim.lr_scheduler.MultiStepLR(topt, [5, 15], 0.1)]
    for _ in range(30):
        opt.step()
        topt.step()
        for s, ts in zip(scheds, tscheds):
            s.step()
            ts.step()
        assert [g["lr"] for g in opt.param_groups] == \
            [g["lr"] for g in topt.param_groups]


def test_reduce_lr_on_plateau_matches_torch(torch):
    metrics = [1.0, 0.9, 0.9, 0.95, 0.91, 0.92, 0.93, 0.5, 0.6, 0.6, 0.6,
               0.6, 0.6, 0.6, 0.4] * 4
    for kw in (dict(patience=2), dict(mode="max", factor=0.5, patience=1,
                                      cooldown=2, threshold_mode="abs",
                                      min_lr=[0.01, 0.02])):
        opt, topt = _sched_pair(torch, "SGD", dict(lr=0.2))
        sched = lr_scheduler.ReduceLROnPlateau(opt, **kw)
        tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
        for m in metrics:
            opt.step()
            topt.step()
            sched.step(m)
            tsched.step(m)
            assert sched.get_last_lr() == tsched.get_last_lr()
        sd = sched.state_dict()
        fresh = lr_scheduler.ReduceLROnPlateau(opt, **kw)
        fresh.load_state_dict(sd)
        assert fresh.best == sched.best


@pytest.mark.parametrize("case", [
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.01)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=60, three_phase=True)),
    ("StepLR", dict(step_size=4, gamma=0.7)),
    ("LambdaLR", dict(lr_lambda=_lr_lambda)),
], ids=_case_id)
def test_scheduler_state_dict_round_trip(torch, case):
    """Save optimizer and scheduler mid-run, restore into fresh ones (the
    scheduler created before loading the optimizer, as PyTorch documents)
    and continue: same lrs as the uninterrupted run (and as torch)."""
    name, kw = case
    opt, topt = _sched_pair(torch, "SGD", dict(lr=0.1, momentum=0.9))
    sched = getattr(lr_scheduler, name)(opt, **kw)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    for _ in range(20):
        opt.step()
        sched.step()
        topt.step()
        tsched.step()
    opt_sd = pickle.loads(pickle.dumps(opt.state_dict()))
    sched_sd = pickle.loads(pickle.dumps(sched.state_dict()))
    assert set(sched_sd) == set(tsched.state_dict())

    opt2, _ = _sched_pair(torch, "SGD", dict(lr=0.1, momentum=0.9))
    sched2 = getattr(lr_scheduler, name)(opt2, **kw)
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sched_sd)
    for _ in range(30):
        for o, s in ((opt, sched), (opt2, sched2), (topt, tsched)):
            o.step()
            s.step()
        assert sched2.get_last_lr() == sched.get_last_lr() == \
            tsched.get_last_lr()
        assert [g.get("momentum") for g in opt2.param_groups] == \
            [g.get("momentum") for g in topt.param_groups]


def test_scheduler_warnings_and_errors():
    p = numgrad.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    sched = lr_scheduler.StepLR(opt, 2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), 2)
    fresh = optim.SGD([numgrad.tensor(np.ones(2), requires_grad=True)],
                      lr=0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(fresh, 2, last_epoch=3)


def test_scheduler_epoch_argument_uses_closed_form(torch):
    opt, topt = _sched_pair(torch, "SGD", dict(lr=0.1))
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=10)
    opt.step()
    topt.step()
    with pytest.warns(UserWarning, match="epoch parameter"):
        sched.step(7)
    with pytest.warns(UserWarning, match="epoch parameter"):
        tsched.step(7)
    assert sched.get_last_lr() == tsched.get_last_lr()


# ---- nn.utils ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0, 0.5, 0.0,
                                       -math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e4])
def test_clip_grad_norm_matches_torch(torch, norm_type, max_norm, dtype):
    arrays = _arrays(dtype=dtype)
    grads = _grad_seq(SHAPES, 1, dtype)[0]
    ps, tps = _ng_params(arrays), _t_params(torch, arrays)
    _set_grads(ps[:3], grads[:3], numgrad.tensor)  # the last has no grad
    _set_grads(tps[:3], grads[:3], torch.tensor)
    storage = ps[0].grad._value()
    version = ps[0].grad._version.value
    total = clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm,
                                            norm_type=norm_type)
    assert isinstance(total, numgrad.Tensor) and total.dim() == 0
    assert total.dtype.name == str(ttotal.dtype).split(".")[-1]
    tol = dict(rtol=1e-6) if dtype == np.float32 else dict(rtol=1e-12)
    np.testing.assert_allclose(total.item(), ttotal.item(), **tol)
    for p, tp in zip(ps[:3], tps[:3]):
        np.testing.assert_allclose(_np(p.grad), _np(tp.grad), **tol,
                                   atol=1e-7)
    assert ps[3].grad is None
    assert ps[0].grad._value() is storage
    assert ps[0].grad._version.value > version


def test_clip_grad_norm_edge_cases(torch):
    p = numgrad.tensor(np.ones(3, np.float32), requires_grad=True)
    # No gradients at all: a zero total norm, nothing to clip.
    total = clip_grad_norm_([p], 1.0)
    assert total.item() == 0.0 and total.dtype == numgrad.float32
    # A single tensor rather than a list.
    p.grad = numgrad.tensor(np.full(3, 4.0, np.float32))
    total = clip_grad_norm_(p, 1.0)
    assert total.item() == pytest.approx(math.sqrt(48), rel=1e-6)
    np.testing.assert_allclose(np.linalg.norm(_np(p.grad)), 1.0, rtol=1e-5)
    # Non-finite norms.
    p.grad = numgrad.tensor(np.array([np.inf, 1.0, 1.0], np.float32))
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    total = clip_grad_norm_([p], 1.0)
    assert math.isinf(total.item())
    with pytest.raises(RuntimeError, match="foreach=True"):
        clip_grad_norm_([p], 1.0, foreach=True)
    with pytest.warns(UserWarning, match="empty generator"):
        clip_grad_norm_((q for q in []), 1.0)


def test_clip_grad_value_matches_torch(torch):
    arrays = _arrays()
    grads = [3 * g for g in _grad_seq(SHAPES, 1, np.float64)[0]]
    ps, tps = _ng_params(arrays), _t_params(torch, arrays)
    _set_grads(ps, grads, numgrad.tensor)
    _set_grads(tps, grads, torch.tensor)
    storage = ps[1].grad._value()
    assert clip_grad_value_(ps, 1.5) is None
    torch.nn.utils.clip_grad_value_(tps, 1.5)
    for p, tp in zip(ps, tps):
        np.testing.assert_array_equal(_np(p.grad), _np(tp.grad))
    assert ps[1].grad._value() is storage
    clip_grad_value_(ps[0], 0.1)
    assert np.abs(_np(ps[0].grad)).max() <= 0.1


def test_parameters_to_vector_round_trip(torch):
    arrays = _arrays()
    ps, tps = _ng_params(arrays), _t_params(torch, arrays)
    vec = parameters_to_vector(ps)
    tvec = torch.nn.utils.parameters_to_vector(tps)
    np.testing.assert_array_equal(_np(vec), _np(tvec))
    assert vec.requires_grad
    vec.sum().backward()
    for p in ps:
        np.testing.assert_array_equal(_np(p.grad), np.ones(p.shape))

    new = numgrad.tensor(np.arange(vec.numel(), dtype=np.float64))
    vector_to_parameters(new, ps)
    offset = 0
    for p, a in zip(ps, arrays):
        n = a.size
        np.testing.assert_array_equal(
            _np(p), np.arange(offset, offset + n).reshape(a.shape))
        offset += n
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        vector_to_parameters(np.zeros(3), ps)


def test_optim_and_utils_are_reachable_from_numgrad():
    import numgrad.nn.utils as nn_utils
    import numgrad.utils.data as data
    assert optim.SGD is numgrad.optim.SGD
    assert nn_utils.clip_grad_norm_ is clip_grad_norm_
    assert data.DataLoader is numgrad.utils.data.DataLoader
