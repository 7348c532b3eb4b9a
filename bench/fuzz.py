"""Run the atheris fuzz harnesses of tests/fuzz/ for longer than the test suite does.

    python bench/fuzz.py                       # every harness, 20000 runs each
    python bench/fuzz.py --runs 0 --seconds 300 load kernels   # 5 minutes each
    python bench/fuzz.py --quick               # 500 runs each (what CI could afford)

Each harness runs in its own process under atheris (libFuzzer, coverage-guided), on a
temporary copy of its committed seed corpus (tests/fuzz/corpus/<name>; the copy grows,
the committed corpus does not), with a per-input timeout (a hang is a finding) and an
RSS limit.  A crash, an undocumented exception, a timeout or an out-of-memory is a
finding: libFuzzer writes the input to ``--artifacts`` (default ./fuzz-artifacts),
and this script prints it and exits 1.  Needs atheris (``pip install atheris``).
Results: docs/reliability.md.
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.fuzz._common import CORPUS, HARNESSES  # noqa: E402


def run_one(name, runs, seconds, timeout, rss_mb, artifacts):
    work = tempfile.mkdtemp(prefix=f"deepbio-fuzz-{name}-")
    corpus = os.path.join(work, "corpus")
    shutil.copytree(CORPUS / name, corpus)
    art = pathlib.Path(artifacts, name)
    art.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "tests.fuzz", name, f"-timeout={timeout}",
           f"-rss_limit_mb={rss_mb}", f"-artifact_prefix={art}{os.sep}",
           "-print_final_stats=1"]
    if runs:
        cmd.append(f"-runs={runs}")
    if seconds:
        cmd.append(f"-max_total_time={seconds}")
    cmd.append(corpus)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          errors="replace")
    elapsed = time.perf_counter() - t0
    log = proc.stdout + proc.stderr
    m = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log) or \
        re.findall(r"Done (\d+) runs", log)
    executed = int(m[-1]) if m else 0
    corpus_size = len(os.listdir(corpus))
    shutil.rmtree(work, ignore_errors=True)
    finding = proc.returncode != 0
    if finding:
        tail = "\n".join(log.splitlines()[-40:])
        print(f"--- {name}: FINDING (exit {proc.returncode}) ---\n{tail}\n", flush=True)
    return executed, elapsed, corpus_size, finding


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("harness", nargs="*", choices=[[], *HARNESSES], default=[],
                    help=f"harnesses to run (default: all of {', '.join(HARNESSES)})")
    ap.add_argument("--runs", type=int, default=20000, help="inputs per harness (0: no limit)")
    ap.add_argument("--seconds", type=int, default=0, help="time per harness (0: no limit)")
    ap.add_argument("--quick", action="store_true", help="500 runs per harness")
    ap.add_argument("--timeout", type=int, default=30, help="seconds per input (a hang)")
    ap.add_argument("--rss-mb", type=int, default=4096)
    ap.add_argument("--artifacts", default="fuzz-artifacts")
    a = ap.parse_args(argv)
    if a.quick:
        a.runs, a.seconds = 500, 0
    if not a.runs and not a.seconds:
        ap.error("give --runs or --seconds (or both)")
    names = a.harness or list(HARNESSES)
    print(f"{'harness':<11} {'executions':>10} {'seconds':>8} {'exec/s':>7} {'corpus':>6}  result")
    findings = 0
    for name in names:
        n, t, size, bad = run_one(name, a.runs, a.seconds, a.timeout, a.rss_mb, a.artifacts)
        findings += bad
        print(f"{name:<11} {n:>10} {t:>8.1f} {n / t:>7.0f} {size:>6}  "
              f"{'FINDING' if bad else 'ok'}", flush=True)
    print(f"findings: {findings}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
