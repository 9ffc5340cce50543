"""Data faults planted into clean data, and what `deepnet audit` finds of them.

Each fault is a small documented plant on a clean base, over several seeds: digits (an .npz
of 8x8 images), breast_cancer and diabetes (CSV tables with named columns, for the faults
that need columns or a regression target). The planted data is written to a temporary
folder, a spec is made, and `deepnet.audit(spec)` runs as a user runs it; what the check
that should see the fault reports is scored against what was planted:

- precision: the share of what the check reports that was planted;
- recall: the share of what was planted that the check reports;
- clean rows flagged: rows the check reports among the rows nothing was planted in (its
  false flags), as a share of those rows;
- flagged: the seeds on which the check fired at all.

The faults (sizes in the constants below): symmetric label noise (10%, 20%), class-pair
label noise (1<->7, 3<->8, 4<->9), conflicting copies (same x, another label), gross
outliers (three cells x100), near-duplicates (a copy moved by 1% of each column's spread),
test rows copied over training rows, covariate shift (three columns of the test rows moved
by one standard deviation), label shift (diabetes: the test rows mostly from the upper half
of y; deepnet splits classes stratified, so a class target cannot shift between its parts),
class imbalance (classes cut to 10%), and NaN cells (which the audit refuses, naming each).

A clean control per base (nothing planted) counts every row any row check flags. Shift and
imbalance are also counted on every case without a planted shift or imbalance: they must
never fire there. Beside the label-noise rows, the outside reference: cleanlab's
`find_label_issues` with logistic-regression out-of-fold probabilities on the same data.

    .venv/bin/python bench/faults/audit.py [--quick]

prints a table and, last, one JSON object {"rows": [...], "figures": {...}, "goals": [...]}.
`run_audit_bench(quick)` returns the same object (bench/faults' runner imports it).
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, field
from pathlib import Path

import numpy as np

import deepnet
from deepnet.data.encoding import ArrayEncoding
from deepnet.data.prepare import prepare
from deepnet.data.sources import load_source
from deepnet.diagnose.audit import feature_names

SEEDS = 5
QUICK_SEEDS = 2

# ----------------------------------------------------------------------------- plants' sizes
SYMMETRIC = (0.10, 0.20)  # share of rows given another class, drawn uniformly
PAIRS = ((1, 7), (3, 8), (4, 9))  # digits that look alike: class-pair noise swaps them
PAIR_RATE = 0.20  # share of each paired class's rows given its partner's label
COPIES = 0.01  # conflicting copies, near-duplicates, outliers: pairs/rows per row of data
NEAR_NOISE = 0.01  # a near-duplicate: each value moved by N(0, 1%) of its column's std
OUTLIER_CELLS = 3  # a gross outlier: non-zero cells of the row ...
OUTLIER_FACTOR = 100.0  # ... multiplied by this (an entry error: the decimal point moved)
LEAK_SHARE = 0.20  # share of the test rows copied over a training row of the same class
SHIFT_COLUMNS = 3  # covariate shift: columns whose test values move ...
SHIFT_STD = 1.0  # ... by this many of the column's standard deviations
LABEL_SHIFT_HIGH = 0.8  # label shift: share of test rows drawn from the upper half of y
IMBALANCE_KEEP = 0.10  # class imbalance: share of a reduced class's rows that remain
IMBALANCED_CLASSES = 2  # classes reduced (one when there are only two)
NAN_CELLS = 8  # cells emptied; at most the 10 a DataError names one by one

# ----------------------------------------------------------------------------- goals (issue 14)
LABEL_GOAL = 0.85  # 10% symmetric noise on digits: precision and recall at least this
PAIR_PRECISION_GOAL = 0.80  # class-pair noise on digits: precision at least this
CLEAN_ROWS_GOAL = 0.005  # rows flagged among the unplanted ones: at most this share


# ----------------------------------------------------------------------------- bases
@dataclass(frozen=True)
class Base:
    """Clean data as its source holds it: x (N, ...), y (class indices or targets)."""

    name: str
    x: np.ndarray
    y: np.ndarray
    task: str
    classes: list[str]
    columns: list[str] | None  # a table's columns (written as CSV); None: an .npz

    @property
    def flat_columns(self) -> list[str]:
        """The names the audit gives the features (a table's columns, `x[0,3,4]`)."""
        return self.columns or feature_names(tuple(self.x.shape[1:]), ArrayEncoding())

    @property
    def target(self) -> str:
        """The name the audit gives the target."""
        return "y" if self.columns is None else "target"


def load_base(name: str) -> Base:
    ds = load_source(deepnet.Spec.from_dict({"data": name, "model": [{"dense": 1}]}).data)
    columns = [c.name for c in ds.encoding.columns] if ds.encoding.kind == "table" else None
    return Base(name, np.array(ds.x, dtype=np.float64), ds.y.copy(), ds.task,
                list(ds.classes), columns)


@dataclass
class Case:
    """One planted data set and its ground truth."""

    x: np.ndarray
    y: np.ndarray
    rows: set[int] = field(default_factory=set)  # rows planted into (label errors, outliers)
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (original, copy)
    leaks: dict[int, int] = field(default_factory=dict)  # test row -> its training copy
    columns: set[str] = field(default_factory=set)  # shifted columns
    classes: set[str] = field(default_factory=set)  # reduced classes
    target: str = "target"  # the target's name in the audit

    @property
    def planted_rows(self) -> set[int]:
        return (self.rows | {r for p in self.pairs for r in p}
                | set(self.leaks) | set(self.leaks.values()))


def write(base: Base, case: Case, folder: Path, seed: int) -> deepnet.Spec:
    """The case as a file of the base's kind, and a spec that reads it."""
    if base.columns is None:
        path = folder / f"{base.name}.npz"
        np.savez(path, x=case.x.astype(np.float32), y=case.y)
    else:
        import pandas as pd

        path = folder / f"{base.name}.csv"
        frame = pd.DataFrame(case.x.reshape(len(case.x), -1), columns=base.columns)
        frame["target"] = (np.asarray(base.classes)[case.y] if base.task == "classification"
                           else case.y)
        frame.to_csv(path, index=False)
    return deepnet.Spec.from_dict({
        "name": "audit-bench", "seed": seed, "task": base.task, "data": {"source": str(path)},
        "model": {"layers": [{"flatten": {}}, {"dense": 2}]}})


_SPLITS: dict[tuple[str, int], dict[str, np.ndarray]] = {}


def splits_of(base: Base, folder: Path, seed: int) -> dict[str, np.ndarray]:
    """The train/val/test rows deepnet makes of the clean base with this seed."""
    key = (base.name, seed)
    if key not in _SPLITS:
        _SPLITS[key] = prepare(write(base, Case(base.x, base.y), folder, seed)).splits
    return _SPLITS[key]


# ----------------------------------------------------------------------------- plants
def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)


