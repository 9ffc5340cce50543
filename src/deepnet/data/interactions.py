"""Implicit feedback (`data.interactions`): a table of who interacted with what (a user
column, an item column, optionally a time column) becomes a binary table of (user, item,
label) rows, split per user the way recommenders are judged (leave-last-out):

- a repeated (user, item) pair counts once, at its first time;
- each user's last interaction (by `time`, else the table's order) is the test query and
  the one before it the validation query, when the user has three or more (two: test
  only; one: training only);
- a query is the held-out item (label 1) and `eval_negatives` items the user never
  interacted with (label 0), or every such item (`all`); its rows share a group, so that
  HR@k, NDCG@k and MRR rank the held-out item among them (deepnet.train.metrics);
- each training interaction (label 1) comes with `negatives` items the user never
  interacted with (label 0).

Negatives are drawn once, from a generator seeded with `seed`, so the same spec gives the
same rows. The user and item columns are embedded (data.categorical) unless the spec says
otherwise.
"""

from __future__ import annotations

import numpy as np

from deepnet.core.errors import DataError
from deepnet.core.lazy import lazy
from deepnet.data.checks import label_key

pd = lazy("pandas")

LABEL = "label"  # the target column of the rows made here


def expand(cfg, frame: pd.DataFrame, where: str
           ) -> tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray]:
    """(rows of (user, item, label), the row indices of train/val/test, each row's query
    group (-1 for training rows)) of an interaction table."""
    names = [cfg.user, cfg.item, *([cfg.time] if cfg.time else [])]
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: data.interactions names column"
                        f"{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}, "
                        f"which the table does not have; it has "
                        f"{', '.join(map(repr, list(frame.columns)[:30]))}")
    empty = frame[names].isna().any(axis=1).to_numpy()
    if empty.any():
        raise DataError(f"{where}: {int(empty.sum())} interaction(s) with a missing "
                        f"{' or '.join(names)}, e.g. row {int(np.flatnonzero(empty)[0])}; "
                        "remove or fill them")
    if cfg.time:
        frame = frame.sort_values(cfg.time, kind="stable")
    # a repeated (user, item) counts once, at its first time: a held-out item is one the
    # user has not chosen before
    frame = frame.drop_duplicates([cfg.user, cfg.item], keep="first")
    users = frame[cfg.user].map(label_key).to_numpy()
    items = frame[cfg.item].map(label_key).to_numpy()
    catalogue = np.asarray(sorted(set(items)), dtype=object)
    if len(catalogue) < 2:
        raise DataError(f"{where}: data.interactions needs two or more items to rank; "
                        f"the table has {len(catalogue)}")
    item_index = {k: i for i, k in enumerate(catalogue)}
    codes = np.asarray([item_index[k] for k in items])
    rng = np.random.default_rng(cfg.seed)
    rows: dict[str, list] = {"user": [], "item": [], "label": [], "part": [], "group": []}

    def add(user, item_codes, label, part, group):
        rows["user"] += [user] * len(item_codes)
        rows["item"] += list(catalogue[item_codes])
        rows["label"] += [label] * len(item_codes) if np.isscalar(label) else list(label)
        rows["part"] += [part] * len(item_codes)
        rows["group"] += [group] * len(item_codes)

    order = pd.Series(np.arange(len(users))).groupby(users, sort=True).agg(list)
    n_items = len(catalogue)
    for g, (user, at) in enumerate(order.items()):
        seq = codes[at]
        seen = np.zeros(n_items, bool)
        seen[seq] = True
        unseen = np.flatnonzero(~seen)
        held = {"test": seq[-1:], "val": seq[-2:-1]} if len(seq) >= 3 else \
            {"test": seq[-1:]} if len(seq) == 2 else {}
        train = seq[: len(seq) - len(held)]
        for item in train:
            add(user, [item], 1, "train", -1)
            if len(unseen):
                add(user, rng.choice(unseen, cfg.negatives), 0, "train", -1)
        for part, (item,) in held.items():
            if cfg.eval_negatives == "all" or cfg.eval_negatives >= len(unseen):
                negatives = unseen
            else:
                negatives = rng.choice(unseen, cfg.eval_negatives, replace=False)
            add(user, [item, *negatives], [1] + [0] * len(negatives), part, g)
    for part, least in (("test", "two"), ("val", "three")):
        if not any(p == part for p in rows["part"]):
            raise DataError(f"{where}: no user has {least} or more different items, so none "
                            f"can be held out for the {'test' if part == 'test' else 'validation'}"
                            " split (data.interactions holds out each user's last item for "
                            "test and the one before for validation)")
    out = pd.DataFrame({cfg.user: rows["user"], cfg.item: rows["item"], LABEL: rows["label"]})
    part = np.asarray(rows["part"])
    splits = {p: np.flatnonzero(part == p) for p in ("train", "val", "test")}
    return out, splits, np.asarray(rows["group"])
