"""The typed records of a run directory: JSON round trips, verification on reading, the
versioned model metadata (format-less files read as format 1, newer formats refused)."""

import json

import pytest
import torch
from safetensors.torch import save_file

from deepnet.core.errors import CheckpointError
from deepnet.data.encoding import (
    ArrayEncoding,
    Column,
    ImageEncoding,
    PreprocessRecord,
    TableEncoding,
    TextEncoding,
    encoding_from_json,
)
from deepnet.runs.files import MODEL, TEACHER, RunDir
from deepnet.runs.records import (
    AUDIT_KEYS,
    FORMAT,
    AttackRecord,
    AuditReport,
    ConstantFeature,
    DuplicateGroup,
    EnsembleInfo,
    Imbalance,
    LabelIssue,
    Leak,
    ModelMeta,
    Outlier,
    Results,
    Robustness,
    ShiftedFeature,
    TeacherMeta,
)

PREPROCESS = {"mode": "standard", "shape": [1], "shift": [0.5], "scale": [2.0]}
PREPROCESS_RECORD = PreprocessRecord.from_json(PREPROCESS)
TABLE = TableEncoding("label", [Column("a"), Column("b", "onehot", ["x", "y"], fill="y")])


def _meta(**kw) -> ModelMeta:
    return ModelMeta("classification", (4,), PREPROCESS_RECORD, ["no", "yes"], "data.csv",
                     kw.pop("encoding", TABLE), (0.0, 7.5), **kw)


def _attack(method="pgd", eps=0.1, robust=0.5) -> AttackRecord:
    return AttackRecord(method, "naive", "linf", eps, False, None, 64, 0.9, robust, 0.4,
                        0.08, 0.1, 1.5, {"steps": 20}, [(0.0, 0.9), (0.1, robust)])


@pytest.mark.parametrize("record", [
    Results(test={"accuracy": 0.93, "loss": 0.21}, epochs=5, best_epoch=4,
            stop_reason="early_stopping", stop_message="no improvement", seconds=1.25,
            seconds_per_epoch=0.25, device="cpu", samples={"train": 80, "val": 10, "test": 10},
            versions={"deepnet": "0.1", "torch": "2"}),
    Results(test={"accuracy": 0.95}, members=["../a", "../b"], warnings=["split differs"],
            member_test={"a": {"accuracy": 0.9}, "b": {"accuracy": 0.92}}),
    _meta(),
    ModelMeta("regression", (3, 8, 8), PREPROCESS_RECORD, encoding=ImageEncoding((8, 8), 3)),
    TeacherMeta(20.0, 7, "completed"),
    AuditReport(label_issues=[LabelIssue(3, "a", "b", 0.12)],
                imbalance=Imbalance({"a": 4, "b": 2}, 2.0, False, ())),
    AuditReport(outliers=[Outlier(7, 8.5)], duplicates=[DuplicateGroup((1, 4, 9), True, False)],
                leakage=[Leak(9, "test", 1, True)], shift=[ShiftedFeature("x[1]", 0.4, 1e-5)],
                constant_features=[ConstantFeature("x[0]", 7.0)]),
    Robustness([_attack(), _attack("cw", None)]),
    EnsembleInfo(["../a", "../b"]),
])
def test_round_trip_through_json_text(record):
    again = type(record).from_json(json.loads(json.dumps(record.to_json())))
    assert again == record


@pytest.mark.parametrize("encoding", [
    ArrayEncoding(), TABLE, TextEncoding("review", ["<pad>", "<unk>", "good"], 12, "label"),
    ImageEncoding((28, 28), 1)])
def test_encodings_round_trip_by_kind(encoding):
    d = encoding.to_json()
    assert d["kind"] == encoding.kind
    assert encoding_from_json(json.loads(json.dumps(d))) == encoding


def test_encoding_from_old_or_bad_json():
    assert encoding_from_json(None) == ArrayEncoding()
    assert encoding_from_json({}) == ArrayEncoding()
    with pytest.raises(ValueError, match="'video'"):
        encoding_from_json({"kind": "video"})
    with pytest.raises(ValueError, match="size"):
        encoding_from_json({"kind": "image", "size": "big", "channels": 1})


