"""The full test matrix, as CI runs it:

1. the CPU suite with fusion on (the default ``pytest`` run);
2. the CPU suite with fusion forced onto every chain, however small;
3. the CPU suite with fusion off;
4. the CUDA suite on Numba's CUDA simulator, recording the signature of
   every kernel it launches (the simulator checks no types), then
5. each recorded kernel compiled to PTX.

Run it from the repository root after ``pip install -e ".[test,cuda]"``:

    python tests/matrix.py [extra pytest arguments]

Each step runs on every core (pytest-xdist); the first failure stops the
matrix with that step's exit status."""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _steps(record):
    yield "fusion on", {}, ["tests"]
    yield "fusion forced", {"NUMGRAD_FUSION_MIN_ELEMENTS": "0"}, ["tests"]
    yield "fusion off", {"NUMGRAD_FUSION": "0"}, ["tests"]
    yield ("CUDA simulator",
           {"NUMBA_ENABLE_CUDASIM": "1", "NUMGRAD_CUDA_RECORD": record},
           ["tests/cuda"])


def main(extra):
    with tempfile.TemporaryDirectory(prefix="numgrad-matrix-") as scratch:
        record = os.path.join(scratch, "cuda-kernels.rec")
        for name, env, paths in _steps(record):
            cmd = [sys.executable, "-m", "pytest", "-q",
                   "-p", "no:cacheprovider", *paths, *extra]
            code = _run(name, env, cmd)
            if code:
                return code
        return _run("PTX check", {}, [
            sys.executable, "-m", "numgrad.backends.cuda.ptx_check", record])


def _run(name, env, cmd):
    print(f"\n=== {name}: {' '.join(cmd[2:])}", flush=True)
    start = time.monotonic()
    code = subprocess.call(cmd, cwd=ROOT, env={**os.environ, **env})
    print(f"=== {name}: exit {code} in {time.monotonic() - start:.0f} s",
          flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
