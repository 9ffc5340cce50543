"""Sound folders end to end on generated tones (no espeak-ng needed): decoding and
resampling, the refusals of bad files, the split by speaker, the waveform augmentations,
the logmel layer, exact resume with augmentation on, and predict, serve and export of
WAV files."""

import base64

import numpy as np
import pytest
import soundfile as sf
import torch

import deepnet
from deepnet.app.serve import rows_to_inputs
from deepnet.cli import main
from deepnet.core.errors import DataError
from deepnet.data.audio import decode
from deepnet.data.augment import make_augment
from deepnet.data.encoding import AudioEncoding
from deepnet.data.transforms import Preprocess
from deepnet.nn.spectral import LogMel, LogMelArgs
from deepnet.spec import Augment
from factory import kill_then_resume, same_tensors, write_spec

RATE = 16000  # the files'; the specs read them at 8000 Hz


def tone(hz, seconds=0.4, rate=RATE, seed=0, level=0.5):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = level * np.sin(2 * np.pi * hz * t + rng.uniform(0, 6.28))
    return (x + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture
def folder(tmp_path):
    """root/<low|high>/<speaker>_<n>.wav: 6 speakers, each with a pitch of their own."""
    root = tmp_path / "sounds"
    for c, base in (("low", 300), ("high", 1500)):
        (root / c).mkdir(parents=True)
        for s in range(6):
            for n in range(4):
                sf.write(root / c / f"spk{s}_{n}.wav",
                         tone(base * (1 + 0.05 * s), seed=100 * s + n), RATE, subtype="PCM_16")
    return root


def spec_dict(root, **data):
    return {
        "seed": 0, "task": "classification",
        "data": {"source": str(root), "audio": {"sample_rate": 8000, "seconds": 0.5},
                 "split": {"val": 0.25, "test": 0.25, "groups": "^([^_]+)_"}, **data},
        "model": {"layers": [{"logmel": {"mels": 16, "sample_rate": 8000, "hop": 0.02}},
                             {"batchnorm": {}}, {"conv2d": {"filters": 4, "activation": "relu"}},
                             {"globalavgpool": {}}, {"dense": {"units": 2}}]},
        "train": {"epochs": 4, "batch_size": 8, "optimizer": {"name": "adam", "lr": 0.01},
                  "early_stopping": None},
    }


# ----------------------------------------------------------------------------- decoding
def test_decode_resamples_pads_and_mixes_down(tmp_path):
    stereo = np.stack([tone(1000, 0.3, 22050), tone(1000, 0.3, 22050, seed=1)], axis=1)
    sf.write(tmp_path / "a.wav", stereo, 22050, subtype="FLOAT")
    x = decode(tmp_path / "a.wav", AudioEncoding(8000, 4000))
    assert x.shape == (4000,) and x.dtype == np.float32
    assert np.all(x[2400 + 20:] == 0)  # 0.3 s of sound, then silence to 0.5 s
    spectrum = np.abs(np.fft.rfft(x[:2400]))
    assert abs(np.fft.rfftfreq(2400, 1 / 8000)[spectrum.argmax()] - 1000) <= 5
    cut = decode(tmp_path / "a.wav", AudioEncoding(8000, 800))  # cut at its end
    np.testing.assert_allclose(cut, x[:800], atol=1e-6)


def write_bad(kind, path):
    if kind == "not a wav":
        path.write_text("hello")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "no samples":
        sf.write(path, np.zeros((0, 1), np.float32), RATE)
    elif kind == "truncated":
        sf.write(path, tone(440), RATE, subtype="PCM_16")
        path.write_bytes(path.read_bytes()[:3000])


@pytest.mark.parametrize("kind,says", [("not a wav", "cannot decode the sound"),
                                       ("empty", "cannot decode the sound"),
                                       ("no samples", "holds no samples"),
                                       ("truncated", "truncated")])
def test_bad_files_are_exit_2_naming_them(folder, tmp_path, capsys, kind, says):
    bad = folder / "low" / "spk0_9.wav"
    write_bad(kind, bad)
    path = write_spec(tmp_path / "s.yaml", spec_dict(folder))
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and says in err and "Traceback" not in err
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_another_rate_without_resampling_is_exit_2(folder, tmp_path, capsys):
    s = spec_dict(folder)
    s["data"]["audio"]["resample"] = False
    path = write_spec(tmp_path / "s.yaml", s)
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "sampled at 16000 Hz" in err and "resample: true" in err


def test_logmel_rate_must_be_the_data_rate(folder, tmp_path, capsys):
    s = spec_dict(folder)
    s["model"]["layers"][0]["logmel"]["sample_rate"] = 16000
    path = write_spec(tmp_path / "s.yaml", s)
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "model.layers[0].logmel.sample_rate is 16000 Hz" in capsys.readouterr().err


def test_groups_are_split_whole(folder):
    spec = deepnet.Spec.from_dict(spec_dict(folder))
    from deepnet.data.prepare import prepare

    p = prepare(spec)
    names = {part: {str(p.dataset.split_groups[i]) for i in rows}
             for part, rows in p.splits.items()}
    assert names["train"].isdisjoint(names["val"]) and names["train"].isdisjoint(names["test"])
    assert names["val"].isdisjoint(names["test"]) and len(names["test"]) >= 1
    assert sum(len(r) for r in p.splits.values()) == 48
    assert p.preprocess.mode == "none"  # a waveform is never normalised


def test_groups_that_do_not_match_are_exit_2(folder, tmp_path, capsys):
    s = spec_dict(folder)
    s["data"]["split"]["groups"] = "^speaker"
    path = write_spec(tmp_path / "s.yaml", s)
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "does not match the file name" in capsys.readouterr().err


# ----------------------------------------------------------------------------- augmentation
def augmented(kind, value, x, seed=0):
    item = Augment.model_validate({kind: value})
    pre = Preprocess("none", np.zeros(1, np.float32), np.ones(1, np.float32))
    fn = make_augment([item], (x.shape[1],), pre, encoding=AudioEncoding(8000, x.shape[1]))
    return fn(x.clone(), torch.Generator().manual_seed(seed))


def test_gain_snr_shift_and_masks_do_what_they_say():
    x = torch.as_tensor(np.stack([tone(400, 1.0, 8000, seed=s) for s in range(64)]))
    rms = x.pow(2).mean(1).sqrt()
    ratio_db = 20 * torch.log10(augmented("gain", 6, x).pow(2).mean(1).sqrt() / rms)
    assert ratio_db.abs().max() <= 6.01 and ratio_db.std() > 2

    noisy = augmented("snr", [10, 20], x)
    snr = 10 * torch.log10(x.pow(2).mean(1) / (noisy - x).pow(2).mean(1))
    assert snr.min() > 9.5 and snr.max() < 20.5

    shifted = augmented("shift", 0.1, x)
    lags = [int(np.argmax(np.correlate(shifted[i, 1000:7000].numpy(),
                                       x[i, 1000 - 800:7000 + 800].numpy(), "valid"))) - 800
            for i in range(8)]
    assert all(abs(k) <= 800 for k in lags) and len(set(lags)) > 1

    masked = augmented("time_mask", 0.1, x)
    silent = (masked == 0).sum(1)
    assert silent.max() <= 800 and silent.float().mean() > 100
    assert torch.equal(masked[masked != 0], x[masked != 0])

    removed = augmented("freq_mask", 0.5, x)
    band = torch.fft.rfft(removed, dim=1).abs()[:, 400]  # the tone's bin
    original = torch.fft.rfft(x, dim=1).abs()[:, 400]
    assert (band < 1e-3 * original).any() and (band > 0.9 * original).any()


def test_an_image_augmentation_on_sound_is_refused(folder, tmp_path, capsys):
    path = write_spec(tmp_path / "s.yaml", spec_dict(folder, augment=[{"rotate": 10}]))
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "rotate is an image augmentation, but the data are sound" in capsys.readouterr().err


def test_resume_with_audio_augmentation_is_bit_identical(folder, tmp_path):
    s = spec_dict(folder, augment=[{"shift": 0.05}, {"gain": 6}, {"snr": [10, 30]},
                                   {"time_mask": 0.05}, {"freq_mask": 0.2}])
    path = write_spec(tmp_path / "s.yaml", s)
    full = deepnet.train(deepnet.Spec.from_yaml(path), out=tmp_path / "full", quiet=True,
                         report=False)
    killed = kill_then_resume(path, tmp_path / "killed", "checkpoint:2", report=False)
    assert same_tensors(full.path, killed)


# ----------------------------------------------------------------------------- the layer
def test_logmel_shapes_and_refusals():
    a = LogMelArgs(mels=40, sample_rate=8000)
    out = LogMel(a)(torch.randn(2, 8000))
    assert out.shape == (2, 1, 40, 101)
    with pytest.raises(ValueError, match="above half the sample rate"):
        LogMelArgs(sample_rate=8000, fmax=5000)
    with pytest.raises(ValueError, match="fewer mels"):
        LogMelArgs(sample_rate=8000, window=0.004, mels=40)


def test_logmel_gradient_reaches_the_waveform():
    x = torch.randn(2, 4000, requires_grad=True)
    LogMel(LogMelArgs(mels=16, sample_rate=8000))(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- using a run
@pytest.fixture
def trained(folder, tmp_path):
    path = write_spec(tmp_path / "s.yaml", spec_dict(folder))
    return deepnet.train(deepnet.Spec.from_yaml(path), out=tmp_path / "run", quiet=True)


def test_predict_serve_and_export_take_wav_files(trained, folder, tmp_path, capsys):
    wav = folder / "high" / "spk5_3.wav"
    assert main(["predict", str(trained.path), str(wav)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("row,path,class") and str(wav) in out[1]
    assert main(["predict", str(trained.path), str(folder / "low")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + 24
    assert main(["evaluate", str(trained.path), "--data", str(folder), "--json"]) == 0
    capsys.readouterr()

    x = rows_to_inputs(trained, [base64.b64encode(wav.read_bytes()).decode()])
    np.testing.assert_array_equal(x[0], decode(wav, trained.encoding))
    bad = base64.b64encode(b"RIFF....WAVEjunk").decode()
    with pytest.raises(DataError, match=r"inputs\[1\]: cannot decode the sound"):
        rows_to_inputs(trained, [base64.b64encode(wav.read_bytes()).decode(), bad])
    with pytest.raises(DataError, match="not base64"):
        rows_to_inputs(trained, ["%%%"])

    assert main(["predict", str(trained.path), str(tmp_path / "s.yaml")]) == 2
    assert "pass a folder of sound files or one" in capsys.readouterr().err

    pytest.importorskip("onnxruntime")
    assert main(["export", str(trained.path), "--format", "onnx", "--out",
                 str(tmp_path / "m")]) == 0
    assert "verified" in capsys.readouterr().out
