"""numgrad.jit: the torch.jit names that model files use at import time.

numgrad has no TorchScript.  What model code needs to import and run is
kept, with its eager meaning: the annotations (``ignore``, ``unused``,
``export``, ``interface``, ``annotate``, ``Final``) return what they
were given, ``is_scripting()``/``is_tracing()`` are False, and
``script`` returns a function or class unchanged, since ``@jit.script``
above a helper changes how it runs, never what it computes.

What exists to produce a TorchScript program (``script`` of a module,
``trace``, ``save``, ``load``, ``freeze``) refuses with
NotImplementedError: handing back the eager module would only postpone
the failure to ``.save()``, with a less clear message."""
import typing

Final = typing.Final

_NO_TORCHSCRIPT = (
    "numgrad.jit.{name}: TorchScript is not supported; numgrad runs "
    "modules eagerly (its fusion already compiles elementwise chains). "
    "Call the module directly, and save its weights with "
    "numgrad.save(model.state_dict(), path).")


def _refuse(name):
    raise NotImplementedError(_NO_TORCHSCRIPT.format(name=name))


def script(obj, optimize=None, _frames_up=0, _rcb=None,
           example_inputs=None):
    """A function or class unchanged; a module is refused (see the
    module docstring)."""
    from .nn import Module
    if isinstance(obj, Module):
        _refuse("script")
    return obj


def trace(func, example_inputs=None, *args, **kwargs):
    _refuse("trace")


def trace_module(mod, inputs, *args, **kwargs):
    _refuse("trace_module")


def save(m, f, _extra_files=None):
    _refuse("save")


def load(f, map_location=None, _extra_files=None):
    _refuse("load")


def freeze(mod, preserved_attrs=None, optimize_numerics=True):
    _refuse("freeze")


def optimize_for_inference(mod, other_methods=None):
    _refuse("optimize_for_inference")


def ignore(drop=False, **kwargs):
    """``@ignore`` or ``@ignore(drop=True)``: the function unchanged."""
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn):
    return fn


def export(fn):
    return fn


def interface(obj):
    return obj


def script_if_tracing(fn):
    return fn


def annotate(the_type, the_value):
    return the_value


def is_scripting():
    return False


def is_tracing():
    return False