def symmetric_noise(rate: float) -> Callable:
    def plant(base: Base, rng, splits) -> Case:
        y = base.y.copy()
        rows = rng.choice(len(y), int(round(rate * len(y))), replace=False)
        c = len(base.classes)
        y[rows] = (y[rows] + rng.integers(1, c, len(rows))) % c  # always another class
        return Case(base.x, y, rows=set(rows.tolist()))
    return plant


def class_pair_noise(base: Base, rng, splits) -> Case:
    y = base.y.copy()
    rows = []
    for a, b in PAIRS:
        for c, other in ((a, b), (b, a)):
            members = np.flatnonzero(base.y == c)
            pick = rng.choice(members, int(round(PAIR_RATE * len(members))), replace=False)
            y[pick] = other
            rows += pick.tolist()
    return Case(base.x, y, rows=set(rows))


def _pairs(base: Base, rng, k: int, same_class: bool) -> list[tuple[int, int]]:
    """k disjoint (original, copy) row pairs, of the same class or of different ones."""
    order = rng.permutation(len(base.y))
    used: set[int] = set()
    out = []
    for a in order:
        if len(out) == k:
            break
        if a in used:
            continue
        if base.task != "classification":
            same = np.ones(len(base.y), dtype=bool)
        else:
            same = base.y == base.y[a] if same_class else base.y != base.y[a]
        pool = [int(b) for b in np.flatnonzero(same) if b != a and b not in used]
        b = int(rng.choice(pool))
        used |= {int(a), b}
        out.append((int(a), b))
    return out


