"""Tensor: a NumPy array (or a pending fused value) plus autograd state.

The data and autograd state only: every method that computes, records
or converts is installed from above (``numgrad._tensor_methods``), so
this module imports nothing but the fusion recorder (to run a pending
value) and the backends."""
import warnings

import numpy as np

from . import dtypes
from ._config import grad_state
from .backends import CPU


class VersionCounter:
    """Shared by a tensor and its views; bumped by every in-place write."""
    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


_NON_LEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being "
    "accessed. Its .grad attribute won't be populated during "
    "autograd.backward(). If you indeed want the .grad field to be "
    "populated for a non-leaf Tensor, use .retain_grad() on the non-leaf "
    "Tensor. If you access the non-leaf Tensor by mistake, make sure you "
    "access the leaf Tensor instead. See "
    "github.com/pytorch/pytorch/pull/30531 for more informations.")


class Tensor:
    __slots__ = ("_data", "_expr", "_requires_grad", "grad_fn", "_grad",
                 "_version", "_output_nr", "_backward_hooks",
                 "_retains_grad", "_post_accumulate_grad_hooks",
                 "_grad_accumulator", "_dtype", "_shape", "_is_inference",
                 "_device",
                 "__weakref__", "__dict__")

    # ---- construction helpers -------------------------------------
    @classmethod
    def _make(cls, array, requires_grad=False, grad_fn=None):
        t = object.__new__(cls)
        _init(t, array)
        t._requires_grad = requires_grad
        t.grad_fn = grad_fn
        return t

    @classmethod
    def _make_lazy(cls, expr):
        """A tensor whose value is a pending fused expression."""
        t = object.__new__(cls)
        _init_lazy(t, expr)
        return t

    def _alias(self, grad_fn=None):
        """Same storage (or pending expression) and version counter, no
        graph (or ``grad_fn``); saving a lazy value does not run it."""
        if self._data is None:
            t = Tensor._make_lazy(self._expr)
            t._requires_grad = grad_fn is not None
            t.grad_fn = grad_fn
        else:
            t = Tensor._make(self._data, grad_fn is not None, grad_fn)
        t._version = self._version
        return t

    def _alias_copy(self):
        """A new leaf holding a copy of the values."""
        return Tensor._make(self._value().copy())

    def _value(self):
        data = self._data
        if data is None:
            from .fusion import recorder
            data = recorder.materialize(self)
        return data

    # ---- metadata ----------------------------------------------------
    @property
    def dtype(self):
        return self._dtype

    @property
    def shape(self):
        return Size(self._shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._shape)
        return self._shape[_wrap_dim(dim, len(self._shape))]

    def dim(self):
        return len(self._shape)

    @property
    def ndim(self):
        return len(self._shape)

    def numel(self):
        return int(np.prod(self._shape, dtype=np.int64))

    nelement = numel

    def element_size(self):
        return self._dtype.itemsize

    @property
    def device(self):
        return self._device

    @property
    def is_cuda(self):
        return self._device.type == "cuda"

    def is_floating_point(self):
        return self._dtype.is_floating_point

    def is_contiguous(self):
        return self._value().flags.c_contiguous

    def stride(self, dim=None):
        arr = self._value()
        strides = tuple(s // arr.itemsize for s in arr.strides)
        return strides if dim is None else strides[_wrap_dim(dim, arr.ndim)]

    def data_ptr(self):
        arr = self._value()
        if isinstance(arr, np.ndarray):
            return arr.ctypes.data
        return arr.raw.device_ctypes_pointer.value or 0

    def __len__(self):
        if not self._shape:
            raise TypeError("len() of a 0-d tensor")
        return self._shape[0]

    @property
    def is_inference(self):
        return self._is_inference

    # ---- autograd state ------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad=True):
        if self.grad_fn is not None:
            if not requires_grad:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf "
                    "variables. If you want to use a computed variable in a "
                    "subgraph that doesn't require differentiation use "
                    "var_no_grad = var.detach().")
            return self
        if requires_grad and not self._dtype.is_floating_point:
            raise RuntimeError(
                "only Tensors of floating point dtype can require "
                f"gradients (got {self._dtype}). Only Tensors of floating "
                "point and complex dtype can require gradients")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def grad(self):
        if (self.grad_fn is not None and not self._retains_grad
                and self._grad is None):
            warnings.warn(_NON_LEAF_GRAD_WARNING, UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError("assigned grad expected to be a Tensor or "
                                f"None but got grad of {type(value)}")
            if value.shape != self.shape:
                raise RuntimeError(
                    "assigned grad has data of a different size: "
                    f"{list(value.shape)} vs {list(self.shape)}")
            if value.dtype is not self._dtype:
                raise RuntimeError(
                    "assigned grad has data of a different type: "
                    f"{value.dtype} vs {self._dtype}")
        self._grad = value

    @grad.deleter
    def grad(self):
        self._grad = None

    @property
    def retains_grad(self):
        return self._retains_grad

    @property
    def output_nr(self):
        return self._output_nr

    @property
    def _base(self):
        """The tensor this one is a view of (None if it owns its data)."""
        base = self.__dict__.get("_view_of")
        while base is not None and "_view_of" in base.__dict__:
            base = base.__dict__["_view_of"]
        return base

    @property
    def data(self):
        t = Tensor._make(self._value())
        return t

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError("Tensor.data must be set to a Tensor")
        self._data = value._value()
        self._expr = None
        self._dtype = value._dtype
        self._shape = value._shape
        self._device = value._device

    def detach(self):
        return self._alias()

    def detach_(self):
        self._value()
        self.grad_fn = None
        self._requires_grad = False
        return self

    # ---- conversion ----------------------------------------------------
    def _host(self):
        """The values as a NumPy array (a copy for a CUDA tensor)."""
        arr = self._value()
        return arr if isinstance(arr, np.ndarray) else arr.copy_to_host()

    def _check_host(self):
        if self._device.type != "cpu":
            raise TypeError(
                f"can't convert {self._device} device type tensor to numpy. "
                "Use Tensor.cpu() to copy the tensor to host memory first.")

    def numpy(self, *, force=False):
        if self._requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use "
                "tensor.detach().numpy() instead.")
        if force:
            return self._host()
        self._check_host()
        return self._export()

    def __array__(self, dtype=None, copy=None):
        self._check_host()
        arr = self._export()
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def _export(self):
        """The storage, handed to the user: nothing pending may read it
        late, since they can now write it without numgrad seeing."""
        from .fusion import recorder
        return recorder.before_export(self)

    def item(self):
        arr = self._host()
        if arr.size != 1:
            raise RuntimeError(
                f"a Tensor with {arr.size} elements cannot be converted to "
                "Scalar")
        return arr.reshape(-1)[0].item()

    def tolist(self):
        return self._host().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        arr = self._host()
        if arr.size != 1:
            raise RuntimeError(
                "Boolean value of Tensor with more than one value is "
                "ambiguous")
        return bool(arr.reshape(-1)[0])

    def __index__(self):
        if self._dtype.is_floating_point or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can "
                            "be converted to an index")
        return int(self.item())

    def __format__(self, spec):
        if self.dim() == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __iter__(self):
        if not self._shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._shape[0]))

    def __hash__(self):
        return id(self)

    def __reduce_ex__(self, protocol):
        return (_rebuild, (self.detach()._host().copy(),
                           self._requires_grad, str(self._device)))

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) "
                "support the deepcopy protocol at the moment.")
        t = type(self).__new__(type(self))
        _init(t, self._value().copy())
        t._requires_grad = self._requires_grad
        if self._grad is not None:
            t._grad = self._grad.clone()
        t.__dict__.update({k: v for k, v in self.__dict__.items()})
        memo[id(self)] = t
        return t

