"""Augmentation: shapes, exactness of the geometric maps, seeding, training batches only."""

import numpy as np
import pytest
import torch

from deepnet.core.errors import SpecError
from deepnet.data.augment import make_augment
from deepnet.data.transforms import Preprocess
from deepnet.spec import Augment, Spec
from factory import spec_dict


def pre_for(shape, shift=0.25, scale=0.5):
    ones = np.ones((shape[0], 1, 1) if len(shape) == 3 else shape[-1:], np.float32)
    return Preprocess("standard", ones * shift, ones * scale)


def aug(items, shape, pre=None):
    return make_augment([Augment.model_validate(i) for i in items], shape,
                        pre or pre_for(shape))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 6, 10)])
@pytest.mark.parametrize("item", [{"rotate": 15}, {"scale": [0.8, 1.2]}, {"crop": 2},
                                  {"noise": 0.1}, {"flip": "both"}])
def test_shapes_dtype_and_seeding(shape, item):
    x = torch.randn(16, *shape)
    f = aug([item], shape)
    a, b = f(x, gen(1)), f(x, gen(1))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b)  # the same generator state gives the same batch
    assert not torch.equal(a, f(x, gen(2)))
    g = gen(3)
    assert not torch.equal(f(x, g), f(x, g))  # the generator moves on


def test_neutral_settings_are_the_identity():
    x = torch.randn(8, 2, 7, 9)
    f = aug([{"rotate": 0}, {"scale": [1, 1]}, {"crop": 0}], (2, 7, 9))
    torch.testing.assert_close(f(x, gen()), x, atol=1e-5, rtol=0)


def test_crop_shifts_whole_pixels_and_fills_with_raw_zero():
    shape = (1, 6, 6)
    pre = pre_for(shape)
    zero = (0 - 0.25) / 0.5  # a raw 0, normalised
    x = torch.randn(32, *shape)
    out = aug([{"crop": 1}], shape, pre)(x, gen())
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), value=zero)
    for i in range(len(x)):
        options = [padded[i, :, 1 + dy:7 + dy, 1 + dx:7 + dx]
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        assert any(torch.allclose(out[i], o, atol=1e-5) for o in options)


def test_flip_is_a_mirror_or_nothing():
    x = torch.randn(64, 1, 5, 5)
    out = aug([{"flip": "horizontal"}], (1, 5, 5))(x, gen())
    mirrored = [torch.allclose(o, xi.flip(-1), atol=1e-5) for o, xi in zip(out, x, strict=True)]
    same = [torch.allclose(o, xi, atol=1e-5) for o, xi in zip(out, x, strict=True)]
    assert all(m or s for m, s in zip(mirrored, same, strict=True))
    assert 10 < sum(mirrored) < 54


def test_rotation_turns_pixels_about_the_centre():
    x = torch.zeros(64, 1, 33, 33)
    x[:, 0, 16, 24] = 1.0  # a dot 8 pixels right of the centre
    pre = Preprocess("none", np.zeros((1, 1, 1), np.float32), np.ones((1, 1, 1), np.float32))
    out = aug([{"rotate": 90}], (1, 33, 33), pre)(x, gen(0))
    angles = []
    for o in out[:, 0].numpy():
        r, c = np.unravel_index(o.argmax(), o.shape)
        assert 7 <= np.hypot(r - 16, c - 16) <= 9  # the same distance from the centre
        angles.append(np.degrees(np.arctan2(r - 16, c - 16)))
    assert max(np.abs(angles)) <= 95  # turned by at most the limit ...
    assert np.std(angles) > 20  # ... by random angles


def test_noise_std_is_in_raw_units():
    shape = (4,)
    x = torch.zeros(20000, *shape)
    out = aug([{"noise": 0.05}], shape, pre_for(shape, scale=0.5))(x, gen())
    assert out.std().item() == pytest.approx(0.05 / 0.5, rel=0.03)
    seq = aug([{"noise": 0.1}], (5, 3), pre_for((5, 3), scale=2.0))(torch.zeros(4000, 5, 3),
                                                                      gen())
    assert seq.std().item() == pytest.approx(0.05, rel=0.03)


@pytest.mark.parametrize("shape", [(30,), (20, 4)])
def test_image_augmentations_on_tables_and_sequences_are_spec_errors(shape):
    with pytest.raises(SpecError, match=r"data\.augment\[1\]: crop is an image augmentation"):
        aug([{"noise": 0.1}, {"crop": 2}], shape)


def test_only_training_batches_are_augmented(tmp_path, monkeypatch):
    import deepnet.app.train as module  # the workflow that builds the augmentation
    from deepnet.app.train import train

    calls = []
    real = module.make_augment

    def counting(*args, **kwargs):
        f = real(*args, **kwargs)

        def wrapped(x, g):
            calls.append(len(x))
            return f(x, g)

        return wrapped

    monkeypatch.setattr(module, "make_augment", counting)
    spec = Spec.from_dict(spec_dict({"source": "iris", "augment": [{"noise": 0.1}]},
                                    [{"dense": 3}], epochs=3, batch_size=16,
                                    **{"train.early_stopping": None}))
    run = train(spec, out=tmp_path / "run", quiet=True)
    n_train = run.results.samples["train"]
    per_epoch = -(-n_train // 16)
    assert len(calls) == 3 * per_epoch
    assert sum(calls) == 3 * n_train
