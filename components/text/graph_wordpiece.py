"""``WordPieceEncoder`` rebuilt from core TensorFlow ops, for tokenizing inside a SavedModel.

    tok = GraphWordPiece(vocab_file, do_lower_case=True, max_seq_length=128)
    features = tf.function(tok.encode)(tf.constant(["a movie"]))   # int32 [batch, 128] x 3

A serving SavedModel whose graph holds tensorflow-text ops does not even load where that
library is missing (TF Serving, Triton: ``Op type not registered 'CaseFoldUTF8'``), and ICU case
folding differs from BERT's lower-casing on non-ASCII text anyway. So every step of
``components.text.wordpiece.WordPieceEncoder`` is redone with core ops, exactly:

* special tokens written in the text (``[CLS]`` ...) become private-use placeholder words;
* normalisation is a per-code-point table computed at export time by calling the reference's
  own ``normalize_text`` on every code point, so it agrees by construction (see
  ``_normalization_ranges`` for the one caveat, which is checked);
* control/format characters become spaces and the text is split with tensorflow-text's
  BasicTokenizer regular expressions (RE2, which core ``regex_replace`` uses too);
* WordPiece is greedy longest-match-first, vectorised over the batch's distinct words in a
  ``tf.while_loop``; words over 100 characters, or with an unmatched piece, are one ``[UNK]``;
* ``[CLS] a [SEP] (b [SEP])`` packing with Hugging Face's longest-first pair truncation.
"""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

import numpy as np
import tensorflow as tf

from components.text.wordpiece import MAX_CHARS_PER_WORD, SPECIAL_TOKENS, normalize_text

# tensorflow_text.python.ops.bert_tokenizer._KEEP_DELIM_NO_WHITESPACE_PATTERN (tf-text 2.x),
# copied so that serving never imports tensorflow_text: punctuation and CJK ideographs are
# words of their own; whitespace separates words and is dropped.
KEEP_DELIM_PATTERN = "|".join([
    r"[!-/]|[:-@]|[\[-`]|[{-~]|[\p{P}]",
    r"[\x{4E00}-\x{9FFF}]|[\x{3400}-\x{4DBF}]|[\x{20000}-\x{2A6DF}]|[\x{2A700}-\x{2B73F}]"
    r"|[\x{2B740}-\x{2B81F}]|[\x{2B820}-\x{2CEAF}]|[\x{F900}-\x{FAFF}]|[\x{2F800}-\x{2FA1F}]",
])
# What BasicTokenizer turns into spaces after normalisation.
CONTROL_PATTERN = r"\p{Cc}|\p{Cf}"
# Literal special tokens (as ``_SPECIAL_IN_TEXT`` in the reference), in this order.
SPECIALS_IN_TEXT = ("[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]")
# Private-use code points standing in for them: normalize_text drops private use, so a real
# one in the input can be deleted up front without changing the result.
PLACEHOLDER_BASE = 0xE000
KEEP = -1  # normalisation table value: the code point stays as it is
_SURROGATES = range(0xD800, 0xE000)  # never produced by unicode_decode


@functools.lru_cache(maxsize=2)
def _normalization_ranges(do_lower_case: bool) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """``normalize_text`` on every code point, as sorted ranges for ``tf.searchsorted``.

    Returns (range starts, value per range: KEEP or an index into the replacements,
    replacements). Applying it per character equals ``normalize_text`` on the whole string:
    cleaning and lower-casing are per character in the reference too, and NFD of a string is
    the NFD of its characters up to the canonical reordering of combining marks, which the
    removal of every Mn mark makes moot except among the few spacing marks (Mc) with a
    combining class; ``GraphWordPiece`` checks that no vocab token holds one, and a word
    holding one is then [UNK] in either order. Takes ~2 s, once per process.
    """
    starts: list[int] = []
    values: list[int] = []
    index: dict[str, int] = {}
    previous = None
    for cp in range(0x110000):
        if cp in _SURROGATES:
            continue
        ch = chr(cp)
        norm = normalize_text(ch, do_lower_case)
        value = KEEP if norm == ch else index.setdefault(norm, len(index))
        if value != previous:
            starts.append(cp)
            values.append(value)
            previous = value
    return (np.asarray(starts, np.int32), np.asarray(values, np.int32), tuple(index))


