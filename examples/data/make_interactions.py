"""Writes examples/data/interactions.csv: implicit feedback of users choosing items.

Each user and item has a latent taste vector; items have a popularity skew (a Zipf-like
bias). A user's items are drawn without replacement with probabilities
softmax(taste . item / sqrt(d) * SHARPNESS + popularity), so the most popular items are
common to everyone and the rest depends on the user's taste; the `time` column puts them
in random order, and each user's last one is held out for test
(examples/recommender.yaml).

    python examples/data/make_interactions.py     # seeded: the same file every time
"""

from pathlib import Path

import numpy as np
import pandas as pd

USERS, ITEMS, DIM = 800, 400, 8
SHARPNESS = 2.5  # how much taste matters next to popularity
SKEW = 1.0  # popularity bias: -SKEW * log(rank)
LENGTH = (10, 40)  # interactions per user


def make(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = rng.normal(size=(USERS, DIM))
    items = rng.normal(size=(ITEMS, DIM))
    popularity = -SKEW * np.log(rng.permutation(ITEMS) + 1.0)
    logits = users @ items.T / np.sqrt(DIM) * SHARPNESS + popularity
    rows = []
    for u in range(USERS):
        n = int(rng.integers(*LENGTH))
        # Gumbel top-k: a draw of n items without replacement, then in random order of
        # time (the order drawn would put the most likely items first)
        chosen = rng.permutation(np.argsort(-(logits[u] + rng.gumbel(size=ITEMS)))[:n])
        rows += [(f"u{u:04d}", f"i{i:04d}", t) for t, i in enumerate(chosen)]
    return pd.DataFrame(rows, columns=["user", "item", "time"])


if __name__ == "__main__":
    out = Path(__file__).with_name("interactions.csv")
    frame = make()
    frame.to_csv(out, index=False)
    print(f"wrote {out}: {len(frame)} interactions of {frame.user.nunique()} users with "
          f"{frame.item.nunique()} items")
