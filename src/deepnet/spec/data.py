"""The spec's `data` section: the source, its columns, splits and augmentation."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from deepnet.core.schema import Fraction, NonNegative, OneOf, PositiveInt, Section, one_of
from deepnet.data.augment import AUGMENTS


class Split(Section):
    val: Fraction = 0.15
    test: Fraction = 0.15
    stratify: bool = True  # classification: each class split in the same proportions

    @model_validator(mode="after")
    def _leaves_training_data(self) -> Split:
        if self.val + self.test >= 1:
            raise ValueError(f"val + test must be below 1 to leave training data; got {self}")
        return self


Augment: type[OneOf] = one_of(
    "Augment", AUGMENTS, lambda kind: kind.value, "`- rotate: 10`",
    doc="One augmentation: exactly one of its names (data.augment.AUGMENTS).")


class Synthetic(Section):
    """Settings of `source: synthetic`: seeded data for tests and examples."""

    main: ClassVar[str] = "kind"
    kind: Literal["classification", "regression", "sequence"] = "classification"
    samples: Annotated[int, Field(ge=2)] = 1000
    features: PositiveInt = 8
    classes: Annotated[int, Field(ge=2)] = 2  # classification and sequence
    noise: NonNegative = 0.1
    steps: PositiveInt = 20  # sequence: time steps per sample


class Text(Section):
    """A text table: the column of text, tokenised into padded word ids (0 pads, 1 is
    an unknown word); the vocabulary is fitted on the training split only."""

    main: ClassVar[str] = "column"
    column: str = "text"
    max_len: PositiveInt = 64  # tokens per sample: longer texts are cut, shorter padded
    min_freq: PositiveInt = 1  # rarer training words become the unknown id
    vocab_size: Annotated[int, Field(ge=3)] = 10000  # ids in all, padding and unknown included


class Data(Section):
    main: ClassVar[str] = "source"
    # a built-in name, synthetic, or a path: .csv/.parquet, .npz, image folder; `memory`
    # (or unset) for data passed in Python: deepnet.train(spec, data=df)
    source: str | None = None
    target: str | None = None  # a table's target column (default: target or label)
    features: list[str] | None = None  # a table's feature columns (default: all others)
    categorical: dict[str, Literal["onehot", "ordinal"]] = {}  # per-column override
    onehot_max: PositiveInt = 20  # more categories than this: ordinal codes by default
    missing: Literal["error", "drop", "impute"] = "error"
    text: Text | None = None  # set for a text table (`text: review`)
    image_size: PositiveInt | tuple[PositiveInt, PositiveInt] | None = None  # (height, width)
    channels: Literal[1, 3] | None = None  # images: default from the first image
    synthetic: Synthetic = Synthetic()
    stream: bool = False  # read batches from disk with a DataLoader (automatic when large)
    workers: Annotated[int, Field(ge=0)] = 2  # DataLoader worker processes when streaming
    split: Split = Split()
    normalize: Literal["none", "standard", "minmax"] = "standard"
    augment: list[Augment] = []
