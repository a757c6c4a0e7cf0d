"""Streaming raw rows (CSV, TSV, JSONL, Parquet) with their file and line, from any filesystem.

Each yielded record is ``{"source": path, "line": n, "row": {...}}`` or, when the row cannot be
parsed, ``{"source": path, "line": n, "error": reason, "raw": text}``, so a bad row becomes a
dead letter instead of an exception. Files are read as streams (constant memory per file);
for Parquet, ``line`` is the 1-based row number.
"""

from __future__ import annotations

import csv
import json
from typing import Any, BinaryIO, Iterator

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


def _byte_lines(fh: BinaryIO) -> Iterator[bytes]:
    first = True
    for raw in iter(fh.readline, b""):
        if first and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        first = False
        yield raw


def _jsonl_records(path: str, fh: BinaryIO) -> Iterator[dict[str, Any]]:
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
        yield {"source": path, "line": number, "row": row}


def _delimited_records(path: str, fh: BinaryIO, delimiter: str) -> Iterator[dict[str, Any]]:
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

    reader = csv.reader(lines(), delimiter=delimiter)
    header: list[str] | None = None
    while True:
        record_lines.clear()
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            yield _error(path, record_lines[0] if record_lines else 0, f"malformed CSV: {err}", "")
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
        yield {"source": path, "line": number, "row": dict(zip(header, fields))}
    yield from pending


def _parquet_records(path: str, fh: BinaryIO) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(fh).iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            number += 1
            yield {"source": path, "line": number, "row": row}


def iter_records(path: str, fh: BinaryIO) -> Iterator[dict[str, Any]]:
    """Parses one file, streamed from the binary handle ``fh``."""
    fmt = file_format(path)
    if fmt == "jsonl":
        return _jsonl_records(path, fh)
    if fmt == "parquet":
        return _parquet_records(path, fh)
    return _delimited_records(path, fh, "\t" if fmt == "tsv" else ",")


def read_header(path: str, fh: BinaryIO) -> list[str]:
    """Column names of a file (the first JSON object's keys for JSONL)."""
    fmt = file_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(fh).schema_arrow.names)
    head = fh.read(1 << 16).decode("utf-8", "replace").lstrip("\ufeff")
    if fmt == "jsonl":
        for line in head.splitlines():
            if line.strip():
                try:
                    first = json.loads(line)
                except json.JSONDecodeError:
                    return []
                return list(first) if isinstance(first, dict) else []
        return []
    return next(csv.reader(head.splitlines()[:1], delimiter="\t" if fmt == "tsv" else ","), [])