def test_results_write_only_the_keys_that_apply():
    trained = Results(test={"accuracy": 1.0}, epochs=2, best_epoch=2, stop_reason="completed",
                      stop_message="", seconds=1.0, seconds_per_epoch=0.5, device="cpu",
                      samples={"train": 1}, versions={})
    assert list(trained.to_json()) == ["test", "epochs", "best_epoch", "stop_reason",
                                       "stop_message", "seconds", "seconds_per_epoch",
                                       "timings", "device", "threads", "samples",
                                       "rows_per_epoch", "versions"]
    decided = Results(test={}, epochs=1, per_class={"a": {"f1": 1.0, "support": 2}},
                      threshold={"value": 0.3})
    assert list(decided.to_json())[-2:] == ["per_class", "threshold"]
    ensemble = Results(test={}, members=["a", "b"])
    assert ensemble.to_json() == {"test": {}, "members": ["a", "b"], "warnings": [],
                                  "member_test": {}}
    assert Results().to_json() == {"test": {}}
    # the JSON of earlier deepnet versions reads back, unknown keys ignored
    old = Results.from_json({"test": {"mse": float("nan")}, "epochs": 3, "future": 1})
    assert old.epochs == 3 and old.best_epoch is None and old.test["mse"] != old.test["mse"]


@pytest.mark.parametrize("bad, field", [
    ({"test": [0.9]}, "test"), ({"test": {"accuracy": "high"}}, "test.accuracy"),
    ({"epochs": 2.5}, "epochs"), ([1, 2], "the object")])
