"""The spec's `data` section: the source, its columns, splits and augmentation."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from deepnet.core.schema import Fraction, NonNegative, OneOf, PositiveInt, Section, one_of
from deepnet.data.audio import DEFAULT_RATE, DEFAULT_SECONDS
from deepnet.data.augment import AUGMENTS
from deepnet.data.tables import TABLE_SUFFIXES, file_kind

Scalar = str | int | float | bool
SPLIT_FILES = (*TABLE_SUFFIXES, ".npz")  # a part given as a file: a table, or x and y


class SplitRows(Section):
    """The rows of a table whose `column` holds `value` (or one of a list of values): a
    part of the data's own split. The column is not a feature."""

    column: str
    value: Scalar | list[Scalar]


# a part of the split: a fraction of the rows not given to a part, a file of the same
# form as data.source (a table with its columns, or an .npz of x and y), or rows of a column
SplitPart = Fraction | SplitRows | str


class Split(Section):
    val: SplitPart = 0.15
    test: SplitPart = 0.15
    stratify: bool = True  # classification: each class split in the same proportions
    # a folder of files: a regular expression on each file's name whose first group (or
    # whole match) names the file's group (a speaker, a patient); whole groups go to one
    # part, so val and test measure groups never seen in training
    groups: str | None = None

    @field_validator("groups")
    @classmethod
    def _pattern(cls, v):
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"not a regular expression ({e}); e.g. '^([^_]+)_' takes "
                                 "the name up to its first underscore") from None
        return v

    @field_validator("val", "test")
    @classmethod
    def _file(cls, v):
        if isinstance(v, str) and file_kind(v) not in SPLIT_FILES:
            raise ValueError(f"a fraction, a file ({', '.join(SPLIT_FILES)}) or "
                             f"{{column: NAME, value: ...}}; got {v!r}")
        return v

    @model_validator(mode="after")
    def _leaves_training_data(self) -> Split:
        fractions = [p for p in (self.val, self.test) if isinstance(p, float | int)]
        if sum(fractions) >= 1:
            raise ValueError(f"val + test must be below 1 to leave training data; got {self}")
        if self.groups is not None and len(fractions) < 2:
            raise ValueError("groups splits a folder by fractions; a file or column part "
                             "is for tables and .npz arrays")
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
    # words; or subwords (SentencePiece's BPE or unigram model, trained on the training
    # split, `subwords` pieces): a rare word is read as pieces the model knows
    tokenizer: Literal["words", "bpe", "unigram"] = "words"
    subwords: Annotated[int, Field(ge=50)] = 8000
    ngrams: Annotated[int, Field(ge=1, le=3)] = 1  # 2: word pairs too (fastText's bigrams)


class Interactions(Section):
    """Implicit feedback (deepnet.data.interactions): a table of (user, item) interactions
    becomes labelled rows with sampled negatives, each user's last interaction held out
    for test (and the one before for validation), ranked among `eval_negatives` items."""

    main: ClassVar[str] = "user"
    user: str = "user"
    item: str = "item"
    time: str | None = None  # orders each user's interactions (default: the table's order)
    negatives: PositiveInt = 4  # items drawn per training interaction, label 0
    eval_negatives: PositiveInt | Literal["all"] = 99  # per held-out item
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0  # draws the negatives


class Series(Section):
    """A time series to forecast (deepnet.data.series): windows of `window` steps of the
    `columns`, each followed by the next `horizon` values of `target`; the split is by
    time (data.split's val and test are shares of the steps, the latest ones)."""

    main: ClassVar[str] = "columns"
    columns: list[str] | None = None  # default: every numeric column (a data set's series)
    target: str | None = None  # the column forecast (default: the first of columns)
    window: PositiveInt = 52  # steps seen
    horizon: PositiveInt = 1  # steps forecast
    stride: PositiveInt = 1  # steps between one window and the next
    season: PositiveInt = 1  # the seasonal period: MASE's scale is the seasonal naive error

    @field_validator("columns", mode="before")
    @classmethod
    def _one(cls, v):  # `series: co2` is `series: {columns: [co2]}`
        return [v] if isinstance(v, str) else v


class Audio(Section):
    """A folder of sound files (root/<class>/*.wav): each decoded to mono, resampled to
    `sample_rate` and cut or padded with silence at its end to `seconds`."""

    main: ClassVar[str] = "sample_rate"
    sample_rate: Annotated[int, Field(ge=1000, le=192000)] = DEFAULT_RATE
    seconds: Annotated[float, Field(gt=0, le=60)] = DEFAULT_SECONDS
    resample: bool = True  # False: a file at another rate is an error


class Embedding(Section):
    """`city: {embedding: 8}`: a categorical column through an embedding of that width."""

    embedding: PositiveInt


Categorical = Literal["onehot", "ordinal", "embedding"] | Embedding


class Data(Section):
    main: ClassVar[str] = "source"
    # a built-in name, synthetic, or a path: .csv/.parquet, .npz, image folder; `memory`
    # (or unset) for data passed in Python: deepnet.train(spec, data=df)
    source: str | None = None
    target: str | None = None  # a table's target column (default: target or label)
    features: list[str] | None = None  # a table's feature columns (default: all others)
    # per-column: onehot, ordinal, or embedding (`{embedding: 8}` gives its width)
    categorical: dict[str, Categorical] = {}
    # a model of several inputs: the columns of each (default: the column of its name)
    inputs: dict[str, list[str]] | None = None
    interactions: Interactions | None = None  # a table of implicit feedback
    series: Series | None = None  # a time series to forecast
    onehot_max: PositiveInt = 20  # more categories than this: ordinal codes by default
    missing: Literal["error", "drop", "impute"] = "error"
    text: Text | None = None  # set for a text table (`text: review`)
    image_size: PositiveInt | tuple[PositiveInt, PositiveInt] | None = None  # (height, width)
    channels: Literal[1, 3] | None = None  # images: default from the first image
    audio: Audio | None = None  # a folder of sound files (default settings when it holds .wav)
    synthetic: Synthetic = Synthetic()
    stream: bool = False  # read batches from disk with a DataLoader (automatic when large)
    workers: Annotated[int, Field(ge=0)] = 2  # DataLoader worker processes when streaming
    split: Split = Split()
    normalize: Literal["none", "standard", "minmax"] = "standard"
    # sequence: an (N, T) array or a table's feature columns are read as N sequences of
    # T steps of one feature, (N, T, 1), and (N, T, F) as it is: normalised per feature
    # over the samples and the steps (auto: a 2-D array is a table, per column)
    layout: Literal["auto", "sequence"] = "auto"
    augment: list[Augment] = []

    @field_validator("inputs", mode="before")
    @classmethod
    def _one_column(cls, v):  # `user: user_id` is `user: [user_id]`
        return {k: [c] if isinstance(c, str) else c for k, c in v.items()} \
            if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _inputs(self) -> Data:
        if self.inputs is not None and self.features is not None:
            raise ValueError("data.features and data.inputs both choose the feature columns: "
                             "a model of several inputs (model.inputs) takes each input's "
                             "columns from data.inputs (by default the column of the "
                             "input's name); drop data.features")
        if self.interactions is not None and self.split != Split():  # (a saved spec has it)
            raise ValueError("data.split does not apply to data.interactions, which holds out "
                             "each user's last interaction for test and the one before for "
                             "validation: remove data.split (or leave its defaults)")
        for name, columns in (self.inputs or {}).items():
            if not columns:
                raise ValueError(f"data.inputs.{name} lists no column")
        return self