@functools.lru_cache(maxsize=1)
def _reorderable_marks() -> frozenset[str]:
    """Characters whose order NFD may change and that survive accent stripping."""
    return frozenset(chr(cp) for cp in range(0x110000) if cp not in _SURROGATES
                     and unicodedata.combining(chr(cp))
                     and unicodedata.category(chr(cp)) != "Mn")


def _longest_first(len_a: tf.Tensor, len_b: tf.Tensor, budget: int) -> list[tf.Tensor]:
    """In-graph twin of ``preprocess.tokenizer.truncate_longest_first`` (Hugging Face's rule)."""
    swap = len_a > len_b
    n1, n2 = tf.minimum(len_a, len_b), tf.maximum(len_a, len_b)
    n2 = tf.where(n1 > budget, n1, tf.maximum(n1, budget - n1))
    over = n1 + n2 > budget
    n1 = tf.where(over, tf.cast(budget // 2, n1.dtype), n1)
    n2 = tf.where(over, tf.cast(budget // 2 + budget % 2, n2.dtype), n2)
    keep_a, keep_b = tf.where(swap, n2, n1), tf.where(swap, n1, n2)
    fits = len_a + len_b <= budget
    return [tf.where(fits, len_a, tf.minimum(keep_a, len_a)),
            tf.where(fits, len_b, tf.minimum(keep_b, len_b))]


class GraphWordPiece(tf.Module):
    """BERT tokenization with core TF ops only; ids equal ``WordPieceEncoder``'s.

    Call ``tokenize`` / ``encode`` inside a ``tf.function``: the WordPiece loop is a
    ``tf.while_loop``, slow when run eagerly. Input strings are UTF-8; invalid bytes become
    U+FFFD, which normalisation drops (the Beam job decodes its text in Python first).
    """

    def __init__(self, vocab_file: str, do_lower_case: bool, max_seq_length: int):
        super().__init__()
        vocab = Path(vocab_file).read_text(encoding="utf-8").splitlines()
        ids = {}
        for i, token in enumerate(vocab):
            ids.setdefault(token, i)
        missing = [t for t in SPECIAL_TOKENS if t not in ids]
        if missing:
            raise ValueError(f"vocab {vocab_file} lacks special tokens {missing}")
        self.do_lower_case = do_lower_case
        self.max_seq_length = max_seq_length
        self.cls_id, self.sep_id = ids["[CLS]"], ids["[SEP]"]
        self.unk_id, self.pad_id = ids["[UNK]"], ids["[PAD]"]
        self._specials = [(t, chr(PLACEHOLDER_BASE + i), ids[t])
                          for i, t in enumerate(SPECIALS_IN_TEXT) if t in ids]
        placeholders = {p for _, p, _ in self._specials}
        # Tokens with a placeholder in them can never match (normalisation drops private use).
        keys = {t: i for t, i in ids.items() if not placeholders & set(t)}
        if do_lower_case:
            marks = _reorderable_marks()
            odd = sorted(t for t in keys if marks & set(t))
            if odd:
                raise ValueError(f"vocab tokens {odd[:5]} hold spacing marks that NFD may "
                                 "reorder; the in-graph normalisation would not be exact")
        keys.update({p: i for _, p, i in self._specials})
        self._max_piece_chars = max(len(t[2:] if t.startswith("##") else t) for t in keys)
        self.vocab_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(keys)), tf.constant(list(keys.values()), tf.int64)),
            default_value=-1)
        self._starts, self._values, replacements = _normalization_ranges(do_lower_case)
        encoded = [np.asarray([ord(c) for c in r], np.int32) for r in replacements]
        lengths = np.asarray([len(r) for r in encoded], np.int32)
        self._rep_lengths = lengths
        self._rep_offsets = (np.cumsum(lengths) - lengths).astype(np.int32)
        # One spare entry so that gathers for kept characters stay in range.
        self._rep_flat = np.concatenate(encoded + [np.zeros(1, np.int32)]).astype(np.int32)

    def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """WordPiece ids ([batch, (pieces)] int64) of each text, no special tokens added."""
        words = self._words(texts)
        unique, position = tf.unique(words.flat_values)
        pieces = tf.gather(self._wordpiece(unique), position)
        return words.with_flat_values(pieces).merge_dims(1, 2)

    def encode(self, texts: tf.Tensor, texts_pair: tf.Tensor | None = None,
               pad_to_max: bool = True) -> dict[str, tf.Tensor]:
        """``input_word_ids``, ``input_mask``, ``input_type_ids``: int32 [batch, max_seq_length],
        or [batch, longest in the batch] without ``pad_to_max`` (the model ignores padding,
        so serving skips the work: short texts at batch 1 run several times faster)."""
        segments = [self.tokenize(texts)]
        if texts_pair is not None:
            segments.append(self.tokenize(texts_pair))
        lengths = [s.row_lengths() for s in segments]
        budget = self.max_seq_length - 1 - len(segments)
        keeps = ([tf.minimum(lengths[0], budget)] if len(segments) == 1
                 else _longest_first(lengths[0], lengths[1], budget))
        batch = tf.shape(lengths[0], out_type=tf.int64)[0]
        cls = tf.RaggedTensor.from_tensor(tf.fill([batch, 1], tf.constant(self.cls_id, tf.int64)))
        sep = tf.RaggedTensor.from_tensor(tf.fill([batch, 1], tf.constant(self.sep_id, tf.int64)))
        ids, types = [cls], [tf.zeros_like(cls)]
        for type_id, (segment, keep) in enumerate(zip(segments, keeps)):
            kept = tf.ragged.boolean_mask(segment, tf.ragged.range(segment.row_lengths())
                                          < tf.expand_dims(keep, 1))
            part = tf.concat([kept, sep], axis=1)
            ids.append(part)
            types.append(tf.ones_like(part) * type_id)
        ids, types = tf.concat(ids, axis=1), tf.concat(types, axis=1)
        shape = [None, self.max_seq_length if pad_to_max else None]
        return {"input_word_ids": tf.cast(ids.to_tensor(self.pad_id, shape=shape), tf.int32),
                "input_mask": tf.cast(tf.ones_like(ids).to_tensor(0, shape=shape), tf.int32),
                "input_type_ids": tf.cast(types.to_tensor(0, shape=shape), tf.int32)}

    def _words(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """[batch, (words)] strings: special placeholders, normalisation, BasicTokenizer split."""
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace",
                                             replacement_char=0xFFFD)
        if self._specials:
            last = PLACEHOLDER_BASE + len(self._specials) - 1
            texts = tf.strings.regex_replace(
                texts, f"[\\x{{{PLACEHOLDER_BASE:X}}}-\\x{{{last:X}}}]", "")
            for token, placeholder, _ in self._specials:
                texts = tf.strings.regex_replace(texts, "\\" + token[:-1] + "\\]",
                                                 f" {placeholder} ")
        texts = self._normalize(texts)
        texts = tf.strings.regex_replace(texts, CONTROL_PATTERN, " ")
        texts = tf.strings.regex_replace(texts, KEEP_DELIM_PATTERN, " \\0 ")
        return tf.strings.split(texts)

    def _normalize(self, texts: tf.Tensor) -> tf.Tensor:
        """Each code point replaced by its ``normalize_text`` (placeholders kept)."""
        chars = tf.strings.unicode_decode(texts, "UTF-8")
        flat = chars.flat_values
        bucket = tf.searchsorted(tf.constant(self._starts)[tf.newaxis], flat[tf.newaxis],
                                 side="right")[0] - 1
        value = tf.gather(tf.constant(self._values), bucket)
        in_placeholders = ((flat >= PLACEHOLDER_BASE)
                           & (flat < PLACEHOLDER_BASE + len(self._specials)))
        value = tf.where(in_placeholders, KEEP, value)
        replacement = tf.maximum(value, 0)
        out_lengths = tf.where(value == KEEP, 1, tf.gather(self._rep_lengths, replacement))
        source = tf.repeat(tf.range(tf.size(flat)), out_lengths)
        within = (tf.range(tf.reduce_sum(out_lengths))
                  - tf.gather(tf.cumsum(out_lengths, exclusive=True), source))
        source_value = tf.gather(value, source)
        mapped = tf.gather(self._rep_flat, tf.gather(self._rep_offsets,
                                                     tf.maximum(source_value, 0)) + within)
        new_flat = tf.where(source_value == KEEP, tf.gather(flat, source), mapped)
        row_lengths = tf.reduce_sum(chars.with_flat_values(out_lengths), axis=1)
        return tf.strings.unicode_encode(
            tf.RaggedTensor.from_row_lengths(new_flat, row_lengths), "UTF-8")

    def _wordpiece(self, words: tf.Tensor) -> tf.RaggedTensor:
        """[words, (pieces)] int64: greedy longest-match-first, all words at once.

        Each loop step takes, for every unfinished word, the longest vocab piece at its
        current position (``##``-prefixed past the first character); a word with no piece
        at some position, or over 100 characters, is a single [UNK].
        """
        n = tf.size(words)
        lengths = tf.strings.length(words, unit="UTF8_CHAR")
        failed = lengths > MAX_CHARS_PER_WORD
        max_piece = self._max_piece_chars

        def step(position, done, failed, pieces):
            active = tf.where(~done)[:, 0]
            word = tf.gather(words, active)
            start = tf.gather(position, active)
            left = tf.gather(lengths, active) - start
            sizes = tf.range(1, tf.minimum(max_piece, tf.reduce_max(left)) + 1)
            grid = [tf.size(active), tf.size(sizes)]
            candidate = tf.strings.substr(
                tf.broadcast_to(word[:, tf.newaxis], grid),
                tf.broadcast_to(start[:, tf.newaxis], grid),
                tf.broadcast_to(sizes[tf.newaxis], grid), unit="UTF8_CHAR")
            candidate = tf.where(start[:, tf.newaxis] > 0, "##" + candidate, candidate)
            found = self.vocab_table.lookup(candidate)
            usable = (found >= 0) & (sizes[tf.newaxis] <= left[:, tf.newaxis])
            best = tf.reduce_max(tf.where(usable, sizes[tf.newaxis], 0), axis=1)
            piece = tf.gather(found, tf.maximum(best - 1, 0), batch_dims=1)
            index = active[:, tf.newaxis]
            position = tf.tensor_scatter_nd_add(position, index, best)
            failed = tf.tensor_scatter_nd_update(failed, index, best == 0)
            column = tf.scatter_nd(index, tf.where(best > 0, piece + 1, 0),
                                   tf.cast([n], tf.int64)) - 1
            done = failed | (position >= lengths)
            return position, done, failed, tf.concat([pieces, column[:, tf.newaxis]], axis=1)

        _, _, failed, pieces = tf.while_loop(
            lambda position, done, *_: tf.reduce_any(~done), step,
            [tf.zeros_like(lengths), failed, failed, tf.zeros([n, 0], tf.int64)],
            shape_invariants=[tf.TensorShape([None])] * 3 + [tf.TensorShape([None, None])])
        none = tf.constant(-1, tf.int64)
        unk = tf.where(failed, tf.constant(self.unk_id, tf.int64), none)[:, tf.newaxis]
        pieces = tf.concat([unk, tf.where(failed[:, tf.newaxis], none, pieces)], axis=1)
        return tf.ragged.boolean_mask(pieces, pieces >= 0)
