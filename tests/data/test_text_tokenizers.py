"""Subword tokenizers and n-grams of text tables: fitted on the training split only,
deterministic, saved with the run, and applied the same way by predict."""

import numpy as np
import pandas as pd
import pytest

import deepnet
from deepnet.cli import main
from deepnet.data.prepare import prepare
from deepnet.data.text import Tokenizer, with_ngrams

WORDS = ["network", "packet", "server", "client", "sound", "audio", "music", "player",
         "image", "photo", "editor", "graphics", "library", "python", "module", "binding"]


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(240):
        topic = i % 4
        words = rng.choice(WORDS[4 * topic:4 * topic + 4], 6).tolist()
        words += rng.choice(WORDS, 2).tolist()
        rows.append({"text": " ".join(words) + f" item{i}", "label": f"t{topic}"})
    path = tmp_path / "t.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def spec(path, **text):
    return deepnet.Spec.from_dict({
        "name": "t", "seed": 0, "task": "classification",
        "data": {"source": str(path), "target": "label",
                 "text": {"column": "text", "max_len": 32, "vocab_size": 400, **text}},
        "model": {"layers": [{"embedding": {"vocab": 400, "dim": 8}},
                             {"globalavgpool": {}}, {"dense": 4}]},
        "train": {"epochs": 3, "batch_size": 32}})


def test_ngrams_follow_the_token_they_end_at():
    assert with_ngrams(["a", "b", "c"], 1) == ["a", "b", "c"]
    assert with_ngrams(["a", "b", "c"], 2) == ["a", "b", "a b", "c", "b c"]
    assert with_ngrams(["a", "b", "c"], 3) == ["a", "b", "a b", "c", "b c", "a b c"]


def test_subwords_are_fitted_on_the_training_split_and_read_unseen_words(table):
    words = prepare(spec(table))
    bpe = prepare(spec(table, tokenizer="bpe", subwords=120))
    test = bpe.splits["test"]
    # "item<i>" of a test row never occurs in training: an unknown word, but known pieces
    assert (words.dataset.x[test] == 1).any(axis=1).all()
    assert not (bpe.dataset.x[test] == 1).any()
    enc = bpe.encoding
    assert enc.tokenizer == "bpe" and enc.model and enc.ngrams is None
    # trained on the training rows only: the same model as one trained on them alone
    texts = pd.read_csv(table).text.to_numpy()
    alone = Tokenizer.fit(spec(table, tokenizer="bpe", subwords=120).data.text,
                          texts[bpe.splits["train"]])
    assert alone.saved()["model"] == enc.model
    again = prepare(spec(table, tokenizer="bpe", subwords=120))
    assert again.encoding == enc and np.array_equal(again.dataset.x, bpe.dataset.x)


def test_a_words_runs_json_is_as_before(table):
    d = prepare(spec(table)).encoding.to_json()
    assert set(d) == {"column", "vocab", "max_len", "target", "kind"}


@pytest.mark.parametrize("text", [{"tokenizer": "bpe", "subwords": 120, "ngrams": 2},
                                  {"tokenizer": "unigram", "subwords": 120}, {"ngrams": 3}])
def test_predict_tokenises_as_training_did(table, tmp_path, capsys, text):
    run = deepnet.train(spec(table, **text), out=tmp_path / "run", quiet=True, report=False)
    prepared = prepare(run.spec)
    rows = prepared.splits["test"][:20]
    frame = pd.read_csv(table).iloc[rows]
    ours = run.predict_outputs(prepared.dataset.x[rows])
    np.testing.assert_allclose(run.predict_proba(frame.drop(columns="label")),
                               ours.softmax(1).numpy(), rtol=1e-5, atol=1e-6)
    frame.to_csv(tmp_path / "new.csv", index=False)
    assert main(["evaluate", str(run.path), "--data", str(tmp_path / "new.csv")]) == 0
    capsys.readouterr()
