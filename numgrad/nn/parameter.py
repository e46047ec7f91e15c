"""``nn.Parameter`` and ``nn.Buffer``: tensors that a Module registers
when they are assigned as attributes."""
from ..tensor import Tensor, _init, _rebuild


def _leaf_array(data):
    if data is None:
        from ..creation import empty
        data = empty(0)
    if not isinstance(data, Tensor):
        from ..creation import as_tensor
        data = as_tensor(data)
    return data


class Parameter(Tensor):
    """A leaf tensor that shares ``data``'s storage and requires grad by
    default; Modules list it in ``parameters()``."""

    def __new__(cls, data=None, requires_grad=True):
        data = _leaf_array(data)
        param = object.__new__(cls)
        _init(param, data._value())
        param._version = data._version
        if requires_grad:
            param.requires_grad_(True)
        return param

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.detach()._host().copy(),
                                     self._requires_grad, str(self._device)))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.detach().clone(), self._requires_grad)
        if self._grad is not None:
            result._grad = self._grad.clone()
        memo[id(self)] = result
        return result


def _rebuild_parameter(array, requires_grad, device="cpu"):
    return Parameter(_rebuild(array, False, device), requires_grad)


class _BufferMeta(type):
    # ``isinstance(t, Buffer)`` is true for tensors made by ``Buffer(...)``.
    def __instancecheck__(cls, instance):
        return (isinstance(instance, Tensor)
                and instance.__dict__.get("_is_buffer", False))


class Buffer(metaclass=_BufferMeta):
    """Marks a tensor to be registered as a buffer when assigned to a
    Module attribute: ``self.running = nn.Buffer(ng.zeros(3))``."""

    def __new__(cls, data=None, *, persistent=True):
        data = _leaf_array(data).detach()
        data.__dict__["_is_buffer"] = True
        data.__dict__["persistent"] = persistent
        return data
