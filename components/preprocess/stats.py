"""Per-split statistics of the encoded rows: sequence lengths, truncation, [UNK] rate."""

from __future__ import annotations

from typing import Any

import apache_beam as beam


class SplitStats(beam.CombineFn):
    """Combines lists of ``(length, truncated, unknown_tokens)`` rows into one summary per split.

    The histogram buckets lengths (special tokens included) by eighths of ``max_seq_length``.
    """

    def __init__(self, max_seq_length: int):
        self._max = max_seq_length
        self._width = max(1, -(-max_seq_length // 8))

    def create_accumulator(self) -> dict[str, Any]:
        return {"rows": 0, "tokens": 0, "truncated": 0, "unknown": 0, "hist": [0] * 8,
                "max_length": 0}

    def add_input(self, acc, rows):
        for length, truncated, unknown in rows:
            acc["rows"] += 1
            acc["tokens"] += length
            acc["truncated"] += int(truncated)
            acc["unknown"] += unknown
            acc["hist"][min((length - 1) // self._width, 7)] += 1
            acc["max_length"] = max(acc["max_length"], length)
        return acc

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for acc in accumulators:
            for key in ("rows", "tokens", "truncated", "unknown"):
                merged[key] += acc[key]
            merged["hist"] = [a + b for a, b in zip(merged["hist"], acc["hist"])]
            merged["max_length"] = max(merged["max_length"], acc["max_length"])
        return merged

    def extract_output(self, acc) -> dict[str, Any]:
        rows, tokens = max(acc["rows"], 1), max(acc["tokens"], 1)
        edges = [(i * self._width + 1, min((i + 1) * self._width, self._max)) for i in range(8)]
        return {
            "rows": acc["rows"],
            "mean_length": acc["tokens"] / rows,
            "max_length": acc["max_length"],
            "truncation_rate": acc["truncated"] / rows,
            "unk_rate": acc["unknown"] / tokens,
            "length_histogram": [{"from": lo, "to": hi, "rows": n}
                                 for (lo, hi), n in zip(edges, acc["hist"]) if lo <= self._max],
        }
