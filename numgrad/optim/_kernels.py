"""Fused update kernels: one pass over a parameter and its state per step.

Every kernel takes flat (1-D, C-contiguous) arrays of one dtype and
updates them in place, computing in that dtype as PyTorch's CPU kernels do
(float32 parameters update in float32 arithmetic, which also lets LLVM
vectorize twice as wide).  The options arrive as runtime flags; each
kernel dispatches once, outside the loop, to a loop body inlined with the
flags as constants, so the hot loops carry no branches and vectorize
(``error_model="numpy"`` drops the division-by-zero check that would
otherwise block that)."""
import numpy as np
from numba import njit

_opts = dict(cache=True, nogil=True, error_model="numpy")
_inline = dict(error_model="numpy", inline="always")


# ---- SGD -----------------------------------------------------------------

@njit(**_opts)
def sgd_plain_kernel(p, g, neg_lr):
    """p += -lr * g (no momentum, weight decay or maximize)."""
    a = p.dtype.type(neg_lr)
    for i in range(p.shape[0]):
        p[i] = p[i] + a * g[i]


@njit(**_inline)
def _sgd_loop(p, g, buf, sign, neg_lr, momentum, keep, wd, use_wd, mode,
              nesterov):
    # mode: 0 no momentum, 1 first momentum step (buf = d), 2 momentum.
    for i in range(p.shape[0]):
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


@njit(**_opts)
def sgd_kernel(p, g, buf, lr, momentum, dampening, weight_decay, nesterov,
               maximize, first):
    t = p.dtype.type
    sign = t(-1.0) if maximize else t(1.0)
    neg_lr = t(-lr)
    mom = t(momentum)
    keep = t(1.0 - dampening)
    wd = t(weight_decay)
    use_wd = weight_decay != 0.0
    if momentum == 0.0:
        if use_wd:
            _sgd_loop(p, g, buf, sign, neg_lr, mom, keep, wd, True, 0, False)
        else:
            _sgd_loop(p, g, buf, sign, neg_lr, mom, keep, wd, False, 0,
                      False)
    elif first:
        if nesterov:
            _sgd_loop(p, g, buf, sign, neg_lr, mom, keep, wd, use_wd, 1,
                      True)
        else:
            _sgd_loop(p, g, buf, sign, neg_lr, mom, keep, wd, use_wd, 1,
                      False)
    else:
        if nesterov:
            if use_wd:
                _sgd_loop(p, g, buf, sign, neg_lr, mom, keep, wd, True, 2,
                          True)
            else:
                _sgd_loop(p, g, buf, sign, neg_lr, mom, keep, wd, False, 2,
                          True)
        else:
            if use_wd:
                _sgd_loop(p, g, buf, sign, neg_lr, mom, keep, wd, True, 2,
                          False)
            else:
                _sgd_loop(p, g, buf, sign, neg_lr, mom, keep, wd, False, 2,
                          False)


# ---- Adam / AdamW ----------------------------------------------------------

@njit(**_inline)
def _adam_loop(p, g, m, v, vmax, sign, w1, beta2, w2, eps, wd, decay,
               neg_step_size, bias_correction2_sqrt, coupled, decoupled,
               amsgrad):
    for i in range(p.shape[0]):
        d = g[i] * sign
        if decoupled:
            p[i] = p[i] * decay
        if coupled:
            d = d + wd * p[i]
        # exp_avg.lerp_(grad, 1 - beta1)
        mi = m[i]
        mi = mi + w1 * (d - mi)
        m[i] = mi
        # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        vi = v[i] * beta2 + w2 * (d * d)
        v[i] = vi
        if amsgrad:
            vi = max(vmax[i], vi)
            vmax[i] = vi
        denom = np.sqrt(vi) / bias_correction2_sqrt + eps
        # param.addcdiv_(exp_avg, denom, value=-step_size)
        p[i] = p[i] + neg_step_size * (mi / denom)


