"""Stochastic gradient descent (optionally with momentum)."""
from .optimizer import (Optimizer, storage_for_write, _empty_like,
                        _to_scalar, fast_path, kernels_for, run_flat)

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Implements stochastic gradient descent (optionally with momentum),
    with PyTorch's update rule:

    .. code-block:: text

        g = -grad if maximize else grad
        g = g + weight_decay * p
        buf = g                                 (first step)
        buf = momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0,
                 weight_decay=0, nesterov=False, *, maximize=False,
                 foreach=None, differentiable=False, fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if differentiable:
            raise NotImplementedError(
                "numgrad optimizers do not support differentiable=True")
        defaults = {
            "lr": lr, "momentum": momentum, "dampening": dampening,
            "weight_decay": weight_decay, "nesterov": nesterov,
            "maximize": maximize, "foreach": foreach,
            "differentiable": differentiable, "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                "Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", False)

    def _update_group(self, group):
        lr = float(_to_scalar(group["lr"]))
        momentum = float(group["momentum"])
        dampening = float(group["dampening"])
        weight_decay = float(_to_scalar(group["weight_decay"]))
        nesterov = bool(group["nesterov"])
        maximize = bool(group["maximize"])
        plain = momentum == 0.0 and weight_decay == 0.0 and not maximize
        state = self.state
        for p, pa, ga in self._writable_params(group):
            kernels = kernels_for(p)
            if plain:
                plain_kernel = kernels.sgd_plain_kernel
                if fast_path(p, (pa, ga)):
                    plain_kernel(pa.reshape(-1), ga.reshape(-1), -lr)
                else:
                    run_flat(plain_kernel, (pa, ga), (-lr,))
            else:
                if momentum != 0.0:
                    st = state[p]
                    buf = st.get("momentum_buffer")
                    first = buf is None
                    if first:
                        buf = _empty_like(pa)
                        st["momentum_buffer"] = buf
                    ba = storage_for_write(buf)
                    buf._version.value += 1
                else:
                    first = False
                    ba = pa
                scalars = (lr, momentum, dampening, weight_decay, nesterov,
                           maximize, first)
                kernel = kernels.sgd_kernel
                if fast_path(p, (pa, ga, ba)):
                    kernel(pa.reshape(-1), ga.reshape(-1), ba.reshape(-1),
                           *scalars)
                else:
                    run_flat(kernel, (pa, ga, ba), scalars)
            if not p._is_inference:
                p._version.value += 1
