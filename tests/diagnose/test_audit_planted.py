"""The audit's calibrated checks on small generated data with planted faults (a fixed seed):
label errors found with precision and recall >= 0.85 and clean rows spared; the margin rule
of likely_label_errors; outliers (cells x100) found, while heavy tails and a faint stroke
in an image's blank corner are not outliers; label shift through the target; near and
conflicting copies; and clean data with nothing flagged at all. The rates on real data
(digits, breast_cancer, diabetes) are bench/faults/audit.py's."""

from __future__ import annotations

import numpy as np
import pytest

from deepnet.data.encoding import Column, TableEncoding
from deepnet.data.split import split_indices
from deepnet.diagnose.audit import (
    MARGIN_MIN,
    MARGIN_SURE,
    audit_arrays,
    likely_label_errors,
)

CLASSES = ["a", "b", "c", "d"]


def blobs(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four well separated Gaussian classes in 8 dimensions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (len(CLASSES), 8))
    y = np.arange(n) % len(CLASSES)
    rng.shuffle(y)
    return (centres[y] + rng.normal(0, 1, (n, 8))).astype(np.float32), y.astype(np.int64)


def splits_of(y: np.ndarray, task: str = "classification") -> dict[str, np.ndarray]:
    return split_indices(y, task, 0.15, 0.15, seed=0)  # what training uses


def audit(x, y, task="classification", classes=CLASSES, splits=None, encoding=None):
    return audit_arrays(x, y, task, classes if task == "classification" else [],
                        splits if splits is not None else splits_of(y, task),
                        encoding=encoding)


def flagged_rows(report) -> set[int]:
    return ({r.row for r in report.label_issues} | {r.row for r in report.outliers}
            | {r for g in report.duplicates for r in g.rows} | {r.row for r in report.leakage})


# ----------------------------------------------------------------------------- clean data
def test_clean_data_has_nothing_flagged():
    x, y = blobs()
    report = audit(x, y)
    assert flagged_rows(report) == set()
    assert report.shift == [] and report.constant_features == []
    assert not report.imbalance.imbalanced and report.imbalance.ratio == 1.0


# ----------------------------------------------------------------------------- labels
def test_flipped_labels_found_and_clean_rows_spared():
    x, y = blobs()
    rng = np.random.default_rng(1)
    flipped = rng.choice(len(y), len(y) // 10, replace=False)
    y[flipped] = (y[flipped] + rng.integers(1, len(CLASSES), len(flipped))) % len(CLASSES)
    found = {r.row for r in audit(x, y).label_issues}
    hits = len(found & set(flipped.tolist()))
    precision, recall = hits / len(found), hits / len(flipped)
    false_flags = len(found - set(flipped.tolist())) / (len(y) - len(flipped))
    assert precision >= 0.85 and recall >= 0.85, (precision, recall)
    assert false_flags <= 0.005, false_flags


def test_margin_rule_sure_lead_and_near_tie():
    """A label whose class leads by MARGIN_SURE is flagged even where confident learning
    counts no noise in its class; a near tie (lead below MARGIN_MIN) never is; the least
    likely label comes first."""
    n = 200
    y = np.arange(n) % 2
    probs = np.full((n, 2), 0.03)
    probs[np.arange(n), y] = 0.97  # every label sure...
    sure, tie = 10, 11  # ...but these
    lead = MARGIN_SURE + 0.02
    probs[sure] = [0.5 - lead / 2, 0.5 + lead / 2] if y[sure] == 0 else \
        [0.5 + lead / 2, 0.5 - lead / 2]
    probs[tie] = [0.48, 0.52] if y[tie] == 0 else [0.52, 0.48]
    worst = 12
    probs[worst, y[worst]], probs[worst, 1 - y[worst]] = 0.01, 0.99
    assert 0.52 - 0.48 < MARGIN_MIN
    out = likely_label_errors(y, probs)
    assert out.tolist() == [worst, sure]


# ----------------------------------------------------------------------------- outliers
def test_cells_times_100_are_outliers_heavy_tails_are_not():
    rng = np.random.default_rng(2)
    x = rng.lognormal(0, 0.5, (500, 6)).astype(np.float32)  # right-skewed: tails 5x median
    y = (np.arange(500) % 2).astype(np.int64)
    assert audit(x, y, classes=["a", "b"]).outliers == []
    planted = rng.choice(500, 5, replace=False)
    for r in planted:  # an entry error: the decimal point moved in three cells
        x[r, rng.choice(6, 3, replace=False)] *= 100
    found = {o.row for o in audit(x, y, classes=["a", "b"]).outliers}
    assert found == set(planted.tolist())


def test_images_share_one_scale():
    """A pixel that is blank in every image but one is no outlier for that (its stroke is
    as bright as any other); the same image with three pixels x100 is."""
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (400, 1, 6, 6)).astype(np.float32)
    x[:, 0, 0, 0] = 0.0  # a blank corner...
    x[7, 0, 0, 0] = 0.5  # ...but in one image
    y = (np.arange(400) % 2).astype(np.int64)
    assert audit(x, y, classes=["a", "b"]).outliers == []
    x[9, 0, 2, 2:5] *= 100
    assert [o.row for o in audit(x, y, classes=["a", "b"]).outliers] == [9]