@njit(**_opts)
def adam_kernel(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay,
                step_size, bias_correction2_sqrt, decoupled, amsgrad,
                maximize):
    t = p.dtype.type
    sign = t(-1.0) if maximize else t(1.0)
    w1 = t(1.0 - beta1)
    b2 = t(beta2)
    w2 = t(1.0 - beta2)
    e = t(eps)
    wd = t(weight_decay)
    decay = t(1.0 - lr * weight_decay)
    nss = t(-step_size)
    bc2 = t(bias_correction2_sqrt)
    has_wd = weight_decay != 0.0
    coupled = has_wd and not decoupled
    dec = has_wd and decoupled
    if amsgrad:
        if coupled:
            _adam_loop(p, g, m, v, vmax, sign, w1, b2, w2, e, wd, decay, nss,
                       bc2, True, False, True)
        elif dec:
            _adam_loop(p, g, m, v, vmax, sign, w1, b2, w2, e, wd, decay, nss,
                       bc2, False, True, True)
        else:
            _adam_loop(p, g, m, v, vmax, sign, w1, b2, w2, e, wd, decay, nss,
                       bc2, False, False, True)
    else:
        if coupled:
            _adam_loop(p, g, m, v, vmax, sign, w1, b2, w2, e, wd, decay, nss,
                       bc2, True, False, False)
        elif dec:
            _adam_loop(p, g, m, v, vmax, sign, w1, b2, w2, e, wd, decay, nss,
                       bc2, False, True, False)
        else:
            _adam_loop(p, g, m, v, vmax, sign, w1, b2, w2, e, wd, decay, nss,
                       bc2, False, False, False)


# ---- RMSprop ---------------------------------------------------------------

@njit(**_inline)
def _rmsprop_loop(p, g, square_avg, grad_avg, buf, sign, neg_lr, alpha, w,
                  eps, wd, momentum, use_wd, centered, use_momentum):
    for i in range(p.shape[0]):
        d = g[i] * sign
        if use_wd:
            d = d + wd * p[i]
        sq = square_avg[i] * alpha + w * (d * d)
        square_avg[i] = sq
        if centered:
            ga = grad_avg[i]
            ga = ga + w * (d - ga)
            grad_avg[i] = ga
            # square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
            avg = np.sqrt(sq - ga * ga) + eps
        else:
            avg = np.sqrt(sq) + eps
        if use_momentum:
            b = buf[i] * momentum + d / avg
            buf[i] = b
            p[i] = p[i] + neg_lr * b
        else:
            p[i] = p[i] + neg_lr * (d / avg)


@njit(**_opts)
def rmsprop_kernel(p, g, square_avg, grad_avg, buf, lr, alpha, eps,
                   weight_decay, momentum, centered, maximize):
    t = p.dtype.type
    sign = t(-1.0) if maximize else t(1.0)
    nlr = t(-lr)
    a = t(alpha)
    w = t(1.0 - alpha)
    e = t(eps)
    wd = t(weight_decay)
    mom = t(momentum)
    use_momentum = momentum > 0.0
    if weight_decay != 0.0:
        if centered:
            if use_momentum:
                _rmsprop_loop(p, g, square_avg, grad_avg, buf, sign, nlr, a,
                              w, e, wd, mom, True, True, True)
            else:
                _rmsprop_loop(p, g, square_avg, grad_avg, buf, sign, nlr, a,
                              w, e, wd, mom, True, True, False)
        else:
            if use_momentum:
                _rmsprop_loop(p, g, square_avg, grad_avg, buf, sign, nlr, a,
                              w, e, wd, mom, True, False, True)
            else:
                _rmsprop_loop(p, g, square_avg, grad_avg, buf, sign, nlr, a,
                              w, e, wd, mom, True, False, False)
    else:
        if centered:
            if use_momentum:
                _rmsprop_loop(p, g, square_avg, grad_avg, buf, sign, nlr, a,
                              w, e, wd, mom, False, True, True)
            else:
                _rmsprop_loop(p, g, square_avg, grad_avg, buf, sign, nlr, a,
                              w, e, wd, mom, False, True, False)
        else:
            if use_momentum:
                _rmsprop_loop(p, g, square_avg, grad_avg, buf, sign, nlr, a,
                              w, e, wd, mom, False, False, True)
            else:
                _rmsprop_loop(p, g, square_avg, grad_avg, buf, sign, nlr, a,
                              w, e, wd, mom, False, False, False)
