"""The GPU speed paths, exercised on the CPU: autocast bf16/fp16 with a grad scaler, and
torch.compile."""

import pytest
import torch

import deepnet
from deepnet.train.setup import precision as _precision
from factory import cnn_spec, override

CNN = cnn_spec(epochs=4, batchnorm=True, name="p",
               **{"train.optimizer": {"name": "adam", "lr": 0.003}})


def test_precision_choices():
    cpu = torch.device("cpu")
    assert _precision("auto", cpu)[1] is None
    autocast, scaler = _precision("fp16", cpu)
    assert isinstance(scaler, torch.amp.GradScaler)
    with autocast():
        assert torch.get_autocast_dtype("cpu") == torch.float16
    autocast, scaler = _precision("bf16", cpu)
    assert scaler is None
    with autocast():
        y = torch.nn.Linear(4, 4)(torch.randn(2, 4))
    assert y.dtype == torch.bfloat16


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains(precision, tmp_path):
    spec = deepnet.Spec.from_dict(override(CNN, **{"train.precision": precision}))
    run = deepnet.train(spec, out=tmp_path / "r", quiet=True)
    assert run.results.stop_reason != "diverged"
    assert run.results.test["accuracy"] > 0.85
    assert all(p.dtype == torch.float32 for p in run.model.parameters())  # master weights


@pytest.mark.slow
def test_compile_matches_eager(tmp_path):
    eager = deepnet.train(deepnet.Spec.from_dict(CNN), out=tmp_path / "e", quiet=True)
    spec = deepnet.Spec.from_dict(override(CNN, **{"train.compile": True}))
    compiled = deepnet.train(spec, out=tmp_path / "c", quiet=True)
    assert compiled.results.test["accuracy"] == pytest.approx(
        eager.results.test["accuracy"], abs=0.03)
