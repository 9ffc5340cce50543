"""`deepnet audit SPEC`: the quality of a spec's data, before (or after) training.

- label issues: out-of-fold class probabilities of three quick cross-validated models
  (logistic regression, extremely randomised trees, k-NN), then confident learning
  (cleanlab) and a margin rule (likely_label_errors);
- outliers: rows far from their nearest neighbours (robust z-score of the log k-NN
  distance, in features scaled robustly: per column for tables, one scale for images);
- duplicates: exact (same bytes) and near (nearest-neighbour distance a tiny fraction of
  the typical one); leakage: duplicates on both sides of the train/val/test split;
- imbalance: class counts; shift: per-feature two-sample Kolmogorov-Smirnov test of train
  against test, and of the target (KS, or chi-square of the class counts); constant
  features.

The thresholds come from bench/faults/audit.py, which plants each fault into clean data
and scores what the audit finds.

Rows are 0-based indices in the source. `audit_arrays` is the pure function on arrays;
`audit(spec)` loads and splits the spec's data the way training does.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepnet.core.errors import DataError
from deepnet.core.io import write_bytes_atomic
from deepnet.core.outputs import writable_file
from deepnet.core.progress import bar
from deepnet.data.encoding import ArrayEncoding, Encoding, TableEncoding
from deepnet.data.tables import TABLE_SUFFIXES
from deepnet.runs.files import RunDir
from deepnet.runs.records import (
    AuditReport,
    ConstantFeature,
    DuplicateGroup,
    Imbalance,
    LabelIssue,
    Leak,
    Outlier,
    ShiftedFeature,
)

FOLDS = 5
TREES = 30  # extremely randomised trees of the label model (50 found no more errors)
# Label errors (likely_label_errors): the out-of-fold probability of another class leads the
# label's by at least MARGIN_MIN, and confident learning flags the row or the lead is at
# least MARGIN_SURE. On bench/faults/audit.py (digits, 5 seeds), with 10% of the labels
# flipped, confident learning alone finds 0.874 of them and flags 0.42% of the clean rows;
# the sure lead finds 0.923, MARGIN_MIN brings the clean rows flagged to 0.32%. With 3<->8,
# 1<->7, 4<->9 swaps MARGIN_MIN takes them from 0.71% to 0.20% (recall 0.937 -> 0.910);
# 0.3 would miss such swaps, where the models are torn between two classes (recall 0.830)
MARGIN_MIN = 0.2
MARGIN_SURE = 0.6
MAX_FEATURES = 256  # more features than this are reduced by PCA for the models
NEIGHBOURS = 10
# robust z-score of the log mean k-NN distance: on bench/faults/audit.py (5 seeds) the rows
# of the clean bases reach at most 5.7 (breast_cancer's largest tumours; digits 3.2,
# diabetes 3.8), rows with three cells x100 (a decimal point moved) at least 8.3 (digits
# 14.2): the threshold lies halfway
OUTLIER_Z = 7.0
NEAR = 0.05  # near duplicate: nearest neighbour closer than this x the median distance
SHIFT_P = 0.01  # p-value of a shift test (a feature's Bonferroni-corrected over the features)
IMBALANCE_RATIO = 3.0  # largest class / smallest class
LIST_LIMIT = 1000  # at most this many rows listed per check
TEXT_WORDS = 2000  # text: word ids counted (the most frequent are the lowest)
TEXT_PAIRS = 4096  # text: buckets of hashed word pairs


# ----------------------------------------------------------------------------- features
def _features(x: np.ndarray, encoding: Encoding) -> np.ndarray:
    """(N, F) float64 features: flattened inputs; token ids become counts of words and
    of (hashed) word pairs, so that word order such as "not good" counts too."""
    n = len(x)
    if encoding.kind != "text":
        return np.asarray(x, dtype=np.float64).reshape(n, -1)
    ids = np.asarray(x, dtype=np.int64).reshape(n, -1)
    vocab = min(int(ids.max()) + 1 if ids.size else 1, TEXT_WORDS)
    pairs = ids[:, :-1] * 1_000_003 + ids[:, 1:]
    real = (ids[:, :-1] > 1) & (ids[:, 1:] > 1)  # 0 pads, 1 is the unknown word
    bow = np.zeros((n, vocab + TEXT_PAIRS), dtype=np.float64)
    rows = np.repeat(np.arange(n), ids.shape[1])
    flat = ids.reshape(-1)
    keep = (flat > 1) & (flat < vocab)
    np.add.at(bow, (rows[keep], flat[keep]), 1.0)
    prow = np.repeat(np.arange(n), pairs.shape[1])[real.reshape(-1)]
    np.add.at(bow, (prow, vocab + pairs.reshape(-1)[real.reshape(-1)] % TEXT_PAIRS), 1.0)
    return bow[:, bow.any(axis=0)]


def feature_names(input_shape: tuple[int, ...], encoding: Encoding) -> list[str]:
    cols = encoding.columns if isinstance(encoding, TableEncoding) else []
    width = int(np.prod(input_shape)) if input_shape else 1
    if len(cols) == width and cols:
        return [c.name for c in cols]
    if len(input_shape) <= 1:
        return [f"x[{i}]" for i in range(width)]
    return ["x[" + ",".join(map(str, ix)) + "]" for ix in np.ndindex(*input_shape)]


def _standardise(f: np.ndarray) -> np.ndarray:
    std = f.std(axis=0)
    return (f - f.mean(axis=0)) / np.where(std > 0, std, 1.0)


def _robust_scale(f: np.ndarray, axis: int | None) -> np.ndarray:
    """Centred on the median, scaled by the interquartile range as a normal sigma (the
    standard deviation where the quartiles meet, 1 where that is 0 too): far values
    cannot shrink the scale they are measured in, as they shrink a standard deviation."""
    med = np.median(f, axis=axis, keepdims=True)
    q1, q3 = np.percentile(f, [25, 75], axis=axis, keepdims=True)
    scale = (q3 - q1) / 1.349
    std = f.std(axis=axis, keepdims=True)
    scale = np.where(scale > 0, scale, np.where(std > 0, std, 1.0))
    return (f - med) / scale


def _geometry(f: np.ndarray, x: np.ndarray, encoding: Encoding) -> np.ndarray:
    """The features distances are measured in (outliers, near duplicates): each column on
    its own scale for tables, vectors and text (their columns have their own units); one
    scale for samples of rank 2 or more (images, sequences), whose positions share a unit:
    scaled per position, a corner pixel that is almost always blank would make any faint
    stroke there look far from every other image."""
    shared = x.ndim > 2 and encoding.kind in ("array", "image")
    return _robust_scale(f, None if shared else 0)


def _reduce(z: np.ndarray, seed: int) -> np.ndarray:
    if z.shape[1] <= MAX_FEATURES:
        return z
    from sklearn.decomposition import PCA

    k = min(MAX_FEATURES // 2, len(z) - 1)
    return PCA(k, svd_solver="randomized", random_state=seed).fit_transform(z)


# ----------------------------------------------------------------------------- checks
def out_of_fold_probabilities(z: np.ndarray, y: np.ndarray, n_classes: int, seed: int,
                              folds: int = FOLDS, near: np.ndarray | None = None
                              ) -> np.ndarray | None:
    """(N, classes) probabilities, each row predicted by models that never saw it: the
    mean of a regularised logistic regression and extremely randomised trees on `z`
    and a distance-weighted k-NN on `near` (the space the duplicates and outliers are
    measured in; default `z`). Models that err differently: together they are right,
    and sure, more often than any one of them (bench/faults/audit.py)."""
    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neighbors import KNeighborsClassifier

    near = z if near is None else near
    counts = np.bincount(y, minlength=n_classes)
    present = counts[counts > 0]
    k = int(min(folds, present.min())) if len(present) else 0
    if k < 2 or len(present) < 2:
        return None
    probs = np.zeros((len(y), n_classes))
    for train, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(z, y):
        for model, space in (
                (LogisticRegression(C=0.1, max_iter=500), z),
                (ExtraTreesClassifier(TREES, random_state=seed, n_jobs=1), z),
                (KNeighborsClassifier(min(NEIGHBOURS, len(train)), weights="distance"), near)):
            model.fit(space[train], y[train])
            probs[np.ix_(test, model.classes_)] += model.predict_proba(space[test]) / 3
    return probs


def likely_label_errors(y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Positions whose label looks wrong, the least likely label first: another class
    leads the label's out-of-fold probability by MARGIN_MIN or more, and confident
    learning (cleanlab, pruned by the estimated noise rates) flags the row or the lead is
    MARGIN_SURE or more. Confident learning alone misses errors in classes whose
    average confidence is low, and a near tie alone is no evidence of a wrong label."""
    from cleanlab.filter import find_label_issues

    # cleanlab wants every class present; pad absent ones with a tiny probability
    probs = (probs + 1e-6) / (probs + 1e-6).sum(axis=1, keepdims=True)
    confident = find_label_issues(y, probs, filter_by="prune_by_noise_rate", n_jobs=1)
    given = probs[np.arange(len(y)), y]
    lead = probs.max(axis=1) - given
    idx = np.flatnonzero((confident | (lead >= MARGIN_SURE)) & (lead >= MARGIN_MIN))
    return idx[np.argsort(given[idx], kind="stable")]


