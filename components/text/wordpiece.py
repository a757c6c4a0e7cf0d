"""WordPiece tokenization that matches Hugging Face's BertTokenizerFast token for token.

    tok = WordPieceEncoder(vocab_file, do_lower_case=True, max_seq_length=64)
    features = tok.encode(["a movie"], ["a pair"])    # dict of int64 arrays [batch, 64]

tensorflow-text does the WordPiece work: ``BertTokenizer``'s own ``BasicTokenizer`` splits the
words, and ``FastWordpieceTokenizer`` (linear-time, the same greedy longest-match-first result
as ``BertTokenizer``'s WordPiece, ~5x faster) splits them into pieces. Around it we do in
Python the few things where its normalisation differs from BERT's reference tokenizer: text
cleaning (control characters dropped, every Unicode space made ' '), per-character lower-casing
rather than ICU case folding, accent stripping, the 100-*character* (not byte) word limit, and
BERT's longest-first truncation of sentence pairs. The result is exact, and it is tested against
``tokenizers`` on a corpus of hard strings. Batches stay flat numpy arrays (ids + row splits)
from the graph to the padded output: no per-row Python lists on the hot path.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from pathlib import Path
from typing import Sequence

import numpy as np

from components.text.unicode_compat import KEEP_IN_WORD

MAX_CHARS_PER_WORD = 100
SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[UNK]", "[PAD]")
# Literal special tokens in raw text become those tokens, as in Hugging Face's tokenizers.
_SPECIAL_IN_TEXT = re.compile(r"(\[(?:CLS|SEP|UNK|PAD|MASK)\])")


def _is_control(ch: str) -> bool:
    """What Hugging Face's Rust normalizer drops: control, format, private-use, surrogate
    (unassigned code points are kept)."""
    return ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs")


# Unassigned in every table involved: stays inside its word, which then maps to [UNK].
_IN_WORD_PLACEHOLDER = "\u0378"

# ASCII fast path: drop control characters (but tab/newline/CR), every whitespace -> ' '.
_ASCII_CLEAN = {i: None for i in range(32) if chr(i) not in "\t\n\r"}
_ASCII_CLEAN.update({ord("\t"): " ", ord("\n"): " ", ord("\r"): " ", 127: None})
# The same on UTF-8 bytes (one C call per text), with and without lower-casing.
_ASCII_DROP = bytes(i for i in range(128) if _ASCII_CLEAN.get(i, "") is None)
_ASCII_BYTES = bytes.maketrans(b"\t\n\r", b"   ")
_ASCII_BYTES_LOWER = _ASCII_BYTES.lower()


class _CharTable(dict):
    """A ``str.translate`` table that applies ``rule`` to each character the first time it is
    seen, then reuses the answer: the per-character Python work is done once per distinct
    character instead of once per occurrence."""

    def __init__(self, rule):
        super().__init__()
        self._rule = rule

    def __missing__(self, code: int) -> str | None:
        value = self[code] = self._rule(chr(code))
        return value


def _clean_char(ch: str) -> str | None:
    if ord(ch) in KEEP_IN_WORD:
        return _IN_WORD_PLACEHOLDER
    if ch in "\x00\ufffd" or _is_control(ch):
        return None
    return " " if ch.isspace() else ch  # Unicode White_Space, as Rust's is_whitespace


_CLEAN = _CharTable(_clean_char)
# Per character, as the Rust tokenizer does (so a final sigma stays 'σ').
_LOWER = _CharTable(str.lower)
_DROP_MARKS = _CharTable(lambda ch: None if unicodedata.category(ch) == "Mn" else ch)


def normalize_text(text: str, do_lower_case: bool) -> str:
    """BERT's text cleaning (and lower-casing + accent stripping when the vocab is uncased)."""
    if text.isascii():
        cleaned = text.translate(_ASCII_CLEAN)
        return cleaned.lower() if do_lower_case else cleaned
    cleaned = text.translate(_CLEAN)
    if do_lower_case:
        cleaned = unicodedata.normalize("NFD", cleaned.translate(_LOWER)).translate(_DROP_MARKS)
    return cleaned


def normalize_utf8(texts: Sequence[str], do_lower_case: bool) -> list[bytes]:
    """``normalize_text(t).encode("utf-8")`` of each text, ASCII texts in one bytes call."""
    table = _ASCII_BYTES_LOWER if do_lower_case else _ASCII_BYTES
    return [t.encode("ascii").translate(table, _ASCII_DROP) if t.isascii()
            else normalize_text(t, do_lower_case).encode("utf-8") for t in texts]


