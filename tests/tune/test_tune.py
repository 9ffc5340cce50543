"""deepnet tune on digits: the search finds a spec at least as good as the one written,
prunes, continues a study, writes its outputs; the memory budget prunes large trials."""

import base64
import json
import re
from xml.etree import ElementTree

import pytest
import yaml

import deepnet
from deepnet.cli import main
from deepnet.spec import Spec
from deepnet.tune.worker import kept_value, memory_bytes

JSON_KEYS = {"best_value", "best_params", "best_spec", "trials", "storage"}


def _val(run, metric="accuracy"):
    """The validation metric at the epoch a run kept."""
    return kept_value(run.history, run.results.best_epoch, f"val_{metric}")


def test_small_search_beats_the_spec_prunes_and_continues(tmp_path, tune_spec_dict, one_thread,
                                                          capsys):
    spec = Spec.from_dict(tune_spec_dict)
    as_written = _val(deepnet.train(spec, out=tmp_path / "as-written", quiet=True))
    out = tmp_path / "tune"
    r = deepnet.tune(spec, trials=6, out=out, quiet=True)
    assert capsys.readouterr().err == ""  # trials train quietly
    assert r.trials["complete"] + r.trials["pruned"] == 6 and r.trials["failed"] == 0
    assert r.trials["pruned"] >= 1
    complete = [row for row in r.rows if row["state"] == "complete"]
    assert r.best_value == max(row["value"] for row in complete)
    assert r.best_value >= as_written
    assert set(r.best_params) == set(spec.tune.space)

    # best_spec.yaml trains, with the same seed, to the best trial's value
    best = Spec.from_yaml(r.best_spec)
    assert best.train.optimizer.name == r.best_params["train.optimizer.name"]
    assert best.model.layers[1].model_dump()["dense"]["units"] == \
        r.best_params["model.layers[1].dense.units"]
    assert _val(deepnet.train(best, out=tmp_path / "best", quiet=True)) == r.best_value

    # every trial wrote its run directory; pruned ones say why
    for row in r.rows:
        results = json.loads((out / f"trial-{row['number']}" / "results.json").read_text())
        assert results["stop_reason"] == ("pruned" if row["state"] == "pruned" else "completed")
        if row["state"] == "pruned":
            assert row["reason"].startswith("pruned at epoch")
    assert len((out / "trials.csv").read_text().splitlines()) == 1 + 6
    page = (out / "tune_report.html").read_text()
    drawn = [ElementTree.fromstring(base64.b64decode(d)) for d in  # well-formed SVG
             re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)]
    assert len(drawn) == 3  # history, importances, parallel coordinates
    history, importance, parallel = (list(d.iter()) for d in drawn)
    dots = [e for e in history if e.tag.endswith("circle")]  # a dot a trial, 2 in the key
    assert len(dots) == 6 + 2
    assert sum(e.tag.endswith("polyline") for e in history) == 1  # the best so far
    bars = [e for e in importance if e.tag.endswith("rect") and e.get("height") != \
            importance[0].get("height")]  # less the background
    assert len(bars) == len(spec.tune.space)
    assert sum(e.tag.endswith("polyline") for e in parallel) == r.trials["complete"]
    assert "http://" not in page and "https://" not in page
    assert set(r.importances) == set(spec.tune.space)
    assert set(json.loads((out / "tune.json").read_text())) >= JSON_KEYS

    # the same command again continues the study: nothing left to do, then one more
    again = deepnet.tune(spec, trials=6, out=out, quiet=True)
    assert again.rows == r.rows
    more = deepnet.tune(spec, trials=7, out=out, quiet=True)
    assert more.trials["complete"] + more.trials["pruned"] == 7
    assert more.rows[:6] == r.rows


def test_cli_json_is_exactly_the_contract(tmp_path, tune_spec_dict, one_thread, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(tune_spec_dict))
    storage = tmp_path / "my.journal"
    code = main(["tune", str(path), "--trials", "2", "--out", str(tmp_path / "t"), "--json",
                 "--storage", str(storage), "--set", "train.epochs=1"])
    captured = capsys.readouterr()
    assert code == 0
    out = json.loads(captured.out)
    assert set(out) == JSON_KEYS
    assert set(out["trials"]) == {"complete", "pruned", "failed"}
    assert out["storage"] == str(storage) and storage.exists()
    assert Spec.from_yaml(out["best_spec"]).train.epochs == 1
    assert re.search(r"tune: 2/2 done \(\d complete, \d pruned, 0 failed\)  best val_accuracy",
                     captured.err)
    # the text output: best value and parameters, the trials table, where things are
    assert main(["tune", str(path), "--trials", "2", "--out", str(tmp_path / "t"),
                 "--storage", str(storage), "--quiet", "--set", "train.epochs=1"]) == 0
    text = capsys.readouterr().out
    assert "best val_accuracy" in text and "train.optimizer.lr" in text
    assert "trials" in text and "best_spec.yaml" in text and "tune_report.html" in text