class Size(tuple):
    def __repr__(self):
        return f"numgrad.Size([{', '.join(str(s) for s in self)}])"

    def numel(self):
        return int(np.prod(self, dtype=np.int64))


def _init(t, array):
    t._data = array
    t._expr = None
    t._device = CPU if isinstance(array, np.ndarray) else array.device
    t._dtype = dtypes.from_numpy_dtype(array.dtype)
    t._shape = array.shape
    _init_autograd(t)


def _init_lazy(t, expr):
    t._data = None
    t._expr = expr
    t._device = expr.device
    t._dtype = expr.dtype
    t._shape = expr.shape
    _init_autograd(t)


def _init_autograd(t):
    t._requires_grad = False
    t.grad_fn = None
    t._grad = None
    t._version = VersionCounter()
    t._output_nr = 0
    t._backward_hooks = None
    t._retains_grad = False
    t._post_accumulate_grad_hooks = None
    t._grad_accumulator = None
    t._is_inference = grad_state.inference


def _rebuild(array, requires_grad, device="cpu"):
    from .backends import resolve, to_device
    t = Tensor._make(to_device(array, resolve(device)))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _wrap_dim(dim, ndim):
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            "Dimension out of range (expected to be in range of "
            f"[{-n}, {n - 1}], but got {dim})")
    return dim % n
