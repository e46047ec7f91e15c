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
have, and every distinct chain costs a compile.

Laziness must stay invisible, so a value is only left pending while
nothing but numgrad can change what it reads:
- storage the user also holds as a NumPy array (``from_numpy``, or handed
  out by ``numpy()``) is *shared*: an op reading it runs at once, since a
  write through NumPy cannot be seen coming;
- handing storage out runs every pending value that reads it first, and so
  does an in-place write through numgrad (``before_write``).
One lock guards the pending set, so threads may record, run and
differentiate graphs side by side.  A value whose kernel fails is dropped
from the pending set: the error is raised where that value is used, never
at an unrelated flush."""
import os
import threading
import weakref

import numpy as np

from .. import _config
from ..backends import shares_memory
from .chain import ArrayLeaf, Expr
from .executor import run, run_single, run_total

MAX_DEPTH = 48
MIN_ELEMENTS = int(os.environ.get("NUMGRAD_FUSION_MIN_ELEMENTS", 4096))
# Keyed by id: WeakSet would compare tensors with ==, which is elementwise.
_pending = {}
_live_exprs = weakref.WeakSet()
# id of the array that owns a shared buffer -> a weak reference to it
_shared = {}
_lock = threading.RLock()


def track(tensor):
    """Make a lazy tensor a candidate output of the next fused kernel."""
    key = id(tensor)
    with _lock:
        _pending[key] = weakref.ref(tensor,
                                    lambda _, k=key: _pending.pop(k, None))


def _pending_tensors():
    # copy() first: a weakref callback may pop while we iterate.
    return [t for t in (r() for r in _pending.copy().values())
            if t is not None]


def _owner(array):
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def mark_shared(array):
    """The user holds ``array`` (or a view of its buffer) as NumPy: ops
    that read it run at once from now on."""
    owner = _owner(array)
    key = id(owner)
    if key not in _shared:
        _shared[key] = weakref.ref(owner,
                                   lambda _, k=key: _shared.pop(k, None))


def before_export(tensor):
    """Run what reads ``tensor``'s storage, then mark it shared: after this
    the user can write it behind numgrad's back."""
    array = tensor._value()
    if isinstance(array, np.ndarray):
        before_write(tensor)
        mark_shared(array)
    return array


def _reads_shared(expr):
    for arg in expr.args:
        if type(arg) is ArrayLeaf:
            array = arg.array
        elif isinstance(arg, Expr) and arg.value is not None:
            array = arg.value
        else:
            continue
        if isinstance(array, np.ndarray) and id(_owner(array)) in _shared:
            return True
    return False


def set_fusion_enabled(enabled):
    with _lock:
        flush_all()
        _config.fusion_enabled = bool(enabled)


def is_fusion_enabled():
    return _config.fusion_enabled


def set_min_elements(count):
    global MIN_ELEMENTS
    MIN_ELEMENTS = int(count)


def emit(expr, tensor_type):
    """A tensor of ``tensor_type`` holding ``expr``: computed now, or
    pending (the caller passes the type: fusion sits below the Tensor)."""
    if (not _config.fusion_enabled or expr.size < MIN_ELEMENTS
            or expr.depth > MAX_DEPTH or _shared and _reads_shared(expr)):
        if expr.depth == 1:
            expr.value = run_single(expr)
        else:
            with _lock:
                expr.value = run([expr])[0]
        return tensor_type._make(expr.value)
    t = tensor_type._make_lazy(expr)
    with _lock:
        track(t)
        _live_exprs.add(expr)
    return t


def materialize(tensor):
    with _lock:
        expr = tensor._expr
        if expr is None:  # another thread settled it meanwhile
            return tensor._data
        if expr.value is None:
            group = [tensor] + _siblings(tensor)
            # Aliases (x.grad and x.grad.detach()) share one Expr.
            exprs = list({id(t._expr): t._expr for t in group}.values())
            try:
                values = run(exprs)
            except Exception:
                # A sibling's failure is its own; it surfaces where the
                # sibling is used.  This value's own failure is final.
                group, exprs = [tensor], [expr]
                try:
                    values = run(exprs)
                except Exception:
                    _forget(expr)
                    raise
            for e, array in zip(exprs, values):
                e.value = array
            for t in group:
                if t._expr is not None:
                    _settle(t)
        else:
            _settle(tensor)
        return tensor._data


def _settle(tensor):
    tensor._data = tensor._expr.value
    tensor._expr = None
    _pending.pop(id(tensor), None)


def _forget(expr):
    """Stop offering a failed value to later flushes and writes."""
    for t in _pending_tensors():
        if t._expr is expr:
            _pending.pop(id(t), None)
    _live_exprs.discard(expr)


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
    with _lock:
        return run_total(expr)


def before_write(tensor):
    """Run every pending expression that reads ``tensor``'s storage, so an
    in-place write cannot change a value computed before it."""
    if not _live_exprs:
        return
    with _lock:
        target = tensor._value()
        stale = [e for e in list(_live_exprs)
                 if e.value is None and _reads(e, target)]
        for e in stale:
            if e.value is None:
                try:
                    e.value = run([e])[0]
                except Exception:
                    _forget(e)  # raised again where it is used


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
    """Run every pending value.  One that fails is left to raise where it
    is used: a flush happens at points (leaving a grad-mode block, a
    setting change) that have nothing to do with it."""
    with _lock:
        for t in _pending_tensors():
            if t._expr is not None:
                try:
                    materialize(t)
                except Exception:
                    pass
