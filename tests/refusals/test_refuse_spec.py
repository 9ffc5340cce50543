"""Bad specs and `--set`s (issue 13, items 1, 8, 12, 14): `deepnet train` refuses each one
before training, exit 2 naming the place, and writes no run folder."""

from __future__ import annotations

import pytest
import yaml
from refusal_checks import refused

from factory import mlp_spec

SPEC = "<spec>"  # in a case's places: the spec file's path


def _edit(**paths):
    """A change of the raw spec: each dotted key path set to its value, mappings made on
    the way (no validation: the value may be anything a user could write)."""

    def edit(raw: dict) -> None:
        for path, value in paths.items():
            *keys, last = path.split(".")
            node = raw
            for key in keys:
                node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
            if isinstance(node, list):
                node[int(last)] = value
            else:
                node[last] = value

    return edit


def _drop(key):
    return lambda raw: raw.pop(key)


def _nested(depth: int) -> str:
    """A spec whose `name` is a list nested `depth` deep, as YAML text."""
    return yaml.safe_dump(mlp_spec(epochs=1)).replace("name: t", "name: " + "[" * depth
                                                      + "]" * depth)


# (how the spec is bad, the places the message names)
EDITS = [
    pytest.param(_edit(nmae="x"), ["nmae"], id="unknown-top-key"),
    pytest.param(_edit(**{"data.sorce": "digits"}), ["data.sorce"], id="unknown-data-key"),
    pytest.param(_edit(**{"train.optimizer": {"name": "adam", "lrate": 0.1}}),
                 ["train.optimizer.lrate"], id="unknown-optimizer-key"),
    pytest.param(_edit(**{"model.layers.1": {"dense": {"units": 32, "unitz": 3}}}),
                 ["model.layers[1].dense.unitz"], id="unknown-layer-key"),
    pytest.param(_edit(**{"train.early_stopping": {"patiance": 3}}),
                 ["train.early_stopping.patiance"], id="unknown-key-depth-3"),
    pytest.param(_edit(**{"data.split": {"val": 0.1, "tst": 0.1}}), ["data.split.tst"],
                 id="unknown-split-key"),
    pytest.param(_edit(**{"model.layers.1": {"dense2": {"units": 32}}}),
                 ["model.layers[1]", "dense2"], id="unknown-layer-type"),
    pytest.param(_edit(**{"model.layers.1": {"dense": {"units": 3}, "dropout": 0.1}}),
                 ["model.layers[1]"], id="layer-item-two-types"),
    pytest.param(_edit(**{"train.optimizer": "adamw2"}), ["train.optimizer.name", "adamw2"],
                 id="unknown-optimizer"),
    pytest.param(_edit(**{"train.loss": "crossentropy"}), ["train.loss.name", "crossentropy"],
                 id="unknown-loss"),
    pytest.param(_edit(**{"train.metrics": ["accuracy", "acuracy"]}),
                 ["train.metrics[1]", "acuracy"], id="unknown-metric"),
    pytest.param(_edit(**{"model.layers.1": {"dense": {"units": 32, "activation": "rellu"}}}),
                 ["model.layers[1].dense.activation", "rellu"], id="unknown-activation"),
    pytest.param(_edit(**{"train.schedule": "cosinus"}), ["train.schedule.name", "cosinus"],
                 id="unknown-schedule"),
    pytest.param(_edit(**{"data.augment": [{"rotat": 10}]}), ["data.augment[0]", "rotat"],
                 id="unknown-augment"),
    pytest.param(_edit(**{"robust": {"attacks": ["pgdd"]}}), ["robust.attacks[0]", "pgdd"],
                 id="unknown-attack"),
    pytest.param(_edit(**{"tune": {"space": {"train.optimizer.lr": {"logunifrm": [1, 2]}}}}),
                 ["tune.space", "logunifrm"], id="unknown-distribution"),
    pytest.param(_edit(**{"tune": {"space": {"train.epochz": {"int": [1, 3]}}}}),
                 ["tune.space", "train.epochz"], id="tune-space-bad-path"),
    pytest.param(_edit(**{"data.source": "digitz"}), ["data.source", "digitz"],
                 id="unknown-data-source"),
    pytest.param(_edit(**{"data.source": "data.txt"}), ["data.source", "data.txt"],
                 id="data-source-unknown-kind"),
    pytest.param(_edit(**{"data.source": "missing.csv"}), ["data.source", "missing.csv"],
                 id="data-source-file-missing"),
    pytest.param(_edit(task="clasification"), ["task"], id="unknown-task"),
    pytest.param(_edit(**{"train.epochs": "three"}), ["train.epochs"], id="epochs-string"),
    pytest.param(_edit(**{"train.batch_size": [64]}), ["train.batch_size"], id="batch-list"),
    pytest.param(_edit(**{"train.epochs": 2.5}), ["train.epochs"], id="epochs-float"),
    pytest.param(_edit(seed="abc"), ["seed"], id="seed-string"),
    pytest.param(_edit(model={"layers": {"dense": 10}}), ["model.layers"],
                 id="layers-mapping"),
    pytest.param(_edit(model={"layers": []}), ["model.layers"], id="layers-empty"),
    pytest.param(_edit(data=5), ["data"], id="data-number"),
    pytest.param(_drop("model"), ["model"], id="model-missing"),
    pytest.param(_drop("data"), ["data"], id="data-missing"),
    pytest.param(_edit(**{"train.epochs": 0}), ["train.epochs"], id="epochs-zero"),
    pytest.param(_edit(**{"train.batch_size": -1}), ["train.batch_size"], id="batch-negative"),
    pytest.param(_edit(**{"train.optimizer": {"lr": 0}}), ["train.optimizer.lr"],
                 id="lr-zero"),
    pytest.param(_edit(**{"train.optimizer": {"lr": -0.1}}), ["train.optimizer.lr"],
                 id="lr-negative"),
    pytest.param(_edit(**{"data.split": {"val": 0.6, "test": 0.5}}), ["data.split"],
                 id="split-no-training-data"),
    pytest.param(_edit(**{"model.layers.1": {"dropout": 1.5}}),
                 ["model.layers[1].dropout.rate"], id="dropout-above-1"),
    pytest.param(_edit(**{"model.layers.1": {"dense": {"units": -4}}}),
                 ["model.layers[1].dense.units"], id="units-negative"),
    pytest.param(_edit(seed=-1), ["seed"], id="seed-negative"),
    pytest.param(_edit(**{"train.device": "gpu"}), ["train.device"], id="unknown-device"),
    pytest.param(_edit(**{"train.precision": "fp8"}), ["train.precision"],
                 id="unknown-precision"),
    pytest.param(_edit(**{"data.synthetic": {"samples": 1}, "data.source": "synthetic"}),
                 ["data.synthetic.samples"], id="synthetic-one-sample"),
    pytest.param(_edit(**{"model.layers.0": {"dense": 10}}), ["model.layers[0]"],
                 id="dense-on-image-shape"),
    pytest.param(_edit(**{"model.layers.0": {"conv2d": {"filters": 4, "kernel": 20, "padding": "valid"}}}),
                 ["model.layers[0]"], id="kernel-larger-than-input"),
    # item 8: values that are not finite or too large
    pytest.param(_edit(**{"train.optimizer": {"lr": float("inf")}}), ["train.optimizer.lr"],
                 id="item8-lr-inf-in-file"),
    pytest.param(_edit(seed=10**30), ["seed"], id="item8-seed-10e30-in-file"),
    pytest.param(_edit(**{"train.clip_grad_norm": float("nan")}), ["train.clip_grad_norm"],
                 id="item8-clip-nan-in-file"),
]

