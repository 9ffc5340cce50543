"""The planted-fault benchmark: how often deepnet.diagnose names a planted training fault,
how often it raises a false alarm, and how often `train --auto` repairs what it found
against a random remedy at the same budget. With the audit part (bench/faults/audit.py,
when present) its data faults join the table and the figures.

    .venv/bin/python -m bench.faults [--quick] [--workers 2]      # make bench-faults

Phase 1 trains every case (clean bases, plants with their references, near-misses) over
the seeds, diagnoses each loaded run (timed) and measures it; which plants manifest is
decided from those runs (score.py). Phase 2 runs the repair loops: `--auto` (the app's
auto_train, 3 retrains at most) and a random remedy, from the phase-1 run of every seed
of every manifesting plant, and `--auto` on the clean runs (no harm). Runs go to a
temporary folder, removed at the end. Progress goes to stderr, the tables to stdout, and
the last line of stdout is one JSON object of every figure.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.faults import report, score
from bench.faults.bases import BASES, write_data
from bench.faults.plants import NEAR_MISSES, PLANTS
from bench.faults.worker import Task, init_worker, run_task

SEEDS = {"clean": 5, "plant": 3, "near_miss": 3}  # the issue: every base clean over 5 seeds
QUICK_SEEDS = {"clean": 3, "plant": 3, "near_miss": 2}
# scheduled first (their runs or repair loops last longest), so no worker idles at the end
SLOW_FIRST = ("memorisation", "small_data_wide", "gru_digits", "batch4", "lr_low", "width_2",
              "two_epochs")


def phase1_tasks(quick: bool, files: dict, root: str, only: str | None) -> list[Task]:
    seeds = QUICK_SEEDS if quick else SEEDS
    chosen = [(p, b) for p in PLANTS + NEAR_MISSES for b in (p.quick if quick else p.bases)]
    if only:
        chosen = [(p, b) for p, b in chosen if only in f"{b}/{p.name}"]
    bases = sorted({b for _, b in chosen}) if quick or only else list(BASES)
    tasks = [Task(b, "clean", "clean", s, files, root, quick=quick) for b in bases
             for s in range(seeds["clean"])]
    for p, b in chosen:
        n = seeds[p.group]
        tasks += [Task(b, p.name, "plant", s, files, root, quick=quick) for s in range(n)]
        if p.setting is not None:
            tasks += [Task(b, p.name, "ref", s, files, root, quick=quick) for s in range(n)]
    return sorted(tasks, key=lambda t: not any(k in t.name for k in SLOW_FIRST))


def remedy_pool(records: list[dict]) -> dict[str, dict[str, list]]:
    """Per base, every remedy diagnose proposed in phase 1, by family (finding kind):
    what the random remedy draws from."""
    pool: dict[str, dict[str, list]] = {}
    for r in records:
        for kind, changes in r.get("remedies", []):
            family = pool.setdefault(r["base"], {}).setdefault(kind, [])
            if changes and changes not in family:
                family.append(changes)
    return pool


def phase2_tasks(records: list[dict], cases: list[score.CaseResult], files: dict,
                 root: str, quick: bool) -> list[Task]:
    pool = remedy_pool(records)
    tasks = []
    for c in cases:
        if not c.scorable:
            continue
        for r in c.runs:
            for loop in ("auto", "random"):
                tasks.append(Task(c.base, c.plant.name, "plant", r["seed"], files, root, loop,
                                  r["run_dir"], pool.get(c.base, {}), quick))
    for r in records:
        if r.get("variant") == "clean" and "error" not in r:
            tasks.append(Task(r["base"], "clean", "clean", r["seed"], files, root, "auto",
                              r["run_dir"], quick=quick))
    return sorted(tasks, key=lambda t: not any(k in t.name for k in SLOW_FIRST))


def run_all(tasks: list[Task], workers: int, label: str) -> list[dict]:
    """The tasks in `workers` spawned processes (one thread each), progress on stderr."""
    out = []
    started = time.perf_counter()

    def done(i: int, rec: dict) -> None:
        out.append(rec)
        what = rec.get("error") or (", ".join(k for k, _ in rec.get("findings", []))
                                    or f"kept round {rec.get('best_round')}")
        print(f"[{label} {i}/{len(tasks)} {time.perf_counter() - started:6.0f}s] "
              f"{rec['task']} ({rec.get('seconds', 0)}s): {what}", file=sys.stderr, flush=True)

    if workers <= 1:
        init_worker()
        for i, t in enumerate(tasks, 1):
            done(i, run_task(t))
        return out
    with multiprocessing.get_context("spawn").Pool(workers, initializer=init_worker) as pool:
        for i, rec in enumerate(pool.imap_unordered(run_task, tasks), 1):
            done(i, rec)
    return out


def audit_part(quick: bool) -> tuple[list[dict], dict]:
    """The data-fault rows and figures of bench/faults/audit.py, or none while it does not
    exist: run_audit_bench(quick) -> {"rows": [...], "figures": {...}}."""
    try:
        from bench.faults.audit import run_audit_bench
    except ModuleNotFoundError as e:
        if e.name != "bench.faults.audit":
            raise
        return [], {}
    print("audit part (bench/faults/audit.py) ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    out = run_audit_bench(quick)
    print(f"audit part done in {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    rows = [{"section": "audit (data faults)", **r} if "section" not in r else r
            for r in out.get("rows", [])]
    return rows, out.get("figures", {})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the fast subset (tests, CI)")
    ap.add_argument("--workers", type=int, default=2, help="processes, one thread each")
    ap.add_argument("--only", help="only the cases whose base/plant name contains this")
    ap.add_argument("--no-audit", action="store_true", help="leave out the audit part")
    args = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"  # inherited by the spawned workers
    from deepnet.diagnose import KINDS

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="deepnet-faults-") as tmp:
        files = write_data(Path(tmp) / "data")
        records = run_all(phase1_tasks(args.quick, files, tmp, args.only), args.workers, "train")
        repairs = run_all(phase2_tasks(records, score.cases(records, KINDS), files, tmp,
                                       args.quick), args.workers, "repair")
    rows, figures = score.score(records, repairs, KINDS)
    training_seconds = time.perf_counter() - started
    audit_rows, audit_figures = ([], {}) if args.no_audit else audit_part(args.quick)
    figures |= audit_figures
    figures |= {"quick": args.quick, "workers": args.workers,
                "seconds_training_part": round(training_seconds, 1),
                "seconds": round(time.perf_counter() - started, 1)}
    figures = report.normalise(figures)
    print(report.render(rows + audit_rows, figures))
    print(report.json_line(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
