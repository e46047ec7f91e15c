#!/usr/bin/env python
"""Compare a perf run against a stored baseline, on ratios.

    python perf/compare.py RUN.json perf/baselines/cpu.json [--threshold 0.25]
                           [--allow-missing] [--ratio numgrad/torch ...]

Every ratio is numgrad's time divided by a reference's time (torch, numpy,
numba) measured in the same run, so a slower or busier machine moves both
and the ratio stays put.  For every case and numgrad variant (numgrad,
numgrad_nofusion, ...) in the baseline, with T the threshold:

* REGRESSION  every ratio measured in both files (one per reference) grew
              beyond baseline * (1 + T): numgrad got slower relative to
              all its references, not just one reference that got faster
              by chance;
* improved    every such ratio fell below baseline / (1 + T);
* ok          otherwise;
* MISSING     the case ran but the numgrad variant has no time (it was
              skipped or errored): a failure unless --allow-missing;
* skipped     no reference was measured in the run (e.g. torch not
              installed), or the case was not run at all (e.g. --quick
              leaves N=1e7 out): reported, not a failure;
* new         ratios the baseline lacks: reported, not a failure.

Exit status 1 when there is a regression (or a MISSING without
--allow-missing), 0 otherwise; 2 on bad input.
"""
import argparse
import json
import sys


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="results JSON written by perf/run.py")
    p.add_argument("baseline", help="baseline results JSON")
    p.add_argument("--threshold", type=float, default=0.25,
                   help="allowed relative growth of a ratio (default 0.25)")
    p.add_argument("--allow-missing", action="store_true",
                   help="do not fail when a numgrad time has disappeared")
    p.add_argument("--ratio", action="append", metavar="NAME",
                   help="only judge these ratios (e.g. numgrad/torch); "
                   "repeatable; default all")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="list ok and skipped rows too")
    return p.parse_args(argv)


def load(path):
    with open(path) as f:
        data = json.load(f)
    if "benchmarks" not in data:
        raise ValueError(f"{path}: not a perf results file "
                         "(no 'benchmarks' key)")
    return data


def compare(run, base, threshold, allow_missing=False, only=None):
    """Judge every (case, numgrad variant) of the baseline.

    Returns rows ``(status, case, impl, details, note)``: ``details`` maps
    each reference to ``(baseline ratio, run ratio)`` (run ratio None when
    not measured); ``status`` is REGRESSION, MISSING, missing-ok,
    improved, ok, skipped or new."""
    rows = []
    run_b = run["benchmarks"]
    for case, b in base["benchmarks"].items():
        groups = {}
        for name, value in sorted(b.get("ratios", {}).items()):
            if only and name not in only:
                continue
            impl, ref = name.split("/", 1)
            groups.setdefault(impl, {})[ref] = value
        r = run_b.get(case)
        for impl, refs in groups.items():
            if r is None:
                rows.append(("skipped", case, impl,
                             {ref: (v, None) for ref, v in refs.items()},
                             "case not run"))
                continue
            run_ratios = r.get("ratios", {})
            details = {ref: (v, run_ratios.get(f"{impl}/{ref}"))
                       for ref, v in refs.items()}
            judged = {ref: (v, w) for ref, (v, w) in details.items()
                      if w is not None}
            if not judged:
                if impl not in r.get("times", {}):
                    why = (r.get("errors", {}).get(impl)
                           or r.get("missing", {}).get(impl)
                           or "not measured")
                    status = "missing-ok" if allow_missing else "MISSING"
                else:
                    why = "; ".join(
                        r.get("errors", {}).get(ref)
                        or r.get("missing", {}).get(ref)
                        or f"{ref} not measured" for ref in refs)
                    status = "skipped"
                rows.append((status, case, impl, details, why))
                continue
            worse = [w > v * (1.0 + threshold) for v, w in judged.values()]
            better = [w < v / (1.0 + threshold) for v, w in judged.values()]
            if all(worse):
                status = "REGRESSION"
            elif all(better):
                status = "improved"
            else:
                status = "ok"
            note = ", ".join(f"vs {ref} {w / v - 1:+.0%}"
                             for ref, (v, w) in judged.items())
            rows.append((status, case, impl, details, note))
    for case, r in run_b.items():
        base_ratios = base["benchmarks"].get(case, {}).get("ratios", {})
        groups = {}
        for name, value in sorted(r.get("ratios", {}).items()):
            if (only and name not in only) or name in base_ratios:
                continue
            impl, ref = name.split("/", 1)
            groups.setdefault(impl, {})[ref] = (None, value)
        for impl, details in groups.items():
            rows.append(("new", case, impl, details, "not in baseline"))
    return rows


def _fmt(v):
    return "-" if v is None else f"{v:.3g}"


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    try:
        run = load(args.run)
        base = load(args.baseline)
    except (OSError, ValueError) as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    if run.get("stat", "min") != base.get("stat", "min"):
        print(f"compare: warning: run uses stat {run.get('stat')!r}, "
              f"baseline {base.get('stat')!r}", file=sys.stderr)
    if run.get("threads") != base.get("threads"):
        print(f"compare: warning: run used --threads {run.get('threads')}, "
              f"baseline {base.get('threads')}", file=sys.stderr)
    rows = compare(run, base, args.threshold, args.allow_missing,
                   set(args.ratio) if args.ratio else None)
    shown = [r for r in rows if args.verbose
             or r[0] in ("REGRESSION", "MISSING", "improved", "missing-ok")]
    if shown:
        width = max(len(r[1]) for r in shown)
        iwidth = max(len(r[2]) for r in shown)
        print(f"{'status':<10}  {'case':<{width}}  {'impl':<{iwidth}}  "
              "ratios baseline -> run   change/note")
        for status, case, impl, details, note in shown:
            ratios = ", ".join(f"/{ref} {_fmt(v)} -> {_fmt(w)}"
                               for ref, (v, w) in details.items())
            print(f"{status:<10}  {case:<{width}}  {impl:<{iwidth}}  "
                  f"{ratios}   {note}")
    counts = {}
    for r in rows:
        counts[r[0]] = counts.get(r[0], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"compare: threshold {args.threshold:.0%}, per case and numgrad "
          "variant: "
          f"{summary or 'nothing to compare'}")
    failed = counts.get("REGRESSION", 0) + counts.get("MISSING", 0)
    if failed:
        print(f"compare: FAIL ({failed} regression(s)/missing)")
        return 1
    print("compare: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
