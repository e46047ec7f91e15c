"""pytest glue for the perf suite.

The ``perf`` fixture wraps pytest-benchmark's ``benchmark`` so every
benchmark carries the same metadata (case, impl, references, params) in
``extra_info`` and so an implementation that cannot run (API missing,
torch not installed) is *skipped* and recorded as missing instead of
breaking the run.  Skips and failures are written, with the session's
library versions, to the file named by ``NUMGRAD_PERF_STATUS`` so that
``perf/run.py`` can show them in its table."""
import json
import os
import platform
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

_STATUS = []


class Perf:
    """One (case, impl) measurement."""

    def __init__(self, request, benchmark):
        self.request = request
        self.benchmark = benchmark
        self.info = None

    def setup(self, case, impl, refs=(), **params):
        """Name this measurement.  ``case`` + ``params`` form the row in
        the results table; ``impl`` the column; ``refs`` the impls that
        numgrad's times are divided by to form ratios."""
        name = case
        if params:
            name += "[" + ",".join(f"{k}={v}" for k, v in params.items()) + "]"
        self.info = {"case": name, "impl": impl, "refs": list(refs),
                     "params": params}
        self.benchmark.group = name
        self.benchmark.extra_info.update(self.info)
        self.request.node.user_properties.append(("perf", self.info))
        return self

    def missing(self, reason):
        pytest.skip(f"{self.info['impl']} unavailable: {reason}")

    def require_torch(self):
        try:
            import torch
        except ImportError:
            self.missing("torch is not installed")
        return torch

    def attempt(self, build):
        """Call ``build()``; if it raises, record the impl as missing."""
        try:
            return build()
        except pytest.skip.Exception:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure = missing
            self.missing(f"{type(exc).__name__}: {exc}".splitlines()[0][:300])

    def run(self, fn, check=None):
        """Warm ``fn`` up (compiles kernels; a failure records the impl
        as missing), check its result, then benchmark it."""
        result = self.attempt(fn)
        self.attempt(fn)
        if check is not None:
            check(result)  # a wrong result is an error, not a skip
        self.benchmark(fn)

    def pedantic(self, target, samples, setup=None, rounds=None):
        """Benchmark a subprocess-based measurement.  ``target`` must
        append the ``(cpu, wall)`` seconds the child measured to
        ``samples``; the CPU times become the authoritative times
        (``extra_info['samples']``), the wall times are kept beside them
        (``samples_wall``), and the harness's own timing is the child's
        whole life."""
        rounds = rounds or _common.subprocess_rounds()
        self.benchmark.pedantic(target, setup=setup, rounds=rounds,
                                iterations=1, warmup_rounds=0)
        self.benchmark.extra_info["samples"] = [s[0] for s in samples]
        self.benchmark.extra_info["samples_wall"] = [s[1] for s in samples]


@pytest.fixture
def perf(request, benchmark):
    return Perf(request, benchmark)


@pytest.fixture(autouse=True)
def _restore_fusion():
    """Each benchmark starts with fusion on and leaves it on."""
    try:
        _common.set_fusion(True)
    except Exception:  # noqa: BLE001 - numgrad may not import at all
        yield
        return
    yield
    _common.set_fusion(True)


def _entry(report):
    for key, value in report.user_properties:
        if key == "perf":
            return dict(value)
    return {"case": report.nodeid, "impl": None, "refs": [], "params": {}}


def pytest_runtest_logreport(report):
    if report.skipped and report.when in ("setup", "call"):
        entry = _entry(report)
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) \
            else str(report.longrepr)
        entry.update(status="missing",
                     reason=reason.removeprefix("Skipped: "))
        _STATUS.append(entry)
    elif report.failed:
        entry = _entry(report)
        text = getattr(report, "longreprtext", "") or str(report.longrepr)
        lines = [ln for ln in text.splitlines() if ln.startswith("E ")]
        reason = " | ".join(ln[1:].strip() for ln in lines[-3:]) or \
            text.strip().splitlines()[-1:]
        entry.update(status="error", reason=str(reason)[:500],
                     when=report.when)
        _STATUS.append(entry)


def _versions():
    from importlib import metadata
    out = {"python": platform.python_version()}
    for pkg in ("numgrad", "numba", "numpy", "torch", "pytest-benchmark"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _threads():
    out = {"cpu_count": os.cpu_count()}
    if "numba" in sys.modules:
        import numba
        out["numba_threads"] = numba.config.NUMBA_NUM_THREADS
        try:
            out["numba_threading_layer"] = numba.threading_layer()
        except ValueError:  # no parallel kernel ran
            out["numba_threading_layer"] = None
    if "torch" in sys.modules:
        out["torch_threads"] = sys.modules["torch"].get_num_threads()
    return out


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("NUMGRAD_PERF_STATUS")
    if not path:
        return
    meta = {"versions": _versions(), "threads": _threads(),
            "machine": platform.machine(), "platform": platform.platform(),
            "processor": platform.processor(), "finished": time.time(),
            "fusion_env": os.environ.get("NUMGRAD_FUSION")}
    with open(path, "w") as f:
        json.dump({"meta": meta, "status": _STATUS,
                   "exitstatus": int(exitstatus)}, f, indent=1)