def _count(base: Base) -> int:
    return max(5, int(round(COPIES * len(base.y))))


def conflicting_copies(base: Base, rng, splits) -> Case:
    """Same x, another label: row b becomes a copy of row a's input, keeping its label."""
    x = base.x.copy()
    pairs = _pairs(base, rng, _count(base), same_class=False)
    for a, b in pairs:
        x[b] = x[a]
    return Case(x, base.y, pairs=pairs)


def near_duplicates(base: Base, rng, splits) -> Case:
    x = base.x.copy()
    std = _flat(base.x).std(axis=0).reshape(base.x.shape[1:])
    pairs = _pairs(base, rng, _count(base), same_class=True)
    for a, b in pairs:
        x[b] = x[a] + NEAR_NOISE * std * rng.standard_normal(std.shape)
    return Case(x, base.y, pairs=pairs)


def gross_outliers(base: Base, rng, splits) -> Case:
    x = _flat(base.x).copy()
    rows = rng.choice(len(x), _count(base), replace=False)
    for r in rows:
        cols = rng.choice(np.flatnonzero(x[r] != 0), OUTLIER_CELLS, replace=False)
        x[r, cols] *= OUTLIER_FACTOR
    return Case(x.reshape(base.x.shape), base.y, rows=set(rows.tolist()))


def leaked_test_rows(base: Base, rng, splits) -> Case:
    """Test rows copied over training rows of the same class (the split is unchanged)."""
    x = base.x.copy()
    test = rng.choice(splits["test"], int(round(LEAK_SHARE * len(splits["test"]))),
                      replace=False)
    free = set(splits["train"].tolist())
    leaks = {}
    for t in test:
        pool = [r for r in np.flatnonzero(base.y == base.y[t]) if r in free] \
            if base.task == "classification" else sorted(free)
        r = int(rng.choice(pool))
        free.discard(r)
        x[r] = x[t]
        leaks[int(t)] = r
    return Case(x, base.y, leaks=leaks)


def covariate_shift(base: Base, rng, splits) -> Case:
    x = _flat(base.x).copy()
    std = x[splits["train"]].std(axis=0)
    cols = rng.choice(np.flatnonzero(std > 0), SHIFT_COLUMNS, replace=False)
    test = splits["test"]
    x[np.ix_(test, cols)] += SHIFT_STD * std[cols]
    names = base.flat_columns
    return Case(x.reshape(base.x.shape), base.y, columns={names[c] for c in cols})


def label_shift(base: Base, rng, splits) -> Case:
    """Regression: the split of a regression task does not look at y, so the rows that
    land on the test positions can be chosen: most from the upper half of y (P(y) moves,
    P(x | y) stays)."""
    n, test = len(base.y), splits["test"]
    high = base.y > np.median(base.y)
    p = np.where(high, LABEL_SHIFT_HIGH / high.sum(), (1 - LABEL_SHIFT_HIGH) / (~high).sum())
    chosen = rng.choice(n, len(test), replace=False, p=p)
    rest = rng.permutation(np.setdiff1d(np.arange(n), chosen))
    order = np.empty(n, dtype=np.int64)
    order[test] = chosen
    order[np.setdiff1d(np.arange(n), test)] = rest
    return Case(base.x[order], base.y[order])


def class_imbalance(base: Base, rng, splits) -> Case:
    c = len(base.classes)
    reduced = rng.choice(c, IMBALANCED_CLASSES, replace=False) if c > 2 \
        else [int(np.argmin(np.bincount(base.y)))]  # two classes: the smaller one
    keep = np.ones(len(base.y), dtype=bool)
    for k in reduced:
        members = np.flatnonzero(base.y == k)
        drop = rng.choice(members, len(members) - int(round(IMBALANCE_KEEP * len(members))),
                          replace=False)
        keep[drop] = False
    rows = np.flatnonzero(keep)
    return Case(base.x[rows], base.y[rows], classes={base.classes[k] for k in reduced})


