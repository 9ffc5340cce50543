"""The embeddingbag layer's tf-idf weighting against scikit-learn's TfidfVectorizer on the
same token ids: its output must be the tf-idf matrix times its embedding table, the idf
fitted on the training texts only."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

import deepnet
from deepnet.nn.build import build_model
from deepnet.nn.shaping import EmbeddingBag, adapt, token_counts

VOCAB, TIME = 30, 12


def _texts(rows: int, seed: int) -> np.ndarray:
    """Left-padded token ids (0 pads, 1 is unknown) with repeated tokens, as data.text
    makes them; a few rows of one token, one of unknown tokens only."""
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
    words = lambda ids: [" ".join(str(i) for i in row if i != 0) for row in ids]  # noqa: E731
    vec = TfidfVectorizer(sublinear_tf=True, token_pattern=r"\S+", lowercase=False,
                          vocabulary={str(i): i for i in range(VOCAB)})
    vec.fit(words(train))
    return vec.transform(words(test)).toarray()


def test_tfidf_matches_scikit_learn_fitted_on_the_training_texts():
    train, test = _texts(40, seed=1), _texts(15, seed=2)
    model = _layer()
    adapt(model, torch.as_tensor(train))
    bag = model[0]
    expected = _sklearn(train, test) @ bag.weight.detach().numpy()
    with torch.no_grad():
        got = model(torch.as_tensor(test)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # the idf is the training texts': refitted on the test texts, it differs
    assert not np.allclose(_sklearn(test, test) @ bag.weight.detach().numpy(), got, atol=1e-4)


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
