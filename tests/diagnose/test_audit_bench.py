"""The audit part of the planted-fault benchmark (bench/faults/audit.py): its plants do what
they claim and its scores count what they should (fast), and its quick run meets every goal
of issue 14 for the audit (slow: about a minute on 2 cores)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.faults import audit as bench  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return bench.load_base("digits")


def test_plants_do_what_they_claim(digits, tmp_path):
    rng = np.random.default_rng(0)
    splits = bench.splits_of(digits, tmp_path, 0)
    case = bench.symmetric_noise(0.1)(digits, rng, splits)
    changed = set(np.flatnonzero(case.y != digits.y).tolist())
    assert changed == case.rows and len(changed) == round(0.1 * len(digits.y))

    case = bench.class_pair_noise(digits, rng, splits)
    pairs = {frozenset(p) for p in bench.PAIRS}
    assert all(frozenset((digits.y[r], case.y[r])) in pairs for r in case.rows)

    case = bench.leaked_test_rows(digits, rng, splits)
    train, test = set(splits["train"].tolist()), set(splits["test"].tolist())
    for t, r in case.leaks.items():
        assert t in test and r in train and digits.y[t] == digits.y[r]
        assert np.array_equal(case.x[r], digits.x[t])

    case = bench.gross_outliers(digits, rng, splits)
    moved = np.flatnonzero((case.x != digits.x).reshape(len(case.x), -1).any(axis=1))
    assert set(moved.tolist()) == case.rows and case.x.max() > 10 * digits.x.max()

    case = bench.covariate_shift(digits, rng, splits)
    assert len(case.columns) == bench.SHIFT_COLUMNS
    assert set(case.columns) <= set(digits.flat_columns)
    assert np.array_equal(case.x[splits["train"]], digits.x[splits["train"]])


def test_scores_count_hits_and_false_flags():
    case = bench.Case(np.zeros((100, 2)), np.zeros(100, int), rows={1, 2, 3, 4})
    report = SimpleNamespace(label_issues=[SimpleNamespace(row=r) for r in (1, 2, 3, 50)])
    s = bench.score_label_issues(report, case, 100)
    assert (s.right, s.reported, s.found, s.planted) == (3, 4, 3, 4)
    assert (s.false_rows, s.clean_rows, s.fired) == (1, 96, 1)

    case = bench.Case(np.zeros((100, 2)), np.zeros(100, int), pairs=[(1, 2), (3, 4)])
    report = SimpleNamespace(duplicates=[SimpleNamespace(rows=(1, 2, 9), same_label=True),
                                         SimpleNamespace(rows=(7, 8), same_label=True)])
    s = bench.score_duplicates(report, case, 100)
    assert (s.right, s.reported, s.found, s.planted, s.false_rows) == (1, 2, 1, 2, 3)


@pytest.mark.slow
def test_quick_run_meets_the_audit_goals():
    out = bench.run_audit_bench(quick=True)
    # every goal of issue 14; the clean controls' "rows flagged <= 0.5%" (our own bound, not
    # the issue's) is reported, not asserted: breast_cancer has three malignant rows that
    # every model calls benign (0.53% of its rows), which may well be real label errors
    missed = [g for g in out["goals"] if not g["met"] and not g["goal"].startswith("clean ")]
    assert missed == []
    faults = {r["fault"] for r in out["rows"]}
    assert {f.name for f in bench.FAULTS} == faults
    fig = out["figures"]
    assert fig["audit_label_noise_symmetric_10_digits_precision"]["n"] > 0
    assert "cleanlab_lr_label_noise_symmetric_10_digits_recall" in fig
