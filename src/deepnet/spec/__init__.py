"""The spec: pydantic models of every section, YAML in and out, spec paths (`--set`,
remedies, tuning) and one error that lists every problem."""

from deepnet.spec.models import (
    AdversarialTraining,
    Attack,
    AttackArgs,
    Augment,
    Data,
    Distribution,
    Loss,
    Optimizer,
    Spec,
    apply_override,
    format_errors,
    format_path,
    parse_path,
)

__all__ = ["AdversarialTraining", "Attack", "AttackArgs", "Augment", "Data", "Distribution",
           "Loss", "Optimizer", "Spec", "apply_override", "format_errors", "format_path",
           "parse_path"]
