"""The streaming path (DataLoader) gives the same batches, and so the same training, as the
in-memory path."""

import numpy as np
import torch

import deepnet.data.prepare as prepare_module
from deepnet.app.train import train
from deepnet.data.batches import InMemory, Streaming
from deepnet.data.images import ImageFiles
from deepnet.data.prepare import prepare
from deepnet.spec import Spec
from factory import mlp_layers, spec_dict, synthetic_data


def spec_for(data: dict, layers=None, epochs=2) -> Spec:
    return Spec.from_dict(spec_dict(data, layers or mlp_layers(16, outputs=3), epochs=epochs,
                                    batch_size=32, seed=3, **{"train.early_stopping": None}))


SYNTH = synthetic_data(samples=301, features=5, classes=3)


def test_streaming_batches_equal_in_memory_batches():
    p = prepare(spec_for(SYNTH))
    x, y = p.arrays("train")
    cpu = torch.device("cpu")
    mem = InMemory(x, y, 32, cpu)
    p.stream = True
    stream = p.batches("train", 32, cpu)
    assert isinstance(stream, Streaming)
    assert len(stream) == len(mem) and stream.n == mem.n
    for seed in (None, 7):
        g1 = torch.Generator().manual_seed(seed) if seed is not None else None
        g2 = torch.Generator().manual_seed(seed) if seed is not None else None
        got = list(stream.batches(g2))
        want = list(mem.batches(g1))
        assert len(got) == len(want)
        for (xa, ya), (xb, yb) in zip(got, want, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
        if seed is not None:
            assert torch.equal(g1.get_state(), g2.get_state())


def test_stream_true_trains_exactly_like_in_memory(tmp_path):
    a = train(spec_for(SYNTH), out=tmp_path / "a", quiet=True)
    b = train(spec_for({**SYNTH, "stream": True, "workers": 1}), out=tmp_path / "b", quiet=True)
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
    assert a.results.test == b.results.test


def test_large_data_streams_automatically(monkeypatch):
    monkeypatch.setattr(prepare_module, "STREAM_BYTES", 1000)
    assert prepare(spec_for(SYNTH)).stream
    monkeypatch.setattr(prepare_module, "STREAM_BYTES", 1 << 30)
    assert not prepare(spec_for(SYNTH)).stream


def test_streamed_image_folder_is_read_from_disk(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("a", "b", "c"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 256, (6, 6), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / c / f"{i}.png")
    data = {"source": str(tmp_path / "imgs"), "stream": True, "workers": 2,
            "split": {"val": 0.25, "test": 0.25}}
    streamed, eager = prepare(spec_for(data)), prepare(spec_for({**data, "stream": False}))
    assert isinstance(streamed.dataset.x, ImageFiles) and streamed.stream
    assert isinstance(eager.dataset.x, np.ndarray) and not eager.stream
    np.testing.assert_allclose(streamed.preprocess.shift, eager.preprocess.shift, rtol=1e-5)
    np.testing.assert_allclose(streamed.preprocess.scale, eager.preprocess.scale, rtol=1e-5)
    np.testing.assert_array_equal(streamed.dataset.x[np.arange(36)], eager.dataset.x)
    run = train(spec_for(data, epochs=1), out=tmp_path / "run", quiet=True)
    assert run.results.samples["train"] == 18 and "accuracy" in run.results.test
