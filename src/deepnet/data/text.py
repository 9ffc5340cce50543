"""Text tables: a column of text and a label column, as padded token ids.

Tokens are words by default: lowercased runs of letters, digits and apostrophes ("isn't"
is one word). With `text.tokenizer: bpe` (or `unigram`) they are the subwords of a
SentencePiece model trained on the lowercased training texts only (Kudo and Richardson,
2018: a well-kept C++ library with no other dependency; `subwords` pieces), so a word
never seen in training is still read as pieces the model knows; the model is saved with
the run (TextEncoding.model). With `ngrams: 2` (or 3) each token is followed by the
pair (and triple) of tokens that ends at it, as fastText adds bigrams to its bag.

The vocabulary is fitted on the training split only: id 0 pads, id 1 stands for a token
that is unknown or rarer than `min_freq`, then the tokens by falling frequency (ties by
spelling) up to `vocab_size` ids in all. A text longer than `max_len` tokens keeps its
first `max_len`; a shorter one is padded on the left, so that a recurrent layer's last
step sees the last token.
"""

from __future__ import annotations

import base64
import functools
import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepnet.core.errors import DataError
from deepnet.data.checks import BadValues, check_not_empty, encode_target, shown, typed_labels
from deepnet.data.dataset import Dataset
from deepnet.data.encoding import TextEncoding
from deepnet.data.tables import drop_missing, find_target, read_frame, require_columns

PAD, UNKNOWN = "<pad>", "<unk>"
_WORD = re.compile(r"[\w']+")


def tokenize(text: str) -> list[str]:
    """The words of a text, lowercased."""
    return _WORD.findall(str(text).lower())


def with_ngrams(tokens: list[str], n: int) -> list[str]:
    """Each token followed by the runs of 2..n tokens that end at it."""
    if n == 1:
        return tokens
    out = []
    for i, t in enumerate(tokens):
        out.append(t)
        out += [" ".join(tokens[i - k + 1:i + 1]) for k in range(2, n + 1) if i - k + 1 >= 0]
    return out


@dataclass(frozen=True)
class Tokenizer:
    """Text -> tokens: words, or the pieces of a SentencePiece model (its serialised
    proto), then n-grams of them."""

    kind: str = "words"
    model: bytes | None = None
    ngrams: int = 1

    @classmethod
    def fit(cls, settings, texts) -> Tokenizer:
        """The tokenizer of spec section data.text, its subword model (if any) trained
        on `texts` (the training split's)."""
        if settings.tokenizer == "words":
            return cls("words", None, settings.ngrams)
        spm = _sentencepiece()
        out = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter([str(t).lower() for t in texts]), model_writer=out,
            model_type=settings.tokenizer, vocab_size=settings.subwords,
            hard_vocab_limit=False, character_coverage=1.0, num_threads=1,
            shuffle_input_sentence=False, max_sentence_length=1 << 16, bos_id=-1,
            eos_id=-1, unk_id=0, minloglevel=2)
        return cls(settings.tokenizer, out.getvalue(), settings.ngrams)

    @classmethod
    def of(cls, encoding: TextEncoding) -> Tokenizer:
        """The tokenizer a run was trained with."""
        model = base64.b64decode(encoding.model) if encoding.model else None
        return cls(encoding.tokenizer or "words", model, encoding.ngrams or 1)

    def saved(self) -> dict:
        """Its fields of a TextEncoding (none for words alone, as runs always saved)."""
        return {"tokenizer": None if self.kind == "words" else self.kind,
                "model": base64.b64encode(self.model).decode() if self.model else None,
                "ngrams": None if self.ngrams == 1 else self.ngrams}

    @functools.cached_property
    def _processor(self):
        return _sentencepiece().SentencePieceProcessor(model_proto=self.model)

    def docs(self, texts) -> list[list[str]]:
        """The tokens of each text."""
        texts = [str(t).lower() for t in texts]
        base = [tokenize(t) for t in texts] if self.model is None else \
            self._processor.encode(texts, out_type=str, num_threads=1)
        return [with_ngrams(d, self.ngrams) for d in base]


def _sentencepiece():
    try:
        import sentencepiece
    except ImportError:
        raise DataError("data.text.tokenizer bpe and unigram need sentencepiece, which is not "
                        "installed: pip install -c constraints.txt 'deepnet[text]'") from None
    return sentencepiece


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
    check_words(texts, [tokenize(t) for t in texts], where, settings.column, rows)

    def build(train: np.ndarray) -> Dataset:
        tokenizer = Tokenizer.fit(settings, texts[train])
        docs = tokenizer.docs(texts)
        vocab = fit_vocabulary([docs[i] for i in train], settings.min_freq, settings.vocab_size)
        x = encode_texts(docs, vocab, settings.max_len)
        encoding = TextEncoding(settings.column, vocab, settings.max_len, target,
                                **tokenizer.saved())
        return Dataset(x, y, task, classes, where, rows, encoding, refit=build,
                       labels=labels)

    return build(np.arange(len(frame)))
