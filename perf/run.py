#!/usr/bin/env python
"""Run numgrad's perf suite and write a results JSON.

    python perf/run.py [--quick] [--out perf/results/NAME.json]
                       [--sizes 1e3,1e4] [-k EXPR] [--rounds N]
                       [--max-time S] [--stat min|median] [--raw PATH]

Runs ``pytest perf/`` (the ``bench_*.py`` files, pytest-benchmark as the
harness), then turns pytest-benchmark's JSON into one row per case with
every implementation's times and numgrad's ratios against the references
(NumPy, PyTorch, numba) measured in the same run, prints a table and
writes the results JSON.  Exit status: 0 when results were written (even
if some benchmarks are missing or errored -- they are listed), 2 when the
harness itself failed to produce results, 1 with ``--strict`` when any
benchmark errored.
"""
import argparse
import datetime
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile

PERF_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(PERF_DIR)
SCHEMA = 1
NUMGRAD_PREFIX = "numgrad"
STATS = ("min", "median", "mean", "stddev", "max")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="fewer rounds, chain sizes up to 1e6 only")
    p.add_argument("--out", help="results JSON (default "
                   "perf/results/latest.json, or latest-quick.json)")
    p.add_argument("--raw", help="also keep pytest-benchmark's own JSON here")
    p.add_argument("--sizes", help="chain sizes, comma separated "
                   "(e.g. 1e3,1e4); overrides --quick's choice")
    p.add_argument("-k", dest="keyword",
                   help="pytest -k expression selecting benchmarks")
    p.add_argument("--rounds", type=int,
                   help="rounds for subprocess measurements "
                   "(default 5, --quick 3)")
    p.add_argument("--max-time", type=float,
                   help="pytest-benchmark --benchmark-max-time "
                   "(default 1.0, --quick 0.25)")
    p.add_argument("--min-rounds", type=int,
                   help="pytest-benchmark --benchmark-min-rounds "
                   "(default 5, --quick 3)")
    p.add_argument("--stat", choices=("min", "median"), default="min",
                   help="statistic the ratios are computed from "
                   "(default min)")
    p.add_argument("--threads", type=int, default=1,
                   help="thread count for numba and torch/OpenMP/MKL "
                   "(sets NUMBA_NUM_THREADS, OMP_NUM_THREADS, "
                   "MKL_NUM_THREADS); default 1, which keeps ratios "
                   "stable on a shared machine; 0 leaves the libraries' "
                   "own defaults (all cores)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when any benchmark errored")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="do not stream pytest's output")
    return p.parse_args(argv)


def run_pytest(args, raw_path, status_path):
    # A run started from an xdist worker (the perf smoke test) must not
    # look like one itself: pytest-benchmark then turns itself off.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTEST_XDIST")}
    env["NUMGRAD_PERF_QUICK"] = "1" if args.quick else "0"
    env["NUMGRAD_PERF_STATUS"] = status_path
    if args.sizes:
        env["NUMGRAD_PERF_SIZES"] = args.sizes
    if args.rounds:
        env["NUMGRAD_PERF_ROUNDS"] = str(args.rounds)
    if args.threads:
        for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                    "MKL_NUM_THREADS"):
            env[var] = str(args.threads)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = REPO + (os.pathsep + path if path else "")
    max_time = args.max_time if args.max_time is not None else (
        0.25 if args.quick else 1.0)
    min_rounds = args.min_rounds or (3 if args.quick else 5)
    cmd = [sys.executable, "-m", "pytest", PERF_DIR,
           "-o", "python_files=bench_*.py",
           "-o", "testpaths=perf",
           # timings need one process: not the suite's xdist workers
           "-o", "addopts=", "-p", "no:xdist",
           # the project's pytest config turns warnings into errors; a
           # benchmark must not fail on a harmless warning
           "-p", "no:warnings", "-p", "no:cacheprovider",
           "-rs", "-q" if not args.quiet else "-qq",
           f"--benchmark-json={raw_path}",
           f"--benchmark-max-time={max_time}",
           f"--benchmark-min-rounds={min_rounds}",
           "--benchmark-quiet"]
    if args.keyword:
        cmd += ["-k", args.keyword]
    kwargs = {}
    if args.quiet:
        kwargs = {"stdout": subprocess.DEVNULL}
    return subprocess.run(cmd, cwd=REPO, env=env, **kwargs).returncode