def test_results_verified_on_reading(bad, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        Results.from_json(bad)


def test_model_meta_is_versioned():
    d = _meta().to_json()
    assert d["format"] == FORMAT == 3
    assert d["encoding"]["kind"] == "table" and d["x_range"] == [0.0, 7.5]
    # format 1: the metadata of runs written before the format was, encoding possibly {}
    old = {k: v for k, v in d.items() if k not in ("format", "x_range")} | {"encoding": {}}
    meta = ModelMeta.from_json(old)
    assert meta.format == 1 and meta.encoding == ArrayEncoding() and meta.x_range is None
    assert meta.classes == ["no", "yes"] and meta.input_shape == (4,)
    with pytest.raises(CheckpointError, match=r"newer deepnet \(model format 4.*upgrade"):
        ModelMeta.from_json(d | {"format": 4})
    with pytest.raises(CheckpointError, match="upgrade deepnet"):
        TeacherMeta.from_json({"format": FORMAT + 1})
    with pytest.raises(ValueError, match="task"):
        ModelMeta.from_json(d | {"task": "ranking"})


def test_model_meta_preprocess_is_a_record_with_the_saved_keys():
    meta = _meta()
    assert meta.preprocess == PreprocessRecord("standard", (1,), [0.5], [2.0])
    assert meta.to_json()["preprocess"] == PREPROCESS  # no input_transform: none saved
    assert ModelMeta.from_json(meta.to_json()).preprocess == meta.preprocess
    saved = {**meta.to_json(), "preprocess": {"mode": "none", "shift": [0.0], "scale": [1.0]}}
    with pytest.raises(ValueError, match="shape: missing"):
        ModelMeta.from_json(saved)


def test_audit_record_needs_every_key():
    d = AuditReport().to_json()
    assert tuple(d) == AUDIT_KEYS
    with pytest.raises(ValueError, match="leakage"):
        AuditReport.from_json({k: v for k, v in d.items() if k != "leakage"})


def test_audit_findings_write_the_json_keys_of_audit_json():
    report = AuditReport(
        label_issues=[LabelIssue(3, "a", "b", 0.12)], outliers=[Outlier(7, 8.5)],
        duplicates=[DuplicateGroup((1, 4, 9), True, False)], leakage=[Leak(9, "test", 1, True)],
        imbalance=Imbalance({"a": 4, "b": 1}, 4.0, True, ("b",)),
        shift=[ShiftedFeature("x[1]", 0.4, 1e-5)], constant_features=[ConstantFeature("x[0]", 7.0)])
    assert report.to_json() == {
        "label_issues": [{"row": 3, "label": "a", "suggested": "b", "label_probability": 0.12}],
        "outliers": [{"row": 7, "score": 8.5}],
        "duplicates": [{"rows": [1, 4, 9], "exact": True, "same_label": False}],
        "leakage": [{"row": 9, "split": "test", "train_row": 1, "exact": True}],
        "imbalance": {"counts": {"a": 4, "b": 1}, "ratio": 4.0, "imbalanced": True,
                      "minority": ["b"]},
        "shift": [{"feature": "x[1]", "statistic": 0.4, "p_value": 1e-5}],
        "constant_features": [{"feature": "x[0]", "value": 7.0}]}
    # label issues and the training copies of leaks dropped; of a duplicate group with a
    # held-out row, every training copy; the held-out copies kept
    assert report.rows_to_drop() == [1, 3, 4]
    assert dict(report.summary())["imbalance"] == "largest/smallest class 4 (imbalanced)"
    assert dict(report.summary())["duplicates"] == "1 groups (1 exact)"
    bad = report.to_json() | {"leakage": [{"row": 9, "split": "test", "exact": True}]}
    with pytest.raises(ValueError, match=r"leakage\.0\.train_row: missing"):
        AuditReport.from_json(bad)


def test_robustness_merge_replaces_a_rerun():
    first = Robustness([_attack(robust=0.5), _attack("fgsm", robust=0.6)])
    merged = first.merge([_attack(robust=0.1), _attack(eps=0.2, robust=0.05)])
    assert [(a.method, a.eps, a.robust_accuracy) for a in merged.attacks] == [
        ("fgsm", 0.1, 0.6), ("pgd", 0.1, 0.1), ("pgd", 0.2, 0.05)]


def test_ensemble_needs_two_members():
    with pytest.raises(ValueError, match="members"):
        EnsembleInfo.from_json({"kind": "ensemble", "members": ["a"]})


# ----------------------------------------------------------------------------- model files
def test_model_file_round_trip_and_formats(tmp_path):
    files = RunDir(tmp_path)
    net = torch.nn.Linear(4, 2)
    files.write_model(net, _meta())
    tensors, meta = files.read_model()
    assert meta == _meta() and meta.format == FORMAT
    assert torch.equal(tensors["weight"], net.weight.detach())

    # a model file of a deepnet before the format: every key JSON, no `format`
    old = {k: json.dumps(v) for k, v in _meta().to_json().items() if k != "format"}
    save_file({k: v.detach() for k, v in net.state_dict().items()}, tmp_path / MODEL, old)
    assert files.read_model()[1].format == 1

    newer = old | {"format": json.dumps(FORMAT + 1)}
    save_file({k: v.detach() for k, v in net.state_dict().items()}, tmp_path / MODEL, newer)
    with pytest.raises(CheckpointError, match="upgrade deepnet") as e:
        files.read_model()
    assert str(tmp_path / MODEL) in str(e.value)

    bad = old | {"input_shape": json.dumps("four")}
    save_file({k: v.detach() for k, v in net.state_dict().items()}, tmp_path / MODEL, bad)
    with pytest.raises(CheckpointError, match="input_shape") as e:
        files.read_model()
    assert str(tmp_path / MODEL) in str(e.value)


def test_teacher_file(tmp_path):
    files = RunDir(tmp_path)
    assert files.read_teacher() is None
    net = torch.nn.Linear(3, 3)
    files.write_teacher(net, TeacherMeta(10.0, 4, "completed"))
    tensors, meta = files.read_teacher()
    assert meta == TeacherMeta(10.0, 4, "completed") and (tmp_path / TEACHER).is_file()
    assert torch.equal(tensors["bias"], net.bias.detach())
