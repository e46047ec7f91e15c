"""Compile every kernel signature the simulator ran to PTX.

The simulator executes kernels as Python and checks no types, so a kernel
that passes the simulated tests may still fail to compile for a GPU.  The
simulator run records each launch (``NUMGRAD_CUDA_RECORD=<file>``, see
``launch``); this command, run in a process *without* the simulator (it
needs numba-cuda's CUDA toolkit, not a GPU), compiles each recorded
kernel for the recorded argument types::

    python -m numgrad.backends.cuda.ptx_check <file> [--cc 9.0]

It exits non-zero, listing the failures, if any kernel does not compile,
or if a kernel of numgrad's CUDA modules was never launched by the tests
(so neither the simulator nor this check has seen it)."""
import argparse
import importlib
import importlib.util
import json
import sys

import numpy as np


def _numba_type(desc):
    from numba import types
    from numba.np.numpy_support import from_dtype
    if desc[0] == "array":
        _, dtype, ndim, layout = desc
        return types.Array(from_dtype(np.dtype(dtype)), ndim, layout)
    name = desc[1]
    return types.boolean if name == "bool" else getattr(types, name)


def _kernel(entry):
    module = sys.modules.get(entry["module"])
    if module is None:
        try:
            module = importlib.import_module(entry["module"])
        except ImportError:
            spec = importlib.util.spec_from_file_location(entry["module"],
                                                          entry["file"])
            module = importlib.util.module_from_spec(spec)
            sys.modules[entry["module"]] = module
            spec.loader.exec_module(module)
    return getattr(module, entry["name"])


def check(path, cc=(9, 0)):
    from numba import cuda
    if cuda.config.ENABLE_CUDASIM:
        raise SystemExit("ptx_check must run without NUMBA_ENABLE_CUDASIM")
    with open(path) as f:
        entries = [json.loads(line) for line in f if line.strip()]
    failures = []
    for entry in entries:
        signature = tuple(_numba_type(a) for a in entry["args"])
        try:
            kernel = _kernel(entry)
            cuda.compile_ptx(kernel.py_func, signature, cc=cc)
        except Exception as error:
            failures.append((entry, error))
    return len(entries), failures


KERNEL_PACKAGES = ("numgrad.ops.cuda",)
KERNEL_MODULES = ("numgrad.backends.cuda.kernels",
                  "numgrad.optim._cuda_kernels")


def defined_kernels():
    """(module, name) of every ``@cuda.jit`` kernel (not device function)
    in numgrad's CUDA modules."""
    import pkgutil
    from numba.cuda.dispatcher import CUDADispatcher
    names = list(KERNEL_MODULES)
    for package in KERNEL_PACKAGES:
        module = importlib.import_module(package)
        names += [f"{package}.{info.name}"
                  for info in pkgutil.iter_modules(module.__path__)]
    found = set()
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        for attr, value in vars(module).items():
            if (isinstance(value, CUDADispatcher)
                    and not value.targetoptions.get("device")
                    and value.py_func.__module__ == name):
                found.add((name, attr))
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("record")
    parser.add_argument("--cc", default="9.0")
    args = parser.parse_args(argv)
    cc = tuple(int(p) for p in args.cc.split("."))
    count, failures = check(args.record, cc)
    for entry, error in failures:
        types = ", ".join(str(_numba_type(a)) for a in entry["args"])
        print(f"FAILED {entry['module']}.{entry['name']}({types}):\n"
              f"  {type(error).__name__}: {str(error).splitlines()[0]}")
    print(f"{count - len(failures)} of {count} kernel signatures compiled "
          f"to PTX for sm_{cc[0]}{cc[1]}")
    with open(args.record) as f:
        launched = {(e["module"], e["name"])
                    for e in map(json.loads, filter(str.strip, f))}
    unseen = sorted(defined_kernels() - launched)
    for module, name in unseen:
        print(f"NEVER LAUNCHED by the tests: {module}.{name}")
    return 1 if failures or unseen else 0


if __name__ == "__main__":
    sys.exit(main())
