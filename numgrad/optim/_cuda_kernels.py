"""CUDA twins of ``_kernels``: the same fused updates, one grid-stride
loop over a parameter and its state per step, for parameters on the GPU.

Each host function has its CPU twin's name and signature, so an optimiser
calls whichever its parameter's device picks.  It turns the options into
scalars of the parameter's dtype on the host (so a float32 parameter
updates in float32 arithmetic, as on the CPU and in PyTorch) and launches
one kernel; nothing is copied between host and device.  The options are
runtime flags: a branch every thread takes the same way costs next to
nothing on a GPU, so one kernel per optimiser serves every combination."""
import math

from numba import cuda

from ..backends.cuda.launch import grid_for, launch


# ---- SGD -----------------------------------------------------------------

@cuda.jit(cache=True)
def _sgd(p, g, buf, sign, neg_lr, momentum, keep, wd, use_wd, mode,
         nesterov):
    # mode: 0 no momentum, 1 first momentum step (buf = d), 2 momentum.
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        d = g[i] * sign
        if use_wd:
            d = d + wd * p[i]
        if mode == 1:
            buf[i] = d
        elif mode == 2:
            buf[i] = buf[i] * momentum + keep * d
        if mode != 0:
            if nesterov:
                d = d + momentum * buf[i]
            else:
                d = buf[i]
        p[i] = p[i] + neg_lr * d


def sgd_plain_kernel(p, g, neg_lr):
    """p += -lr * g: the general kernel with every option off."""
    t = p.dtype.type
    launch(_sgd, grid_for(p.shape[0]), p, g, p, t(1.0), t(neg_lr), t(0.0),
           t(1.0), t(0.0), False, 0, False)


def sgd_kernel(p, g, buf, lr, momentum, dampening, weight_decay, nesterov,
               maximize, first):
    t = p.dtype.type
    if momentum == 0.0:
        mode = 0
    else:
        mode = 1 if first else 2
    launch(_sgd, grid_for(p.shape[0]), p, g, buf,
           t(-1.0 if maximize else 1.0), t(-lr), t(momentum),
           t(1.0 - dampening), t(weight_decay), weight_decay != 0.0, mode,
           bool(nesterov) and mode != 0)


# ---- Adam / AdamW ----------------------------------------------------------

@cuda.jit(cache=True)
def _adam(p, g, m, v, vmax, sign, w1, beta2, w2, eps, wd, decay,
          neg_step_size, bias_correction2_sqrt, coupled, decoupled, amsgrad):
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        d = g[i] * sign
        if decoupled:
            p[i] = p[i] * decay
        if coupled:
            d = d + wd * p[i]
        mi = m[i]
        mi = mi + w1 * (d - mi)
        m[i] = mi
        vi = v[i] * beta2 + w2 * (d * d)
        v[i] = vi
        if amsgrad:
            vi = max(vmax[i], vi)
            vmax[i] = vi
        denom = math.sqrt(vi) / bias_correction2_sqrt + eps
        p[i] = p[i] + neg_step_size * (mi / denom)


def adam_kernel(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay,
                step_size, bias_correction2_sqrt, decoupled, amsgrad,
                maximize):
    t = p.dtype.type
    has_wd = weight_decay != 0.0
    launch(_adam, grid_for(p.shape[0]), p, g, m, v, vmax,
           t(-1.0 if maximize else 1.0), t(1.0 - beta1), t(beta2),
           t(1.0 - beta2), t(eps), t(weight_decay),
           t(1.0 - lr * weight_decay), t(-step_size),
           t(bias_correction2_sqrt), has_wd and not decoupled,
           has_wd and bool(decoupled), bool(amsgrad))


# ---- RMSprop ---------------------------------------------------------------

@cuda.jit(cache=True)
def _rmsprop(p, g, square_avg, grad_avg, buf, sign, neg_lr, alpha, w, eps,
             wd, momentum, use_wd, centered, use_momentum):
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        d = g[i] * sign
        if use_wd:
            d = d + wd * p[i]
        sq = square_avg[i] * alpha + w * (d * d)
        square_avg[i] = sq
        if centered:
            ga = grad_avg[i]
            ga = ga + w * (d - ga)
            grad_avg[i] = ga
            avg = math.sqrt(sq - ga * ga) + eps
        else:
            avg = math.sqrt(sq) + eps
        if use_momentum:
            b = buf[i] * momentum + d / avg
            buf[i] = b
            p[i] = p[i] + neg_lr * b
        else:
            p[i] = p[i] + neg_lr * (d / avg)


def rmsprop_kernel(p, g, square_avg, grad_avg, buf, lr, alpha, eps,
                   weight_decay, momentum, centered, maximize):
    t = p.dtype.type
    launch(_rmsprop, grid_for(p.shape[0]), p, g, square_avg, grad_avg, buf,
           t(-1.0 if maximize else 1.0), t(-lr), t(alpha), t(1.0 - alpha),
           t(eps), t(weight_decay), t(momentum), weight_decay != 0.0,
           bool(centered), momentum > 0.0)
