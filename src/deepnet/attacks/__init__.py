"""Adversarial attacks as pure functions: `attack(model, x, y, eps, ...) -> x_adv`.

`model` takes raw inputs (a run's `network()`: its saved normalisation, then the model)
and returns logits (one output unit means a binary classifier). Every attack keeps each
example inside `bounds`, the data's valid raw range, and within `eps` of its original in
the attack's norm (eps in raw units; cw and deepfool minimise the perturbation and treat
`eps`, when given, as a cap). Targeted attacks take `y` as the target classes. Randomness
comes only from an explicit `generator`.

    x_adv = pgd(run.network(), x, y, eps=0.1, steps=20, bounds=(0.0, 1.0))

The functions live in three modules: `core` (logits, losses, norms, projection),
`gradient` (fgsm, pgd, cw, deepfool) and `auto` (AutoAttack and its parts: apgd, apgd_t,
fab, square); here are their argument models and the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import torch
from pydantic import Field, model_validator

from deepnet.attacks.auto import apgd, apgd_t, autoattack, fab, square
from deepnet.attacks.core import (
    LOSSES,
    NORMS,
    TARGETS,
    Bounds,
    attack_loss,
    logits,
    norms,
    pin,
    project,
)
from deepnet.attacks.gradient import cw, deepfool, fgsm, pgd
from deepnet.core.registry import Registry
from deepnet.core.schema import (
    NonNegative,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Section,
)

__all__ = ["ATTACKS", "LOSSES", "NORMS", "TARGETS", "TRAINING_ATTACKS", "AttackArgs", "Bounds",
           "apgd", "apgd_t", "attack_loss", "autoattack", "cw", "deepfool", "fab", "fgsm",
           "get", "logits", "norms", "pgd", "pick_targets", "pin", "project", "square"]


# ----------------------------------------------------------------------------- arguments
class AttackArgs(Section):
    """What every attack takes (`- pgd: {eps: 0.1, steps: 20}`; eps in raw input units).
    cw and deepfool find a minimal perturbation: eps, when given, caps it. A subclass per
    attack adds the keyword arguments of its function, which are its `options`."""

    main: ClassVar[str] = "eps"
    eps: NonNegative | None = None  # default 0.1 for fgsm and pgd, none for cw and deepfool
    norm: Literal[NORMS] | None = None  # default: the attack's (ATTACKS[name].norm)
    targeted: bool = False
    # a class number, next ((y + 1) mod classes), random, least_likely (pick_targets)
    target: NonNegativeInt | Literal[TARGETS] = "next"
    curve: list[NonNegative] | None = None  # eps values of the accuracy-vs-eps curve

    @classmethod
    def own(cls) -> tuple[str, ...]:
        """The options of this attack: the keyword arguments of its function."""
        return tuple(k for k in cls.model_fields if k not in AttackArgs.model_fields)

    def keywords(self) -> dict[str, Any]:
        """The attack function's own keyword arguments (run_as first: steps filled in)."""
        return {k: getattr(self, k) for k in self.own()}

    def run_as(self, steps: int | None) -> AttackArgs:
        """These arguments with the default number of steps filled in (`steps`, the
        attack's), so that a result records the budget that was actually run."""
        if "steps" in self.own() and self.steps is None:
            return self.model_copy(update={"steps": steps})
        return self

    def options(self) -> dict[str, Any]:
        """The options, for the results (run_as: with the steps that were run)."""
        return {k: getattr(self, k) for k in self.own()} | {"targeted": self.targeted} | (
            {"target": self.target} if self.targeted else {})


class FgsmArgs(AttackArgs):
    alpha: PositiveFloat | None = None  # step size (default eps)
    loss: Literal[LOSSES] = "ce"  # cross-entropy or the logit margin (CW)


class PgdArgs(AttackArgs):
    steps: PositiveInt | None = None  # default ATTACKS["pgd"].steps
    restarts: PositiveInt = 1  # random restarts, the strongest kept per example
    alpha: PositiveFloat | None = None  # step size (default 2.5 eps / steps)
    random_start: bool = True
    loss: Literal[LOSSES] = "ce"


class ApgdArgs(AttackArgs):
    steps: PositiveInt | None = None  # default ATTACKS["apgd"].steps
    restarts: PositiveInt = 1  # each on the examples not fooled yet
    # APGD-CE, APGD-DLR (untargeted, 3+ classes), or the logit margin (any classes)
    loss: Literal["ce", "dlr", "margin"] = "ce"


class _Untargeted(AttackArgs):
    """The attacks that look for any misclassification (AutoAttack and its parts)."""

    @model_validator(mode="after")
    def _untargeted(self) -> _Untargeted:
        if self.targeted:
            raise ValueError("this attack looks for any misclassification and is not "
                             "targeted; for a targeted attack use pgd or apgd")
        return self


