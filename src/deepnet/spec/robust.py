"""The spec's `robust` section: attacks evaluated after training (deepnet.attacks.ATTACKS,
each with its own arguments) and the defenses trained in."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from deepnet.attacks import ATTACKS, NORMS, TRAINING_ATTACKS, AttackArgs
from deepnet.core.schema import (
    OneOf,
    PositiveFloat,
    PositiveInt,
    Section,
    one_of,
    registered,
)


class _AttackItem(OneOf):
    @classmethod
    def _item(cls, value: Any) -> Any:
        if isinstance(value, str):  # `- pgd` alone takes the defaults
            return {value: {}}
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value

    @property
    def method(self) -> str:
        return self.kind

    @property
    def args(self) -> AttackArgs:
        return self.value


Attack: type[_AttackItem] = one_of(
    "Attack", ATTACKS, lambda kind: kind.args, "`- pgd: {eps: 0.1}`", base=_AttackItem,
    doc="One attack of `robust.attacks`: exactly one method mapped to its settings.")


class AdversarialTraining(Section):
    """Train on adversarial examples made on the fly from each batch (eps in raw units)."""

    main: ClassVar[str] = "eps"
    method: registered(TRAINING_ATTACKS) = "fgsm"  # fgsm: fast FGSM with a random start
    eps: PositiveFloat = 0.1
    norm: Literal[NORMS] = "linf"
    steps: PositiveInt = 7  # pgd
    alpha: PositiveFloat | None = None  # step size; default 1.25 eps (fgsm), 2.5 eps/steps (pgd)
    ratio: Annotated[float, Field(ge=0, le=1)] = 1.0  # adversarial share of each batch


class Distillation(Section):
    """Defensive distillation: a teacher trained at temperature T, a student trained on
    its softened probabilities at T, deployed at T = 1."""

    main: ClassVar[str] = "temperature"
    temperature: Annotated[float, Field(ge=1)] = 20.0


class InputTransform(Section):
    """Inputs squeezed before the model (raw space): bit-depth reduction, median smoothing."""

    bit_depth: Annotated[int, Field(ge=1, le=16)] | None = None  # bits per value
    smoothing: Annotated[int, Field(ge=2)] | None = None  # median filter window, pixels

    @model_validator(mode="after")
    def _something(self) -> InputTransform:
        if self.bit_depth is None and self.smoothing is None:
            raise ValueError("give bit_depth (e.g. 4) and/or smoothing (e.g. 2)")
        return self


class Defense(Section):
    adversarial_training: AdversarialTraining | None = None
    distillation: Distillation | None = None
    input_transform: InputTransform | None = None


class Robust(Section):
    attacks: list[Attack] = []  # evaluated after training, into the report
    defense: Defense | None = None
    limit: PositiveInt | None = 1000  # attack at most this many test examples
