"""Adam and AdamW."""

from ..tensor import Tensor
from .optimizer import (Optimizer, storage_for_write,
                        _scalar_step, _to_scalar, _zeros_like, fast_path,
                        kernels_for, run_flat)

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Implements the Adam algorithm (Kingma & Ba), with PyTorch's update
    rule, options and state (``step``, ``exp_avg``, ``exp_avg_sq`` and,
    with ``amsgrad``, ``max_exp_avg_sq``).

    With ``decoupled_weight_decay=True`` it is AdamW: the parameter is
    multiplied by ``1 - lr * weight_decay`` instead of adding
    ``weight_decay * p`` to the gradient.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0, amsgrad=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False,
                 fused=None, decoupled_weight_decay=False):
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if differentiable:
            raise NotImplementedError(
                "numgrad optimizers do not support differentiable=True")
        betas = tuple(float(_to_scalar(b)) for b in betas)
        defaults = {
            "lr": lr, "betas": betas, "eps": eps,
            "weight_decay": weight_decay, "amsgrad": amsgrad,
            "maximize": maximize, "foreach": foreach,
            "capturable": capturable, "differentiable": differentiable,
            "fused": fused, "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("decoupled_weight_decay", False)
            group.setdefault("fused", None)
        self._step_counts_as_tensors()

    def _update_group(self, group):
        lr = float(_to_scalar(group["lr"]))
        beta1, beta2 = group["betas"]
        beta1 = float(_to_scalar(beta1))
        beta2 = float(_to_scalar(beta2))
        eps = float(group["eps"])
        weight_decay = float(_to_scalar(group["weight_decay"]))
        amsgrad = bool(group["amsgrad"])
        maximize = bool(group["maximize"])
        decoupled = bool(group["decoupled_weight_decay"])
        state = self.state
        for p, pa, ga in self._writable_params(group):
            kernel = kernels_for(p).adam_kernel
            st = state[p]
            if len(st) == 0:
                st["step"] = _scalar_step()
                st["exp_avg"] = _zeros_like(pa)
                st["exp_avg_sq"] = _zeros_like(pa)
                if amsgrad:
                    st["max_exp_avg_sq"] = _zeros_like(pa)
            step = self._advance_step(st)
            bias_correction1 = 1 - beta1 ** step
            bias_correction2 = 1 - beta2 ** step
            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2 ** 0.5

            m = st["exp_avg"]
            v = st["exp_avg_sq"]
            ma = storage_for_write(m)
            va = storage_for_write(v)
            m._version.value += 1
            v._version.value += 1
            if amsgrad:
                vm = st["max_exp_avg_sq"]
                vma = storage_for_write(vm)
                vm._version.value += 1
            else:
                vma = va
            scalars = (lr, beta1, beta2, eps, weight_decay, step_size,
                       bias_correction2_sqrt, decoupled, amsgrad, maximize)
            if fast_path(p, (pa, ga, ma, va, vma)):
                kernel(pa.reshape(-1), ga.reshape(-1), ma.reshape(-1),
                       va.reshape(-1), vma.reshape(-1), *scalars)
            else:
                run_flat(kernel, (pa, ga, ma, va, vma), scalars)
            if not p._is_inference:
                p._version.value += 1


class AdamW(Adam):
    r"""Implements AdamW: Adam with decoupled weight decay (default
    ``weight_decay=1e-2``)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=1e-2, amsgrad=False, *, maximize=False,
                 foreach=None, capturable=False, differentiable=False,
                 fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad,
                         foreach=foreach, maximize=maximize,
                         capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
