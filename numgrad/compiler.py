"""numgrad.compile and numgrad.compiler: torch.compile's API, for a
library that has nothing left to compile.

numgrad's kernels are compiled already (Numba), and its fusion, on by
default, records chains of elementwise ops and runs each as one
generated kernel, forward and backward: what torch.compile's inductor
does for PyTorch.  So ``compile`` captures no graph and changes no code;
it checks its arguments as PyTorch does and returns something that
behaves as PyTorch's result does."""
from .nn import Module

_MODES = ("default", "lite", "reduce-overhead",
          "max-autotune-no-cudagraphs", "max-autotune")
# torch's registered backends and their tags (testing-only ones left
# out); any of them is accepted and none changes what numgrad runs.
_BACKENDS = {
    "inductor": (), "cudagraphs": (), "openxla": (), "tvm": (),
    "openxla_eval": ("experimental",),
    **{name: ("debug",) for name in (
        "eager", "eager_debug", "eager_noexcept", "pre_dispatch_eager",
        "aot_eager", "aot_eager_decomp_partition",
        "aot_eager_default_partitioner", "aot_ts", "ts")},
}


class OptimizedModule(Module):
    """What ``compile(module)`` returns, as in PyTorch: a module holding
    the original as ``_orig_mod``.  Calls, attribute reads and writes and
    ``train``/``eval`` reach the original; parameters are the original's
    own objects, and the state dict's keys carry the ``_orig_mod.``
    prefix, so checkpoints match PyTorch's compiled models."""

    # set on the wrapper itself; every other attribute is the original's
    _own_attributes = frozenset({"_orig_mod", "forward", "__dict__",
                                 "_super_module_initialized"})

    def __init__(self, mod):
        # Module.__init__ sets `training`, which this class forwards to
        # the original: it must be reachable, and the write ignored.
        object.__setattr__(self, "_orig_mod", mod)
        object.__setattr__(self, "_super_module_initialized", False)
        super().__init__()
        self._super_module_initialized = True
        self._orig_mod = mod  # registers it as the one child module

    def forward(self, *args, **kwargs):
        return self._orig_mod(*args, **kwargs)

    @property
    def training(self):
        return self._orig_mod.training

    @training.setter
    def training(self, value):
        if self._super_module_initialized:
            self._orig_mod.training = value

    def __getattr__(self, name):
        modules = self.__dict__.get("_modules")
        if modules is None or "_orig_mod" not in modules:
            raise AttributeError(name)
        if name == "_orig_mod":
            return modules["_orig_mod"]
        return getattr(modules["_orig_mod"], name)

    def __setattr__(self, name, value):
        if hasattr(type(self), name) or name in self._own_attributes:
            super().__setattr__(name, value)
        else:
            setattr(self._orig_mod, name, value)

    def __delattr__(self, name):
        if hasattr(type(self), name) or name in self._own_attributes:
            super().__delattr__(name)
        else:
            delattr(self._orig_mod, name)

    def __len__(self):
        if not hasattr(self._orig_mod, "__len__"):
            raise TypeError(f"{type(self._orig_mod).__name__} does not "
                            "support len()")
        return len(self._orig_mod)

    def __dir__(self):
        own = super().__dir__()
        return sorted(set(dir(self._orig_mod)) | set(own))

    def __reduce__(self):
        return (type(self), (self._orig_mod,))


def _check(model, backend, mode, options):
    if not callable(model):
        # PyTorch asserts here, so its callers see an AssertionError
        raise AssertionError("A callable function is expected, but "
                             f"{type(model)} is provided.")
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but "
                           "both can't be specified at the same time.")
    if mode is not None and mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: "
                           + ", ".join(_MODES))
    _check_backend(backend)


def _check_backend(backend):
    if isinstance(backend, str) and backend not in _BACKENDS:
        raise RuntimeError(
            f"Invalid backend: {backend!r}, see "
            "`numgrad.compiler.list_backends()` for available backends.")


def compile(model=None, *, fullgraph=False, dynamic=None, backend=None,
            mode=None, options=None, name=None, disable=False,
            recompile_limit=None, isolate_recompiles=False,
            shapes_spec=None):
    """torch.compile for numgrad, which fuses and compiles as it runs
    (see the module docstring), so nothing is transformed.

    A module gives an ``OptimizedModule`` wrapping it (state-dict keys
    gain ``_orig_mod.``, as in PyTorch); a function is returned as it is;
    with no model, a decorator.  ``disable=True`` returns the model
    itself.  ``mode``, ``options`` and a backend's name are checked as
    PyTorch checks them; a backend given as a callable is never called,
    since no graph is captured to hand it."""
    if model is None:
        def decorate(model):
            if model is None:
                raise RuntimeError("Model can't be None")
            return compile(model, fullgraph=fullgraph, dynamic=dynamic,
                           backend=backend, mode=mode, options=options,
                           name=name, disable=disable,
                           recompile_limit=recompile_limit,
                           isolate_recompiles=isolate_recompiles,
                           shapes_spec=shapes_spec)
        return decorate
    _check(model, backend, mode, options)
    if disable or not isinstance(model, Module):
        return model
    return OptimizedModule(model)


def list_backends(exclude_tags=("debug", "experimental")):
    """The backend names ``compile`` accepts (PyTorch's, all equivalent
    here), leaving out those tagged with any of ``exclude_tags``."""
    excluded = set(exclude_tags or ())
    return sorted(name for name, tags in _BACKENDS.items()
                  if not excluded.intersection(tags))


_default_backend = ["inductor"]


def set_default_backend(backend):
    """The backend ``compile`` names when given none (None: "inductor");
    kept to be read back, like every backend here."""
    _check_backend(backend)
    _default_backend[0] = "inductor" if backend is None else backend


def get_default_backend():
    return _default_backend[0]


def disable(fn=None, recursive=True, *, reason=None):
    """Keep ``fn`` out of compilation: it never goes in, so ``fn``."""
    if fn is None:
        return lambda fn: fn
    return fn


def is_compiling():
    """False: numgrad never traces user code (model code branches on
    this to skip Python-only work under torch.compile)."""
    return False


is_dynamo_compiling = is_exporting = is_compiling


def reset():
    """Nothing cached by ``compile`` to drop (numgrad's kernel cache is
    ``numgrad.fusion.clear_cache``)."""


def allow_in_graph(fn):
    return fn


def assume_constant_result(fn):
    return fn


def cudagraph_mark_step_begin():
    """CUDA graphs are never recorded, so there is no step to mark."""
