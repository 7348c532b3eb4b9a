"""Compare two ``bench/kernels.py --json`` runs kernel by kernel: a regression guard.

    python bench/compare.py OLD.json NEW.json [--threshold 0.10] [--column cython]

For every kernel case present in both files this prints the old and new median times
(microseconds) of the chosen column (default ``cython``, the compiled backend) and the
ratio NEW / OLD, and flags every case where NEW is more than ``threshold`` slower
(ratio > 1 + threshold; default 10 %).  Cases found in only one file are listed.  The
exit status is 1 when any case is flagged, 0 otherwise, 2 on unreadable input, so the
script can gate a change to a kernel:

    python bench/kernels.py --threads 2 --json /tmp/new.json
    python bench/compare.py bench/baselines/kernels_main.json /tmp/new.json

Both runs should come from the same machine with the same ``--threads`` (a warning is
printed when the machine descriptions or thread counts differ), taken on a quiet machine.
"""
import argparse
import json
import math
import sys


def load(path):
    """The results of one run as ``(document, {case name: result dict})``."""
    with open(path) as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise ValueError(f"{path}: not a bench/kernels.py --json file (no 'results' list)")
    cases = {}
    for r in doc["results"]:
        if not isinstance(r, dict) or "name" not in r:
            raise ValueError(f"{path}: every result needs a 'name', got {r!r}")
        cases[r["name"]] = r
    return doc, cases


def compare(old, new, threshold=0.10, column="cython"):
    """Rows ``(name, old_us, new_us, ratio, flagged)`` for the cases in both runs, in the
    order of ``new``; a ratio is NaN (never flagged) when either time is missing."""
    rows = []
    for name, r in new.items():
        if name not in old:
            continue
        a, b = old[name].get(column), new[name].get(column)
        a = float("nan") if a is None else float(a)
        b = float("nan") if b is None else float(b)
        ratio = b / a if a > 0 and math.isfinite(a) and math.isfinite(b) else float("nan")
        rows.append((name, a, b, ratio, bool(ratio > 1.0 + threshold)))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", help="the baseline, e.g. bench/baselines/kernels_main.json")
    ap.add_argument("new", help="the run to check")
    ap.add_argument("--threshold", type=float, default=0.10,
                    help="flag a kernel whose time grew by more than this fraction "
                         "(default 0.10: 10%% slower)")
    ap.add_argument("--column", default="cython",
                    help="which timing to compare: cython (default), numpy, torch, blas")
    args = ap.parse_args(argv)
    if not args.threshold >= 0:
        ap.error(f"--threshold must be a fraction >= 0, got {args.threshold}")
    try:
        old_doc, old = load(args.old)
        new_doc, new = load(args.new)
    except (OSError, ValueError) as e:
        print(f"compare.py: {e}", file=sys.stderr)
        return 2
    for key in ("machine", "threads"):
        if old_doc.get(key) != new_doc.get(key):
            print(f"warning: the runs differ in {key}: {old_doc.get(key)!r} vs "
                  f"{new_doc.get(key)!r}; the ratios compare different conditions")
    rows = compare(old, new, args.threshold, args.column)
    print(f"{args.column} median times, microseconds; flagged: more than "
          f"{args.threshold:.0%} slower")
    print(f"{'case':50s} {'old':>10s} {'new':>10s} {'new/old':>8s}")
    for name, a, b, ratio, flagged in rows:
        print(f"{name[:50]:50s} {a:10.0f} {b:10.0f} {ratio:8.3f}"
              f"{'  SLOWER' if flagged else ''}")
    only_old = [n for n in old if n not in new]
    only_new = [n for n in new if n not in old]
    if only_old:
        print("only in OLD: " + ", ".join(only_old))
    if only_new:
        print("only in NEW: " + ", ".join(only_new))
    slower = [r[0] for r in rows if r[4]]
    if slower:
        print(f"{len(slower)} kernel(s) more than {args.threshold:.0%} slower: "
              + ", ".join(slower))
        return 1
    print(f"no kernel more than {args.threshold:.0%} slower ({len(rows)} compared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