class ApgdTArgs(_Untargeted):
    steps: PositiveInt | None = None  # default ATTACKS["apgd-t"].steps
    targets: PositiveInt = 9  # the runner-up classes attacked in turn
    restarts: PositiveInt = 1


class FabArgs(_Untargeted):
    steps: PositiveInt | None = None  # default ATTACKS["fab"].steps
    targets: PositiveInt = 9
    restarts: PositiveInt = 1  # after the first, from a random start
    alpha_max: Annotated[float, Field(ge=0, le=1)] = 0.1  # most weight of the original's step
    eta: PositiveFloat = 1.05  # extrapolation past the boundary
    beta: Annotated[float, Field(gt=0, le=1)] = 0.9  # back towards the original on success


class SquareArgs(_Untargeted):
    queries: PositiveInt = 5000
    p_init: Annotated[float, Field(gt=0, le=1)] = 0.8  # the share changed by the first squares

    @model_validator(mode="after")
    def _linf(self) -> SquareArgs:
        if self.norm not in (None, "linf"):
            raise ValueError(f"square is implemented for linf; got norm {self.norm!r} (use "
                             "apgd for l2)")
        return self


class AutoattackArgs(_Untargeted):
    steps: PositiveInt | None = None  # of APGD-CE, APGD-T and FAB-T; default 100
    targets: PositiveInt = 9
    queries: PositiveInt = 5000  # of Square (linf only: l2 leaves Square out)


class CwArgs(AttackArgs):
    steps: PositiveInt | None = None
    c: PositiveFloat = 1.0  # weight of the classification term
    kappa: NonNegative = 0.0  # confidence margin
    lr: PositiveFloat = 0.1  # Adam step size (in tanh space)

    @model_validator(mode="after")
    def _l2(self) -> CwArgs:
        if self.norm not in (None, "l2"):
            raise ValueError(f"cw is an l2 attack; got norm {self.norm!r} (use norm l2, or "
                             "pgd with norm linf)")
        return self


class DeepfoolArgs(AttackArgs):
    steps: PositiveInt | None = None
    overshoot: NonNegative = 0.02


# ----------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class AttackType:
    run: Callable[..., torch.Tensor]  # (model, x, y, eps, norm=..., **options) -> x_adv
    args: type[AttackArgs]  # its settings in the spec and in `deepnet.attack`
    norm: str  # the default norm
    steps: int | None = None  # the default number of iterations
    minimal: bool = False  # finds the smallest perturbation; eps only caps it
    trains: bool = False  # makes the examples of adversarial training (a random start)
    costly: bool = False  # minutes on a CPU: its default accuracy curve adds no runs


ATTACKS: Registry[AttackType] = Registry("attack", {
    "fgsm": AttackType(fgsm, FgsmArgs, "linf", trains=True),
    "pgd": AttackType(pgd, PgdArgs, "linf", steps=20, trains=True),
    "apgd": AttackType(apgd, ApgdArgs, "linf", steps=100),
    "apgd-t": AttackType(apgd_t, ApgdTArgs, "linf", steps=100, costly=True),
    "fab": AttackType(fab, FabArgs, "linf", steps=100, costly=True),
    "square": AttackType(square, SquareArgs, "linf", costly=True),
    "autoattack": AttackType(autoattack, AutoattackArgs, "linf", steps=100, costly=True),
    "cw": AttackType(cw, CwArgs, "l2", steps=100, minimal=True),
    "deepfool": AttackType(deepfool, DeepfoolArgs, "l2", steps=50, minimal=True),
})

# The attacks that `robust.defense.adversarial_training.method` may name.
TRAINING_ATTACKS: Registry[AttackType] = Registry(
    "adversarial training attack", {name: a for name, a in ATTACKS.items() if a.trains})


def get(name: str) -> Callable[..., torch.Tensor]:
    """The attack function of that name; ValueError listing the valid names."""
    return ATTACKS.get(name).run


def pick_targets(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                 target: int | str, n_classes: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Target classes: a class number for every example, `next` ((y + 1) mod classes),
    `random` (a class other than y) or `least_likely` (the model's lowest logit)."""
    if isinstance(target, int) and not isinstance(target, bool):
        if not 0 <= target < n_classes:
            raise ValueError(f"target class {target} is out of range; the model has "
                             f"{n_classes} classes (0..{n_classes - 1})")
        return torch.full_like(y, target)
    if target == "next":
        return (y + 1) % n_classes
    if target == "random":
        dev = generator.device if generator is not None else y.device
        shift = torch.randint(1, n_classes, y.shape, generator=generator, device=dev)
        return (y + shift.to(y.device)) % n_classes
    if target == "least_likely":
        with torch.no_grad():
            return logits(model, x).argmin(1)
    raise ValueError(f"unknown target {target!r}; valid: a class number, "
                     f"{', '.join(TARGETS)}")
