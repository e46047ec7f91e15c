"""Records elementwise ops as pending ``Expr`` values and runs each chain
as one fused kernel at a flush point.

A pointwise op on large tensors returns a *lazy* tensor holding an
``Expr``; nothing runs until a value is needed (a structured op,
``numpy()``, ``item()``, printing, leaving a grad-mode block) or the chain
reaches ``MAX_DEPTH``.  At that point every other pending tensor of the
same shape that shares inputs with it is computed by the same kernel
(several outputs, inputs read once).  Intermediates that nobody holds are
never written: backward formulas that need them reference their ``Expr``
and recompute them inside the fused backward kernel.

Small tensors run eagerly: fusion saves memory traffic, which they do not
have, and every distinct chain costs a compile."""
import os
import weakref

from .. import _config
from ..backends import shares_memory
from ..tensor import Tensor
from .chain import ArrayLeaf, Expr
from .executor import run, run_single, run_total

MAX_DEPTH = 48
MIN_ELEMENTS = int(os.environ.get("NUMGRAD_FUSION_MIN_ELEMENTS", 4096))
# Keyed by id: WeakSet would compare tensors with ==, which is elementwise.
_pending = {}
_live_exprs = weakref.WeakSet()


def track(tensor):
    """Make a lazy tensor a candidate output of the next fused kernel."""
    key = id(tensor)
    _pending[key] = weakref.ref(tensor, lambda _, k=key: _pending.pop(k,
                                                                      None))


def _pending_tensors():
    return [t for t in (r() for r in list(_pending.values()))
            if t is not None]


def set_fusion_enabled(enabled):
    flush_all()
    _config.fusion_enabled = bool(enabled)


def is_fusion_enabled():
    return _config.fusion_enabled


def set_min_elements(count):
    global MIN_ELEMENTS
    MIN_ELEMENTS = int(count)


def emit(expr):
    if (not _config.fusion_enabled or expr.size < MIN_ELEMENTS
            or expr.depth > MAX_DEPTH):
        if expr.depth == 1:
            expr.value = run_single(expr)
        else:
            expr.value = run([expr])[0]
        return Tensor._make(expr.value)
    t = Tensor._make_lazy(expr)
    track(t)
    _live_exprs.add(expr)
    return t


def materialize(tensor):
    expr = tensor._expr
    if expr.value is None:
        group = [tensor] + _siblings(tensor)
        # Aliases (x.grad and x.grad.detach()) share one Expr: one output.
        exprs = list({id(t._expr): t._expr for t in group}.values())
        for e, array in zip(exprs, run(exprs)):
            e.value = array
        for t in group:
            _settle(t)
    else:
        _settle(tensor)
    return tensor._data


def _settle(tensor):
    tensor._data = tensor._expr.value
    tensor._expr = None
    _pending.pop(id(tensor), None)


def _siblings(tensor):
    """Pending tensors of the same shape that share an input or a node."""
    shape = tensor._shape
    candidates = [t for t in _pending_tensors()
                  if t is not tensor and t._expr is not None
                  and t._expr.value is None and t._shape == shape]
    if not candidates:
        return []
    own = _reachable(tensor._expr)
    return [t for t in candidates if _reachable(t._expr) & own]


def _reachable(expr):
    """ids of the Exprs and leaf arrays a DAG reads."""
    seen = set()
    stack = [expr]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        for arg in e.args:
            if isinstance(arg, Expr):
                if arg.value is not None:
                    seen.add(id(arg.value))
                else:
                    stack.append(arg)
            elif isinstance(arg, ArrayLeaf):
                seen.add(id(arg.array))
    return seen


def fused_total(tensor):
    """Sum of a pending floating tensor computed in the chain's own loop,
    without writing the chain's output; None if it cannot be fused."""
    expr = tensor._expr
    if (expr is None or expr.value is not None or expr.size == 0
            or not expr.dtype.is_floating_point):
        return None
    return run_total(expr)


def before_write(tensor):
    """Run every pending expression that reads ``tensor``'s storage, so an
    in-place write cannot change a value computed before it."""
    if not _live_exprs:
        return
    target = tensor._value()
    stale = [e for e in list(_live_exprs)
             if e.value is None and _reads(e, target)]
    for e in stale:
        if e.value is None:
            e.value = run([e])[0]


def _reads(expr, target):
    """Whether ``expr`` reads ``target`` directly: as a leaf array, or as
    the value of an argument that has run since it was recorded."""
    for arg in expr.args:
        if isinstance(arg, ArrayLeaf):
            array = arg.array
        elif isinstance(arg, Expr) and arg.value is not None:
            array = arg.value
        else:
            continue
        if shares_memory(array, target):
            return True
    return False


def flush_all():
    for t in _pending_tensors():
        if t._expr is not None:
            materialize(t)
