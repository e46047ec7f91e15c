"""Thread-local grad mode: no_grad, enable_grad, set_grad_enabled,
inference_mode. Each works as a context manager and as a decorator."""
import functools

from .._config import grad_state as state


def is_grad_enabled():
    return state.enabled


def is_inference_mode_enabled():
    return state.inference


class _GradModeContext:
    """Base: subclasses say what mode to enter in ``_target``."""

    def _target(self):
        raise NotImplementedError

    def __enter__(self):
        self._saved = (state.enabled, state.inference)
        state.enabled, state.inference = self._target()
        return self

    def __exit__(self, *exc):
        state.enabled, state.inference = self._saved
        _flush_pending()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(*self._ctor_args()):
                return fn(*args, **kwargs)
        return wrapper

    def _ctor_args(self):
        return ()

    def clone(self):
        return self.__class__(*self._ctor_args())


def _flush_pending():
    # Leaving a grad-mode block is a flush point for fused chains.
    from ..fusion import recorder
    recorder.flush_all()


class no_grad(_GradModeContext):
    def _target(self):
        return False, state.inference


class enable_grad(_GradModeContext):
    def _target(self):
        return True, state.inference


class set_grad_enabled(_GradModeContext):
    def __init__(self, mode):
        self.mode = bool(mode)
        # Called as a function it takes effect at once, like PyTorch.
        self._saved = (state.enabled, state.inference)
        state.enabled = self.mode

    def _target(self):
        return self.mode, state.inference

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        state.enabled, state.inference = self._saved
        return False

    def _ctor_args(self):
        return (self.mode,)

    def __call__(self, fn):
        state.enabled, state.inference = self._saved
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper


class inference_mode(_GradModeContext):
    def __init__(self, mode=True):
        if callable(mode) and not isinstance(mode, bool):
            raise TypeError("use inference_mode() with parentheses "
                            "as a decorator")
        self.mode = bool(mode)

    def _target(self):
        if not self.mode:
            return state.enabled, False
        return False, True

    def _ctor_args(self):
        return (self.mode,)
