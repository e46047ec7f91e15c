"""RMSprop."""

from ..tensor import Tensor
from .optimizer import (Optimizer, _scalar_step,
                        _to_scalar, storage_for_write, _zeros_like, fast_path,
                        kernels_for, run_flat)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""Implements RMSprop with PyTorch's update rule, options and state
    (``step``, ``square_avg``, and ``momentum_buffer`` / ``grad_avg`` when
    ``momentum > 0`` / ``centered``)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8,
                 weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        if differentiable:
            raise NotImplementedError(
                "numgrad optimizers do not support differentiable=True")
        defaults = {
            "lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
            "centered": centered, "weight_decay": weight_decay,
            "capturable": capturable, "foreach": foreach,
            "maximize": maximize, "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0)
            group.setdefault("centered", False)
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)
        self._step_counts_as_tensors()

    def _update_group(self, group):
        lr = float(_to_scalar(group["lr"]))
        alpha = float(group["alpha"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        momentum = float(group["momentum"])
        centered = bool(group["centered"])
        maximize = bool(group["maximize"])
        state = self.state
        for p, pa, ga in self._writable_params(group):
            kernel = kernels_for(p).rmsprop_kernel
            st = state[p]
            if len(st) == 0:
                st["step"] = _scalar_step()
                st["square_avg"] = _zeros_like(pa)
                if momentum > 0:
                    st["momentum_buffer"] = _zeros_like(pa)
                if centered:
                    st["grad_avg"] = _zeros_like(pa)
            self._advance_step(st)

            arrays = [pa, ga]
            for key, used in (("square_avg", True),
                              ("grad_avg", centered),
                              ("momentum_buffer", momentum > 0)):
                if used:
                    t = st[key]
                    arrays.append(storage_for_write(t))
                    t._version.value += 1
                else:
                    arrays.append(arrays[2])
            scalars = (lr, alpha, eps, weight_decay, momentum, centered,
                       maximize)
            if fast_path(p, arrays):
                kernel(*[a.reshape(-1) for a in arrays], *scalars)
            else:
                run_flat(kernel, arrays, scalars)
            if not p._is_inference:
                p._version.value += 1