# ----------------------------------------------------------------------------- copies
def test_near_and_conflicting_copies():
    x, y = blobs()
    rng = np.random.default_rng(4)
    near, conflicting = [(0, 1), (2, 3), (4, 5)], [(10, 11), (12, 13)]
    for a, b in near:  # a copy moved by 1% of each column's spread, same label
        x[b] = x[a] + 0.01 * x.std(axis=0) * rng.standard_normal(8)
        y[b] = y[a]
    for a, b in conflicting:  # the same input with another label
        x[b] = x[a]
        y[b] = (y[a] + 1) % len(CLASSES)
    groups = {g.rows: g for g in audit(x, y).duplicates}
    assert set(groups) == set(near) | set(conflicting)
    assert all(not groups[p].exact and groups[p].same_label for p in near)
    assert all(groups[p].exact and not groups[p].same_label for p in conflicting)


# ----------------------------------------------------------------------------- shift
def test_label_shift_of_a_regression_target():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -1.0, 0.5, 0.0]) + rng.normal(0, 0.5, 400)).astype(np.float32)
    assert audit(x, y, task="regression").shift == []
    order = np.argsort(y)  # the test part mostly from the top of y
    test = np.concatenate([order[-45:], order[:15]])
    rest = np.setdiff1d(np.arange(400), test)
    splits = {"train": rest[:280], "val": rest[280:], "test": np.sort(test)}
    names = [s.feature for s in audit(x, y, task="regression", splits=splits).shift]
    assert "y" in names


def test_label_shift_of_classes_is_named_by_the_target_column():
    """deepnet's split is stratified, so its parts share the class proportions; parts that
    do not (audit_arrays takes any) are flagged by a chi-square test, whose statistic is
    Cramer's V."""
    x, y = blobs()
    encoding = TableEncoding("label", [Column(f"f{i}") for i in range(8)])
    assert audit(x, y, encoding=encoding).shift == []
    first = np.flatnonzero(y == 0)
    test = np.concatenate([first[:60], np.flatnonzero(y != 0)[:30]])  # 2/3 of class a
    rest = np.setdiff1d(np.arange(len(y)), test)
    splits = {"train": rest[:420], "val": rest[420:], "test": np.sort(test)}
    shifted = {s.feature: s for s in audit(x, y, splits=splits, encoding=encoding).shift}
    assert "label" in shifted  # (and features: the classes differ in them)
    assert 0.3 < shifted["label"].statistic <= 1 and shifted["label"].p_value < 0.01


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_no_target_test_with_a_tiny_test_part(task):
    x, y = blobs(40)
    y = y if task == "classification" else y.astype(np.float32)
    splits = {"train": np.arange(37), "val": np.arange(0), "test": np.arange(37, 40)}
    assert audit(x, y, task=task, splits=splits).shift == []