def nan_cells(base: Base, rng, splits) -> Case:
    x = _flat(base.x).copy()
    rows = rng.choice(len(x), NAN_CELLS, replace=False)
    x[rows, rng.integers(0, x.shape[1], NAN_CELLS)] = np.nan
    return Case(x.reshape(base.x.shape), base.y, rows=set(rows.tolist()))


def clean(base: Base, rng, splits) -> Case:
    return Case(base.x, base.y)


# ----------------------------------------------------------------------------- scoring
@dataclass
class Score:
    """Counts of one case, summed over the seeds."""

    right: int = 0  # reported items that were planted
    reported: int = 0
    found: int = 0  # planted items reported
    planted: int = 0
    false_rows: int = 0  # rows flagged among the unplanted ones ...
    clean_rows: int = 0  # ... and how many unplanted rows there were
    fired: int = 0  # seeds on which the check reported anything
    seeds: int = 0

    def __add__(self, o: Score) -> Score:
        return Score(*(a + b for a, b in zip(astuple(self), astuple(o), strict=True)))


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _row_score(reported: set[int], case: Case, n: int) -> Score:
    planted = case.planted_rows
    return Score(len(reported & planted), len(reported), len(reported & planted),
                 len(planted), len(reported - planted), n - len(planted), int(bool(reported)), 1)


def _groups_score(groups: list[set[int]], case: Case, n: int) -> Score:
    right = sum(any({a, b} <= g for a, b in case.pairs) for g in groups)
    found = sum(any({a, b} <= g for g in groups) for a, b in case.pairs)
    flagged = set().union(*groups) if groups else set()
    planted = case.planted_rows
    return Score(right, len(groups), found, len(case.pairs), len(flagged - planted),
                 n - len(planted), int(bool(groups)), 1)


def score_label_issues(report, case, n):
    return _row_score({r.row for r in report.label_issues}, case, n)


def score_outliers(report, case, n):
    return _row_score({r.row for r in report.outliers}, case, n)


def score_conflicts(report, case, n):
    return _groups_score([set(g.rows) for g in report.duplicates if not g.same_label], case, n)


def score_duplicates(report, case, n):
    return _groups_score([set(g.rows) for g in report.duplicates], case, n)


def score_leakage(report, case, n):
    reported = {(r.row, r.train_row) for r in report.leakage}
    planted = set(case.leaks.items())
    flagged = {r for p in reported for r in p}
    return Score(len(reported & planted), len(reported), len(reported & planted), len(planted),
                 len(flagged - case.planted_rows), n - len(case.planted_rows),
                 int(bool(reported)), 1)


def _set_score(reported: set[str], planted: set[str]) -> Score:
    return Score(len(reported & planted), len(reported), len(reported & planted), len(planted),
                 0, 0, int(bool(reported & planted) if planted else bool(reported)), 1)


def score_shift(report, case, n):
    return _set_score({s.feature for s in report.shift} - {case.target}, case.columns)


def score_label_shift(report, case, n):
    return _set_score({s.feature for s in report.shift} & {case.target}, {case.target})


def score_imbalance(report, case, n):
    imb = report.imbalance
    return _set_score(set(imb.minority) if imb is not None and imb.imbalanced else set(),
                      case.classes)


def score_nan(error, case, n):
    """The audit refuses the data (`missing: error`, the default), naming each cell."""
    if not isinstance(error, deepnet.DataError):
        return Score(0, 0, 0, len(case.rows), 0, n - len(case.rows), 0, 1)
    listed = {int(r) for r in re.findall(r"row (\d+)", str(error))}
    return _row_score(listed, case, n)


def score_clean(report, case, n):
    """Every row any row check flags: all of them are false flags."""
    rows = ({r.row for r in report.label_issues} | {r.row for r in report.outliers}
            | {r for g in report.duplicates for r in g.rows}
            | {r.row for r in report.leakage} | {r.train_row for r in report.leakage})
    return _row_score(rows, case, n)


