"""The overfitting fault: an MLP of three dense layers of 512 units on
~200 training rows of digits, no regularisation, 200 epochs -> an `overfitting` finding
with a remedy; `train --auto` from that spec ends with a higher validation accuracy than
its first round. One test, so that the 200-epoch run is trained once."""

import json

import pytest
import yaml

import deepnet
from deepnet.cli import main
from factory import digits_spec

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks

# data.split keeps 11% of the 1797 digits for training: 197 rows, 4 batches an epoch.
OVERFIT = digits_spec([{"dense": {"units": 512, "activation": "relu"}}] * 3 + [{"dense": 10}],
                      data={"split": {"val": 0.45, "test": 0.44}}, epochs=200,
                      early_stopping=None, optimizer={"name": "adam", "lr": 0.001})


@pytest.mark.slow  # run by .ci/run after the default suite
def test_overfitting_is_found_and_auto_raises_val_accuracy(tmp_path, capsys):
    path = tmp_path / "overfit.yaml"
    path.write_text(OVERFIT.to_yaml())
    out = tmp_path / "auto"
    assert main(["train", str(path), "--auto", "--rounds", "2", "--out", str(out), "--json",
                 "--quiet"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    first, second = result["rounds"]
    print(f"val accuracy: round 1 {first['val_accuracy']:.4f}, round 2 "
          f"{second['val_accuracy']:.4f}")

    # round 1: the planted fault, diagnosed
    run1 = deepnet.load(first["run_dir"])
    assert run1.results.samples["train"] < 210 and run1.results.epochs == 200
    findings = deepnet.diagnose(run1)
    over = next(f for f in findings if f.kind == "overfitting")
    assert over.severity in ("warning", "critical")
    assert over.evidence["val_loss_rise"] >= 0.1
    assert over.evidence["train_accuracy"] - over.evidence["val_accuracy"] >= 0.03
    assert over.remedy.changes and over.remedy.text
    assert "train.early_stopping" in over.remedy.changes
    assert first["applied"]["kind"] == "overfitting"
    assert first["applied"]["changes"] == over.remedy.changes

    # the change is printed as a spec diff with the finding that motivated it
    assert "remedy for overfitting" in captured.err
    assert "+++ round 2 spec" in captured.err and "weight_decay" in captured.err

    # round 2: the remedy applied to a copy of the spec, never to the file
    assert yaml.safe_load(path.read_text()) == yaml.safe_load(OVERFIT.to_yaml())
    spec2 = deepnet.load(second["run_dir"]).spec
    assert spec2.train.early_stopping is not None
    assert second["val_accuracy"] > first["val_accuracy"]
    assert result["best"]["round"] == 2
