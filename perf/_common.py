"""Shared helpers for the perf suite (imported by ``perf/bench_*.py``).

Everything that depends on a numgrad API that may still be moving lives
here, so one edit adjusts the whole suite:

* :func:`set_fusion` / :func:`fusion_enabled` -- the fusion switch;
* :func:`sync` -- how a result is forced to exist (lazy fusion may keep a
  value pending until it is read);
* :func:`child_env` -- the environment used for subprocess measurements.

Knobs read from the environment (``perf/run.py`` sets them):

``NUMGRAD_PERF_QUICK``   "1": fewer rounds and no N=1e7.
``NUMGRAD_PERF_SIZES``   comma list of chain sizes, e.g. "1e3,1e4".
``NUMGRAD_PERF_ROUNDS``  rounds for subprocess measurements.
"""
import json
import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FULL_SIZES = (10**3, 10**4, 10**5, 10**6, 10**7)
QUICK_SIZES = (10**3, 10**4, 10**5, 10**6)


def quick():
    return os.environ.get("NUMGRAD_PERF_QUICK", "0") not in ("", "0")


def sizes():
    spec = os.environ.get("NUMGRAD_PERF_SIZES")
    if spec:
        return tuple(int(float(s)) for s in spec.split(",") if s.strip())
    return QUICK_SIZES if quick() else FULL_SIZES


def subprocess_rounds():
    spec = os.environ.get("NUMGRAD_PERF_ROUNDS")
    if spec:
        return max(1, int(spec))
    return 3 if quick() else 5


def fmt_n(n):
    """1000 -> '1e3' (the spelling used in case names)."""
    exp = len(str(n)) - 1
    return f"1e{exp}" if n == 10**exp else str(n)


# ---------------------------------------------------------------- numgrad API
def set_fusion(enabled):
    """Turn numgrad's elementwise fusion on or off; returns the old state.

    Prefers ``numgrad.fusion.set_enabled`` (the public API), then
    ``numgrad.fusion.recorder.set_fusion_enabled``, then the config flag
    that ``NUMGRAD_FUSION`` sets."""
    old = fusion_enabled()
    import numgrad.fusion as fusion
    setter = getattr(fusion, "set_enabled", None)
    if setter is None:
        from numgrad.fusion import recorder
        setter = getattr(recorder, "set_fusion_enabled", None)
    if setter is not None:
        setter(bool(enabled))
    else:  # pragma: no cover - last resort
        from numgrad import _config
        _config.fusion_enabled = bool(enabled)
    return old


def fusion_enabled():
    import numgrad.fusion as fusion
    getter = getattr(fusion, "is_enabled", None)
    if getter is None:
        from numgrad.fusion import recorder
        getter = getattr(recorder, "is_fusion_enabled", None)
    if getter is not None:
        return bool(getter())
    from numgrad import _config
    return bool(_config.fusion_enabled)


def sync(*tensors):
    """Force tensors (numgrad or torch) to hold computed values.

    numgrad may keep a fused value pending until it is read (``detach()``
    alone keeps it pending); ``.detach().numpy()`` reads it.  torch gets
    the same call so both sides pay the same (tiny) cost."""
    for t in tensors:
        if t is not None:
            t.detach().numpy()


# ------------------------------------------------------------ the chain (3)
def chain(lib, x, y):
    """``(sigmoid(x)*tanh(y) + x*x*0.5 - exp(-y)) / (1 + y*y)``.

    ``lib`` is ``numgrad`` or ``torch``."""
    return (lib.sigmoid(x) * lib.tanh(y) + x * x * 0.5
            - lib.exp(-y)) / (1 + y * y)


def numpy_chain_forward(x, y):
    s = 1 / (1 + np.exp(-x))
    return (s * np.tanh(y) + x * x * 0.5 - np.exp(-y)) / (1 + y * y)


def numpy_chain_grads(x, y):
    """Hand-written forward + backward of ``chain(x, y).sum()``."""
    s = 1 / (1 + np.exp(-x))
    th = np.tanh(y)
    ey = np.exp(-y)
    num = s * th + x * x * 0.5 - ey
    inv = 1 / (1 + y * y)
    f = num * inv
    gx = (s * (1 - s) * th + x) * inv
    gy = (s * (1 - th * th) + ey) * inv - 2 * y * f * inv
    return f, gx, gy


def chain_inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n, dtype=np.float32)
    y = rng.standard_normal(n, dtype=np.float32)
    return x, y


# ------------------------------------------------------------- subprocesses
def child_env(**extra):
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = REPO + (os.pathsep + path if path else "")
    env.pop("NUMGRAD_FUSION", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_child(source, env=None, timeout=600):
    """Run ``source`` in a fresh interpreter; it must print one JSON object
    on its last stdout line, which is returned."""
    proc = subprocess.run([sys.executable, "-c", source], env=env or
                          child_env(), cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-12:]
        raise ChildError("\n".join(tail))
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise ChildError("child printed nothing")
    return json.loads(lines[-1])


class ChildError(RuntimeError):
    pass