# ----------------------------------------------------------------------------- faults
@dataclass(frozen=True)
class Fault:
    name: str
    plant: Callable
    check: str  # the report's key that should show it
    score: Callable
    bases: tuple[str, ...]
    shifts: bool = False  # train and test distributions differ by design
    imbalanced: bool = False
    refused: bool = False  # the audit refuses the data (a DataError is the finding)


FAULTS = [
    Fault("clean", clean, "all", score_clean, ("digits", "breast_cancer", "diabetes")),
    Fault("label_noise_symmetric_10", symmetric_noise(SYMMETRIC[0]), "label_issues",
          score_label_issues, ("digits", "breast_cancer")),
    Fault("label_noise_symmetric_20", symmetric_noise(SYMMETRIC[1]), "label_issues",
          score_label_issues, ("digits",)),
    Fault("label_noise_class_pair", class_pair_noise, "label_issues", score_label_issues,
          ("digits",)),
    Fault("conflicting_copies", conflicting_copies, "duplicates", score_conflicts,
          ("digits", "breast_cancer")),
    Fault("gross_outliers", gross_outliers, "outliers", score_outliers,
          ("digits", "breast_cancer")),
    Fault("near_duplicates", near_duplicates, "duplicates", score_duplicates,
          ("digits", "breast_cancer")),
    Fault("leaked_test_rows", leaked_test_rows, "leakage", score_leakage,
          ("digits", "breast_cancer")),
    Fault("covariate_shift", covariate_shift, "shift", score_shift,
          ("digits", "breast_cancer"), shifts=True),
    Fault("label_shift", label_shift, "shift", score_label_shift, ("diabetes",), shifts=True),
    Fault("class_imbalance", class_imbalance, "imbalance", score_imbalance,
          ("digits", "breast_cancer"), imbalanced=True),
    Fault("nan_cells", nan_cells, "refused", score_nan, ("digits", "breast_cancer"),
          refused=True),
]
LABEL_FAULTS = {"label_noise_symmetric_10", "label_noise_symmetric_20", "label_noise_class_pair"}


# ----------------------------------------------------------------------------- reference
def cleanlab_reference(case: Case, seed: int) -> set[int]:
    """Rows cleanlab flags with logistic-regression out-of-fold probabilities (standardised
    features, 5 stratified folds): the published baseline the issue quotes."""
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    probs = cross_val_predict(model, _flat(case.x), case.y, method="predict_proba",
                              cv=StratifiedKFold(5, shuffle=True, random_state=seed))
    return set(np.flatnonzero(find_label_issues(case.y, probs, n_jobs=1)).tolist())


# ----------------------------------------------------------------------------- the run
@dataclass
class Tally:
    """One row of the table: a fault on a base, summed over the seeds."""

    fault: Fault
    base: str
    score: Score = field(default_factory=Score)
    reference: Score = field(default_factory=Score)  # cleanlab + LR, label faults only
    shift_alarms: int = 0  # seeds on which shift fired though none was planted
    imbalance_alarms: int = 0  # seeds on which imbalance fired though none was planted
    audits: int = 0  # seeds on which the audit returned a report
    seconds: list[float] = field(default_factory=list)


def run_case(fault: Fault, base: Base, seed: int, folder: Path, tally: Tally,
             reference: bool = True) -> None:
    rng = np.random.default_rng([seed, sum(map(ord, fault.name + base.name))])
    case = fault.plant(base, rng, splits_of(base, folder, seed))
    case.target = base.target
    spec = write(base, case, folder, seed)
    start = time.perf_counter()
    try:
        report = deepnet.audit(spec)
    except deepnet.DataError as e:
        if not fault.refused:
            raise
        report = e
    tally.seconds.append(time.perf_counter() - start)
    n = len(case.y)
    tally.score += fault.score(report, case, n)
    if not isinstance(report, Exception):
        tally.audits += 1
        tally.shift_alarms += bool(not fault.shifts and report.shift)
        tally.imbalance_alarms += bool(not fault.imbalanced and report.imbalance is not None
                                       and report.imbalance.imbalanced)
    if reference and fault.name in LABEL_FAULTS:
        tally.reference += _row_score(cleanlab_reference(case, seed), case, n)


