"""Two-level cache of generated kernels: a dict keyed by the plan's
structure, then source files in the cache directory that Numba's
``cache=True`` keeps compiled machine code beside.

Files are named by a hash of their source (which embeds numgrad's kernel
ABI version), written to a temporary name and renamed into place, so
concurrent processes never see half a file.  A file whose content does not
match is rewritten; an unwritable directory falls back to a private
temporary one; if even that fails, kernels compile without a disk cache."""
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile

import numba

from .codegen import kernel_source

KERNEL_ABI = "4"
_memory = {}
_directory = [None]


def cache_dir():
    if _directory[0] is None:
        _directory[0] = _choose_directory()
    return _directory[0]


def _default_directory():
    configured = os.environ.get("NUMGRAD_CACHE_DIR")
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "numgrad", "kernels")


def _writable(path):
    try:
        os.makedirs(path, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, delete=True)
        probe.close()
        return True
    except OSError:
        return False


def _choose_directory():
    path = _default_directory()
    if _writable(path):
        return path
    fallback = os.path.join(tempfile.gettempdir(),
                            f"numgrad-kernels-{os.getuid()}")
    return fallback if _writable(fallback) else None


def clear_cache():
    """Forget compiled kernels in memory and delete the on-disk cache."""
    _memory.clear()
    path = _default_directory()
    shutil.rmtree(path, ignore_errors=True)
    _directory[0] = None


def kernels_for(plan):
    entry = _memory.get(plan.key)
    if entry is None:
        entry = _memory[plan.key] = _load(kernel_source(plan))
    return entry[0], entry[1]


def rebuild_uncached(plan_key):
    """After a failure loading compiled code from disk (a corrupt or
    truncated cache entry): drop the entry's files and compile afresh,
    without the disk cache, in this process."""
    _, _, name, text = _memory.pop(plan_key)
    directory = cache_dir()
    if directory is not None:
        pycache = os.path.join(directory, "__pycache__")
        try:
            stale = [f for f in os.listdir(pycache)
                     if f.startswith(name + ".")]
        except OSError:
            stale = []
        for f in stale:
            try:
                os.remove(os.path.join(pycache, f))
            except OSError:
                pass
    sys.modules.pop(name, None)
    module = _exec_uncached(name, text)
    _memory[plan_key] = (module.kernel, module.kernel_par, name, text)
    return module.kernel, module.kernel_par


def _load(source):
    text = f"# numgrad kernel ABI {KERNEL_ABI}, numba {numba.__version__}\n"
    text += source
    digest = hashlib.sha1(text.encode()).hexdigest()[:20]
    name = f"numgrad_kernel_{digest}"
    module = sys.modules.get(name)
    if module is None:
        directory = cache_dir()
        module = None
        if directory is not None:
            try:
                module = _import_file(name, directory, text)
            except OSError:
                module = None
        if module is None:
            module = _exec_uncached(name, text)
    return module.kernel, module.kernel_par, name, text


def _import_file(name, directory, text):
    path = os.path.join(directory, name + ".py")
    try:
        with open(path) as f:
            current = f.read()
    except OSError:
        current = None
    if current != text:
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _exec_uncached(name, text):
    import types
    module = types.ModuleType(name)
    sys.modules[name] = module
    code = compile(text.replace("cache=True", "cache=False"),
                   f"<{name}>", "exec")
    exec(code, module.__dict__)
    return module
