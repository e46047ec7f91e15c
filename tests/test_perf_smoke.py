"""Smoke test of the perf suite (perf/): run.py on a tiny subset writes a
well-formed results JSON, and compare.py accepts it against itself and
flags a doctored regression.  No timing assertions."""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(REPO, "perf", "run.py")
COMPARE = os.path.join(REPO, "perf", "compare.py")
SELECT = ("add_1elem and not materialized or scalar_graph_fwdbwd "
          "or chain_fwdbwd or import")
CASES = ("add_1elem", "scalar_graph_fwdbwd", "chain_fwdbwd[N=1e3]",
         "import")
CASE_KEYS = {"params", "refs", "times", "missing", "errors", "ratios"}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    pytest.importorskip("pytest_benchmark")
    out = tmp_path_factory.mktemp("perf") / "smoke.json"
    proc = subprocess.run(
        [sys.executable, RUN, "--quick", "--sizes", "1e3", "--rounds", "1",
         "--max-time", "0.01", "--min-rounds", "1", "-k", SELECT,
         "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "numgrad/" in proc.stdout  # the table was printed
    with open(out) as f:
        return out, json.load(f)


def test_results_shape(results):
    _, data = results
    for key in ("schema", "stat", "meta", "benchmarks", "quick"):
        assert key in data
    assert data["quick"] is True
    assert data["meta"]["versions"]["numpy"]
    benches = data["benchmarks"]
    for case in CASES:
        assert case in benches, sorted(benches)
    assert "chain_fwdbwd[N=1e4]" not in benches  # --sizes honoured
    for case, entry in benches.items():
        assert CASE_KEYS <= set(entry), case
        for impl, times in entry["times"].items():
            for stat in ("min", "median", "mean", "rounds"):
                assert stat in times, (case, impl, stat)
            assert times["min"] > 0
        for name, value in entry["ratios"].items():
            impl, ref = name.split("/")
            assert impl.startswith("numgrad") and ref in entry["refs"]
            assert value > 0


def test_every_impl_accounted_for(results):
    _, data = results
    expected = {
        "add_1elem": {"numgrad", "torch", "numpy"},
        "scalar_graph_fwdbwd": {"numgrad", "torch"},
        "chain_fwdbwd[N=1e3]": {"numgrad", "numgrad_nofusion", "torch",
                                "numpy"},
        "import": {"numgrad", "numgrad_own", "numba", "torch"},
    }
    for case, impls in expected.items():
        entry = data["benchmarks"][case]
        seen = set(entry["times"]) | set(entry["missing"]) | \
            set(entry["errors"])
        assert impls <= seen, (case, seen)
    # numpy is always there: its times must have been measured
    assert "numpy" in data["benchmarks"]["add_1elem"]["times"]
    assert "numpy" in data["benchmarks"]["chain_fwdbwd[N=1e3]"]["times"]


def _compare(*args):
    return subprocess.run([sys.executable, COMPARE, *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_compare_against_itself(results):
    path, _ = results
    proc = _compare(str(path), str(path), "--threshold", "0.25")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "compare: OK" in proc.stdout


def test_compare_flags_a_regression(results, tmp_path):
    path, data = results
    ratios = [(case, name) for case, entry in data["benchmarks"].items()
              for name in entry["ratios"]]
    if not ratios:
        pytest.skip("no ratio measured (numgrad side missing everywhere)")
    case, name = ratios[0]
    impl = name.split("/")[0]
    base = json.loads(json.dumps(data))
    base_ratios = base["benchmarks"][case]["ratios"]
    # numgrad looks 2x slower against one reference only: noise in that
    # reference, not a regression
    base_ratios[name] /= 2.0
    base_path = tmp_path / "baseline.json"
    base_path.write_text(json.dumps(base))
    others = [n for n in base_ratios if n.startswith(impl + "/")
              and n != name]
    if others:
        proc = _compare(str(path), str(base_path), "--threshold", "0.25")
        assert proc.returncode == 0, proc.stdout + proc.stderr
    # ... against all of them: a regression
    for other in others:
        base_ratios[other] /= 2.0
    base_path.write_text(json.dumps(base))
    proc = _compare(str(path), str(base_path), "--threshold", "0.25")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "REGRESSION" in proc.stdout
    # and a looser threshold lets it through
    proc = _compare(str(path), str(base_path), "--threshold", "1.5")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compare_flags_a_missing_numgrad(results, tmp_path):
    path, data = results
    run = json.loads(json.dumps(data))
    entry = run["benchmarks"]["chain_fwdbwd[N=1e3]"]
    if "numgrad" not in entry["times"]:
        pytest.skip("numgrad chain missing in this checkout")
    del entry["times"]["numgrad"]
    entry["ratios"] = {k: v for k, v in entry["ratios"].items()
                       if not k.startswith("numgrad/")}
    entry["missing"]["numgrad"] = "numgrad unavailable: test"
    run_path = tmp_path / "run.json"
    run_path.write_text(json.dumps(run))
    proc = _compare(str(run_path), str(path))
    assert proc.returncode == 1 and "MISSING" in proc.stdout, proc.stdout
    proc = _compare(str(run_path), str(path), "--allow-missing")
    assert proc.returncode == 0, proc.stdout + proc.stderr
