"""`deepnet audit SPEC`: the quality of a spec's data, before (or after) training.

- label issues: out-of-fold class probabilities of a quick cross-validated model
  (standardised features, logistic regression), then confident learning (cleanlab);
- outliers: rows far from their nearest neighbours (robust z-score of the k-NN distance);
- duplicates: exact (same bytes) and near (nearest-neighbour distance a tiny fraction of
  the typical one); leakage: duplicates on both sides of the train/val/test split;
- imbalance: class counts; shift: per-feature two-sample Kolmogorov-Smirnov test of train
  against test; constant features.

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
from deepnet.data.encoding import ArrayEncoding, Encoding, TableEncoding
from deepnet.data.sources import TABLE_SUFFIXES
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
MAX_FEATURES = 256  # more features than this are reduced by PCA for the models
NEIGHBOURS = 10
OUTLIER_Z = 6.0  # robust z-score of the mean k-NN distance
NEAR = 0.05  # near duplicate: nearest neighbour closer than this x the median distance
SHIFT_P = 0.01  # Bonferroni-corrected p-value of the KS test
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


def _reduce(z: np.ndarray, seed: int) -> np.ndarray:
    if z.shape[1] <= MAX_FEATURES:
        return z
    from sklearn.decomposition import PCA

    k = min(MAX_FEATURES // 2, len(z) - 1)
    return PCA(k, svd_solver="randomized", random_state=seed).fit_transform(z)


# ----------------------------------------------------------------------------- checks
def out_of_fold_probabilities(z: np.ndarray, y: np.ndarray, n_classes: int, seed: int,
                              folds: int = FOLDS) -> np.ndarray | None:
    """(N, classes) probabilities, each row predicted by models that never saw it: the
    mean of a regularised logistic regression and a distance-weighted k-NN (quick, and
    better calibrated together than either alone)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neighbors import KNeighborsClassifier

    counts = np.bincount(y, minlength=n_classes)
    present = counts[counts > 0]
    k = int(min(folds, present.min())) if len(present) else 0
    if k < 2 or len(present) < 2:
        return None
    probs = np.zeros((len(y), n_classes))
    for train, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(z, y):
        for model in (LogisticRegression(C=0.1, max_iter=500),
                      KNeighborsClassifier(min(NEIGHBOURS, len(train)), weights="distance")):
            model.fit(z[train], y[train])
            probs[np.ix_(test, model.classes_)] += model.predict_proba(z[test]) / 2
    return probs


def label_issues(z, y, classes, rows, seed) -> list[LabelIssue]:
    from cleanlab.filter import find_label_issues

    n_classes = max(len(classes), int(y.max()) + 1)
    probs = out_of_fold_probabilities(z, y, n_classes, seed)
    if probs is None:
        return []
    # cleanlab wants every class present; pad absent ones with a tiny probability
    probs = (probs + 1e-6) / (probs + 1e-6).sum(axis=1, keepdims=True)
    idx = find_label_issues(y, probs, return_indices_ranked_by="self_confidence", n_jobs=1)
    name = (lambda c: classes[c]) if classes else str
    return [LabelIssue(int(rows[i]), name(int(y[i])), name(int(np.argmax(probs[i]))),
                       round(float(probs[i, y[i]]), 4)) for i in idx[:LIST_LIMIT]]


def _neighbours(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.neighbors import NearestNeighbors

    k = min(k + 1, len(z))
    dist, idx = NearestNeighbors(n_neighbors=k).fit(z).kneighbors(z)
    return dist[:, 1:], idx[:, 1:]  # without the row itself (the first of its duplicates)


def outliers(dist: np.ndarray, rows: np.ndarray) -> list[Outlier]:
    score = dist.mean(axis=1)
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


def shift(f: np.ndarray, splits: dict[str, np.ndarray], names: list[str]
          ) -> list[ShiftedFeature]:
    from scipy.stats import ks_2samp

    other = splits["test"] if len(splits["test"]) else splits["val"]
    a, b = f[splits["train"]], f[other]
    if len(a) < 5 or len(b) < 5:
        return []
    varying = np.flatnonzero(f.std(axis=0) > 0)
    if not len(varying):
        return []
    res = ks_2samp(a[:, varying], b[:, varying], axis=0)
    stat, p = np.atleast_1d(res.statistic), np.atleast_1d(res.pvalue)
    p_adj = np.minimum(p * len(varying), 1.0)
    hits = np.flatnonzero(p_adj < SHIFT_P)
    hits = hits[np.argsort(-stat[hits])]
    return [ShiftedFeature(names[varying[j]], round(float(stat[j]), 4),
                           float(f"{p_adj[j]:.3g}")) for j in hits[:LIST_LIMIT]]


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
    f = _features(x, encoding)
    names = feature_names(tuple(x.shape[1:]), encoding) if encoding.kind != "text" \
        else [f"text feature {i}" for i in range(f.shape[1])]
    z = _reduce(_standardise(f), seed)
    dist, idx = _neighbours(z, NEIGHBOURS)
    groups = duplicates(x, dist, idx)
    report = AuditReport(
        outliers=outliers(dist, rows),
        duplicates=[DuplicateGroup(tuple(int(rows[i]) for i in g), exact,
                                   len({_label(y[i]) for i in g}) == 1)
                    for g, exact in groups][:LIST_LIMIT],
        leakage=leakage(groups, splits, rows, np.ascontiguousarray(x.reshape(n, -1))),
        shift=shift(f, splits, names),
        constant_features=constant_features(f, names),
    )
    if task == "classification":
        y = np.asarray(y, dtype=np.int64)
        report.label_issues = label_issues(z, y, classes, rows, seed)
        report.imbalance = imbalance(y, classes)
    return report


def _label(v):
    return v.item() if isinstance(v, np.generic) else v


def audit(spec, seed: int | None = None) -> AuditReport:
    """Load and split the spec's data as training does, then `audit_arrays`.

    >>> deepnet.audit(deepnet.Spec.from_yaml("examples/digits.yaml")).to_dict()["leakage"]
    []
    """
    from deepnet.data.prepare import prepare
    from deepnet.spec import Spec

    spec = Spec.coerce(spec)  # a Spec, a dict or a YAML file's path

    prepared = prepare(spec)
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
    out, source = Path(out), Path(spec.data.source)
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
