"""deepnet.train.checkpoint: the one-copy safetensors serialiser, the committed state file,
and the refusal of a checkpoint that is missing, truncated or altered."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load, save

from deepnet.core.errors import CheckpointError
from deepnet.train import checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

DTYPES = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.float16, torch.bfloat16,
          torch.int32, torch.float32, torch.float64, torch.int64]


def sample(dtype: torch.dtype, shape=(3, 5), seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point:
        return (torch.randn(shape, generator=g) * 100).to(dtype)
    info = torch.iinfo(dtype)
    return torch.randint(info.min, info.max, shape, generator=g, dtype=torch.int64).to(dtype)


def assert_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert got[k].dtype == v.dtype and torch.equal(got[k], v), k


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_serialize_is_safetensors_byte_for_byte_for_every_dtype(dtype):
    tensors = {"matrix": sample(dtype), "scalar": sample(dtype, ()), "empty": sample(dtype, (0, 4)),
               "strided": sample(dtype, (4, 6), seed=1)[:, ::2],
               "transposed": sample(dtype, (2, 3), seed=2).t()}
    data = bytes(checkpoint.serialize(tensors))
    assert data == save({k: v.contiguous() for k, v in tensors.items()})
    assert_same(load(data), tensors)


def test_serialize_orders_mixed_dtypes_as_safetensors_does():
    """Every dtype at once, names that sort differently from the dtypes, and the states
    a real checkpoint holds (an RNG state, an optimizer step)."""
    tensors = {f"{name}.{i}": sample(dtype, (i + 1, 2), seed=i)
               for i, dtype in enumerate(DTYPES) for name in ("a", "z")}
    tensors |= {"rng.torch": torch.get_rng_state(), "optim.0.step": torch.tensor(7.0)}
    data = bytes(checkpoint.serialize(tensors))
    assert data == save(tensors)
    assert_same(load(data), tensors)
    assert bytes(checkpoint.serialize({})) == save({})


def test_checkpoint_tensors_are_a_safetensors_file():
    """Our one-copy serialiser writes exactly what safetensors.torch.save writes."""
    g = torch.Generator().manual_seed(0)
    tensors = {"w": torch.randn(3, 4, generator=g), "b.bias": torch.randn(4, generator=g),
               "half": torch.randn(5, generator=g).half(), "bf": torch.randn(2, 2).bfloat16(),
               "step": torch.tensor(7.0, dtype=torch.float64), "rng": torch.get_rng_state(),
               "idx": torch.arange(6).reshape(2, 3), "i32": torch.arange(3, dtype=torch.int32),
               "mask": torch.tensor([True, False, True]), "empty": torch.zeros(0, 3),
               "strided": torch.randn(4, 6, generator=g)[:, ::2]}
    data = bytes(checkpoint.serialize(tensors))
    assert data == save({k: v.contiguous() for k, v in tensors.items()})
    back = load(data)
    assert back.keys() == tensors.keys()
    assert all(torch.equal(back[k], v) for k, v in tensors.items())
    assert bytes(checkpoint.serialize({})) == save({})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_serialize_gathers_gpu_tensors_into_the_same_bytes():
    tensors = {f"t{i}": sample(dtype, seed=i) for i, dtype in enumerate(DTYPES)}
    on_gpu = {k: v.cuda() for k, v in tensors.items()} | {"cpu": torch.arange(3)}
    assert bytes(checkpoint.serialize(on_gpu)) == save(tensors | {"cpu": torch.arange(3)})


# ----------------------------------------------------------------------------- save / load
TENSORS = {"model.w": sample(torch.float32), "model.b": sample(torch.float32, (5,)),
           "rng.torch": torch.get_rng_state(), "optim.0.step": torch.tensor(3.0)}
META = {"epoch": 3, "history": [{"epoch": 1, "val_loss": 0.5}], "stop": [False, "completed", ""]}


def write(folder, tag="00003", tensors=TENSORS, meta=META):
    checkpoint.save(folder, checkpoint.serialize(tensors), meta, tag)


def flip_byte(path, at=None) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if at is None else at] ^= 0x01
    path.write_bytes(bytes(data))


def test_round_trip(tmp_path):
    folder = tmp_path / "ckpt"
    assert not checkpoint.exists(folder)
    write(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["state-00003.json",
                                                        "tensors-00003.safetensors"]
    assert checkpoint.exists(folder)
    tensors, meta = checkpoint.load(folder)
    assert_same(tensors, TENSORS)
    assert {k: meta[k] for k in META} == META
    assert meta["tensors"] == "tensors-00003.safetensors"
    checkpoint.flush(folder)  # fsyncs the files and the folder; changes nothing
    assert checkpoint.load(folder)[1] == meta


def test_a_new_checkpoint_replaces_the_old_files_and_crash_leftovers(tmp_path):
    write(tmp_path, "00001")
    (tmp_path / ".tensors-00002.safetensors.abc.tmp").write_bytes(b"half")  # a killed write
    (tmp_path / "notes.txt").write_text("mine")
    write(tmp_path, "00002", meta={**META, "epoch": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "notes.txt", "state-00002.json", "tensors-00002.safetensors"]
    assert checkpoint.load(tmp_path)[1]["epoch"] == 2


def test_the_newest_committed_state_is_loaded(tmp_path):
    """A crash between the commit (the state file) and the clean-up leaves two
    checkpoints; the newer one, by number, is loaded."""
    old = tmp_path / "old"
    write(old, "00009", meta={**META, "epoch": 9})
    write(tmp_path, "00010", tensors={"x": torch.ones(2)}, meta={**META, "epoch": 10})
    for f in old.iterdir():
        shutil.copy(f, tmp_path)
    shutil.rmtree(old)
    (tmp_path / "state-latest.json").write_text("{}")  # not a state-<epoch>.json: ignored
    tensors, meta = checkpoint.load(tmp_path)
    assert meta["epoch"] == 10 and torch.equal(tensors["x"], torch.ones(2))


def test_a_state_without_its_tensors_file_is_refused(tmp_path):
    write(tmp_path)
    (tmp_path / "tensors-00003.safetensors").unlink()
    with pytest.raises(CheckpointError) as e:
        checkpoint.load(tmp_path)
    assert str(tmp_path / "tensors-00003.safetensors") in str(e.value)
    assert "missing" in str(e.value)


@pytest.mark.parametrize("where", ["start", "middle", "end"])
@pytest.mark.parametrize("name", ["tensors-00003.safetensors", "state-00003.json"])
def test_a_flipped_byte_is_refused_naming_the_file(tmp_path, name, where):
    write(tmp_path)
    path = tmp_path / name
    size = path.stat().st_size
    flip_byte(path, {"start": 0 if name.startswith("tensors") else 12,
                     "middle": size // 2, "end": size - 2}[where])
    with pytest.raises(CheckpointError) as e:
        checkpoint.load(tmp_path)
    assert str(path) in str(e.value)
    assert "corrupt" in str(e.value) and "not loaded" in str(e.value)


@pytest.mark.parametrize("name", ["tensors-00003.safetensors", "state-00003.json"])
def test_a_truncated_file_is_refused(tmp_path, name):
    write(tmp_path)
    path = tmp_path / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt") as e:
        checkpoint.load(tmp_path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("change", [
    lambda s: s["body"].update(epoch=4),  # an edited value, hash unchanged
    lambda s: s.pop("sha256"),
    lambda s: s.update(body=[1, 2]),
])
def test_an_altered_state_is_refused(tmp_path, change):
    write(tmp_path)
    path = tmp_path / "state-00003.json"
    state = json.loads(path.read_text())
    change(state)
    path.write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match="corrupt"):
        checkpoint.load(tmp_path)


def test_a_state_file_that_is_not_text_is_refused(tmp_path):
    write(tmp_path)
    (tmp_path / "state-00003.json").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(CheckpointError, match="state-00003.json.*corrupt"):
        checkpoint.load(tmp_path)


def test_no_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint in .*no state-<epoch>.json"):
        checkpoint.load(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        checkpoint.load(tmp_path / "missing")


# ----------------------------------------------------------------------------- optimizer state
def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))


def _steps(model, opt, n: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        x, y = torch.randn(8, 4, generator=g), torch.randn(8, 2, generator=g)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("make", [
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda p: torch.optim.Adam(p, lr=0.01, fused=True),
    lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1, amsgrad=True),
    lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
], ids=["sgd", "adam_fused", "adamw_amsgrad", "rmsprop"])
def test_optimizer_state_through_a_checkpoint_resumes_exactly(tmp_path, make):
    model = _model()
    opt = make(model.parameters())
    _steps(model, opt, 3, seed=1)
    tensors, meta = checkpoint.optimizer_state(opt)
    assert all(k.startswith("optim.") for k in tensors)
    model_state = {f"model.{k}": v for k, v in model.state_dict().items()}
    checkpoint.save(tmp_path, checkpoint.serialize(tensors | model_state), {"optim": meta}, "1")
    _steps(model, opt, 4, seed=2)  # the uninterrupted run

    tensors, meta = checkpoint.load(tmp_path)
    resumed = _model()
    resumed.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    opt2 = make(resumed.parameters())
    checkpoint.load_optimizer_state(opt2, tensors, meta["optim"])
    _steps(resumed, opt2, 4, seed=2)
    for a, b in zip(model.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)
    assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