# ------------------------------------------------------------ post-process
def _stats(values):
    values = sorted(values)
    return {"min": values[0], "median": statistics.median(values),
            "mean": statistics.fmean(values),
            "stddev": statistics.stdev(values) if len(values) > 1 else 0.0,
            "max": values[-1], "rounds": len(values)}


def build_results(raw, status, args):
    cases = {}

    def case_entry(info):
        return cases.setdefault(info["case"], {
            "params": info.get("params", {}), "refs": info.get("refs", []),
            "times": {}, "missing": {}, "errors": {}})

    for bench in raw.get("benchmarks", []):
        info = bench.get("extra_info", {})
        if "case" not in info:
            continue
        entry = case_entry(info)
        samples = info.get("samples")
        if samples:
            times = _stats(samples)
            times["source"] = "subprocess-cpu"
            wall = info.get("samples_wall")
            if wall:
                times["wall_min"] = min(wall)
                times["wall_median"] = statistics.median(wall)
            times["child_life_min"] = bench["stats"]["min"]
        else:
            s = bench["stats"]
            times = {k: s[k] for k in STATS}
            times["rounds"] = s["rounds"]
            times["iterations"] = s.get("iterations", 1)
            times["source"] = "in-process"
        for key in ("numba_loaded",):
            if key in info:
                times[key] = info[key]
        if info.get("flops"):  # bench_cnn: achieved GFLOP/s at the stat
            times["gflops"] = info["flops"] / times[args.stat] / 1e9
        if info.get("peak_rss_delta"):  # bench_cnn: bytes, per round
            times["peak_rss_delta"] = statistics.median(
                info["peak_rss_delta"])
        entry["times"][info["impl"]] = times

    for item in status.get("status", []):
        entry = case_entry(item)
        impl = item.get("impl") or "?"
        if item["status"] == "missing":
            entry["missing"][impl] = item.get("reason", "")
        else:
            entry["errors"][impl] = item.get("reason", "")
            entry["times"].pop(impl, None)

    for entry in cases.values():
        entry["ratios"] = ratios(entry, args.stat)
        on = entry["times"].get("numgrad")
        off = entry["times"].get("numgrad_nofusion")
        if on and off:
            entry["fusion_speedup"] = off[args.stat] / on[args.stat]
        mem = {impl: t["peak_rss_delta"] for impl, t in
               entry["times"].items() if t.get("peak_rss_delta")}
        if mem:
            entry["peak_rss_delta"] = mem
            entry["memory_ratios"] = {
                f"{impl}/{ref}": mem[impl] / mem[ref] for impl in sorted(mem)
                if impl.startswith(NUMGRAD_PREFIX)
                for ref in entry["refs"] if ref in mem}

    return {"schema": SCHEMA, "stat": args.stat,
            "created": datetime.datetime.now(
                datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": socket.gethostname(), "quick": bool(args.quick),
            "sizes": args.sizes, "keyword": args.keyword,
            "threads": args.threads or None,
            "meta": status.get("meta", {}),
            "benchmarks": dict(sorted(cases.items(), key=_case_order))}


def ratios(entry, stat):
    """numgrad-variant time / reference time, for every pair measured."""
    out = {}
    times = entry["times"]
    for impl in sorted(times):
        if not impl.startswith(NUMGRAD_PREFIX):
            continue
        for ref in entry["refs"]:
            if ref in times and times[ref][stat] > 0:
                out[f"{impl}/{ref}"] = times[impl][stat] / times[ref][stat]
    return out


_ORDER = ["add_1elem", "add_1elem_materialized", "scalar_graph_fwd",
          "scalar_graph_fwdbwd", "chain_fwd", "chain_fwdbwd", "mlp_fwdbwd",
          "mlp_sgd_step", "mlp_sgd_step_ce", "conv2d_fwd", "conv2d_fwdbwd",
          "matmul", "resnet50_fwd", "efficientnet_lite0_fwd",
          "gradcam_resnet50", "gradcam_efficientnet_lite0",
          "resnet50_fwdbwd", "import",
          "compile_cold_first_call", "compile_cold_next_chain",
          "compile_warm_first_call"]


def _case_order(item):
    name, entry = item
    base = name.split("[")[0]
    rank = _ORDER.index(base) if base in _ORDER else len(_ORDER)
    n = entry.get("params", {}).get("N")
    size = float(n) if n else 0.0
    return (rank, base, size, name)


# ------------------------------------------------------------------ table
def fmt_time(seconds):
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_ratio(r):
    if r is None:
        return "-"
    return f"{r:.3g}x"


IMPL_COLUMNS = ["numgrad", "numgrad_nofusion", "numgrad_own", "torch",
                "numpy", "numba"]


def table(results):
    stat = results["stat"]
    benches = results["benchmarks"]
    impls = [i for i in IMPL_COLUMNS
             if any(i in b["times"] or i in b["missing"] or i in b["errors"]
                    for b in benches.values())]
    extra = sorted({i for b in benches.values() for i in b["times"]}
                   - set(impls))
    impls += extra
    ratio_cols = ["numgrad/torch", "numgrad/numpy", "numgrad/numba",
                  "numgrad_nofusion/torch", "numgrad_own/torch",
                  "numgrad_fullbwd/torch"]
    ratio_cols = [c for c in ratio_cols
                  if any(c in b["ratios"] for b in benches.values())]
    header = ["case"] + impls + ratio_cols + ["fusion x"]
    rows = []
    notes = []
    for name, b in benches.items():
        row = [name]
        for impl in impls:
            if impl in b["times"]:
                row.append(fmt_time(b["times"][impl][stat]))
            elif impl in b["errors"]:
                row.append("ERROR")
                notes.append(f"{name} / {impl}: error: {b['errors'][impl]}")
            elif impl in b["missing"]:
                row.append("missing")
                notes.append(f"{name} / {impl}: {b['missing'][impl]}")
            else:
                row.append("")
        row += [fmt_ratio(b["ratios"].get(c)) if c in b["ratios"] else ""
                for c in ratio_cols]
        fs = b.get("fusion_speedup")
        row.append(f"{fs:.2f}" if fs else "")
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [header] + rows)
              for i in range(len(header))]
    lines = []
    fmt_row = (lambda r: "  ".join(
        str(c).ljust(w) if i == 0 else str(c).rjust(w)
        for i, (c, w) in enumerate(zip(r, widths))))
    lines.append(fmt_row(header))
    lines.append("  ".join("-" * w for w in widths))
    lines += [fmt_row(r) for r in rows]
    lines.append("")
    lines.append(f"times: {stat} per call; ratios: numgrad time / "
                 "reference time (lower is better); fusion x: "
                 "fusion-off time / fusion-on time")
    extras = []
    for name, b in benches.items():
        flops = [f"{impl} {t['gflops']:.3g}" for impl, t in b["times"].items()
                 if t.get("gflops")]
        if flops:
            extras.append(f"{name}: GFLOP/s " + ", ".join(flops))
        mem = b.get("peak_rss_delta")
        if mem:
            text = ", ".join(f"{impl} {v / 2**20:.0f} MiB"
                             for impl, v in mem.items())
            ratio = ", ".join(f"{k} {v:.2f}x"
                              for k, v in b.get("memory_ratios", {}).items())
            extras.append(f"{name}: peak RSS growth {text}"
                          + (f" ({ratio})" if ratio else ""))
    if extras:
        lines.append("")
        lines += extras
    if notes:
        lines.append("")
        lines.append("missing / errors:")
        lines += ["  " + n for n in notes]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    out = args.out or os.path.join(
        PERF_DIR, "results",
        "latest-quick.json" if args.quick else "latest.json")
    with tempfile.TemporaryDirectory(prefix="numgrad-perf-") as tmp:
        raw_path = args.raw or os.path.join(tmp, "raw.json")
        status_path = os.path.join(tmp, "status.json")
        code = run_pytest(args, raw_path, status_path)
        try:
            with open(raw_path) as f:
                raw = json.load(f)
        except (OSError, ValueError):
            raw = None
        try:
            with open(status_path) as f:
                status = json.load(f)
        except (OSError, ValueError):
            status = {}
    if raw is None:
        print(f"perf: pytest exited {code} without writing benchmark "
              "results", file=sys.stderr)
        return 2
    results = build_results(raw, status, args)
    results["pytest_exit"] = code
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    print()
    print(table(results))
    print(f"\nresults written to {out}")
    errored = any(b["errors"] for b in results["benchmarks"].values())
    if errored and args.strict:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
