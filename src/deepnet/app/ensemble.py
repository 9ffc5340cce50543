"""`deepnet ensemble RUN RUN ... --out DIR`: an ensemble folder of trained runs, tested
and reported (the folder's format and loading: deepnet.runs.ensemble)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from deepnet.app.train import evaluate_run
from deepnet.core.errors import CheckpointError, DeepnetError
from deepnet.core.outputs import writable_folder
from deepnet.core.progress import bar
from deepnet.report.html import write_report
from deepnet.runs.ensemble import check_members, load_ensemble
from deepnet.runs.files import RunDir
from deepnet.runs.load import load
from deepnet.runs.records import EnsembleInfo, Results


def make_ensemble(members: list[str | Path], out: str | Path, quiet: bool = False):
    """Write an ensemble folder of `members` (run directories) to `out` and return it
    loaded, with its test metrics in results.json and its report.

    >>> run = make_ensemble(["runs/a", "runs/b"], "runs/ensemble")
    """
    if len(members) < 2:
        raise DeepnetError(f"an ensemble needs at least 2 runs; got {len(members)}")
    out = writable_folder(out, "--out")
    if out.exists() and any(out.iterdir()):
        raise CheckpointError(f"--out {str(out)!r} already exists and is not empty; choose "
                              "another folder")
    names = [str(m) for m in members]
    runs = [load(m) for m in members]
    warnings = check_members(runs, names)
    out.mkdir(parents=True, exist_ok=True)
    rel = [os.path.relpath(Path(m).resolve(), out.resolve()) for m in members]
    files = RunDir(out)
    files.write_ensemble(EnsembleInfo(rel))
    run = load_ensemble(out)
    test = {}
    if run.spec.data.split.test > 0:
        with bar(f"ensemble of {len(runs)}: test evaluation", 1, "evaluations") as b:
            test = evaluate_run(run)
            b.advance()
    results = Results(test=test, members=rel, warnings=warnings,
                      member_test={n: r.results.test for n, r in zip(names, runs, strict=True)})
    files.write_results(results)
    run.results = results
    if not quiet:
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
    write_report(run)
    return run
