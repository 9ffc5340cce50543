"""Text tables: a column of text and a label column, as padded word ids.

Words are lowercased runs of letters, digits and apostrophes ("isn't" is one word). The
vocabulary is fitted on the training split only: id 0 pads, id 1 stands for a word that
is unknown or rarer than `min_freq`, then the words by falling frequency (ties by
spelling) up to `vocab_size` ids in all. A text longer than `max_len` words keeps its
first `max_len`; a shorter one is padded on the left, so that a recurrent layer's last
step sees the last word.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from deepnet.data.checks import BadValues, check_not_empty, encode_target, shown, typed_labels
from deepnet.data.dataset import Dataset
from deepnet.data.encoding import TextEncoding
from deepnet.data.tables import drop_missing, find_target, read_frame, require_columns

PAD, UNKNOWN = "<pad>", "<unk>"
_WORD = re.compile(r"[\w']+")


def tokenize(text: str) -> list[str]:
    return _WORD.findall(str(text).lower())


def check_words(texts, docs: list[list[str]], where: str, column: str,
                rows: np.ndarray | None = None) -> None:
    """A DataError listing the texts (not missing ones) that hold no word at all: a model
    would see only padding for them."""
    empty = [i for i, (t, d) in enumerate(zip(texts, docs, strict=True))
             if not d and isinstance(t, str) and t != ""]
    problems = BadValues(where, rows)
    problems.add(len(empty), ((i, f"column {column!r}", f"the text {shown(texts[i])} has no "
                               "word (letters, digits or apostrophes)") for i in empty),
                 "a text of no words gives the model nothing to read: fix or remove it")
    problems.raise_all()


def fit_vocabulary(docs: list[list[str]], min_freq: int, vocab_size: int) -> list[str]:
    """Words by id: padding, unknown, then the most frequent training words."""
    counts = Counter(w for doc in docs for w in doc)
    words = sorted((w for w, k in counts.items() if k >= min_freq),
                   key=lambda w: (-counts[w], w))
    return [PAD, UNKNOWN, *words[: vocab_size - 2]]


def encode_texts(docs: list[list[str]], vocab: list[str], max_len: int) -> np.ndarray:
    """(N, max_len) int64 word ids, left-padded with 0."""
    index = {w: i for i, w in enumerate(vocab)}
    out = np.zeros((len(docs), max_len), dtype=np.int64)
    for r, doc in enumerate(docs):
        ids = [index.get(w, 1) for w in doc[:max_len]]
        if ids:
            out[r, max_len - len(ids):] = ids
    return out


def load_text(data, path: Path, task: str | None = None) -> Dataset:
    return load_text_frame(data, read_frame(path), str(path), task)


def load_text_frame(data, frame, where: str, task: str | None = None) -> Dataset:
    """A text table (read from a file, or a user's DataFrame) as a Dataset of token ids."""
    settings = data.text
    frame = frame.copy()
    check_not_empty(len(frame), where)
    require_columns(frame, [settings.column], where, "text")
    target = find_target(data, frame, where)
    if data.missing == "impute":  # an empty text is a text of no words
        frame[settings.column] = frame[settings.column].fillna("")
    frame, rows = drop_missing(data, frame, [settings.column, target], target, where)
    y, classes, task = encode_target(frame[target].to_numpy(), task, where, target, rows)
    labels = typed_labels(frame[target].to_numpy(), classes)
    texts = frame[settings.column].to_numpy()
    docs = [tokenize(t) for t in texts]
    check_words(texts, docs, where, settings.column, rows)

    def build(train: np.ndarray) -> Dataset:
        vocab = fit_vocabulary([docs[i] for i in train], settings.min_freq, settings.vocab_size)
        x = encode_texts(docs, vocab, settings.max_len)
        encoding = TextEncoding(settings.column, vocab, settings.max_len, target)
        return Dataset(x, y, task, classes, where, rows, encoding, refit=build,
                       labels=labels)

    return build(np.arange(len(frame)))
