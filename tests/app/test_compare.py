"""deepnet compare: the --set words that turn the first spec into each other one, the test
metrics side by side, the curves; bad arguments are exit 2."""

from __future__ import annotations

import json
import shlex

import pytest

import deepnet
from deepnet.cli import main
from deepnet.spec import apply_changes
from deepnet.spec.paths import parse_override
from factory import mlp_spec


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    a = deepnet.train(mlp_spec(epochs=2, name="a"), out=root / "a", quiet=True, report=False)
    b = deepnet.train(mlp_spec(epochs=3, name="b", **{
        "train.optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "data.augment": [{"noise": 0.1}]}), out=root / "b", quiet=True, report=False)
    return root, a, b


def test_the_changes_turn_the_first_spec_into_the_second(two_runs, capsys):
    root, a, b = two_runs
    page = root / "compare.html"
    assert main(["compare", str(a.path), str(b.path), "--json", "--html", str(page)]) == 0
    got = json.loads(capsys.readouterr().out)
    changes = got["changes"][str(b.path)]
    assert set(changes["values"]) == {"train.epochs", "train.optimizer.name",
                                      "train.optimizer.lr", "train.optimizer.momentum",
                                      "data.augment"}
    # the words, read as a shell and --set read them, make b's spec from a's
    words = shlex.split(" ".join(changes["set"]))
    assert words[::2] == ["--set"] * len(changes["set"])
    made = apply_changes(a.spec.to_dict(), dict(parse_override(w) for w in words[1::2]),
                         deepnet.Spec)
    assert deepnet.Spec.from_dict({**made, "name": "b"}).to_dict() == b.spec.to_dict()
    for metric, values in got["test"].items():
        assert values == {str(a.path): a.results.test[metric], str(b.path): b.results.test[metric]}
    assert [e["epoch"] for e in got["curves"][str(b.path)]] == [1, 2, 3]
    text = page.read_text()
    assert "data:image/png;base64," in text and "train.optimizer.lr=0.05" in text


def test_the_table_and_bad_arguments(two_runs, capsys):
    root, a, b = two_runs
    assert main(["compare", str(a.path), str(b.path)]) == 0
    out = capsys.readouterr().out
    assert f"{b.path}: --set " in out and "accuracy" in out
    assert main(["compare", str(a.path)]) == 2
    assert "at least 2 runs" in capsys.readouterr().err
    assert main(["compare", str(a.path), str(root / "nothing")]) == 2
    assert main(["compare", str(a.path), str(a.path)]) == 2
