"""How raw files become a model's inputs: the encoding every data source returns with
its Dataset, saved with the trained model, and read back by `predict` and `evaluate
--data` (deepnet.data.inputs) to encode new files the way training did.

    ArrayEncoding()                              an .npz of x, a built-in array set
    TableEncoding(target, columns)               a table, column by column (Column)
    TextEncoding(column, vocab, max_len, target) a text column, tokenised
    ImageEncoding(size, channels)                an image folder, decoded
    AudioEncoding(sample_rate, samples)          a folder of WAV files, decoded

and then the preprocessing fitted on the training split (deepnet.data.transforms), saved
as a PreprocessRecord.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from deepnet.core.records import JsonRecord

Bounds = tuple[float, float]
Mode = Literal["none", "standard", "minmax"]  # data.normalize


def _omit_none(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    """A record's JSON without the optional `keys` that are None, as runs saved before
    those keys existed (so their JSON reads and hashes the same)."""
    for key in keys:
        if d.get(key, 0) is None:
            del d[key]
    return d


@dataclass(frozen=True)
class ArrayInput(JsonRecord):
    """One input of a model of several inputs read from an .npz: its array and the
    shape of one sample of it."""

    array: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ArrayEncoding(JsonRecord):
    """Arrays taken as they are; for a model of several inputs (`inputs`), the named
    arrays of an .npz, each sample's flattened and side by side (pack_arrays)."""

    kind: Literal["array"] = "array"
    inputs: dict[str, ArrayInput] | None = None

    @model_serializer(mode="wrap")
    def _saved(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _omit_none(handler(self), "inputs")


def pack_arrays(arrays: dict[str, Any], inputs: dict[str, ArrayInput] | None = None
                ) -> Any:
    """The arrays of a model's inputs (N, *shape each) as one (N, features) array, each
    sample's flattened in the order of `arrays` (or of `inputs`, whose shapes they must
    have: ValueError naming the input otherwise)."""
    order = list(inputs) if inputs is not None else list(arrays)
    parts = []
    for name in order:
        a = np.asarray(arrays[name])
        if inputs is not None and tuple(a.shape[1:]) != tuple(inputs[name].shape):
            raise ValueError(f"input {name!r} (array {inputs[name].array!r}) has samples of "
                             f"shape {tuple(a.shape[1:])}; the run was trained on "
                             f"{tuple(inputs[name].shape)}")
        parts.append(a.reshape(len(a), -1).astype(np.float32))
    return np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class Column(JsonRecord):
    """One feature column of a table: `numeric` is taken as a number, `onehot` is one
    input per category, `ordinal` one input, the category's index in `categories`,
    `embedding` one input, 1 + that index (0: a category not seen in training), which the
    network looks up in an embedding of `dim` (None: the rule of deepnet.nn.inputs).
    `fill` replaces a missing value (the training rows' median or most common category,
    data.missing: impute); None, a missing value is an error. Its JSON leaves out `fill`
    when None and `categories` of a numeric column, as runs have always saved it."""

    name: str
    type: Literal["numeric", "ordinal", "onehot", "embedding"] = "numeric"
    categories: list[str] = field(default_factory=list)  # sorted; not for numeric
    fill: float | str | None = None  # a number for numeric, a category otherwise
    dim: int | None = None  # embedding only: its width when the spec gives one

    @model_serializer(mode="wrap")
    def _saved(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        d = _omit_none(handler(self), "fill", "dim")
        if self.type == "numeric":
            del d["categories"]
        return d


@dataclass(frozen=True)
class TableEncoding(JsonRecord):
    """A table: `columns` in the order of the model's features
    (deepnet.data.tables.encode_frame); `inputs`, for a model of several inputs, the
    columns of each (data.inputs), in the same order."""

    target: str | None = None
    columns: list[Column] = field(default_factory=list)
    kind: Literal["table"] = "table"
    inputs: dict[str, list[str]] | None = None

    @model_serializer(mode="wrap")
    def _saved(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _omit_none(handler(self), "inputs")


@dataclass(frozen=True)
class TextEncoding(JsonRecord):
    """A text column, tokenised into `max_len` token ids of `vocab` (0 pads, 1 unknown):
    words, or the subwords of a SentencePiece `model` (its serialised proto in base64)
    trained on the training split; with `ngrams` > 1, each token followed by the runs of
    up to that many tokens that end at it (deepnet.data.text). Its JSON leaves out the
    keys at their defaults, as runs have always saved it."""

    column: str
    vocab: list[str]
    max_len: int
    target: str | None = None
    kind: Literal["text"] = "text"
    tokenizer: Literal["words", "bpe", "unigram"] | None = None  # None: words
    model: str | None = None
    ngrams: int | None = None  # None: 1

    @model_serializer(mode="wrap")
    def _saved(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _omit_none(handler(self), "tokenizer", "model", "ngrams")


@dataclass(frozen=True)
class ImageEncoding(JsonRecord):
    """Images decoded to (channels, *size)."""

    size: tuple[int, int]
    channels: int
    kind: Literal["image"] = "image"


@dataclass(frozen=True)
class AudioEncoding(JsonRecord):
    """Sound decoded to mono waveforms of `samples` at `sample_rate` (data.audio)."""

    sample_rate: int
    samples: int
    resample: bool = True
    kind: Literal["audio"] = "audio"


@dataclass(frozen=True)
class SeriesEncoding(JsonRecord):
    """A series' windows: the columns (the target first among them as given), the
    window, horizon and season, and each column's scale (MASE's, from the training
    period)."""

    columns: list[str]
    target: str
    window: int
    horizon: int
    season: int
    scale: list[float] = field(default_factory=list)
    kind: Literal["series"] = "series"

    def inputs(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scaled windows (N, window, columns), levels (N,) of the target) of raw
        windows (N, window, columns)."""
        last = values[:, -1:, :]
        scale = np.asarray(self.scale, np.float64)
        x = (values - last) / scale
        return x.astype(np.float32), last[:, 0, self.columns.index(self.target)]

    def decode(self, outputs: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """Forecasts in the series' units (N, horizon) of scaled outputs."""
        scale = self.scale[self.columns.index(self.target)]
        return outputs.reshape(len(outputs), -1) * scale + levels[:, None]


Encoding = Annotated[ArrayEncoding | TableEncoding | TextEncoding | ImageEncoding
                     | AudioEncoding | SeriesEncoding, Field(discriminator="kind")]


def feature_names(encoding: Encoding) -> list[str] | None:
    """The table column each model input comes from, in order (a onehot column gives one
    input per category); None when the inputs are not a table's."""
    if not isinstance(encoding, TableEncoding):
        return None
    return [c.name for c in encoding.columns for _ in range(_width(c))]


def _width(c: Column) -> int:
    """The model inputs of one column: one per category of a onehot column, else one."""
    return len(c.categories) if c.type == "onehot" else 1


def column_positions(encoding: TableEncoding) -> dict[str, list[int]]:
    """Each column's positions among the model's features (a onehot column has one per
    category)."""
    out, at = {}, 0
    for c in encoding.columns:
        out[c.name] = list(range(at, at + _width(c)))
        at += _width(c)
    return out


def embedded_positions(encoding: Encoding) -> list[int]:
    """The positions of the features that are codes of embedded columns (never
    normalised, never attacked)."""
    if not isinstance(encoding, TableEncoding):
        return []
    at = column_positions(encoding)
    return [at[c.name][0] for c in encoding.columns if c.type == "embedding"]


@dataclass(frozen=True)
class _Saved(JsonRecord):
    encoding: Encoding


def saved_encoding(d: Any) -> Any:
    """A saved encoding's JSON as this deepnet reads it: None or {} (runs from before
    encodings were saved) is an array."""
    return d or {"kind": "array"}


def encoding_from_json(d: Any) -> Encoding:
    """The encoding of its JSON (see saved_encoding); ValueError naming the problem
    otherwise."""
    return _Saved.from_json({"encoding": saved_encoding(d)}).encoding


# ----------------------------------------------------------------------------- preprocessing
@dataclass(frozen=True)
class InputTransformRecord(JsonRecord):
    """The saved input transformation (SqueezedPreprocess)."""

    bit_depth: int | None
    smoothing: int | None
    bounds: Bounds


@dataclass(frozen=True)
class PreprocessRecord(JsonRecord):
    """The saved preprocessing: `shift` and `scale` flattened from arrays of `shape` (one
    sample's, broadcast), and the input transformation when the run has one (its JSON
    has no `input_transform` key otherwise, as runs have always saved it)."""

    mode: Mode
    shape: tuple[int, ...]
    shift: list[float]
    scale: list[float]
    input_transform: InputTransformRecord | None = None

    @model_serializer(mode="wrap")
    def _saved(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _omit_none(handler(self), "input_transform")
