"""Adversarial robustness: attacks (pure functions on a model of raw inputs), their
evaluation on a run, and defenses set up from the spec's `robust` section."""

from deepnet.robust.attacks import ATTACKS, cw, deepfool, fgsm, get, pgd, pick_targets
from deepnet.robust.evaluate import AttackResult, attack, evaluate_robustness, report_sections

__all__ = [
    "ATTACKS",
    "AttackResult",
    "attack",
    "cw",
    "deepfool",
    "evaluate_robustness",
    "fgsm",
    "get",
    "pgd",
    "pick_targets",
    "report_sections",
]
