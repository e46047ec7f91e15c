"""saved_tensors_hooks: pack/unpack what the graph saves."""
import threading


class _Stack(threading.local):
    hooks = ()


_stack = _Stack()


def current_hooks():
    return _stack.hooks[-1] if _stack.hooks else None


class saved_tensors_hooks:
    def __init__(self, pack_hook, unpack_hook):
        self.pair = (pack_hook, unpack_hook)

    def __enter__(self):
        _stack.hooks = _stack.hooks + (self.pair,)
        return self

    def __exit__(self, *exc):
        _stack.hooks = _stack.hooks[:-1]
        return False
