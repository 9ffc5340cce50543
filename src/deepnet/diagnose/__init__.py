"""`deepnet.diagnose(run)`: what went wrong in training and what to change;
`deepnet.audit(spec)`: what is wrong with the data.

    findings = deepnet.diagnose(deepnet.load("runs/digits-cnn-..."))
    for f in findings: print(f.kind, f.severity, f.evidence, f.remedy.changes)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from deepnet.core.errors import DeepnetError

# the function audit() replaces the submodule's name on the package: import it explicitly
from deepnet.diagnose.audit import AuditReport, audit
from deepnet.diagnose.findings import (
    KINDS,
    Check,
    Facts,
    Finding,
    Findings,
    Remedy,
    apply_changes,
)
from deepnet.diagnose.fit import (
    curve_checks,
    detect_diverged,
    detect_label_noise,
    detect_overfitting,
    detect_underfitting,
    detect_unstable,
    healthy,
)
from deepnet.diagnose.gradients import (
    detect_dead_units,
    detect_gradients,
    detect_saturation,
    inside_checks,
)

# One registry of detectors: pure functions Facts -> list[Finding].
DETECTORS: dict[str, Callable[[Facts], list[Finding]]] = {
    "diverged": detect_diverged,
    "unstable_training": detect_unstable,
    "overfitting": detect_overfitting,
    "label_noise": detect_label_noise,
    "underfitting": detect_underfitting,
    "gradients": detect_gradients,  # vanishing_gradients, exploding_gradients
    "dead_units": detect_dead_units,
    "saturation": detect_saturation,  # vanishing_gradients of saturated tanh/sigmoid units
}
# What a healthy finding reports: every rule's checks, fn(Facts) -> list[Check].
CHECKS: tuple[Callable[[Facts], list[Check]], ...] = (curve_checks, inside_checks)

__all__ = ["CHECKS", "DETECTORS", "AuditReport", "Check", "KINDS", "Facts", "Finding", "Remedy",
           "apply_changes", "audit", "diagnose", "diagnose_facts", "facts"]


NOT_DIAGNOSED = ("this run has no validation split (data.split.val: 0), and the diagnosis "
                 "compares training with validation: train with data.split.val above 0 to "
                 "diagnose it")


def has_validation(history: list[dict]) -> bool:
    """Whether a run logged validation metrics (not with data.split.val: 0)."""
    return not history or any("val_loss" in h for h in history)


def diagnose_facts(f: Facts) -> Findings:
    """Every detector's findings, most severe first; [healthy] when there are none, with
    every check it passed."""
    if not has_validation(f.history):
        raise DeepnetError(NOT_DIAGNOSED)
    found = [finding for detect in DETECTORS.values() for finding in detect(f)]
    return Findings(sorted(found, key=lambda x: x.rank) or [
        healthy(f, [c for checks in CHECKS for c in checks(f)])])


def facts(run, prepared=None) -> Facts:
    """The Facts of a Run: its history, results, model and a validation batch (from
    `prepared`, the run's prepared data, when given)."""
    return Facts(run.spec, run.history, run.results, run.task, len(run.classes),
                 tuple(run.input_shape), run.model, val_batch(run, prepared=prepared))


def diagnose(run) -> Findings:
    """Findings about a trained run (a Run or its directory), most severe first.

    >>> [f.kind for f in deepnet.diagnose(deepnet.load("runs/mlp"))]
    ['overfitting']
    """
    from deepnet.runs.load import load

    return diagnose_facts(facts(load(run)))


def val_batch(run, rows: int = 512, prepared=None) -> np.ndarray | None:
    """Up to `rows` preprocessed validation inputs of a run; None when its data cannot be
    read any more (moved or deleted): the detectors that need them are then skipped."""
    from deepnet.data.prepare import prepare

    if prepared is None:
        try:
            prepared = prepare(run.spec)
        except DeepnetError:
            return None
    idx = prepared.splits["val"][:rows]
    return run.preprocess(prepared.dataset.x[idx]) if len(idx) else None