def test_memory_budget_prunes_without_running(tmp_path, tune_spec_dict, one_thread):
    tune_spec_dict["train"]["epochs"] = 1
    spec = Spec.from_dict(tune_spec_dict)
    small = memory_bytes(spec, (1, 8, 8))
    big = Spec.from_dict(tune_spec_dict | {"model": {"layers": [
        {"flatten": {}}, {"dense": 2048}, {"dropout": 0.2}, {"dense": 10}]}})
    budget = (small + memory_bytes(big, (1, 8, 8))) // 2
    tune_spec_dict["tune"] = {"pruner": "none", "memory_budget": budget, "space": {
        "model.layers[1].dense.units": {"choice": [32, 2048]}}}
    r = deepnet.tune(Spec.from_dict(tune_spec_dict), trials=4, out=tmp_path / "t", quiet=True)
    states = {row["state"] for row in r.rows}
    assert states == {"complete", "pruned"}
    for row in r.rows:
        big_one = row["model.layers[1].dense.units"] == 2048
        assert (row["state"] == "pruned") == big_one
        if big_one:
            assert "exceeds tune.memory_budget" in row["reason"]
            assert not (tmp_path / "t" / f"trial-{row['number']}").exists()  # never ran
    assert r.best_params == {"model.layers[1].dense.units": 32}


def test_trials_read_their_data_once(tmp_path, tune_spec_dict, one_thread, monkeypatch):
    """The trials of one process share the data the first of them read, unless a trial
    changes the data section; their values are those of runs that read it themselves."""
    import deepnet.data.sources as sources

    reads = []
    real = sources._load_source
    monkeypatch.setattr(sources, "_load_source",
                        lambda data, *a: reads.append(data.source) or real(data, *a))
    tune_spec_dict["train"]["epochs"] = 1
    tune_spec_dict["tune"] = {"pruner": "none", "space": {
        "train.optimizer.lr": {"loguniform": [1.0e-3, 1.0e-1]}}}
    r = deepnet.tune(Spec.from_dict(tune_spec_dict), trials=3, out=tmp_path / "t", quiet=True)
    assert r.trials["complete"] == 3 and reads == ["digits"]
    tune_spec_dict["tune"]["space"] = {"data.split.val": {"choice": [0.2, 0.3]}}
    u = deepnet.tune(Spec.from_dict(tune_spec_dict), trials=4, out=tmp_path / "u", quiet=True)
    sections = {row["data.split.val"] for row in u.rows}  # the spec's own is 0.15
    assert len(sections) == 2 and len(reads) == 1 + 1 + len(sections)


# Tuning pays off on the spec of examples/digits.yaml: a search over the
# learning rate, units, dropout and optimizer (10 epochs a trial) reaches at least the
# validation accuracy of the example as written (30 epochs), and prunes.
DIGITS_SPACE = {
    "train.optimizer.lr": {"loguniform": [3.0e-4, 3.0e-2]},
    "model.layers[5].dense.units": {"int": [32, 256], "log": True},
    "model.layers[6].dropout.rate": {"uniform": [0.0, 0.5]},
    "train.optimizer.name": {"choice": ["adam", "adamw", "rmsprop", "sgd"]},
}


@pytest.mark.slow
def test_digits_20_trials_reach_the_example(tmp_path, one_thread):
    example = _val(deepnet.train(Spec.from_yaml("examples/digits.yaml"), out=tmp_path / "ex",
                                 quiet=True))
    spec = Spec.from_yaml("examples/digits.yaml", [
        "train.epochs=10", f"tune={json.dumps({'trials': 20, 'space': DIGITS_SPACE})}"])
    r = deepnet.tune(spec, out=tmp_path / "tune", quiet=True)
    assert r.trials["complete"] + r.trials["pruned"] == 20
    assert r.trials["pruned"] >= 1
    assert r.best_value >= example, (r.best_value, example)
