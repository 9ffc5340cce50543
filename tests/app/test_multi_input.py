"""Models of several named inputs and embedded categorical columns, end to end: the spec
and the data checked against each other, the front against a network written with
torch.nn, the memory estimate against a measurement, unknown categories at predict
time, resume after SIGKILL, data parallelism, export and attacks."""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import deepnet
from deepnet.cli import main
from deepnet.data.tables import UnknownCategoryWarning
from deepnet.resources import estimate_memory, measure_memory
from deepnet.spec import Spec
from deepnet.train.network import build_network, data_layout
from factory import kill_then_resume, same_tensors, write_spec


def transactions(rows=1200, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    user = rng.integers(0, 60, rows)
    merchant = rng.choice(["food", "fuel", "games", "travel"], rows)
    amount = rng.lognormal(3, 0.5, rows)
    hour = rng.integers(0, 24, rows)
    risky_user = (user % 7 == 0)
    score = 1.5 * risky_user + 1.0 * (merchant == "games") + 0.03 * (amount - 20) - 1
    y = (score + rng.normal(0, 0.5, rows) > 0).astype(int)
    return pd.DataFrame({"user": [f"u{u}" for u in user], "merchant": merchant,
                         "amount": amount.round(2), "hour": hour, "label": y})


def spec_dict(csv, **model) -> dict:
    return {
        "name": "multi", "seed": 0,
        "data": {"source": str(csv), "categorical": {"user": "embedding",
                                                     "merchant": {"embedding": 3}},
                 "inputs": {"ids": ["user", "merchant"], "numbers": ["amount", "hour"]}},
        "model": {"inputs": {"ids": [{"dense": {"units": 8, "activation": "relu"}}],
                             "numbers": [{"dense": {"units": 8, "activation": "tanh"}}]},
                  "merge": "concat",
                  "layers": [{"dense": {"units": 16, "activation": "relu"}}, {"dense": 2}],
                  **model},
        "train": {"epochs": 4, "batch_size": 64, "early_stopping": None,
                  "threshold": "max_f1"}}


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("multi") / "transactions.csv"
    transactions().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("multi-run") / "run"
    return deepnet.train(spec_dict(csv), out=out, quiet=True)


# ----------------------------------------------------------------------------- spec and data
def test_an_input_without_its_column_names_both_exit_2(csv, tmp_path, capsys):
    s = spec_dict(csv)
    s["data"]["inputs"] = {"ids": ["user", "merchnt"], "numbers": ["amount", "hour"]}
    path = write_spec(tmp_path / "s.yaml", s)
    assert main(["train", str(path), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "input 'ids'" in err and "'merchnt'" in err and "did you mean 'merchant'" in err
    assert "Traceback" not in err and not (tmp_path / "r").exists()
    # an input left out of data.inputs takes the column of its name, which is missing
    s = spec_dict(csv)
    s["data"]["inputs"] = {"ids": ["user", "merchant"]}
    assert main(["summary", str(write_spec(tmp_path / "t.yaml", s))]) == 2
    err = capsys.readouterr().err
    assert "input 'numbers'" in err and "column 'numbers'" in err


def test_data_inputs_must_name_declared_inputs(csv, tmp_path, capsys):
    s = spec_dict(csv)
    s["data"]["inputs"]["extra"] = ["hour"]
    assert main(["summary", str(write_spec(tmp_path / "s.yaml", s))]) == 2
    assert "data.inputs names 'extra', which model.inputs does not declare" in \
        capsys.readouterr().err
    s = spec_dict(csv)
    del s["model"]["inputs"]
    assert main(["summary", str(write_spec(tmp_path / "t.yaml", s))]) == 2
    assert "the model has one input" in capsys.readouterr().err
    with pytest.raises(deepnet.SpecError, match="merge: dot takes two inputs"):
        Spec.from_dict(spec_dict(csv, merge="dot", inputs={"a": [], "b": [], "c": []}))
    with pytest.raises(deepnet.SpecError, match="unknown layer type 'inputs'"):
        Spec.from_dict({**spec_dict(csv), "model": {"layers": [{"inputs": {}}]}})


def test_merge_shapes_are_checked_naming_the_inputs(csv):
    s = Spec.from_dict(spec_dict(csv, merge="add", inputs={
        "ids": [{"dense": 8}], "numbers": [{"dense": 4}]}))
    with pytest.raises(deepnet.SpecError, match=r"merge: add .* ids \(8,\), numbers \(4,\)"):
        deepnet.summary(s)


def test_embedded_codes_are_not_normalised_and_unknown_is_zero(csv):
    s = Spec.from_dict(spec_dict(csv))
    from deepnet.data.prepare import prepare

    p = prepare(s)
    enc = p.encoding
    assert [c.type for c in enc.columns] == ["embedding", "embedding", "numeric", "numeric"]
    assert enc.inputs == {"ids": ["user", "merchant"], "numbers": ["amount", "hour"]}
    assert (p.preprocess.shift[:2] == 0).all() and (p.preprocess.scale[:2] == 1).all()
    assert p.preprocess.scale[2] != 1  # the numbers are standardised
    train = p.splits["train"]
    frame = transactions()
    users = sorted(set(frame.user.iloc[train]))
    assert enc.columns[0].categories == users  # from the training rows only
    codes = p.dataset.x[:, 0]
    seen = frame.user.isin(users).to_numpy()
    assert (codes[~seen] == 0).all() and (codes[seen] >= 1).all()


# ----------------------------------------------------------------------------- the network
class HandWritten(torch.nn.Module):
    """The multi-input network of spec_dict, written with torch.nn."""

    def __init__(self, users, merchants, user_dim):
        super().__init__()
        self.user = torch.nn.Embedding(users, user_dim)
        self.merchant = torch.nn.Embedding(merchants, 3)
        self.ids = torch.nn.Linear(user_dim + 3, 8)
        self.numbers = torch.nn.Linear(2, 8)
        self.head1 = torch.nn.Linear(16, 16)
        self.head2 = torch.nn.Linear(16, 2)

    def forward(self, x):
        ids = torch.cat([self.user(x[:, 0].long()), self.merchant(x[:, 1].long())], 1)
        merged = torch.cat([torch.relu(self.ids(ids)), torch.tanh(self.numbers(x[:, 2:]))], 1)
        return self.head2(torch.relu(self.head1(merged)))


def test_front_equals_a_network_written_with_torch(csv):
    s = Spec.from_dict(spec_dict(csv))
    shape, enc = data_layout(s)
    net, rows = build_network(s.model, shape, enc, s.seed)
    users = len(enc.columns[0].categories) + 1
    user_dim = int(min(600, round(1.6 * users ** 0.56)))
    ref = HandWritten(users, 5, user_dim)
    names = dict(net.named_parameters())
    with torch.no_grad():
        ref.user.weight.copy_(names["0.parts.0.embeddings.0.weight"])
        ref.merchant.weight.copy_(names["0.parts.0.embeddings.1.weight"])
        for mine, theirs in (("0.branches.ids.0.op", ref.ids),
                             ("0.branches.numbers.0.op", ref.numbers),
                             ("1.op", ref.head1), ("2.op", ref.head2)):
            theirs.weight.copy_(names[f"{mine}.weight"])
            theirs.bias.copy_(names[f"{mine}.bias"])
    x = torch.cat([torch.randint(0, users, (32, 1)), torch.randint(0, 5, (32, 1)),
                   torch.randn(32, 2)], 1).float()
    assert torch.allclose(net(x), ref(x), atol=1e-6)
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in ref.parameters())
    assert [r.path for r in rows] == ["model.inputs.ids[0]", "model.inputs.numbers[0]",
                                      "model.inputs", "model.layers[0]", "model.layers[1]"]
    assert net.spec_path("0.parts.0.embeddings.0.weight") == "model.inputs.ids"
    assert (names["0.parts.0.embeddings.0.weight"][0] == 0).all()  # the unknown category


@pytest.mark.parametrize(("merge", "ids", "numbers", "head"), [
    ("concat", [{"dense": {"units": 32, "activation": "relu"}}],
     [{"dense": {"units": 16, "activation": "tanh"}}], [{"dense": 2}]),
    ("add", [{"dense": {"units": 16, "activation": "relu"}}, {"dropout": 0.2}],
     [{"dense": 16}], [{"dense": {"units": 8, "activation": "gelu"}}, {"dense": 2}]),
    ("multiply", [{"dense": 16}], [{"dense": {"units": 16, "activation": "sigmoid"}}],
     [{"dense": 2}]),
    ("dot", [{"dense": 12}], [{"dense": {"units": 12, "activation": "relu"}}], [{"dense": 2}]),
])
@pytest.mark.parametrize("batch", [16, 256])
def test_memory_estimate_within_5_percent_of_measured(csv, merge, ids, numbers, head, batch):
    s = Spec.from_dict(spec_dict(csv, merge=merge, inputs={"ids": ids, "numbers": numbers},
                                 layers=head))
    shape, enc = data_layout(s)
    net, _ = build_network(s.model, shape, enc, s.seed)
    est, meas = estimate_memory(s, shape, batch, encoding=enc), measure_memory(net, shape, batch)
    assert abs(est.activations - meas.activations) <= 0.05 * meas.activations
    assert abs(est.total - meas.total) <= 0.05 * meas.total


def test_one_stack_with_embedded_columns(csv, tmp_path):
    s = spec_dict(csv)
    del s["data"]["inputs"], s["model"]["inputs"]
    s["train"]["epochs"] = 2
    run = deepnet.train(s, out=tmp_path / "one", quiet=True)
    assert [r.path for r in deepnet.summary(run.spec).layers][:1] == ["model.inputs"]
    shape, enc = data_layout(run.spec)
    net, _ = build_network(run.spec.model, shape, enc, 0)
    est, meas = estimate_memory(run.spec, shape, 64, encoding=enc), measure_memory(net, shape, 64)
    assert abs(est.activations - meas.activations) <= 0.05 * meas.activations


# ----------------------------------------------------------------------------- a trained run
def test_predict_counts_unknown_categories(trained):
    rows = transactions(10, seed=1).drop(columns=["label"])
    rows.loc[:3, "user"] = ["new1", "new2", "new3", "new4"]
    with pytest.warns(UnknownCategoryWarning, match="4 rows of column 'user'"):
        p = trained.predict_proba(rows)
    known = rows.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownCategoryWarning)
        known.loc[:3, "user"] = trained.encoding.columns[0].categories[:4]
        trained.predict_proba(known)
    # an unknown user is looked up at index 0, a zero vector
    x = trained.as_inputs(rows)
    assert (x[:4, 0] == 0).all()
    assert np.allclose(p, trained.predict_proba(rows), atol=0)


def test_every_use_decides_at_the_threshold(trained, tmp_path, capsys):
    rows = transactions(200, seed=5).drop(columns=["label"])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    labels = trained.predict(rows)
    proba = trained.predict_proba(rows)[:, 1]
    assert np.array_equal(labels == 1, proba >= trained.meta.threshold)
    assert main(["predict", str(trained.path), str(tmp_path / "rows.csv")]) == 0
    cli = [line.split(",")[1] for line in capsys.readouterr().out.splitlines()[1:]]
    assert cli == [str(v) for v in labels]
    from deepnet.app.serve import metadata

    assert metadata(trained)["threshold"] == trained.meta.threshold


def test_refused_before_training(csv, tmp_path):
    s = spec_dict(csv)
    s["train"]["calibrate"] = "temperature"
    s["model"]["layers"][-1] = {"dense": {"units": 2, "activation": "softmax"}}
    with pytest.raises(deepnet.SpecError, match="train.calibrate: temperature scaling .* "
                                                "activation softmax"):
        deepnet.train(s, out=tmp_path / "cal", quiet=True)
    assert not (tmp_path / "cal").exists()
    # `data: FILE` (the shorthand) with several inputs
    short = Spec.from_dict({"data": str(csv), "model": {"inputs": {"amount": [], "hour": []},
                                                         "layers": [{"dense": 2}]}})
    assert short.data.inputs == {"amount": ["amount"], "hour": ["hour"]}


def test_attack_leaves_codes_and_refuses_codes_only(trained, tmp_path):
    frame = transactions(200, seed=2)
    x, y = frame.drop(columns=["label"]), frame["label"].to_numpy()
    r = deepnet.attack(trained, "pgd", eps=0.5, examples=(x, y), steps=5)
    assert r.robust_accuracy <= r.clean_accuracy
    from deepnet.attacks import ATTACKS
    from deepnet.robust.evaluate import _run_attack, network

    xt = torch.as_tensor(trained.as_inputs(x))
    a = ATTACKS.get("pgd").args(eps=0.5, steps=5)
    adv = _run_attack(network(trained), "pgd", a, 0.5, "linf", xt, torch.as_tensor(y),
                      tuple(trained.meta.x_range), torch.Generator().manual_seed(0), [0, 1])
    assert torch.equal(adv[:, :2], xt[:, :2]) and not torch.equal(adv[:, 2:], xt[:, 2:])
    codes_only = spec_dict(trained.spec.data.source)
    codes_only["data"]["inputs"] = {"ids": ["user", "merchant"]}
    codes_only["model"]["inputs"] = {"ids": [{"dense": 4}]}
    codes_only["train"]["epochs"] = 1
    run = deepnet.train(codes_only, out=tmp_path / "codes", quiet=True)
    with pytest.raises(deepnet.DeepnetError, match="all categorical columns looked up in "
                                                    "embeddings \\(user, merchant\\)"):
        deepnet.attack(run, "fgsm", examples=(x[["user", "merchant"]], y))


def test_export_onnx_matches_the_run(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    from deepnet.app.export import export

    path = export(trained, "onnx", tmp_path / "m.onnx").path
    import onnxruntime

    rows = transactions(50, seed=3).drop(columns=["label"])
    x = trained.as_inputs(rows)
    sess = onnxruntime.InferenceSession(str(path))
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert np.allclose(got, trained.predict_proba(rows), atol=1e-5)


@pytest.mark.slow  # the same machinery as one input's (tests/app/test_train.py), 10 s
def test_resume_after_sigkill_is_bit_identical(csv, tmp_path):
    s = spec_dict(csv)
    s["train"]["epochs"] = 6
    path = write_spec(tmp_path / "s.yaml", s)
    full = deepnet.train(deepnet.Spec.from_yaml(path), out=tmp_path / "full", quiet=True)
    killed = kill_then_resume(path, tmp_path / "killed", "checkpoint:3")
    assert same_tensors(full.path, killed)


@pytest.mark.slow
def test_two_processes_equal_one(csv, tmp_path):
    s = spec_dict(csv)
    s["train"]["optimizer"] = {"name": "sgd", "lr": 0.05, "momentum": 0.9}
    path = write_spec(tmp_path / "s.yaml", s)
    one = deepnet.train(deepnet.Spec.from_yaml(path), out=tmp_path / "one", quiet=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           "-m", "deepnet", "train", str(path), "--out", str(tmp_path / "two"), "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = load_file(one.path / "model.safetensors"), load_file(tmp_path / "two/model.safetensors")
    assert max(((a[k] - b[k]).norm() / a[k].norm().clamp_min(1e-12)).item() for k in a) <= 1e-5


def test_backward_flops_follow_each_inputs_gradient(csv):
    """An input with embeddings needs the gradient of its first layer's input (2x the
    forward FLOPs); an input of numbers does not (1x: the weights' gradient only)."""
    s = deepnet.summary(Spec.from_dict(spec_dict(csv)))
    rows = {r.path: (r.flops, b) for r, b in zip(s.layers, s.layer_flops_backward, strict=True)}
    assert rows["model.inputs.ids[0]"][1] == 2 * rows["model.inputs.ids[0]"][0]
    assert rows["model.inputs.numbers[0]"][1] == rows["model.inputs.numbers[0]"][0]
    assert rows["model.layers[1]"][1] == 2 * rows["model.layers[1]"][0]


@pytest.mark.slow
def test_serve_answers_as_predict_with_the_threshold(trained):
    pytest.importorskip("fastapi")
    from serving import Server

    rows = transactions(30, seed=4).drop(columns=["label"])
    rows.loc[:2, "user"] = "someone new"
    expected = trained.predict(rows)
    proba = trained.predict_proba(rows)[:, 1]
    assert trained.meta.threshold is not None
    assert np.array_equal(expected == 1, proba >= trained.meta.threshold)
    server = Server(trained.path)
    try:
        status, got = server.predict({"inputs": rows.to_dict("records")})
        assert status == 200 and got["labels"] == expected.tolist()
        status, got = server.predict({"inputs": [{"user": "u1", "merchant": "food"}]})
        assert status == 422 and "amount" in json.dumps(got)
    finally:
        assert server.stop() == 0


# ----------------------------------------------------------------------------- .npz inputs
@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    """Digits images and three numbers per sample (one of them tells the class's parity)
    as two arrays of an .npz."""
    from sklearn.datasets import load_digits

    d = load_digits()
    d.images, d.target = d.images[:800], d.target[:800]
    rng = np.random.default_rng(0)
    image = (d.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    meta = np.c_[d.target % 2 + rng.normal(0, 0.3, len(d.target)),
                 rng.normal(size=(len(d.target), 2))].astype(np.float32)
    path = tmp_path_factory.mktemp("npz") / "digits.npz"
    np.savez(path, image=image, meta=meta, y=d.target)
    return path, image, meta, d.target


def npz_spec(path):
    return {"name": "npz", "data": {"source": str(path)},
            "model": {"inputs": {"image": [{"conv2d": {"filters": 8, "kernel": 3,
                                                       "activation": "relu"}},
                                           {"flatten": {}}],
                                 "meta": [{"dense": {"units": 8, "activation": "relu"}}]},
                      "layers": [{"dense": 10}]},
            "train": {"epochs": 3, "early_stopping": None}}


def test_npz_arrays_as_inputs(npz, tmp_path, capsys):
    path, image, meta, y = npz
    run = deepnet.train(npz_spec(path), out=tmp_path / "run", quiet=True)
    assert run.results.test["accuracy"] > 0.6
    assert run.encoding.inputs["image"].shape == (1, 8, 8)
    rows = [r.path for r in deepnet.summary(run.spec).layers]
    assert rows[:3] == ["model.inputs.image[0]", "model.inputs.image[1]", "model.inputs.meta[0]"]
    want = run.predict({"image": image[:20], "meta": meta[:20]})
    assert main(["predict", str(run.path), str(path)]) == 0
    got = [line.split(",")[1] for line in capsys.readouterr().out.splitlines()[1:21]]
    assert got == [str(v) for v in want]
    with pytest.raises(deepnet.DataError, match="input 'meta' .* shape \\(2,\\); the run "
                                                 "was trained on \\(3,\\)"):
        run.predict({"image": image[:2], "meta": meta[:2, :2]})
    shape, enc = data_layout(run.spec)
    net, _ = build_network(run.spec.model, shape, enc, 0)
    est, meas = estimate_memory(run.spec, shape, 64, encoding=enc), measure_memory(net, shape, 64)
    assert abs(est.activations - meas.activations) <= 0.05 * meas.activations
    bad = npz_spec(path)
    bad["data"]["inputs"] = {"image": ["pixels"]}
    assert main(["summary", str(write_spec(tmp_path / "b.yaml", bad))]) == 2
    err = capsys.readouterr().err
    assert "input 'image' of model.inputs takes array 'pixels'" in err and "image, meta, y" in err
