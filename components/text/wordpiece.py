"""WordPiece tokenization that matches Hugging Face's BertTokenizerFast token for token.

    tok = WordPieceEncoder(vocab_file, do_lower_case=True, max_seq_length=64)
    features = tok.encode(["a movie"], ["a pair"])    # dict of int64 arrays [batch, 64]

tensorflow-text's ``BertTokenizer`` does the WordPiece work. Around it we do in Python the few
things where its normalisation differs from BERT's reference tokenizer: text cleaning (control
characters dropped, every Unicode space made ' '), per-character lower-casing rather than ICU
case folding, accent stripping, the 100-*character* (not byte) word limit, and BERT's
longest-first truncation of sentence pairs. The result is exact, and it is tested against
``tokenizers`` on a corpus of hard strings.
"""

from __future__ import annotations

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


def normalize_text(text: str, do_lower_case: bool) -> str:
    """BERT's text cleaning (and lower-casing + accent stripping when the vocab is uncased)."""
    if text.isascii():
        cleaned = text.translate(_ASCII_CLEAN)
        return cleaned.lower() if do_lower_case else cleaned
    out = []
    for ch in text:
        code = ord(ch)
        if code in KEEP_IN_WORD:
            out.append(_IN_WORD_PLACEHOLDER)
            continue
        if code == 0 or code == 0xFFFD or _is_control(ch):
            continue
        out.append(" " if ch.isspace() else ch)  # Unicode White_Space, as Rust's is_whitespace
    cleaned = "".join(out)
    if do_lower_case:
        # Per character, as the Rust tokenizer does (so a final sigma stays 'σ').
        cleaned = unicodedata.normalize("NFD", "".join(ch.lower() for ch in cleaned))
        cleaned = "".join(ch for ch in cleaned if unicodedata.category(ch) != "Mn")
    return cleaned


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
        table = tf.lookup.StaticVocabularyTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(vocab), tf.range(len(vocab), dtype=tf.int64)), num_oov_buckets=1)
        # Casing is done in normalize_text; tf.text must not case-fold or re-normalise.
        self._tokenizer = tf_text.BertTokenizer(
            table, token_out_type=tf.int64, lower_case=False, normalization_form=None,
            max_bytes_per_word=4 * MAX_CHARS_PER_WORD, unknown_token="[UNK]")
        self._tf = tf

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def wordpieces(texts):
            # One graph call per batch (eager ragged ops cost ~500 small ops per batch).
            ids, starts, ends = self._tokenizer.tokenize_with_offsets(texts)
            word_splits, piece_splits = ids.nested_row_splits
            return (ids.flat_values, word_splits, piece_splits, starts.flat_values,
                    ends.flat_values)

        self._wordpieces_fn = wordpieces

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """WordPiece ids of each text, without added special tokens or truncation."""
        pieces: list[str] = []
        spans = []
        for text in texts:
            parts = _SPECIAL_IN_TEXT.split(text)
            spans.append((len(pieces), len(parts)))
            pieces.extend(parts)
        plain = iter(self._wordpieces([p for i, p in enumerate(pieces) if not self._special(p)]))
        ids = [[self.vocab[p]] if self._special(p) else next(plain) for p in pieces]
        return [sum(ids[start:start + count], []) for start, count in spans]

    def _special(self, piece: str) -> bool:
        return piece in self.vocab and bool(_SPECIAL_IN_TEXT.fullmatch(piece))

    def _wordpieces(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        normalized = [normalize_text(t, self.do_lower_case) for t in texts]
        encoded = [t.encode("utf-8") for t in normalized]
        # Ragged [text, word, piece] as flat arrays (RaggedTensor.to_list is slow).
        flat_ids, word_splits, piece_splits, flat_starts, flat_ends = (
            x.numpy() for x in self._wordpieces_fn(self._tf.constant(encoded)))
        first_piece, last_piece = piece_splits[:-1], piece_splits[1:] - 1
        word_bytes = flat_ends[last_piece] - flat_starts[first_piece]
        word_starts = flat_starts[first_piece]
        rows = []
        for r, text in enumerate(encoded):
            w0, w1 = word_splits[r], word_splits[r + 1]
            # A word over 100 *characters* is one [UNK] (only words over 100 bytes can be).
            long_words = [w for w in range(w0, w1) if word_bytes[w] > MAX_CHARS_PER_WORD
                          and len(text[word_starts[w]:word_starts[w] + word_bytes[w]]
                                  .decode("utf-8", errors="replace")) > MAX_CHARS_PER_WORD]
            if not long_words:
                rows.append(flat_ids[piece_splits[w0]:piece_splits[w1]].tolist())
                continue
            row: list[int] = []
            for w in range(w0, w1):
                row.extend([self.unk_id] if w in long_words
                           else flat_ids[piece_splits[w]:piece_splits[w + 1]].tolist())
            rows.append(row)
        return rows

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
        """``encode`` plus, per row: packed length, whether truncated, [UNK] count."""
        tok_a = self.tokenize(texts_a)
        tok_b = self.tokenize(texts_b) if texts_b is not None else [None] * len(tok_a)
        n, width = len(tok_a), self.max_seq_length
        out = {name: np.zeros((n, width), np.int64)
               for name in ("input_word_ids", "input_mask", "input_type_ids")}
        out["input_word_ids"].fill(self.pad_id)
        lengths = np.zeros(n, np.int64)
        truncated = np.zeros(n, bool)
        for i, (a, b) in enumerate(zip(tok_a, tok_b)):
            ids, types, truncated[i] = self.pack(a, b)
            lengths[i] = len(ids)
            out["input_word_ids"][i, :len(ids)] = ids
            out["input_mask"][i, :len(ids)] = 1
            out["input_type_ids"][i, :len(ids)] = types
        unknown = (out["input_word_ids"] == self.unk_id).sum(axis=1)
        return out, lengths, truncated, unknown
