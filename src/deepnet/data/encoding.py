"""How raw files become a model's inputs: the encoding every data source returns with
its Dataset, saved with the trained model, and read back by `predict` and `evaluate
--data` (deepnet.data.inputs) to encode new files the way training did.

    ArrayEncoding()                              an .npz of x, a built-in array set
    TableEncoding(target, columns)               a table, column by column
    TextEncoding(column, vocab, max_len, target) a text column, tokenised
    ImageEncoding(size, channels)                an image folder, decoded
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field

from deepnet.core.records import JsonRecord


@dataclass(frozen=True)
class ArrayEncoding(JsonRecord):
    """Arrays taken as they are."""

    kind: Literal["array"] = "array"


@dataclass(frozen=True)
class TableEncoding(JsonRecord):
    """A table: `columns` are {name, type: numeric|ordinal|onehot, categories, fill}, in
    the order of the model's features (deepnet.data.tables.encode_frame)."""

    target: str | None = None
    columns: list[dict[str, Any]] = field(default_factory=list)
    kind: Literal["table"] = "table"


@dataclass(frozen=True)
class TextEncoding(JsonRecord):
    """A text column, tokenised into `max_len` word ids of `vocab` (0 pads, 1 unknown)."""

    column: str
    vocab: list[str]
    max_len: int
    target: str | None = None
    kind: Literal["text"] = "text"


@dataclass(frozen=True)
class ImageEncoding(JsonRecord):
    """Images decoded to (channels, *size)."""

    size: tuple[int, int]
    channels: int
    kind: Literal["image"] = "image"


Encoding = Annotated[ArrayEncoding | TableEncoding | TextEncoding | ImageEncoding,
                     Field(discriminator="kind")]


@dataclass(frozen=True)
class _Saved(JsonRecord):
    encoding: Encoding


def encoding_from_json(d: Any) -> Encoding:
    """The encoding of its JSON; None or {} (runs before encodings were saved) is an
    array. ValueError naming the problem otherwise."""
    return _Saved.from_json({"encoding": d or {"kind": "array"}}).encoding