def _rates(s: Score) -> dict[str, dict]:
    """precision, recall, clean rows flagged and the seeds flagged as {"k", "n"}."""
    out = {"precision": {"k": s.right, "n": s.reported}, "recall": {"k": s.found, "n": s.planted},
           "clean_rows_flagged": {"k": s.false_rows, "n": s.clean_rows},
           "flagged": {"k": s.fired, "n": s.seeds}}
    if not s.planted:  # a clean control: every flag is a false one
        del out["precision"], out["recall"]
    return {m: v for m, v in out.items() if v["n"] or m == "precision"}


def _value(kn: dict | None) -> float | None:
    return None if kn is None else _ratio(kn["k"], kn["n"])


def row_of(t: Tally) -> dict:
    """One flat row: the rates as numbers, the seeds flagged as 'k/n'."""
    r = _rates(t.score)
    row = {"fault": t.fault.name, "base": t.base, "check": t.fault.check,
           "precision": _value(r.get("precision")), "recall": _value(r.get("recall")),
           "clean_rows_flagged": _value(r.get("clean_rows_flagged")),
           "flagged": f"{t.score.fired}/{t.score.seeds}", "seeds": t.score.seeds,
           "seconds": round(statistics.median(t.seconds), 3)}
    if t.reference.seeds:
        ref = _rates(t.reference)
        row |= {f"cleanlab_lr_{m}": _value(ref.get(m))
                for m in ("precision", "recall", "clean_rows_flagged")}
    return {k: v for k, v in row.items() if v is not None}  # none: not applicable


def figures_of(tallies: list[Tally]) -> dict:
    """Every rate as {"k", "n"} (the runner adds Wilson intervals), and the seconds."""
    fig: dict = {}
    for t in tallies:
        key = f"{t.fault.name}_{t.base}"
        fig |= {f"audit_{key}_{m}": v for m, v in _rates(t.score).items()}
        if t.reference.seeds:
            fig |= {f"cleanlab_lr_{key}_{m}": v for m, v in _rates(t.reference).items()
                    if m != "flagged"}
    fig["audit_shift_on_unshifted_data"] = {
        "k": sum(t.shift_alarms for t in tallies),
        "n": sum(t.audits for t in tallies if not t.fault.shifts)}
    fig["audit_imbalance_on_balanced_data"] = {
        "k": sum(t.imbalance_alarms for t in tallies),
        "n": sum(t.audits for t in tallies if not t.fault.imbalanced)}
    for base in dict.fromkeys(t.base for t in tallies):
        times = [s for t in tallies if t.base == base and not t.fault.refused for s in t.seconds]
        fig[f"audit_seconds_{base}_median"] = round(statistics.median(times), 3)
    return fig


