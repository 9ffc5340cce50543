"""Sequence augmentation (issue 22, item 3): roll, slide, window and stretch resample each
sample's time axis at positions drawn from the checkpointed generator, so the same seed
gives the same batches and a resumed run is bit-identical; the length never changes; they
are refused on data that are not sequences, naming data.augment[i]."""

import numpy as np
import pytest
import torch

import deepnet
from deepnet.data.augment import AUGMENTS, make_augment, resample

N, T, F = 64, 20, 2


def _item(kind: str, value):
    spec = deepnet.Spec.from_dict({"data": {"source": "digits", "augment": [{kind: value}]},
                                   "model": [{"dense": 2}]})
    return spec.data.augment


def _run(kind: str, value, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    fn = make_augment(_item(kind, value), (T, F), preprocess=None)
    return fn(x, torch.Generator().manual_seed(seed))


def _ramp() -> torch.Tensor:  # x[i, t, f] = t + 100 f: positions can be read off it
    t = torch.arange(T, dtype=torch.float32)[None, :, None]
    return (t + 100 * torch.arange(F)[None, None, :]).expand(N, T, F).contiguous()


def test_roll_is_a_circular_shift_of_each_sample():
    x = torch.randn(N, T, F, generator=torch.Generator().manual_seed(1))
    out = _run("roll", 3, x)
    shifts = []
    for i in range(N):
        k = next(k for k in range(-3, 4) if torch.equal(out[i], torch.roll(x[i], k, dims=0)))
        shifts.append(k)
    assert set(shifts) == set(range(-3, 4))  # every shift drawn across 64 samples
    assert torch.equal(out, _run("roll", 3, x))  # seeded
    assert not torch.equal(out, _run("roll", 3, x, seed=1))


def test_slide_repeats_the_edge_value():
    out = _run("slide", 4, _ramp())[:, :, 0]
    for row in out:
        k = int(row[T // 2] - T // 2)  # the shift, read off the ramp
        assert -4 <= k <= 4
        want = (torch.arange(T, dtype=torch.float32) + k).clamp(0, T - 1)
        assert torch.equal(row, want)


def test_window_and_stretch_keep_the_length_and_read_inside_the_sample():
    ramp = _ramp()
    win = _run("window", 0.5, ramp)[:, :, 0]
    assert win.shape == (N, T)
    slopes = win[:, 1:] - win[:, :-1]
    assert torch.allclose(slopes, torch.full_like(slopes, 0.5), atol=1e-5)  # half the steps
    assert win[:, 0].min() >= 0 and win[:, -1].max() <= T - 1
    assert win[:, 0].unique().numel() > 10  # the window's place is drawn per sample
    assert torch.equal(_run("window", 1.0, ramp), ramp)  # the whole: unchanged
    assert torch.equal(_run("stretch", (1.0, 1.0), ramp), ramp)
    st = _run("stretch", (2.0, 2.0), ramp)[:, :, 0]  # twice as slow about the middle
    middle = st[:, T // 2 - 2:T // 2 + 3]
    assert torch.allclose(middle[:, 1:] - middle[:, :-1], torch.full((N, 4), 0.5))
    assert torch.allclose(resample(ramp, torch.full((N, T), 2.25))[:, :, 1],
                          torch.full((N, T), 102.25))  # every feature, interpolated


def test_refused_where_the_data_are_not_sequences():
    for shape, words in (((64,), "a table"), ((1, 8, 8), "images")):
        with pytest.raises(deepnet.SpecError, match=rf"data.augment\[0\]: roll is a sequence "
                           rf"augmentation .* {words}"):
            make_augment(_item("roll", 2), shape, preprocess=None)
    with pytest.raises(deepnet.SpecError, match="window"):
        _item("window", 0)  # a window of no steps
    assert {"roll", "slide", "window", "stretch"} <= set(AUGMENTS)


def test_a_run_with_every_sequence_step_resumes_bit_exactly(tmp_path):
    class Interrupt(deepnet.Callback):
        def on_epoch_end(self, trainer, logs):
            if logs["epoch"] == 2:
                raise KeyboardInterrupt

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = (np.sin(np.linspace(0, 6, 30)[None, :] * (1 + y[:, None])) +
         rng.normal(0, 0.3, (200, 30))).astype(np.float32)
    np.savez(tmp_path / "s.npz", x=x, y=y)
    spec = {"name": "s", "seed": 0, "data": {
        "source": str(tmp_path / "s.npz"), "layout": "sequence",
        "augment": [{"roll": 2}, {"slide": 2}, {"window": 0.9}, {"stretch": [0.9, 1.1]},
                    {"noise": 0.05}]},
        "model": [{"conv1d": {"filters": 4, "kernel": 3, "activation": "relu"}},
                  {"globalavgpool": {}}, {"dense": 2}],
        "train": {"epochs": 4, "batch_size": 32, "early_stopping": None}}
    whole = deepnet.train(spec, out=tmp_path / "whole", quiet=True, report=False)
    with pytest.raises(KeyboardInterrupt):
        deepnet.train(spec, out=tmp_path / "part", quiet=True, report=False,
                      callbacks=[Interrupt()])
    resumed = deepnet.train(None, resume=tmp_path / "part", quiet=True, report=False)
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["train_loss"] for h in whole.history] == [h["train_loss"] for h in resumed.history]
