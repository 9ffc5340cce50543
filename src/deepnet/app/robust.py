"""`deepnet attack RUN`: attack a trained run, keep the results in its `robustness/`
folder and redraw its report."""

from __future__ import annotations

from pathlib import Path

from deepnet.core.outputs import writable_file, writable_folder
from deepnet.report.html import write_report
from deepnet.robust.evaluate import AttackResult, evaluate_robustness, save
from deepnet.runs.files import REPORT, ROBUSTNESS


def attack_run(run, method: str, eps: float | None = None, *, seed: int = 0,
               limit: int | None = None, **options
               ) -> tuple[list[AttackResult], Path]:
    """The naive attack and its adaptive counterparts on `run`; (results, the results
    file). The run's report.html is rewritten with them."""
    writable_folder(run.files.file(ROBUSTNESS), "RUN")  # before the attack: nothing lost
    writable_file(run.files.file(REPORT), "RUN")
    run.files.read_robustness()  # so is a damaged robustness/results.json it adds to
    results = evaluate_robustness(run, method, eps, seed=seed, limit=limit,
                                  **options)
    file = save(run, results)
    write_report(run)
    return results, file