def goals_of(tallies: list[Tally], fig: dict) -> list[dict]:
    """The goals of issue 14 item 3 for the audit, each with what was measured."""
    out = []
    found = {(t.fault.name, t.base): row_of(t) for t in tallies}

    def goal(text: str, measured, met: bool) -> None:
        out.append({"goal": text, "measured": measured, "met": bool(met)})

    def rates(fault, base, *ms):
        row = found.get((fault, base))
        return None if row is None else {m: row.get(m) for m in ms}

    m = rates("label_noise_symmetric_10", "digits", "precision", "recall", "clean_rows_flagged")
    if m:
        goal("label noise 10% symmetric, digits: precision >= 0.85 at recall >= 0.85, clean "
             "rows flagged <= 0.5%", m, (m["precision"] or 0) >= LABEL_GOAL
             and (m["recall"] or 0) >= LABEL_GOAL
             and (m["clean_rows_flagged"] or 0) <= CLEAN_ROWS_GOAL)
    m = rates("label_noise_class_pair", "digits", "precision", "recall")
    if m:
        goal("label noise class-pair, digits: precision >= 0.80", m,
             (m["precision"] or 0) >= PAIR_PRECISION_GOAL)
    for fault in ("conflicting_copies", "near_duplicates", "leaked_test_rows"):
        for base in ("digits", "breast_cancer"):
            m = rates(fault, base, "precision", "recall", "clean_rows_flagged")
            if m:
                goal(f"{fault}, {base}: precision 1.0 and recall 1.0, no false flag", m,
                     m["precision"] == 1 and m["recall"] == 1 and m["clean_rows_flagged"] == 0)
    for t in tallies:
        if t.fault.shifts or t.fault.imbalanced:
            goal(f"{t.fault.name}, {t.base}: flagged on every seed",
                 f"{t.score.fired}/{t.score.seeds}", t.score.fired == t.score.seeds)
    for t in tallies:
        if t.fault.name == "clean":
            c = row_of(t).get("clean_rows_flagged", 0.0)
            goal(f"clean {t.base}: rows flagged <= 0.5%", c, c <= CLEAN_ROWS_GOAL)
    for key, text in (("audit_shift_on_unshifted_data", "shift never flagged on unshifted data"),
                      ("audit_imbalance_on_balanced_data",
                       "imbalance never flagged on balanced data")):
        goal(text, f"{fig[key]['k']}/{fig[key]['n']}", fig[key]["k"] == 0)
    return out


def run_audit_bench(quick: bool = False, log: Callable | None = None) -> dict:
    """Every fault on its bases over the seeds: {"rows", "figures", "goals"}."""
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    seeds = range(QUICK_SEEDS if quick else SEEDS)
    bases = {name: load_base(name) for f in FAULTS for name in f.bases}
    tallies = []
    with tempfile.TemporaryDirectory(prefix="deepnet-audit-bench-") as tmp, \
            threadpool_limits(limits=1):
        folder = Path(tmp)
        digits = bases["digits"]
        deepnet.audit(write(digits, Case(digits.x, digits.y), folder, 0))  # imports, warm-up
        for fault in FAULTS:
            for name in fault.bases:
                tally = Tally(fault, name)
                for seed in seeds:  # quick: the outside reference on the headline case only
                    run_case(fault, bases[name], seed, folder, tally, not quick or (
                        fault.name, name) == ("label_noise_symmetric_10", "digits"))
                tallies.append(tally)
                if log:
                    log(row_of(tally))
    fig = figures_of(tallies)
    goals = goals_of(tallies, fig)
    fig["audit_goals_met"] = {"k": sum(g["met"] for g in goals), "n": len(goals)}
    fig["audit_goals_missed"] = [g["goal"] for g in goals if not g["met"]]
    fig["audit_bench_seconds"] = round(time.perf_counter() - started, 1)
    return {"rows": [row_of(t) for t in tallies], "figures": fig, "goals": goals}


# ----------------------------------------------------------------------------- printing
COLUMNS = ("fault", "base", "check", "precision", "recall", "clean_rows_flagged", "flagged",
           "seconds")
WIDTHS = (25, 13, 12, 9, 7, 18, 7, 7)


def _cell(v) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def print_row(row: dict) -> None:
    line = "  ".join(_cell(row.get(c)).ljust(w) for c, w in zip(COLUMNS, WIDTHS, strict=True))
    if "cleanlab_lr_precision" in row:
        line += ("  cleanlab+LR: precision " + _cell(row.get("cleanlab_lr_precision"))
                 + " recall " + _cell(row.get("cleanlab_lr_recall")) + " clean rows flagged "
                 + _cell(row.get("cleanlab_lr_clean_rows_flagged")))
    print(line.rstrip(), flush=True)


def main(argv: list[str]) -> int:
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, WIDTHS, strict=True)).rstrip())
    result = run_audit_bench("--quick" in argv, log=print_row)
    print(f"\ngoals ({result['figures']['audit_bench_seconds']:.0f} s in all):")
    for g in result["goals"]:
        print(f"  {'met ' if g['met'] else 'MISS'}  {g['goal']}: {json.dumps(g['measured'])}")
    print(json.dumps(result, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
