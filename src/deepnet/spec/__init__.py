"""The spec: pydantic models of every section (data, train, robust, tune, the whole Spec),
YAML in and out, spec paths (`--set`, diagnose remedies, tuning: deepnet.spec.paths) and
one error that lists every problem (deepnet.spec.errors)."""

from deepnet.spec.data import Augment, Data
from deepnet.spec.errors import format_errors
from deepnet.spec.models import Model, Spec, Tune
from deepnet.spec.paths import (
    apply_changes,
    differences,
    format_path,
    get_path,
    parse_override,
    parse_path,
    set_path,
)
from deepnet.spec.robust import AdversarialTraining, Attack, Robust
from deepnet.spec.train import Loss, Optimizer, Train
from deepnet.spec.tune import Distribution, Pruner

__all__ = ["AdversarialTraining", "Attack", "Augment", "Data", "Distribution", "Loss", "Model",
           "Optimizer", "Pruner", "Robust", "Spec", "Train", "Tune", "apply_changes", "differences",
           "format_errors", "format_path", "get_path", "parse_override", "parse_path",
           "set_path"]
