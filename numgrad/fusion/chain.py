"""The fused-chain IR: a DAG of pointwise applications over leaves.

An ``Expr`` is a pending elementwise value.  Its arguments are other
``Expr`` nodes, ``ArrayLeaf`` (a materialised NumPy array) or Python
scalars.  ``structure_key`` gives the canonical key of a DAG: op names and
versions, dtypes, argument wiring, leaf layouts and scalar kinds, never
values, so one compiled kernel serves every chain of the same shape."""
import numpy as np

from ..backends import CPU


class ArrayLeaf:
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


class Expr:
    """A pending elementwise value; ``value`` holds its array once run."""
    __slots__ = ("spec", "args", "dtype", "compute_dtype", "shape", "size",
                 "depth", "value", "device", "__weakref__")

    def __init__(self, spec, args, dtype, compute_dtype, shape, size,
                 depth, device=CPU):
        self.spec = spec
        self.args = args
        self.dtype = dtype
        self.compute_dtype = compute_dtype
        self.shape = shape
        self.size = size
        self.depth = depth
        self.value = None
        self.device = device


def _scalar_kind(value):
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int64"
    return "float64"


def _collapse_broadcast(array):
    """A view whose strides are all zero (an expanded scalar, e.g. the
    gradient of a sum) holds one value: read it as one element, so the
    chain keeps the vectorised flat loop."""
    if array.size > 1 and not any(array.strides):
        return array[(slice(0, 1),) * array.ndim].reshape(1)
    return array


def _plain_scalar(value):
    # One Numba signature per scalar kind, whatever NumPy type came in.
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)


class Plan:
    """A DAG flattened for code generation and execution."""
    __slots__ = ("nodes", "arrays", "scalars", "key", "flat", "shape",
                 "outputs", "total", "on_device")

    def __init__(self, outputs, total=False, nd=False):
        # total: the kernel returns the float64 sum of its one output
        # instead of writing it (a trailing full reduction).
        self.total = total
        out_shape = outputs[0].shape
        self.shape = out_shape
        size = outputs[0].size
        self.nodes = []
        self.arrays = []
        self.scalars = []
        index_of = {}
        array_slot = {}
        flat = True
        wiring = []
        for node in _topological(outputs):
            refs = []
            for arg in node.args:
                if isinstance(arg, Expr) and arg.value is not None:
                    arg = ArrayLeaf(arg.value)
                if isinstance(arg, Expr):
                    refs.append(("t", index_of[id(arg)]))
                elif isinstance(arg, ArrayLeaf):
                    a = _collapse_broadcast(arg.array)
                    slot = array_slot.get(id(arg.array))
                    if slot is None:
                        slot = array_slot[id(arg.array)] = len(self.arrays)
                        self.arrays.append(a)
                        if a.size != 1 and not (
                                a.size == size and a.flags.c_contiguous):
                            flat = False
                    refs.append(("a", slot))
                else:
                    refs.append(("s", len(self.scalars)))
                    self.scalars.append(_plain_scalar(arg))
            index_of[id(node)] = len(self.nodes)
            self.nodes.append(node)
            wiring.append((node.spec.name, node.spec.version, tuple(refs),
                           node.compute_dtype.name, node.dtype.name))
        self.flat = flat and not nd
        # Leaves are NumPy arrays or, for a CUDA chain, DeviceArrays.
        self.on_device = bool(self.arrays) and not isinstance(
            self.arrays[0], np.ndarray)
        self.outputs = [index_of[id(o)] for o in outputs]
        if self.flat:
            layout = tuple("1" if a.size == 1 else "f" for a in self.arrays)
        else:
            layout = ("nd", len(out_shape))
        self.key = (tuple(wiring),
                    tuple((a.dtype.str, a.flags.writeable)
                          for a in self.arrays),
                    tuple(_scalar_kind(s) for s in self.scalars),
                    layout, tuple(self.outputs), total,
                    self.on_device)


def _topological(outputs):
    order, seen = [], set()
    stack = [(o, False) for o in reversed(outputs)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for arg in reversed(node.args):
            if (isinstance(arg, Expr) and arg.value is None
                    and id(arg) not in seen):
                stack.append((arg, False))
    return order
