"""Writes examples/data/transactions.csv: card transactions, 1% of them fraudulent.

Each user has a usual spend (log-normal around their own mean), usual hours and usual
merchant categories; a few users are compromised and see fraud far more often. Columns:
user, amount, merchant (15 categories), hour, foreign (0/1) and two history features
computed from the user's earlier transactions only (their mean amount, the amount over
that mean, and how many there were). Fraud is drawn from a logistic model of how unusual the amount is for the user,
the hour (night), risky merchant categories, foreign use, a compromised user and their
interactions, its intercept set so that 1% of the rows are fraud.

    python examples/data/make_transactions.py     # seeded: the same file every time
"""

from pathlib import Path

import numpy as np
import pandas as pd

ROWS, USERS = 60_000, 2_000
MERCHANTS = ["grocery", "fuel", "restaurant", "pharmacy", "clothing", "electronics",
             "travel", "hotel", "online_retail", "gift_cards", "jewelry", "utilities",
             "entertainment", "cash_advance", "crypto"]
RISKY = {"electronics": 1.0, "gift_cards": 1.8, "jewelry": 1.2, "cash_advance": 1.5,
         "crypto": 2.0, "online_retail": 0.6}
RATE = 0.01
SIGNAL = 2.0  # how strongly fraud follows the features


def make(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mean_log = rng.normal(3.6, 0.7, USERS)  # each user's usual spend
    compromised = rng.random(USERS) < 0.03
    habits = rng.dirichlet(np.full(len(MERCHANTS), 0.4), USERS)  # usual merchants
    night_owl = rng.random(USERS) < 0.15
    user = np.sort(rng.integers(0, USERS, ROWS))  # transactions in order per user
    merchant = np.array([rng.choice(len(MERCHANTS), p=habits[u]) for u in user])
    amount = np.exp(mean_log[user] + rng.normal(0, 0.6, ROWS))
    unusual = rng.random(ROWS) < 0.05  # sometimes a spend far from the habit
    amount[unusual] *= np.exp(rng.normal(1.5, 0.7, unusual.sum()))
    hour = np.where(night_owl[user] | (rng.random(ROWS) < 0.08),
                    rng.integers(0, 24, ROWS), rng.integers(7, 23, ROWS))
    foreign = (rng.random(ROWS) < 0.04).astype(int)
    # history: the user's earlier transactions only
    frame = pd.DataFrame({"user": user, "amount": amount})
    earlier = frame.groupby("user").amount
    count = earlier.cumcount().to_numpy()
    mean = (earlier.cumsum() - frame.amount).to_numpy() / np.maximum(count, 1)
    mean = np.where(count > 0, mean, np.exp(3.6))
    ratio = np.log(amount / mean)
    night = (hour < 6).astype(float)
    risky = np.array([RISKY.get(MERCHANTS[m], 0.0) for m in merchant])
    score = SIGNAL * (1.4 * np.clip(ratio, -1, 4) + 1.3 * night + risky + 1.2 * foreign
                      + 2.2 * compromised[user] + 1.0 * night * foreign
                      + 0.8 * risky * (ratio > 1))
    lo, hi = -20.0, 5.0  # the intercept that makes RATE of the rows fraud (on average)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if (1 / (1 + np.exp(-(mid + score)))).mean() < RATE else (lo, mid)
    fraud = (rng.random(ROWS) < 1 / (1 + np.exp(-(lo + score)))).astype(int)
    return pd.DataFrame({
        "user": [f"c{u:05d}" for u in user], "amount": amount.round(2),
        "merchant": [MERCHANTS[m] for m in merchant], "hour": hour, "foreign": foreign,
        "user_mean_amount": mean.round(2), "amount_to_user_mean": np.exp(ratio).round(4),
        "user_transactions": count, "fraud": fraud})


if __name__ == "__main__":
    out = Path(__file__).with_name("transactions.csv")
    frame = make()
    frame.to_csv(out, index=False)
    print(f"wrote {out}: {len(frame)} transactions, {frame.fraud.mean():.2%} fraud")
