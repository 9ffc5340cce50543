"""The embeddingbag layer's tf-idf weighting against scikit-learn's TfidfVectorizer on the
same token ids: its output must be the tf-idf matrix times its embedding table, the idf
fitted on the training texts only (and a training run fits it on its training split)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from sklearn.feature_extraction.text import TfidfVectorizer

import deepnet
from deepnet.core.errors import DeepnetError
from deepnet.data.prepare import prepare
from deepnet.nn.build import build_model
from deepnet.nn.shaping import EmbeddingBag, adapt, token_counts

VOCAB, TIME = 30, 12


def _texts(rows: int, seed: int) -> np.ndarray:
    """Left-padded token ids (0 pads, 1 is unknown) with repeated tokens, as data.text
    makes them; row 0 holds the unknown id alone."""
    g = np.random.default_rng(seed)
    out = np.zeros((rows, TIME), dtype=np.int64)
    for r in range(rows):
        n = int(g.integers(1, TIME + 1))
        out[r, TIME - n:] = g.integers(1, 8 if r % 3 else VOCAB, n)  # small ids repeat
    out[0, :] = 0
    out[0, -1] = 1
    return out


def _layer(weights: str = "tfidf") -> EmbeddingBag:
    spec = deepnet.Spec.from_dict({"data": "synthetic", "model": {"layers": [
        {"embeddingbag": {"vocab": VOCAB, "dim": 6, "weights": weights}}]}})
    model, rows = build_model(spec.model.layers, (TIME,), seed=0)
    assert rows[0].output_shape == (6,)
    return model


def _sklearn(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """TfidfVectorizer's matrix over the known ids 2.. (column j is id j + 2): padding is
    no word, and the unknown id 1 is a word outside its vocabulary."""
    words = lambda ids: [" ".join(str(i) for i in row if i != 0) for row in ids]  # noqa: E731
    vec = TfidfVectorizer(sublinear_tf=True, token_pattern=r"\S+", lowercase=False,
                          vocabulary={str(i): i - 2 for i in range(2, VOCAB)})
    vec.fit(words(train))
    return vec.transform(words(test)).toarray()


def test_tfidf_matches_scikit_learn_fitted_on_the_training_texts():
    train, test = _texts(40, seed=1), _texts(15, seed=2)
    model = _layer()
    adapt(model, torch.as_tensor(train))
    bag = model[0]
    table = bag.weight.detach().numpy()[2:]
    expected = _sklearn(train, test) @ table
    with torch.no_grad():
        got = model(torch.as_tensor(test)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # the idf is the training texts': refitted on the test texts, it differs
    assert not np.allclose(_sklearn(test, test) @ table, got, atol=1e-4)
    assert not got[0].any()  # row 0 holds only the unknown id: nothing to read


def test_idf_is_saved_with_the_weights_and_padding_weighs_nothing():
    train = _texts(40, seed=1)
    model = _layer()
    adapt(model, torch.as_tensor(train))
    state = model.state_dict()
    assert set(state) == {"0.weight", "0.idf"}
    again = _layer()
    again.load_state_dict(state)
    x = torch.as_tensor(train[:5])
    torch.testing.assert_close(again(x), model(x))
    padded = torch.cat([torch.zeros(5, 4, dtype=torch.long), x[:, 4:]], 1)
    shifted = torch.cat([x[:, 4:], torch.zeros(5, 4, dtype=torch.long)], 1)
    torch.testing.assert_close(model(padded), model(shifted))  # order and padding: no matter


@pytest.mark.parametrize("weights", ["tfidf", "mean"])
def test_a_row_of_padding_gives_zeros_not_nan(weights):
    with torch.no_grad():
        out = _layer(weights)(torch.zeros(2, TIME, dtype=torch.long))
    assert torch.equal(out, torch.zeros(2, 6))


def test_token_counts():
    x = torch.tensor([[0, 0, 5, 3, 5, 5, 2], [1, 2, 3, 4, 4, 0, 0]])
    assert token_counts(x).tolist() == [[2, 2, 3, 1, 3, 3, 1], [1, 1, 1, 2, 2, 2, 2]]


def test_training_fits_the_idf_on_the_training_split_only(tmp_path):
    g = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    texts = [" ".join(g.choice(words, g.integers(2, 9))) for _ in range(120)]
    frame = pd.DataFrame({"text": texts, "label": g.integers(0, 2, 120)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    spec = deepnet.Spec.from_dict({"name": "bag", "data": {
        "source": str(tmp_path / "t.csv"), "target": "label", "text": {"max_len": 8}},
        "model": {"layers": [{"embeddingbag": {"vocab": 60, "dim": 4}}, {"dense": 2}]},
        "train": {"epochs": 1}})
    run = deepnet.train(spec, out=tmp_path / "run", quiet=True, report=False)
    saved = load_file(str(tmp_path / "run" / "model.safetensors"))
    idf = next(v for k, v in saved.items() if k.endswith("idf"))
    prepared = prepare(spec)
    bag = EmbeddingBag(60, 4, "tfidf", torch.Generator())
    bag.adapt(torch.as_tensor(prepared.arrays("train")[0]))
    assert torch.equal(idf, bag.idf)
    bag.adapt(torch.as_tensor(prepared.dataset.x))  # validation and test rows too: differs
    assert not torch.equal(idf, bag.idf)
    assert run.results.epochs == 1


def test_an_embeddingbag_must_be_the_first_layer():
    spec = deepnet.Spec.from_dict({"data": "synthetic", "model": {"layers": [
        {"dense": 4}, {"embeddingbag": {"vocab": 10}}]}})
    with pytest.raises(DeepnetError, match=r"model.layers\[1\]: embeddingbag reads the data's "
                                           r"token ids, so it must be the first layer"):
        build_model(spec.model.layers, (TIME,), seed=0)


def test_adapt_refuses_ids_outside_the_vocabulary():
    bag = EmbeddingBag(VOCAB, 4, "tfidf", torch.Generator())
    with pytest.raises(ValueError, match=r"\[0, 30\); got 0 to 30"):
        bag.adapt(torch.tensor([[0, 5, VOCAB]]))
