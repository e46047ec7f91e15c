"""User-defined ops: ``autograd.Function`` with ``forward(ctx, ...)`` and
``backward(ctx, *grads)``, recorded as one node in the graph."""
import weakref

from . import grad_mode
from .node import Node, SavedTensor, edge


class FunctionCtx:
    def __init__(self):
        self.needs_input_grad = ()
        self._to_save = ()
        self._saved = None
        self._node = None
        self.materialize_grads = True
        self.non_differentiable = ()
        self.dirty = ()

    def save_for_backward(self, *tensors):
        self._to_save = tensors

    @property
    def saved_tensors(self):
        node = self._node() if self._node is not None else None
        if node is None:
            return tuple(self._to_save)
        from .node import ERR_BACKWARD_TWICE
        if node.freed:
            raise RuntimeError(ERR_BACKWARD_TWICE)
        if node.saved is None:
            return ()
        return tuple(None if s is None else s.unpack(node)
                     for s in node.saved)

    def mark_non_differentiable(self, *tensors):
        self.non_differentiable = tensors

    def mark_dirty(self, *tensors):
        self.dirty = tensors

    def set_materialize_grads(self, value):
        self.materialize_grads = value


class _FunctionSpec:
    def __init__(self, cls):
        self.cls = cls
        self.node_name = cls.__name__ + "Backward"
        self.name = cls.__name__

    def run_backward(self, node, grads):
        ctx = node.ctx
        result = self.cls.backward(ctx, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        expected = len(node.next_functions)
        if len(result) < expected:
            raise RuntimeError(
                f"function {self.node_name} returned an incorrect number of "
                f"gradients (expected {expected}, got {len(result)})")
        return list(result[:expected])


class FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        cls._spec = _FunctionSpec(cls)


class Function(metaclass=FunctionMeta):
    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError(
            "You must implement the forward function for custom "
            "autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your "
            "custom autograd.Function to use it with backward mode AD.")

    vjp = backward

    @classmethod
    def apply(cls, *args, **kwargs):
        from ..tensor import Tensor
        ctx = FunctionCtx()
        tensor_args = [a if isinstance(a, Tensor) else None for a in args]
        ctx.needs_input_grad = tuple(
            t is not None and t.requires_grad for t in tensor_args)
        with grad_mode.no_grad():
            raw = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(raw, tuple)
        outputs = (raw,) if single else raw
        requires = grad_mode.state.enabled and any(ctx.needs_input_grad)
        if not requires:
            return raw
        node = Node(cls._spec, ctx, tuple(edge(t) for t in tensor_args),
                    tuple(None if t is None else (t._shape, t._dtype)
                          for t in tensor_args),
                    num_outputs=len(outputs))
        wrapped = []
        input_ids = {id(t) for t in tensor_args if t is not None}
        non_diff = {id(t) for t in ctx.non_differentiable}
        dirty = {id(t) for t in ctx.dirty}
        meta = []
        for nr, out in enumerate(outputs):
            if not isinstance(out, Tensor):
                wrapped.append(out)
                meta.append(None)
                continue
            meta.append((out._shape, out.dtype))
            if id(out) in non_diff or not out.dtype.is_floating_point:
                wrapped.append(out)
                continue
            if id(out) in input_ids and id(out) not in dirty:
                out = out._alias()
            out.grad_fn = node
            out._output_nr = nr
            out._requires_grad = True
            wrapped.append(out)
        node.metadata["output_meta"] = meta
        saved = []
        for t in ctx._to_save:
            if t is None:
                saved.append(None)
            else:
                saved.append(SavedTensor(t, node, False))
        node.saved = saved
        ctx._node = weakref.ref(node)
        return wrapped[0] if single else tuple(wrapped)


def once_differentiable(fn):
    def wrapper(ctx, *args):
        with grad_mode.no_grad():
            return fn(ctx, *args)
    return wrapper
