"""Removable hook handles."""
import itertools

_ids = itertools.count()


class RemovableHandle:
    """Returned by every ``register_*hook``; ``remove()`` unregisters."""

    def __init__(self, hooks_dict, fn):
        self.id = next(_ids)
        self._hooks = hooks_dict
        hooks_dict[self.id] = fn

    def remove(self):
        if self._hooks is not None:
            self._hooks.pop(self.id, None)
            self._hooks = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False
