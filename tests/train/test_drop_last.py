"""train.drop_last (issue 22): by default every training row is trained on each epoch (a
last batch of one row, which batch normalisation cannot take, joins the one before);
`drop_last: true` trains on full batches only. results.json says how many rows an epoch
trained on."""

import numpy as np
import pytest
import torch

import deepnet
from deepnet.data.batches import InMemory, batch_bounds


def test_bounds_keep_every_row_unless_asked():
    every = batch_bounds(3601, 100)
    assert len(every) == 36 and every[-1] == (3500, 3601)  # the 1-row batch joined
    assert sum(b - a for a, b in every) == 3601
    full = batch_bounds(3601, 100, drop_last=True)
    assert len(full) == 36 and all(b - a == 100 for a, b in full)
    assert batch_bounds(3650, 100)[-1] == (3600, 3650)  # a short batch of 50 stays
    assert len(batch_bounds(3650, 100, drop_last=True)) == 36
    assert batch_bounds(1, 100) == [(0, 1)] and batch_bounds(1, 100, drop_last=True) == []


def test_shuffled_batches_cover_each_row_once():
    x = torch.arange(301.0).reshape(-1, 1)
    for drop_last, rows in ((False, 301), (True, 300)):
        b = InMemory(x.numpy(), np.zeros(301), 100, torch.device("cpu"), drop_last)
        seen = torch.cat([xb[:, 0] for xb, _ in b.batches(torch.Generator().manual_seed(0))])
        assert len(seen) == rows == b.rows_per_epoch and len(set(seen.tolist())) == rows
        assert len(b) == 3
    ordered = InMemory(x.numpy(), np.zeros(301), 100, torch.device("cpu"), True)
    assert sum(len(xb) for xb, _ in ordered.batches()) == 301  # evaluation: every row


def _spec(batch_size: int, drop_last: bool) -> dict:
    return {"name": "d", "seed": 0, "task": "classification",
            "data": {"source": "memory", "split": {"val": 0.2, "test": 0.2}},
            "model": {"layers": [{"dense": {"units": 8, "activation": "relu"}},
                                 {"batchnorm": {}}, {"dense": 2}]},
            "train": {"epochs": 1, "batch_size": batch_size, "drop_last": drop_last}}


def test_a_run_says_how_many_rows_an_epoch_trained(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((100, 4)).astype(np.float32), rng.integers(0, 2, 100))
    run = deepnet.train(_spec(64, False), data=data, out=tmp_path / "a", quiet=True,
                        report=False)
    n = run.results.samples["train"]
    assert run.results.rows_per_epoch == n
    bs = n - 1  # a last batch of one row, with batchnorm in the network
    run = deepnet.train(_spec(bs, False), data=data, out=tmp_path / "b", quiet=True,
                        report=False)
    assert run.results.rows_per_epoch == n
    run = deepnet.train(_spec(bs, True), data=data, out=tmp_path / "c", quiet=True,
                        report=False)
    assert run.results.rows_per_epoch == bs
    with pytest.raises(deepnet.DataError, match=r"train.drop_last: the training split has "
                       rf"{n} rows, fewer than one batch of {n + 1}") as e:
        deepnet.train(_spec(n + 1, True), data=data, out=tmp_path / "d", quiet=True)
    assert e.value.path == "train.drop_last" and not (tmp_path / "d").exists()
