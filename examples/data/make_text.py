"""Writes examples/data/sentiment.csv: short reviews whose sentiment hangs on negation
and word order ("not bad , it was good" vs "not good , it was bad" share their words).

    python examples/data/make_text.py     # seeded: the same file every time
"""

import csv
import random
from pathlib import Path

ROWS = 3000
SUBJECTS = ["the movie", "the film", "this book", "the food", "the service", "the hotel",
            "our stay", "the plot", "the acting", "the music", "the show", "the meal",
            "the staff", "the game", "the album", "the room", "the ending", "the trip"]
GOOD = ["good", "great", "excellent", "wonderful", "fantastic", "enjoyable", "amazing",
        "lovely", "brilliant", "pleasant", "superb", "fun"]
BAD = ["bad", "terrible", "awful", "boring", "horrible", "dull", "disappointing", "poor",
       "mediocre", "annoying", "bland", "weak"]
LIKE = {"loved": "love", "liked": "like", "enjoyed": "enjoy", "adored": "adore",
        "appreciated": "appreciate"}
HATE = {"hated": "hate", "disliked": "dislike", "regretted": "regret", "resented": "resent"}
VERY = ["very", "really", "truly", "quite", "so", "rather"]


def sentence(rng: random.Random, positive: bool) -> str:
    s, s2 = rng.sample(SUBJECTS, 2)

    def adj(pos: bool) -> str:
        return rng.choice(GOOD if pos else BAD)

    p = positive
    templates = [
        lambda: f"{s} was {adj(p)}",
        lambda: f"{s} was {rng.choice(VERY)} {adj(p)}",
        lambda: f"{s} was not {adj(not p)}",
        lambda: f"{s} was not {rng.choice(VERY)} {adj(not p)}",
        lambda: f"{s} was not {adj(not p)} , it was {adj(p)}",
        lambda: f"{s} was {adj(p)} , not {adj(not p)}",
        lambda: f"{s2} was {adj(not p)} but {s} was {adj(p)}",
        lambda: f"nothing about {s} was {adj(not p)}",
        lambda: f"i {rng.choice(list(LIKE if p else HATE))} {s}",
        lambda: f"i did not {rng.choice(list((HATE if p else LIKE).values()))} {s}",
        lambda: f"i would {'' if p else 'not '}recommend {s}",
        lambda: f"{s} was {'' if p else 'not '}worth it",
    ]
    return rng.choice(templates)().replace("  ", " ")


def main() -> None:
    rng = random.Random(0)
    seen, rows = set(), []
    while len(rows) < ROWS:
        positive = len(rows) % 2 == 0
        text = sentence(rng, positive)
        if text not in seen:
            seen.add(text)
            rows.append((text, "positive" if positive else "negative"))
    rng.shuffle(rows)
    out = Path(__file__).with_name("sentiment.csv")
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["text", "label"])
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main()
