"""Flags that explain themselves, from one source: every setting has a description in its
dataclass, ``--help`` shows it with the allowed values, and the README's parameter table is
the generated one (so README and ``--help`` cannot drift)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.config import (ConfigError, DataConfig, EvalConfig, PipelineConfig,
                               TrainConfig, field_docs, field_types, setting)
from pipelines.cli import build_parser
from pipelines.cluster import ClusterConfig, cluster_docs
from pipelines.param_docs import END, START, markdown_table, plain, readme_section, with_table

ROOT = Path(__file__).resolve().parents[2]


def _documented_fields():
    yield from ((klass, f) for klass in (DataConfig, TrainConfig, EvalConfig, ClusterConfig)
                for f in dataclasses.fields(klass))
    yield PipelineConfig, next(f for f in dataclasses.fields(PipelineConfig)
                               if f.name == "encoder")


@pytest.mark.parametrize("klass, field", list(_documented_fields()),
                         ids=lambda x: getattr(x, "name", getattr(x, "__name__", "")))
def test_every_setting_has_a_description(klass, field):
    assert field.metadata.get("help", "").strip(), f"{klass.__name__}.{field.name} has no help"
    assert isinstance(field.metadata.get("choices", ()), tuple)


def test_setting_refuses_an_empty_description():
    with pytest.raises(ValueError, match="help"):
        setting(1, "  ")


def test_field_docs_follow_the_parameters():
    docs = field_docs()
    assert list(docs) == list(field_types()) == list(PipelineConfig().parameters())
    for name, doc in docs.items():
        assert doc.default == PipelineConfig().parameters()[name]
        assert doc.type == field_types()[name].__name__
    assert {doc.group for doc in docs.values()} == {"encoder", "data", "train", "eval"}
    assert docs["pooling"].choices == ("pooled", "cls", "mean", "max")
    assert docs["mixed_precision"].choices == ("auto", "float32", "mixed_bfloat16",
                                               "mixed_float16")
    assert docs["class_weighting"].choices == ("none", "balanced")
    assert "roc_auc" in docs["main_metric"].choices
    assert list(cluster_docs()) == [f.name for f in dataclasses.fields(ClusterConfig)]


def test_choices_are_what_validation_accepts():
    """Each listed value is accepted, and a value outside them is refused by the dataclass."""
    for name, doc in field_docs().items():
        for choice in doc.choices:
            PipelineConfig.from_parameters({name: choice})
        if doc.choices:
            with pytest.raises(ConfigError, match=name):
                PipelineConfig.from_parameters({name: "no-such-value"})


def _flag_blocks(help_text: str) -> dict[str, str]:
    """``--flag`` -> its help entry (the lines up to the next option), whitespace removed, so
    that argparse's line wrapping does not matter."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in help_text.splitlines():
        stripped = line.strip()
        if line.startswith("  -") and stripped.startswith("-"):
            current = stripped.split()[0].rstrip(",")
            blocks[current] = [stripped]
        elif current and line.startswith(" " * 4) and stripped:
            blocks[current].append(stripped)
        else:
            current = None
    return {flag: "".join("".join(lines).split()) for flag, lines in blocks.items()}


@pytest.fixture(scope="module")
def run_help() -> str:
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--help"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_run_help_shows_each_parameter_with_its_meaning_and_allowed_values(run_help):
    blocks = _flag_blocks(run_help)
    squeeze = lambda text: "".join(text.split())  # noqa: E731
    for doc in field_docs().values():
        assert doc.flag in blocks, f"{doc.flag} missing from run --help"
        entry = blocks[doc.flag]
        assert squeeze(plain(doc.help, field_docs())) in entry, doc.name
        assert squeeze(f"({doc.type};") in entry, doc.name
        for choice in doc.choices:
            assert choice in entry, f"{doc.name}: {choice} not shown"
        if doc.choices:
            assert squeeze(f"{doc.flag} {{{','.join(doc.choices)}}}") in entry
            assert squeeze(f"one of: {', '.join(doc.choices)}") in entry


def test_cluster_flags_show_their_descriptions():
    compile_help = _flag_blocks(_subparser("compile").format_help())
    for doc in cluster_docs().values():
        flag = "--cache" if doc.name == "caching" else doc.flag
        assert flag in compile_help, flag
        assert "".join(plain(doc.help, cluster_docs()).split()) in compile_help[flag], doc.name


def _subparser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("command", ["run", "compile", "submit", "schedule", "preprocess",
                                     "train", "fetch", "runs", "show", "predict"])
def test_every_argument_says_what_it_does(command):
    parser = _subparser(command)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        text = (action.help or "").strip()
        assert text and not text.startswith("(default"), \
            f"bertpipe {command}: {action.option_strings or action.dest} has no help"


def test_bad_enumerated_value_is_still_one_line_and_exit_2():
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--pooling", "avg"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "bertpipe: error: pooling must be one of ('pooled', 'cls', 'mean', 'max'), got 'avg'"]


def test_empty_mixed_precision_is_accepted():
    args = build_parser().parse_args(["run", "--mixed-precision", ""])
    assert args.mixed_precision == ""
    TrainConfig(mixed_precision=args.mixed_precision)


def test_readme_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count(START) == 1 and readme.count(END) == 1
    assert readme_section(readme) == markdown_table(), (
        "README's parameter table is stale: run python -m pipelines.param_docs --write README.md")
    assert with_table(readme) == readme


def test_table_has_one_row_per_parameter_with_allowed_values():
    rows = markdown_table().splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == list(field_types())
    main_metric = next(row for row in rows if row.startswith("| `main_metric`"))
    assert "`pr_auc`" in main_metric and "`text_pair_separator`" not in main_metric
    separator = next(row for row in rows if row.startswith("| `text_pair_separator`"))
    assert separator.count(" | ") == 3  # the `|||` example is escaped


def test_help_names_settings_by_their_flags():
    assert plain("at most `max_seq_length / bucket_width`; `none`: off, see `freeze`",
                 field_docs()) == "at most max_seq_length / bucket_width; none: off, see --freeze"
