"""Streaming raw rows (CSV, TSV, JSONL, Parquet) with their file and line, from any filesystem.

Each yielded record is ``{"source": path, "line": n, "row": {...}}`` or, when the row cannot be
parsed, ``{"source": path, "line": n, "error": reason, "raw": text}``, so a bad row becomes a
dead letter instead of an exception. Files are read as streams (memory per file bounded by
the longest row); for Parquet, ``line`` is the 1-based row number.

Long fields are data: any field up to ``max_field_chars`` characters (``DataConfig``, 1 MiB by
default) is read whole; a row with a longer one is a dead letter whose reason names the cap
and the setting. (Python's csv module alone stops at 131,072 characters.)
"""

from __future__ import annotations

import csv
import json
from typing import Any, BinaryIO, Iterator

DEFAULT_MAX_FIELD_CHARS = 1_048_576

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl",
           ".parquet": "parquet"}


def file_format(path: str) -> str:
    """The format of ``path`` from its extension (``.gz``/``.bz2`` compression is allowed)."""
    name = path.lower()
    for suffix in (".gz", ".bz2"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    for ext, fmt in FORMATS.items():
        if name.endswith(ext):
            return fmt
    raise ValueError(f"{path}: unknown input format (expected one of {sorted(FORMATS)})")


def _error(path: str, line: int, reason: str, raw: str) -> dict[str, Any]:
    return {"source": path, "line": line, "error": reason, "raw": raw[:2000]}


def over_cap(max_field_chars: int, column: str | None = None, size: int | None = None) -> str:
    """The dead-letter reason of a row with a field over the cap, worded alike whichever check
    caught it (the column and size when known: csv's own limit, process-wide and at least the
    cap + 1, so raised by any earlier job in the process, stops a record before it has either)."""
    if column is None:
        what = f"a field is over max_field_chars ({max_field_chars:,} characters)"
    else:
        what = (f"field {column!r} has {size:,} characters, over max_field_chars "
                f"({max_field_chars:,} characters)")
    return f"{what}: raise --max-field-chars to read such rows"


def _capped(path: str, number: int, row: dict[str, Any], raw: str,
            max_field_chars: int) -> dict[str, Any]:
    """The row record, or a dead letter when one of its text fields is over the cap."""
    for column, value in row.items():
        if isinstance(value, str) and len(value) > max_field_chars:
            return _error(path, number, over_cap(max_field_chars, str(column), len(value)), raw)
    return {"source": path, "line": number, "row": row}


def _byte_lines(fh: BinaryIO) -> Iterator[bytes]:
    first = True
    for raw in iter(fh.readline, b""):
        if first and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        first = False
        yield raw


def _jsonl_records(path: str, fh: BinaryIO, max_field_chars: int) -> Iterator[dict[str, Any]]:
    for number, raw in enumerate(_byte_lines(fh), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield _error(path, number, "undecodable bytes (not UTF-8)", raw.decode("utf-8", "replace"))
            continue
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as err:
            yield _error(path, number, f"malformed JSON: {err.msg}", text.rstrip("\n"))
            continue
        if not isinstance(row, dict):
            yield _error(path, number, "JSON line is not an object", text.rstrip("\n"))
            continue
        yield _capped(path, number, row, text.rstrip("\n"), max_field_chars)


def _delimited_records(path: str, fh: BinaryIO, delimiter: str,
                       max_field_chars: int) -> Iterator[dict[str, Any]]:
    pending: list[dict[str, Any]] = []   # undecodable lines met while csv reads a record
    record_lines: list[int] = []         # physical line numbers of the record being read

    def lines() -> Iterator[str]:
        for number, raw in enumerate(_byte_lines(fh), start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                pending.append(_error(path, number, "undecodable bytes (not UTF-8)",
                                      raw.decode("utf-8", "replace").rstrip("\n")))
                continue
            record_lines.append(number)
            yield text

    # The csv module's limit is process-wide: never lowered here, and the cap itself is checked
    # per row, so that two jobs with different caps in one process each get their own.
    csv.field_size_limit(max(csv.field_size_limit(), max_field_chars + 1))
    reader = csv.reader(lines(), delimiter=delimiter)
    header: list[str] | None = None
    while True:
        record_lines.clear()
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            reason = over_cap(max_field_chars) if "field larger than field limit" in str(err) \
                else f"malformed CSV: {err}"
            yield _error(path, record_lines[0] if record_lines else 0, reason, "")
            continue
        yield from pending
        pending.clear()
        number = record_lines[0] if record_lines else 0
        if header is None:
            header = fields
            continue
        if not fields:
            continue
        if len(fields) != len(header):
            yield _error(path, number,
                         f"wrong number of columns: {len(fields)} (header has {len(header)})",
                         delimiter.join(fields))
            continue
        yield _capped(path, number, dict(zip(header, fields)), delimiter.join(fields)[:2000],
                      max_field_chars)
    yield from pending


def _parquet_records(path: str, fh: BinaryIO, max_field_chars: int) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(fh).iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            number += 1
            yield _capped(path, number, row, "", max_field_chars)


def iter_records(path: str, fh: BinaryIO,
                 max_field_chars: int = DEFAULT_MAX_FIELD_CHARS) -> Iterator[dict[str, Any]]:
    """Parses one file, streamed from the binary handle ``fh``."""
    fmt = file_format(path)
    if fmt == "jsonl":
        return _jsonl_records(path, fh, max_field_chars)
    if fmt == "parquet":
        return _parquet_records(path, fh, max_field_chars)
    return _delimited_records(path, fh, "\t" if fmt == "tsv" else ",", max_field_chars)


def read_header(path: str, fh: BinaryIO) -> list[str]:
    """Column names of a file (the first JSON object's keys for JSONL)."""
    fmt = file_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(fh).schema_arrow.names)
    if fmt == "jsonl":  # the first object's keys, however long its line (a long document)
        for raw in _byte_lines(fh):
            line = raw.decode("utf-8", "replace")
            if line.strip():
                try:
                    first = json.loads(line)
                except json.JSONDecodeError:
                    return []
                return list(first) if isinstance(first, dict) else []
        return []
    head = fh.read(1 << 16).decode("utf-8", "replace").lstrip("\ufeff")
    return next(csv.reader(head.splitlines()[:1], delimiter="\t" if fmt == "tsv" else ","), [])
