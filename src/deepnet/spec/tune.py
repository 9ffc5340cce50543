"""The distributions of `tune.space` and the pruner of `deepnet tune`."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_serializer, model_validator

from deepnet.core.registry import Registry
from deepnet.core.schema import PositiveFloat, Section, one_key

DISTRIBUTIONS: Registry[str] = Registry("distribution", {
    "loguniform": "[low, high]: floats on a log scale",
    "uniform": "[low, high]: floats",
    "int": "[low, high]: integers (with `log: true` on a log scale)",
    "choice": "[a, b, ...]: one of the options, any values",
})
EXAMPLE = "{loguniform: [1.0e-4, 1.0e-1]}, {int: [32, 256], log: true}"


class Distribution(Section):
    """One entry of `tune.space`: exactly one of the DISTRIBUTIONS (`int` may add
    `log: true`)."""

    loguniform: tuple[PositiveFloat, PositiveFloat] | None = None
    uniform: tuple[float, float] | None = None
    integer: tuple[int, int] | None = Field(None, alias="int")
    choice: list[Any] | None = Field(None, min_length=1)
    log: bool = False  # int only

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, value: Any) -> Any:
        if not isinstance(value, Distribution):
            one_key(value, DISTRIBUTIONS, EXAMPLE, also=("log",))
        return value

    @model_validator(mode="after")
    def _bounds(self) -> Distribution:
        low_high = self.bounds
        if low_high is not None and not low_high[0] < low_high[1]:
            raise ValueError(f"{self.kind}: [low, high] needs low < high; got {list(low_high)}")
        if self.log and self.kind != "int":
            raise ValueError("log: true goes with int; for floats use loguniform")
        if self.log and self.integer[0] < 1:
            raise ValueError(f"int with log: true needs low >= 1; got {list(self.integer)}")
        if self.choice is not None:
            keys = [repr(c) for c in self.choice]
            if len(set(keys)) != len(keys):
                raise ValueError(f"choice: the options must differ; got {self.choice}")
        return self

    def get(self, kind: str) -> Any:
        return self.integer if kind == "int" else getattr(self, kind)

    @property
    def kind(self) -> str:
        return next(k for k in DISTRIBUTIONS if self.get(k) is not None)

    @property
    def bounds(self) -> tuple[float, float] | None:
        return None if self.kind == "choice" else tuple(self.get(self.kind))

    @model_serializer
    def _only_the_kind(self) -> dict[str, Any]:
        out: dict[str, Any] = {self.kind: list(self.get(self.kind))}
        return out | ({"log": True} if self.log else {})


class Pruner(Section):
    """Stops unpromising trials early from their per-epoch validation metric."""

    main: ClassVar[str] = "name"
    name: Literal["median", "hyperband", "none"] = "median"
    startup_trials: Annotated[int, Field(ge=0)] = 5  # median: trials run in full first
    warmup_epochs: Annotated[int, Field(ge=0)] = 1  # epochs before a trial can be pruned