def label_issues(z, y, classes, rows, seed, near=None) -> list[LabelIssue]:
    n_classes = max(len(classes), int(y.max()) + 1)
    probs = out_of_fold_probabilities(z, y, n_classes, seed, near=near)
    if probs is None:
        return []
    name = (lambda c: classes[c]) if classes else str
    return [LabelIssue(int(rows[i]), name(int(y[i])), name(int(np.argmax(probs[i]))),
                       round(float(probs[i, y[i]]), 4))
            for i in likely_label_errors(y, probs)[:LIST_LIMIT]]


def _neighbours(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.neighbors import NearestNeighbors

    k = min(k + 1, len(z))
    dist, idx = NearestNeighbors(n_neighbors=k).fit(z).kneighbors(z)
    return dist[:, 1:], idx[:, 1:]  # without the row itself (the first of its duplicates)


def outliers(dist: np.ndarray, rows: np.ndarray) -> list[Outlier]:
    """Rows whose mean distance to their nearest neighbours is far beyond the others':
    the robust z-score of its logarithm (k-NN distances are skewed to the right; their
    logarithm is near-symmetric, so one threshold holds across data sets)."""
    score = np.log(np.maximum(dist.mean(axis=1), np.finfo(float).tiny))
    med = np.median(score)
    mad = 1.4826 * np.median(np.abs(score - med))
    if mad <= 0:
        return []
    z = (score - med) / mad
    order = np.argsort(-z)
    return [Outlier(int(rows[i]), round(float(z[i]), 2))
            for i in order if z[i] >= OUTLIER_Z][:LIST_LIMIT]


def _groups(n: int, pairs: list[tuple[int, int]]) -> list[list[int]]:
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        parent[root(a)] = root(b)
    groups: dict[int, list[int]] = {}
    for i in {i for p in pairs for i in p}:
        groups.setdefault(root(i), []).append(i)
    return sorted(sorted(g) for g in groups.values())


def duplicates(x: np.ndarray, dist: np.ndarray, idx: np.ndarray) -> list[tuple[list[int], bool]]:
    """[(positions, exact)] groups of rows that are the same sample: identical bytes, or
    nearest neighbours far closer than rows usually are."""
    flat = np.ascontiguousarray(x.reshape(len(x), -1))
    by_hash: dict[bytes, list[int]] = {}
    for i, row in enumerate(flat):
        by_hash.setdefault(hashlib.blake2b(row.tobytes(), digest_size=16).digest(), []).append(i)
    exact_pairs = [(g[0], j) for g in by_hash.values() for j in g[1:]]
    typical = float(np.median(dist[:, 0])) if dist.size else 0.0
    near_pairs = [(i, int(idx[i, j])) for i in range(len(dist)) for j in range(dist.shape[1])
                  if dist[i, j] <= NEAR * typical] if typical > 0 else []
    exact_sets = {frozenset(g) for g in by_hash.values() if len(g) > 1}
    out = []
    for g in _groups(len(x), exact_pairs + near_pairs):
        out.append((g, frozenset(g) in exact_sets))
    return out


def _part_of(splits: dict[str, np.ndarray], n: int) -> np.ndarray:
    part = np.full(n, "", dtype=object)
    for name, idx in splits.items():
        part[idx] = name
    return part


def leakage(groups, splits, rows, flat: np.ndarray) -> list[Leak]:
    """One entry per non-training row that has a copy in the training split."""
    part = _part_of(splits, len(flat))
    out = []
    for g, _exact in groups:
        train = [i for i in g if part[i] == "train"]
        if not train:
            continue
        for i in g:
            if part[i] in ("val", "test"):
                same = next((t for t in train if np.array_equal(flat[t], flat[i])), None)
                t = same if same is not None else train[0]
                out.append(Leak(int(rows[i]), str(part[i]), int(rows[t]), same is not None))
    return out[:LIST_LIMIT]


def imbalance(y: np.ndarray, classes: list[str]) -> Imbalance:
    counts = np.bincount(y, minlength=len(classes))
    present = counts[counts > 0]
    ratio = float(present.max() / present.min()) if len(present) else 1.0
    share = counts / max(counts.sum(), 1)
    names = [classes[c] if classes else str(c) for c in range(len(counts))]
    return Imbalance({names[c]: int(n) for c, n in enumerate(counts)}, round(ratio, 3),
                     ratio >= IMBALANCE_RATIO,
                     tuple(names[c] for c in range(len(counts)) if share[c] < 0.5 / len(counts)))


def _target_test(a: np.ndarray, b: np.ndarray, task: str) -> tuple[float, float] | None:
    """(statistic, p-value) of the targets of two parts: a two-sample KS test of a
    regression target; for classes a chi-square test of their counts, whose statistic is
    Cramer's V (0 to 1, as the KS statistic)."""
    if task != "classification":
        from scipy.stats import ks_2samp

        res = ks_2samp(a, b)
        return float(res.statistic), float(res.pvalue)
    from scipy.stats import chi2_contingency

    classes = np.union1d(a, b)
    if len(classes) < 2:
        return None
    table = np.stack([(a[:, None] == classes).sum(axis=0), (b[:, None] == classes).sum(axis=0)])
    chi2, p, *_ = chi2_contingency(table)
    return float(np.sqrt(chi2 / (table.sum() * (min(table.shape) - 1)))), float(p)


def shift(f: np.ndarray, splits: dict[str, np.ndarray], names: list[str],
          y: np.ndarray | None = None, task: str = "classification", target: str = "y"
          ) -> list[ShiftedFeature]:
    """Features, and the target `y` (named `target`) when given, distributed differently
    in train and test (val when there is no test). The features' p-values are
    Bonferroni-corrected over the features; the target's is a question of its own (label
    shift rather than covariate shift), tested alone."""
    from scipy.stats import ks_2samp

    other = splits["test"] if len(splits["test"]) else splits["val"]
    a, b = f[splits["train"]], f[other]
    if len(a) < 5 or len(b) < 5:
        return []
    varying = np.flatnonzero(f.std(axis=0) > 0)
    stat, p_adj, label = np.zeros(0), np.zeros(0), []
    if len(varying):
        res = ks_2samp(a[:, varying], b[:, varying], axis=0)
        stat, p = np.atleast_1d(res.statistic), np.atleast_1d(res.pvalue)
        p_adj, label = np.minimum(p * len(varying), 1.0), [names[j] for j in varying]
    found = None if y is None else _target_test(y[splits["train"]], y[other], task)
    if found is not None:
        stat, p_adj, label = np.append(stat, found[0]), np.append(p_adj, found[1]), \
            [*label, target]
    hits = np.flatnonzero(p_adj < SHIFT_P)
    hits = hits[np.argsort(-stat[hits])]
    return [ShiftedFeature(label[j], round(float(stat[j]), 4), float(f"{p_adj[j]:.3g}"))
            for j in hits[:LIST_LIMIT]]


def constant_features(f: np.ndarray, names: list[str]) -> list[ConstantFeature]:
    const = np.flatnonzero((f == f[:1]).all(axis=0)) if len(f) else []
    return [ConstantFeature(names[j], float(f[0, j])) for j in const]


def audit_arrays(x: np.ndarray, y: np.ndarray, task: str, classes: list[str],
                 splits: dict[str, np.ndarray], rows: np.ndarray | None = None,
                 encoding: Encoding | None = None, seed: int = 0) -> AuditReport:
    """Audit raw inputs `x` (N, ...) and targets `y` split as `splits` (row positions);
    `rows` maps positions to source rows (default: the identity)."""
    from threadpoolctl import threadpool_limits

    # small models on small data: one BLAS thread is as fast, and many threads competing
    # with the rest of the machine are many times slower
    with threadpool_limits(limits=1):
        return _audit_arrays(x, y, task, classes, splits, rows, encoding or ArrayEncoding(), seed)


def _audit_arrays(x, y, task, classes, splits, rows, encoding, seed) -> AuditReport:
    x = np.asarray(x)
    n = len(x)
    if n < 3:
        raise DataError(f"audit: {n} rows are too few to audit; at least 3 are needed")
    rows = np.arange(n) if rows is None else np.asarray(rows)
    with bar("audit: features", total=4, unit="stages") as b:
        f = _features(x, encoding)
        names = feature_names(tuple(x.shape[1:]), encoding) if encoding.kind != "text" \
            else [f"text feature {i}" for i in range(f.shape[1])]
        z = _reduce(_standardise(f), seed)
        near = _reduce(_geometry(f, x, encoding), seed)
        b.advance()
        b.describe("audit: nearest neighbours")
        dist, idx = _neighbours(near, NEIGHBOURS)
        b.advance()
        b.describe("audit: duplicates, leakage, shift")
        groups = duplicates(x, dist, idx)
        report = AuditReport(
            outliers=outliers(dist, rows),
            duplicates=[DuplicateGroup(tuple(int(rows[i]) for i in g), exact,
                                       len({_label(y[i]) for i in g}) == 1)
                        for g, exact in groups][:LIST_LIMIT],
            leakage=leakage(groups, splits, rows, np.ascontiguousarray(x.reshape(n, -1))),
            shift=shift(f, splits, names, np.asarray(y), task,
                        getattr(encoding, "target", None) or "y"),
            constant_features=constant_features(f, names),
        )
        b.advance()
        b.describe("audit: label issues (cross-validated models)")
        if task == "classification":
            y = np.asarray(y, dtype=np.int64)
            report.label_issues = label_issues(z, y, classes, rows, seed, near)
            report.imbalance = imbalance(y, classes)
        b.advance()
    return report


def _label(v):
    return v.item() if isinstance(v, np.generic) else v


def audit(spec, seed: int | None = None, data=None) -> AuditReport:
    """Load and split the spec's data (or `data` passed in Python: a DataFrame, `(X, y)`,
    a dict of arrays) as training does, then `audit_arrays`.

    >>> deepnet.audit(deepnet.Spec.from_yaml("examples/digits.yaml")).to_dict()["leakage"]
    []
    """
    from deepnet.data.prepare import prepare
    from deepnet.spec import Spec

    spec = Spec.coerce(spec, data)  # a Spec, a dict or a YAML file's path

    prepared = prepare(spec, given=data)
    ds = prepared.dataset
    x = ds.x if isinstance(ds.x, np.ndarray) else np.asarray(ds.x[np.arange(len(ds.y))])
    return audit_arrays(x, ds.y, prepared.task, ds.classes, prepared.splits, ds.source_rows(),
                        ds.encoding, spec.seed if seed is None else seed)


# ----------------------------------------------------------------------------- files
def save_audit(run_dir: str | Path, report: AuditReport) -> Path:
    """Store the audit with a run (`RUN/audit.json`), where its report.html shows it."""
    return RunDir(run_dir).write_audit(report)


def check_clean_target(spec, out: str | Path) -> bool:
    """DataError when `out` cannot take the cleaned copy; checked before the audit runs.
    True when it is a table (the source is one), False for an .npz."""
    out, source = Path(out), Path(spec.data.source or "")
    if source.exists() and out.resolve() == source.resolve():
        raise DataError(f"--fix {str(out)!r} is the data source itself; the source is never "
                        "edited: write the cleaned copy to another path")
    writable_file(out, "--fix")
    suffix = out.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        if not (source.suffix.lower() in TABLE_SUFFIXES and source.is_file()):
            raise DataError(f"--fix {str(out)!r}: a table can be written only for a table "
                            f"source; {spec.data.source!r} is not one: use a .npz path")
        return True
    if suffix != ".npz":
        raise DataError(f"--fix {str(out)!r}: expected a .npz path (or .csv/.parquet for a "
                        "table source)")
    return False


@dataclass(frozen=True)
class CleanCopy:
    """The cleaned copy `write_clean` wrote: where, the rows it kept and those dropped."""

    path: Path
    rows: int
    dropped: int


def write_clean(spec, report: AuditReport, out: str | Path) -> CleanCopy:
    """A cleaned copy of the spec's data at `out`, without `report.rows_to_drop()`; the
    source is never touched. Tables (.csv/.tsv/.parquet sources) are written as a table of
    the same columns; anything else as an .npz of raw `x` and `y`."""
    from deepnet.data.prepare import prepare

    out = Path(out)
    drop = set(report.rows_to_drop())
    if check_clean_target(spec, out):
        return _write_table(Path(spec.data.source), out, drop)
    ds = prepare(spec).dataset
    src_rows = ds.source_rows()
    keep = np.asarray([i for i in range(len(ds.y)) if int(src_rows[i]) not in drop], dtype=int)
    x = ds.x[keep] if isinstance(ds.x, np.ndarray) else np.asarray(ds.x[keep])
    y = np.asarray(ds.classes)[ds.y[keep]] if ds.classes else ds.y[keep]
    buf = io.BytesIO()
    np.savez(buf, x=x, y=y)
    write_bytes_atomic(out, buf.getvalue())
    return CleanCopy(out, int(len(keep)), int(len(ds.y) - len(keep)))


def _write_table(source: Path, out: Path, drop: set[int]) -> CleanCopy:
    import pandas as pd

    suffix = source.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(source)
    else:
        frame = pd.read_csv(source, sep="\t" if suffix == ".tsv" else ",")
    keep = [i for i in range(len(frame)) if i not in drop]
    clean = frame.iloc[keep]
    if out.suffix.lower() in (".parquet", ".pq"):
        data = clean.to_parquet(index=False)
    else:
        data = clean.to_csv(index=False, sep="\t" if out.suffix.lower() == ".tsv" else ",")
        data = data.encode()
    write_bytes_atomic(out, data)
    return CleanCopy(out, len(clean), len(frame) - len(clean))