def truncate_longest_first(len_a: int, len_b: int, budget: int) -> tuple[int, int]:
    """Token counts kept of each segment, as Hugging Face's ``longest_first`` truncation."""
    if len_a + len_b <= budget:
        return len_a, len_b
    n1, n2 = len_a, len_b
    swap = n1 > n2
    if swap:
        n1, n2 = n2, n1
    n2 = n1 if n1 > budget else max(n1, budget - n1)
    if n1 + n2 > budget:
        n1 = budget // 2
        n2 = n1 + budget % 2
    if swap:
        n1, n2 = n2, n1
    return min(n1, len_a), min(n2, len_b)


class WordPieceEncoder:
    """Turns texts (and optional second texts) into BERT input ids, masks and type ids."""

    def __init__(self, vocab_file: str | Path, do_lower_case: bool, max_seq_length: int):
        import tensorflow as tf
        import tensorflow_text as tf_text
        # BertTokenizer's own word splitter (not exported at the package top level).
        from tensorflow_text.python.ops.bert_tokenizer import BasicTokenizer

        self.vocab_file = str(vocab_file)
        self.do_lower_case = do_lower_case
        self.max_seq_length = max_seq_length
        vocab = Path(vocab_file).read_text(encoding="utf-8").splitlines()
        self.vocab = {token: i for i, token in enumerate(vocab)}
        missing = [t for t in SPECIAL_TOKENS if t not in self.vocab]
        if missing:
            raise ValueError(f"vocab {vocab_file} lacks special tokens {missing}")
        self.cls_id, self.sep_id = self.vocab["[CLS]"], self.vocab["[SEP]"]
        self.unk_id, self.pad_id = self.vocab["[UNK]"], self.vocab["[PAD]"]
        # Casing is done in normalize_text; tf.text must not case-fold or re-normalise.
        basic = BasicTokenizer(lower_case=False, normalization_form=None)
        pieces = tf_text.FastWordpieceTokenizer(
            vocab, token_out_type=tf.int64, unknown_token="[UNK]", no_pretokenization=True,
            max_bytes_per_word=4 * MAX_CHARS_PER_WORD)
        self._tf = tf

        # One graph call per batch (eager ragged ops cost ~500 small ops per batch); no
        # autograph: straight-line code, and tracing takes a fraction of the time.
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
        def wordpieces(texts):
            words = basic.tokenize(texts)
            ids = pieces.tokenize(words.flat_values)
            too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > MAX_CHARS_PER_WORD
            return ids.flat_values, ids.row_splits, words.row_splits, too_long

        self._wordpieces_fn = wordpieces

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """WordPiece ids of each text, without added special tokens or truncation."""
        flat, splits = self.tokenize_flat(texts)
        return [flat[a:b].tolist() for a, b in zip(splits[:-1], splits[1:])]

    def tokenize_flat(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``tokenize`` as flat ids and row splits (text i: ``ids[splits[i]:splits[i + 1]]``)."""
        if not any("[" in t and _SPECIAL_IN_TEXT.search(t) for t in texts):
            return self._wordpieces(texts)
        pieces: list[str] = []
        spans = []
        for text in texts:
            parts = _SPECIAL_IN_TEXT.split(text)
            spans.append((len(pieces), len(parts)))
            pieces.extend(parts)
        flat, splits = self._wordpieces([p for p in pieces if not self._special(p)])
        plain = iter(zip(splits[:-1].tolist(), splits[1:].tolist()))
        ids = [[self.vocab[p]] if self._special(p) else flat[slice(*next(plain))].tolist()
               for p in pieces]
        rows = [sum(ids[start:start + count], []) for start, count in spans]
        lengths = np.asarray([len(r) for r in rows], np.int64)
        return (np.fromiter(itertools.chain.from_iterable(rows), np.int64),
                np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))

    def _special(self, piece: str) -> bool:
        return piece in self.vocab and bool(_SPECIAL_IN_TEXT.fullmatch(piece))

    def _wordpieces(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if not texts:
            return np.zeros(0, np.int64), np.zeros(1, np.int64)
        encoded = normalize_utf8(texts, self.do_lower_case)
        flat, piece_splits, word_splits, too_long = (
            x.numpy() for x in self._wordpieces_fn(self._tf.constant(encoded)))
        if too_long.any():
            # A word over 100 *characters* is one [UNK] (tf.text only limits bytes).
            counts = np.diff(piece_splits)
            counts[too_long] = 1
            word = np.repeat(np.arange(len(counts)), counts)
            new_splits = np.concatenate([[0], np.cumsum(counts)])
            source = piece_splits[word] + np.arange(len(word)) - new_splits[word]
            flat = np.where(too_long[word], self.unk_id, flat[source])
            piece_splits = new_splits
        return flat.astype(np.int64), piece_splits[word_splits].astype(np.int64)

    def pack(self, tokens_a: list[int], tokens_b: list[int] | None) -> tuple[list[int], list[int], bool]:
        """``[CLS] a [SEP] (b [SEP])`` truncated to max_seq_length; returns ids, type ids, truncated."""
        if tokens_b is None:
            keep_a = min(len(tokens_a), self.max_seq_length - 2)
            ids = [self.cls_id] + tokens_a[:keep_a] + [self.sep_id]
            return ids, [0] * len(ids), keep_a < len(tokens_a)
        keep_a, keep_b = truncate_longest_first(len(tokens_a), len(tokens_b),
                                                self.max_seq_length - 3)
        first = [self.cls_id] + tokens_a[:keep_a] + [self.sep_id]
        second = tokens_b[:keep_b] + [self.sep_id]
        truncated = keep_a < len(tokens_a) or keep_b < len(tokens_b)
        return first + second, [0] * len(first) + [1] * len(second), truncated

    def encode(self, texts_a: Sequence[str],
               texts_b: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Padded model inputs for a batch: ``input_word_ids``, ``input_mask``, ``input_type_ids``."""
        return self.encode_with_stats(texts_a, texts_b)[0]

    def encode_with_stats(self, texts_a: Sequence[str], texts_b: Sequence[str] | None = None
                          ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
        """``encode`` plus, per row: packed length, whether truncated, [UNK] count.

        The same result as ``pack`` row by row, with numpy scatters over the whole batch."""
        flat_a, splits_a = self.tokenize_flat(texts_a)
        len_a = np.diff(splits_a)
        n, width = len(len_a), self.max_seq_length
        if texts_b is None:
            flat_b, splits_b = np.zeros(0, np.int64), np.zeros(n + 1, np.int64)
            len_b = keep_b = np.zeros(n, np.int64)
            keep_a = np.minimum(len_a, width - 2)
        else:
            flat_b, splits_b = self.tokenize_flat(texts_b)
            len_b = np.diff(splits_b)
            keeps = [truncate_longest_first(a, b, width - 3)
                     for a, b in zip(len_a.tolist(), len_b.tolist())]
            keep_a = np.asarray([k[0] for k in keeps], np.int64).reshape(n)
            keep_b = np.asarray([k[1] for k in keeps], np.int64).reshape(n)
        ids = np.full((n, width), self.pad_id, np.int64)
        ids[:, 0] = self.cls_id
        rows = np.arange(n)
        _scatter(ids, flat_a, splits_a, keep_a, 1)
        ids[rows, keep_a + 1] = self.sep_id
        lengths = keep_a + 2
        types = np.zeros((n, width), np.int64)
        if texts_b is not None:
            _scatter(ids, flat_b, splits_b, keep_b, keep_a + 2)
            ids[rows, keep_a + keep_b + 2] = self.sep_id
            lengths = lengths + keep_b + 1
            positions = np.arange(width)[np.newaxis]
            types[(positions >= (keep_a + 2)[:, np.newaxis])
                  & (positions < lengths[:, np.newaxis])] = 1
        mask = (np.arange(width)[np.newaxis] < lengths[:, np.newaxis]).astype(np.int64)
        truncated = (keep_a < len_a) | (keep_b < len_b)
        unknown = (ids == self.unk_id).sum(axis=1)
        return ({"input_word_ids": ids, "input_mask": mask, "input_type_ids": types},
                lengths.astype(np.int64), truncated, unknown)


def _scatter(out: np.ndarray, flat: np.ndarray, splits: np.ndarray, keep: np.ndarray,
             first_column: np.ndarray | int) -> None:
    """Writes the first ``keep[i]`` ids of row ``i`` (``flat[splits[i]:]``) into ``out[i]``
    from column ``first_column`` (a scalar or one per row)."""
    row = np.repeat(np.arange(len(keep)), keep)
    within = np.arange(len(row)) - np.repeat(np.cumsum(keep) - keep, keep)
    column = (first_column[row] if isinstance(first_column, np.ndarray) else first_column) + within
    out[row, column] = flat[splits[:-1][row] + within]