SETS = [  # --set overrides of a good spec
    pytest.param(["train.epochs"], ["--set", "train.epochs", "key=value"], id="set-no-equals"),
    pytest.param(["train..epochs=3"], ["train..epochs"], id="set-empty-path-part"),
    pytest.param(["model.layers[9].dense.units=3"], ["model.layers[9]"],
                 id="set-index-out-of-range"),
    pytest.param(["seed.x=1"], ["seed.x"], id="set-into-a-number"),
    pytest.param(["train.epochz=3"], ["train.epochz"], id="set-unknown-key"),
    pytest.param(["train.epochs=[1"], ["--set train.epochs", "line 1"], id="set-invalid-yaml"),
    pytest.param(["train.epochs=-3"], ["train.epochs"], id="set-epochs-negative"),
    pytest.param(["=3"], ["--set", "=3"], id="set-empty-key"),
    # item 8
    pytest.param(["train.optimizer.lr=.inf"], ["train.optimizer.lr"], id="item8-set-lr-inf"),
    pytest.param(["train.optimizer.lr=.nan"], ["train.optimizer.lr"], id="item8-set-lr-nan"),
    pytest.param(["train.optimizer.lr=-.inf"], ["train.optimizer.lr"],
                 id="item8-set-lr-minus-inf"),
    pytest.param(["train.optimizer.weight_decay=.inf"], ["train.optimizer.weight_decay"],
                 id="item8-set-weight-decay-inf"),
    pytest.param(["seed=1e23"], ["seed"], id="item8-set-seed-1e23"),
    pytest.param([f"seed={10**30}"], ["seed"], id="item8-set-seed-10e30"),
    pytest.param([f"train.epochs={10**30}"], ["train.epochs"], id="item8-set-epochs-10e30"),
]

