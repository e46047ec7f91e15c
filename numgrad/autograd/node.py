"""Graph nodes (``grad_fn``) and the values they save for backward."""
import itertools
import weakref

from ..tensor import Tensor
from .saved_hooks import current_hooks

ERR_BACKWARD_TWICE = (
    "Trying to backward through the graph a second time (or directly "
    "access saved tensors after they have already been freed). Saved "
    "intermediate values of the graph are freed when you call .backward() "
    "or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved "
    "tensors after calling backward.")

_sequence = itertools.count()


def _type_string(tensor):
    names = {"float32": "FloatTensor", "float64": "DoubleTensor",
             "int64": "LongTensor", "int32": "IntTensor",
             "bool": "BoolTensor", "float16": "HalfTensor"}
    kind = names.get(tensor.dtype.name, tensor.dtype.name)
    shape = ", ".join(str(s) for s in tensor.shape)
    return f"[numgrad.{kind} [{shape}]]"


class SavedTensor:
    """A tensor kept for backward with the version it had when saved.

    The op's own output is stored without its ``grad_fn`` (that would be a
    reference cycle); unpacking re-attaches the node, as PyTorch does."""
    __slots__ = ("tensor", "version", "is_output", "node_ref", "hooks")

    def __init__(self, tensor, node, is_output):
        self.version = tensor._version.value
        self.is_output = is_output
        self.node_ref = weakref.ref(node) if is_output else None
        hooks = current_hooks()
        if is_output:
            tensor = tensor._alias()
        elif tensor._data is None:
            # A pending fused value: keep its expression, not the tensor,
            # so the forward kernel need not write it out; backward
            # recomputes it inside its own fused kernel.
            alias = tensor._alias(grad_fn=tensor.grad_fn)
            alias._output_nr = tensor._output_nr
            tensor = alias
        if hooks is not None:
            pack, unpack = hooks
            self.hooks = unpack
            self.tensor = pack(tensor)
        else:
            self.hooks = None
            self.tensor = tensor

    def unpack(self, owner):
        tensor = self.tensor
        if self.hooks is not None:
            return self.hooks(tensor)
        if tensor._version.value != self.version:
            raise RuntimeError(
                "one of the variables needed for gradient computation has "
                f"been modified by an inplace operation: "
                f"{_type_string(tensor)}, which is output 0 of "
                f"{owner.name()}, is at version {tensor._version.value}; "
                f"expected version {self.version} instead. Hint: enable "
                "anomaly detection to find the operation that failed to "
                "compute its gradient, with "
                "numgrad.autograd.set_detect_anomaly(True).")
        if self.is_output:
            node = self.node_ref()
            return tensor._alias(grad_fn=node)
        return tensor


class Node:
    """One recorded op application: a ``grad_fn``.

    ``next_functions`` holds ``(node, output_nr)`` per differentiable input;
    ``input_meta`` holds each input's (shape, dtype) so the engine can sum
    gradients back over broadcast dimensions once, for every op."""

    __slots__ = ("spec", "ctx", "next_functions", "input_meta", "saved",
                 "sequence_nr", "num_outputs", "pre_hooks", "post_hooks",
                 "tensor_pre_hooks", "retain_grad_hooks", "freed",
                 "_metadata", "__weakref__")

    def __init__(self, spec, ctx, next_functions, input_meta, num_outputs=1):
        self.spec = spec
        self.ctx = ctx
        self.next_functions = next_functions
        self.input_meta = input_meta
        self.saved = None
        self.sequence_nr = next(_sequence)
        self.num_outputs = num_outputs
        self.pre_hooks = None
        self.post_hooks = None
        self.tensor_pre_hooks = None
        self.retain_grad_hooks = None
        self.freed = False
        self._metadata = None

    def name(self):
        return self.spec.node_name

    @property
    def metadata(self):
        if self._metadata is None:
            self._metadata = {}
        return self._metadata

    def __repr__(self):
        return f"<{self.name()} object at {hex(id(self))}>"

    def saved_tensor(self, key):
        if self.freed:
            raise RuntimeError(ERR_BACKWARD_TWICE)
        return self.saved[key].unpack(self)

    def release(self):
        # Only a node that saved something can fail a second backward;
        # e.g. add saves nothing and stays usable, as in PyTorch.
        if self.saved:
            self.saved = None
            self.freed = True

    def apply(self, grads):
        return self.spec.run_backward(self, grads)

    def register_hook(self, fn):
        from .hooks import RemovableHandle
        if self.post_hooks is None:
            self.post_hooks = {}
        return RemovableHandle(self.post_hooks, fn)

    def register_prehook(self, fn):
        from .hooks import RemovableHandle
        if self.pre_hooks is None:
            self.pre_hooks = {}
        return RemovableHandle(self.pre_hooks, fn)


class _AccumulateSpec:
    node_name = "AccumulateGrad"


class AccumulateGrad(Node):
    """Sink node of a leaf: adds the incoming gradient into ``leaf.grad``."""
    __slots__ = ("variable",)

    def __init__(self, variable):
        self.spec = _AccumulateSpec
        self.ctx = None
        self.next_functions = ()
        self.input_meta = ()
        self.saved = None
        self.sequence_nr = next(_sequence)
        self.num_outputs = 1
        self.pre_hooks = self.post_hooks = None
        self.tensor_pre_hooks = self.retain_grad_hooks = None
        self.freed = False
        self._metadata = None
        self.variable = variable

    def name(self):
        return "AccumulateGrad"


def edge(t):
    """The (node, output_nr) through which gradient reaches ``t``."""
    if t is None or not isinstance(t, Tensor) or not t._requires_grad:
        return (None, 0)
    if t.grad_fn is not None:
        return (t.grad_fn, t._output_nr)
    return (grad_accumulator(t), 0)


def grad_accumulator(t):
    ref = t._grad_accumulator
    acc = ref() if ref is not None else None
    if acc is None:
        acc = AccumulateGrad(t)
        t._grad_accumulator = weakref.ref(acc)
    return acc
