"""Two-level cache of generated kernels: a dict keyed by the plan's
structure, then source files in the cache directory that Numba's
``cache=True`` keeps compiled machine code beside.

Files are named by a hash of their source (which embeds numgrad's kernel
ABI version), written to a temporary name and renamed into place, so
concurrent processes never see half a file.  A file whose content does not
match is rewritten.

Numba unpickles the index files it finds beside a kernel, so the cache
only lives in a directory that the current user owns and nobody else can
write: the configured one if it passes that check, else a private one in
the temporary directory, else none (kernels then compile in memory).  One
lock serialises lookups and imports, so threads never see a half-imported
kernel module."""
import functools
import hashlib
import importlib.util
import os
import re
import stat
import sys
import tempfile
import threading
import types
import warnings

import numba

from ..backends.cpu import ParallelKernel
from .codegen import kernel_source

KERNEL_ABI = "5"
# Generated kernels inline these modules' functions, but Numba's cache
# checks only the kernel file's own stamp: a cached kernel built against
# an older ``m.floor`` would keep the old maths after an upgrade.  Their
# bytes are part of every kernel's name, so a change makes new files.
_INLINED_SOURCES = ("ops/kernel_math.py", "ops/scalar_math.py",
                    "backends/cuda/device_math.py")
_PREFIX = "numgrad_kernel_"
_OWN_FILE = re.compile(_PREFIX + r"[0-9a-f]{20}(\.py|\..*\.tmp)$")
_memory = {}
_directory = [None]
_lock = threading.RLock()


def cache_dir():
    if _directory[0] is None:
        with _lock:
            if _directory[0] is None:
                _directory[0] = _choose_directory() or ""
    return _directory[0] or None


def _default_directory():
    configured = os.environ.get("NUMGRAD_CACHE_DIR")
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "numgrad", "kernels")


def unsafe_reason(path):
    """Why ``path`` cannot hold code this process will load, or None if it
    is a real directory (not a link) owned by the current user that no
    one else can write, under parents nobody else can swap it out of."""
    try:
        info = os.lstat(path)
    except OSError as e:
        return f"cannot be inspected ({e.strerror})"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory (or is a symbolic link)"
    if info.st_uid != os.getuid():
        return f"is owned by uid {info.st_uid}, not by uid {os.getuid()}"
    if info.st_mode & 0o022:
        return (f"is writable by other users (mode "
                f"{stat.S_IMODE(info.st_mode):o})")
    parent = os.path.dirname(os.path.abspath(path))
    while True:
        try:
            info = os.stat(parent)
        except OSError as e:
            return f"has a parent that cannot be inspected ({e.strerror})"
        # Anyone who can write a parent could rename this directory away
        # and put their own in its place, unless the sticky bit stops it.
        open_parent = info.st_mode & 0o002 and not info.st_mode & 0o1000
        foreign = info.st_uid not in (0, os.getuid()) and (
            info.st_mode & 0o022)
        if open_parent or foreign:
            return f"lies in {parent}, which other users can write"
        up = os.path.dirname(parent)
        if up == parent:
            return None
        parent = up


def _usable(path):
    """Create ``path`` private if it is missing, then vet it; a directory
    that fails the check is reported and not used."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError:
        return False
    reason = unsafe_reason(path)
    if reason is not None:
        warnings.warn(f"numgrad: not using kernel cache directory {path}: "
                      f"it {reason}", RuntimeWarning, stacklevel=4)
        return False
    try:
        probe = tempfile.NamedTemporaryFile(dir=path, delete=True)
        probe.close()
        return True
    except OSError:
        return False


def _choose_directory():
    path = _default_directory()
    if _usable(path):
        return path
    fallback = os.path.join(tempfile.gettempdir(),
                            f"numgrad-kernels-{os.getuid()}")
    return fallback if _usable(fallback) else None


def clear_cache():
    """Forget compiled kernels in memory and delete numgrad's kernel files
    (sources, their compiled code, unfinished temporaries) from the cache
    directory; any other file there is left alone."""
    with _lock:
        _memory.clear()
        for directory in {_default_directory(), cache_dir()} - {None}:
            _remove_own_files(directory)
        _directory[0] = None


def _remove_own_files(directory):
    if unsafe_reason(directory) is not None:
        return
    pycache = os.path.join(directory, "__pycache__")
    for folder, own in ((directory, _OWN_FILE.match),
                        (pycache, lambda f: f.startswith(_PREFIX))):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if own(name):
                _silently_remove(os.path.join(folder, name))
    try:
        os.rmdir(pycache)  # only succeeds if nothing else lives there
    except OSError:
        pass


def kernels_for(plan):
    entry = _memory.get(plan.key)
    if entry is None:
        with _lock:
            entry = _memory.get(plan.key)
            if entry is None:
                entry = _memory[plan.key] = _load(kernel_source(plan))
    return entry[0], entry[1]


def rebuild_uncached(plan_key):
    """After a failure loading compiled code from disk (a corrupt or
    truncated cache entry, a directory removed under us): drop the entry's
    files and compile afresh, without the disk cache, in this process."""
    with _lock:
        entry = _memory.pop(plan_key, None)
        if entry is None:
            raise RuntimeError("numgrad: a kernel failed while another "
                               "thread cleared the kernel cache")
        _, _, name, text = entry
        directory = cache_dir()
        if directory is not None:
            pycache = os.path.join(directory, "__pycache__")
            try:
                stale = [f for f in os.listdir(pycache)
                         if f.startswith(name + ".")]
            except OSError:
                stale = []
            for f in stale:
                _silently_remove(os.path.join(pycache, f))
        sys.modules.pop(name, None)
        entry = _memory[plan_key] = _entry(_exec_uncached(name, text),
                                           name, text)
        return entry[0], entry[1]


def _entry(module, name, text):
    parallel = module.kernel_par
    if parallel is not module.kernel:  # CPU: a prange kernel
        parallel = ParallelKernel(parallel)
    return module.kernel, parallel, name, text


@functools.cache
def _inlined_digest():
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha1()
    for relative in _INLINED_SOURCES:
        with open(os.path.join(package, relative), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def named_text(source):
    """The kernel file's text and module name: the name hashes the text,
    and the text carries everything the compiled code depends on."""
    text = (f"# numgrad kernel ABI {KERNEL_ABI}-{_inlined_digest()}, "
            f"numba {numba.__version__}\n") + source
    return _PREFIX + hashlib.sha1(text.encode()).hexdigest()[:20], text


def _load(source):
    name, text = named_text(source)
    module = sys.modules.get(name)
    if module is None:
        directory = cache_dir()
        if directory is not None:
            try:
                module = _import_file(name, directory, text)
            except Exception:
                # A file removed or mangled by another process between our
                # write and Numba's look at it ("no locator"), an
                # undecodable byte, a full disk: compile without the cache.
                module = None
        if module is None:
            module = _exec_uncached(name, text)
    return _entry(module, name, text)


def _import_file(name, directory, text):
    path = os.path.join(directory, name + ".py")
    data = text.encode()
    try:
        with open(path, "rb") as f:
            current = f.read()
    except OSError:
        current = None
    if current != data:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=name + ".",
                                   suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            _silently_remove(tmp)
            raise
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _silently_remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _exec_uncached(name, text):
    module = types.ModuleType(name)
    sys.modules[name] = module
    code = compile(text.replace("cache=True", "cache=False"),
                   f"<{name}>", "exec")
    exec(code, module.__dict__)
    return module
