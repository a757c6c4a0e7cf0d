"""Small generated datasets for tests: sentiment-bearing sentences with a group column."""

from __future__ import annotations

import csv
import random
from pathlib import Path

POSITIVE = ["wonderful", "brilliant", "moving", "delightful", "superb", "charming", "gripping",
            "funny", "beautiful", "masterful"]
NEGATIVE = ["dull", "tedious", "awful", "boring", "clumsy", "lifeless", "terrible", "stale",
            "painful", "forgettable"]
TEMPLATES = ["A {} film with a {} cast.", "The story is {} and the ending is {}.",
             "What a {} and {} experience!", "{} direction, {} script."]


# The shared ``preprocessed`` fixture's settings: enough eval rows (>= 200) for the export
# parity tests, and a ``source`` column to slice the evaluation by.
FIXTURE_DATA = {"split_key_column": "group", "eval_fraction": 0.4, "max_seq_length": 32,
                "slice_column": "source"}
SOURCES = ("web", "app", "mail")


def sentiment_rows(n: int, seed: int = 0, with_source: bool = False) -> list[dict[str, str]]:
    """``n`` rows of ``text,label,group`` (+ ``source``) (unique texts; the label follows the
    sentiment words)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = POSITIVE if label == "pos" else NEGATIVE
        text = rng.choice(TEMPLATES).format(rng.choice(words), rng.choice(words))
        rows.append({"text": f"Review {i}: " + text[0].upper() + text[1:], "label": label,
                     "group": f"g{rng.randrange(max(n // 4, 1))}"})
        if with_source:
            rows[-1]["source"] = SOURCES[i % len(SOURCES)]
    return rows


def write_csv(path: Path, rows: list[dict[str, str]], delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path
