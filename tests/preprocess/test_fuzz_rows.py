"""Fuzzing the preprocess step's row handling: random and malformed files (random text, NULs,
BOMs, CRLF, quotes, separators, missing and extra columns, lines that are not UTF-8 or not
JSON, 100,000-character texts, thousands of labels) go through the job's own stages — parsing
(``rows.iter_records``), validation (``ValidateRows``) and tokenization (``EncodeBatch``), the
DoFns the Beam job runs, called directly so that thousands of cases fit in CI time — and every
case must end with no exception and rows in = examples out + dead letters, exactly, with
nothing else produced (no other output, summaries that match the examples, no
file written).

Rows in is counted from what the case wrote, not from what the parser saw: one CSV record
per row handed to ``csv.writer`` (whatever its quoting and line breaks), one JSONL line per
row or injected line.
"""

from __future__ import annotations

import csv
import io
import json
import random

import pytest
from apache_beam.pvalue import TaggedOutput
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from components.config import DataConfig
from components.preprocess.pipeline import (DEAD, SPLITS, SUMMARY, EncodeBatch,
                                            ValidateRows, sort_labels)
from components.preprocess.rows import iter_records

CASES = 2000
COLUMNS = ("text", "label", "group")
SPECIAL = "\x00\ufeff\r\n\"',\t;|\\ \u2028\u00a0\x85é漢🙂"
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(SPECIAL + "ab c"), max_size=30),
    st.sampled_from(["", " ", "\n", '"', '""', "a,b", "x\ty", "\r\n", "\x00", "\ufeffhead"]),
    st.integers(1, 100_000).map(lambda n: "long " * (n // 5)),
)
labels = st.one_of(st.sampled_from(["pos", "neg", "", " ", "pos\n"]),
                   st.integers(0, 5000).map(str), st.text(max_size=8))
rows = st.lists(st.fixed_dictionaries({c: texts if c == "text" else labels if c == "label"
                                       else st.text(max_size=6) for c in COLUMNS}),
                max_size=12)
garbage = st.binary(min_size=0, max_size=40).map(lambda b: b"#" + b.replace(b"\n", b""))


@pytest.fixture(scope="module")
def encoder(tiny_encoder_dir):
    from components.contracts import EncoderInfo

    info = EncoderInfo.load(tiny_encoder_dir)
    encode = EncodeBatch(info.vocab_file, info.do_lower_case, 32)
    encode.setup()
    return encode


def _csv_bytes(cases: list[dict], delimiter: str, crlf: bool, bom: bool, drop: set[int],
               latin1: set[int]) -> bytes:
    """The rows as a CSV/TSV file; rows in ``drop`` lose their last field, rows in
    ``latin1`` (single-line ones only) are written in Latin-1: each still one record."""
    out = io.BytesIO()
    out.write(b"\xef\xbb\xbf" if bom else b"")
    terminator = "\r\n" if crlf else "\n"

    def line(fields: list[str]) -> str:
        # csv.writer quotes a field holding a character of its line terminator; with "\n"
        # alone it would leave a bare "\r" unquoted, which every reader takes for a line
        # break (two records): quote as for "\r\n", then end the record as asked.
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerow(fields)
        return buffer.getvalue()[:-2] + terminator

    out.write(line(list(COLUMNS)).encode())
    for i, row in enumerate(cases):
        fields = [row[c] for c in COLUMNS][:2 if i in drop else 3]
        text = line(fields)
        if i in latin1 and text.count("\n") == 1 and text.count("\r") <= 1:
            try:
                out.write(text.encode("latin-1"))
                continue
            except UnicodeEncodeError:
                pass
        out.write(text.encode("utf-8", "surrogatepass"))
    return out.getvalue()


def _jsonl_bytes(cases: list[dict], bom: bool, drop: set[int],
                 junk: list[bytes]) -> tuple[bytes, int]:
    lines = []
    for i, row in enumerate(cases):
        value = {k: v for k, v in row.items() if not (i in drop and k == "label")}
        lines.append(json.dumps(value).encode())
    lines += junk
    random.Random(len(lines)).shuffle(lines)
    return (b"\xef\xbb\xbf" if bom else b"") + b"\n".join(lines) + b"\n", len(lines)


def _through_the_step(name: str, content: bytes, encoder) -> tuple[int, int]:
    """(examples written, dead letters) of one file through the job's stages."""
    records = list(iter_records(name, io.BytesIO(content)))
    validate = ValidateRows(DataConfig(data_path=name, split_key_column="group",
                                       max_seq_length=32))
    dead, batches = 0, []
    for output in validate.process(records):
        if isinstance(output, TaggedOutput):
            assert output.tag == DEAD and output.value["error"] and "line" in output.value
            dead += 1
        else:
            batches.append(output)
    examples, summarized = 0, 0
    for batch in batches:
        assert isinstance(batch, dict) and set(batch) >= {"text", "label", "split", "order"}
        found = sort_labels(sorted(set(batch["label"])))
        for output in encoder.process(batch, found):
            # Nothing else is written: a split's serialized examples, or its summary.
            assert output.tag in SPLITS + (SUMMARY,), output.tag
            if output.tag == SUMMARY:
                split, counts, stats = output.value
                assert sum(counts.values()) == len(stats) and set(counts) <= set(found)
                summarized += len(stats)
                continue
            assert all(isinstance(payload, bytes) and payload for _, payload in output.value)
            examples += len(output.value)
    assert summarized == examples  # metadata.json's counts are the records written
    return examples, dead


def test_every_row_is_an_example_or_a_dead_letter(encoder, tmp_path, monkeypatch):
    """2,000 seeded cases (the same every run; no example database is written). The stages
    run in an empty working folder that must stay empty: they write no file of their own."""
    seen: list[tuple[int, int, int]] = []
    monkeypatch.chdir(tmp_path)

    @seed(20261122)
    @settings(max_examples=CASES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(cases=rows, fmt=st.sampled_from(["csv", "tsv", "jsonl"]), crlf=st.booleans(),
           bom=st.booleans(), drop=st.sets(st.integers(0, 11), max_size=3),
           latin1=st.sets(st.integers(0, 11), max_size=3),
           junk=st.lists(garbage, max_size=3))
    def case(cases, fmt, crlf, bom, drop, latin1, junk):
        if fmt == "jsonl":
            content, rows_in = _jsonl_bytes(cases, bom, drop, junk)
        else:
            content = _csv_bytes(cases, "\t" if fmt == "tsv" else ",", crlf, bom, drop, latin1)
            rows_in = len(cases)
        examples, dead = _through_the_step(f"case.{fmt}", content, encoder)
        assert examples + dead == rows_in, (fmt, examples, dead, rows_in, content[:300])
        seen.append((rows_in, examples, dead))

    case()
    rows_in, examples, dead = (sum(column) for column in zip(*seen))
    print(f"fuzz: {len(seen)} cases, {rows_in} rows in = {examples} examples + {dead} dead "
          f"letters, in every case")
    assert len(seen) >= CASES and examples > 1000 and dead > 1000  # both paths exercised
    assert not any(tmp_path.iterdir())
