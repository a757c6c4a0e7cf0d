"""Reading raw rows (CSV, TSV, JSONL) with their file and line, for any Beam filesystem.

Each yielded record is ``{"source": path, "line": n, "row": {...}}`` or, when the row cannot be
parsed, ``{"source": path, "line": n, "error": reason, "raw": text}``, so a bad row becomes a
dead letter instead of an exception.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterator

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}


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


def _decode_lines(raw: bytes) -> Iterator[tuple[int, str | None, bytes]]:
    """(line number, text or None if undecodable, raw bytes) for each line."""
    for number, line in enumerate(raw.splitlines(keepends=True), start=1):
        try:
            yield number, line.decode("utf-8"), line
        except UnicodeDecodeError:
            yield number, None, line


def iter_records(path: str, raw: bytes) -> Iterator[dict[str, Any]]:
    """Parses one whole file's bytes into row records and error records."""
    fmt = file_format(path)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if fmt == "jsonl":
        for number, text, line in _decode_lines(raw):
            if text is None:
                yield {"source": path, "line": number, "error": "undecodable bytes (not UTF-8)",
                       "raw": line.decode("utf-8", "replace")}
                continue
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as err:
                yield {"source": path, "line": number, "error": f"malformed JSON: {err.msg}",
                       "raw": text.rstrip("\n")}
                continue
            if not isinstance(row, dict):
                yield {"source": path, "line": number, "error": "JSON line is not an object",
                       "raw": text.rstrip("\n")}
                continue
            yield {"source": path, "line": number, "row": row}
        return

    delimiter = "\t" if fmt == "tsv" else ","
    good_lines: list[str] = []
    line_numbers: list[int] = []
    for number, text, line in _decode_lines(raw):
        if text is None:
            yield {"source": path, "line": number, "error": "undecodable bytes (not UTF-8)",
                   "raw": line.decode("utf-8", "replace")}
            continue
        good_lines.append(text)
        line_numbers.append(number)
    reader = csv.reader(io.StringIO("".join(good_lines)), delimiter=delimiter)
    header: list[str] | None = None
    for fields in reader:
        # reader.line_num is the physical line reached within the decodable lines.
        number = line_numbers[min(reader.line_num, len(line_numbers)) - 1]
        if header is None:
            header = fields
            continue
        if not fields:
            continue
        if len(fields) != len(header):
            yield {"source": path, "line": number,
                   "error": f"wrong number of columns: {len(fields)} (header has {len(header)})",
                   "raw": delimiter.join(fields)}
            continue
        yield {"source": path, "line": number, "row": dict(zip(header, fields))}


def read_header(path: str, raw_head: bytes) -> list[str]:
    """Column names from the start of a file (the first JSON object's keys for JSONL)."""
    fmt = file_format(path)
    text = raw_head.decode("utf-8", "replace").lstrip("\ufeff")
    if fmt == "jsonl":
        for line in text.splitlines():
            if line.strip():
                try:
                    return list(json.loads(line))
                except json.JSONDecodeError:
                    return []
        return []
    first = next(csv.reader(io.StringIO(text), delimiter="\t" if fmt == "tsv" else ","), [])
    return first