TEXTS = [  # the spec file's own text
    pytest.param("", [SPEC], id="empty-file"),
    pytest.param("# only a comment\n", [SPEC], id="comment-only"),
    pytest.param("- name: t\n- seed: 0\n", [SPEC, "list"], id="yaml-list"),
    pytest.param("just a string\n", [SPEC, "str"], id="yaml-scalar"),
    pytest.param("name: t\ndata: [digits\n", [SPEC, "line 3"], id="yaml-syntax-error"),
    pytest.param("name: !!python/object:os.system x\n", [SPEC, "line 1"],
                 id="yaml-python-tag"),
    pytest.param(b"name: caf\xe9\n", [SPEC], id="not-utf8"),
    # item 12
    pytest.param(_nested(3000), [SPEC], id="item12-nesting-3000"),
    # item 14: duplicate keys
    pytest.param(yaml.safe_dump(mlp_spec(epochs=1)) + "seed: 3\n", [SPEC, "seed"],
                 id="item14-duplicate-top-key"),
    pytest.param(yaml.safe_dump(mlp_spec(epochs=1)).replace(
        "  epochs: 1\n", "  epochs: 1\n  epochs: 5\n"), [SPEC, "epochs"],
        id="item14-duplicate-nested-key"),
]


@pytest.fixture
def train_spec(tmp_path, capsys):
    """Write a spec file (raw data or text), train it with --set's: refused, no run."""

    def run(content, places, sets=()):
        path = tmp_path / "spec.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
        out = tmp_path / "run"
        argv = ["train", path, "--out", out, "--quiet"]
        for s in sets:
            argv += ["--set", s]
        places = [str(path) if p == SPEC else p for p in places]
        refused(capsys, argv, *places)
        assert not out.exists(), "a refused spec must not leave a run folder"

    return run


@pytest.mark.parametrize("edit, places", EDITS)
def test_bad_spec_values(train_spec, edit, places):
    raw = mlp_spec(epochs=1)
    edit(raw)
    train_spec(raw, places)


@pytest.mark.parametrize("sets, places", SETS)
def test_bad_set(train_spec, sets, places):
    train_spec(mlp_spec(epochs=1), places, sets)


@pytest.mark.parametrize("text, places", TEXTS)
def test_bad_spec_file_text(train_spec, text, places):
    train_spec(text, places)


@pytest.mark.parametrize("command", ["summary", "train", "audit"])
def test_spec_file_missing(capsys, tmp_path, command):
    missing = tmp_path / "nope.yaml"
    refused(capsys, [command, missing], missing)


def test_spec_file_is_a_folder(capsys, tmp_path):
    refused(capsys, ["summary", tmp_path], tmp_path)


# ----------------------------------------------------------------------------- item 1
# A run's (and a tune's) folder is named after the spec's `name`: one safe path part.
NAMES = [
    pytest.param("../../escaped", id="item1-name-dotdot-up"),
    pytest.param("..", id="item1-name-dotdot"),
    pytest.param("a/b", id="item1-name-slash"),
    pytest.param("a\\b", id="item1-name-backslash"),
    pytest.param("", id="item1-name-empty"),
    pytest.param("a\x01b", id="item1-name-control-char"),
    pytest.param("ab\n", id="item1-name-newline"),
    pytest.param("<abs>", id="item1-name-absolute"),
]


def _workdir(tmp_path, monkeypatch):
    """A working folder three levels inside tmp_path, so that an escape stays inside it."""
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    return work


def _written(tmp_path, spec_file) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                  if p.is_file() and p != spec_file)


@pytest.mark.parametrize("name", NAMES)
def test_unsafe_run_name(capsys, tmp_path, monkeypatch, name):
    _workdir(tmp_path, monkeypatch)
    name = str(tmp_path / "abs") if name == "<abs>" else name
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(mlp_spec(epochs=1, name=name)))
    refused(capsys, ["train", spec, "--quiet"], "name")
    assert _written(tmp_path, spec) == []


def test_unsafe_run_name_by_set(capsys, tmp_path, monkeypatch):
    _workdir(tmp_path, monkeypatch)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(mlp_spec(epochs=1)))
    refused(capsys, ["train", spec, "--quiet", "--set", "name=../../escaped"], "name")
    assert _written(tmp_path, spec) == []


def test_unsafe_tune_name(capsys, tmp_path, monkeypatch):
    _workdir(tmp_path, monkeypatch)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(mlp_spec(epochs=1, **{"tune": {
        "trials": 1, "space": {"train.optimizer.lr": {"loguniform": [1e-3, 1e-2]}}}})))
    refused(capsys, ["tune", spec, "--quiet", "--set", "name=../../escaped"], "name")
    assert _written(tmp_path, spec) == []
