"""``GraphWordPiece`` (core TF ops) gives the very ids of the preprocess step's tokenizer."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from components.contracts import EncoderInfo
from components.text.graph_wordpiece import CONTROL_PATTERN, KEEP_DELIM_PATTERN, GraphWordPiece
from components.text.wordpiece import WordPieceEncoder
from fixtures import sentiment_rows

CORPUS = Path(__file__).resolve().parents[1] / "golden" / "hard_strings.jsonl"
CASINGS = pytest.mark.parametrize("lower", [True, False], ids=["uncased", "cased"])
FEATURES = ("input_word_ids", "input_mask", "input_type_ids")


def corpus() -> list[str]:
    """The tokenizer's hard strings plus the fixture sentences."""
    strings = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    return strings + [r["text"] for r in sentiment_rows(60)]


def utf8(texts: list[str]) -> tf.Tensor:
    # surrogatepass: lone surrogates become invalid UTF-8, dropped as the reference drops them.
    return tf.constant([t.encode("utf-8", "surrogatepass") for t in texts])


def mismatched_rows(ours: dict[str, tf.Tensor], ref: dict[str, np.ndarray]) -> list[int]:
    rows = np.zeros(len(ref["input_word_ids"]), bool)
    for name in FEATURES:
        rows |= (ours[name].numpy() != ref[name]).any(axis=1)
    return np.flatnonzero(rows).tolist()


@pytest.fixture(scope="module")
def vocab_file(minilm_dir) -> str:
    return EncoderInfo.load(minilm_dir).vocab_file


@pytest.mark.slow
@CASINGS
@pytest.mark.parametrize("max_len", [32, 128])
def test_ids_equal_the_preprocess_tokenizer(vocab_file, lower, max_len):
    strings = corpus()
    assert len(strings) >= 2000
    ours = GraphWordPiece(vocab_file, lower, max_len)
    ref = WordPieceEncoder(vocab_file, lower, max_len)
    encode = tf.function(ours.encode)

    bad = mismatched_rows(encode(utf8(strings)), ref.encode(strings))
    assert not bad, f"{len(bad)}/{len(strings)} single texts differ, e.g. {strings[bad[0]]!r}"

    seconds = strings[1:] + strings[:1]
    seconds = [s if i % 10 else "" for i, s in enumerate(seconds)]  # some empty seconds
    bad = mismatched_rows(encode(utf8(strings), utf8(seconds)), ref.encode(strings, seconds))
    assert not bad, (f"{len(bad)}/{len(strings)} pairs differ, "
                     f"e.g. {(strings[bad[0]], seconds[bad[0]])!r}")


@pytest.mark.slow
@CASINGS
def test_every_code_point_tokenizes_as_the_reference(vocab_file, lower):
    """Each code point inside a word and alone: covers the whole normalisation table and
    the Unicode tables of the regular expressions, not just the corpus."""
    ours = tf.function(GraphWordPiece(vocab_file, lower, 32).tokenize)
    ref = WordPieceEncoder(vocab_file, lower, 32)
    points = [cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]
    bad = []
    for i in range(0, len(points), 1 << 16):
        texts = [f"a{chr(cp)}b {chr(cp)}" for cp in points[i:i + (1 << 16)]]
        got = ours(utf8(texts)).to_list()
        bad += [t for t, a, b in zip(texts, got, ref.tokenize(texts)) if a != b]
    assert not bad, f"{len(bad)}/{len(points)} code points differ, e.g. {bad[:3]!r}"


def test_invalid_utf8_and_literal_special_tokens(tiny_vocab_file):
    ours = tf.function(GraphWordPiece(tiny_vocab_file, True, 32).tokenize)
    ref = WordPieceEncoder(tiny_vocab_file, True, 32)
    raw = [b"caf\xc3 ok\xff\xfe", b"[CLS]x[SEP][MASK][cls][PAD]", b"a\xee\x80\x80[UNK]b",
           b"[[SEP]]", b""]
    got = ours(tf.constant(raw)).to_list()
    assert got == ref.tokenize([r.decode("utf-8", "replace") for r in raw])
    assert got[1][:2] == [ref.cls_id, ref.vocab["x"]]


def test_batch_of_64_reviews_is_fast(tiny_vocab_file):
    tok = GraphWordPiece(tiny_vocab_file, True, 128)
    encode = tf.function(tok.encode, input_signature=[tf.TensorSpec([None], tf.string)])
    texts = utf8([r["text"] * 3 for r in sentiment_rows(64, seed=1)])
    encode(texts)
    start = time.perf_counter()
    for _ in range(5):
        encode(texts)
    assert (time.perf_counter() - start) / 5 < 0.1


def test_patterns_are_tensorflow_texts():
    from tensorflow_text.python.ops import bert_tokenizer

    assert KEEP_DELIM_PATTERN == bert_tokenizer._KEEP_DELIM_NO_WHITESPACE_PATTERN
    assert CONTROL_PATTERN in Path(bert_tokenizer.__file__).read_text()


def test_vocab_without_special_tokens_is_rejected(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("a\nb\n")
    with pytest.raises(ValueError, match="special tokens"):
        GraphWordPiece(str(vocab), True, 16)


NO_TF_TEXT = textwrap.dedent('''
    import sys
    sys.modules["tensorflow_text"] = None  # importing it now raises ImportError
    import tensorflow as tf
    from components.text.graph_wordpiece import GraphWordPiece
    tok = GraphWordPiece(sys.argv[1], True, 16)
    fn = tf.function(tok.encode).get_concrete_function(tf.TensorSpec([None], tf.string))
    graph = fn.graph.as_graph_def()
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    print(sorted(ops))
    print(fn(tf.constant(["Hello, world!"]))["input_word_ids"].numpy()[0, :5].tolist())
''')


@pytest.mark.slow
def test_traces_without_tensorflow_text(vocab_file):
    """Tracing registers every op it uses, so this proves the graph needs core TF only."""
    proc = subprocess.run([sys.executable, "-c", NO_TF_TEXT, vocab_file], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    ops, ids = proc.stdout.splitlines()[-2:]
    assert "StaticRegexReplace" in ops and "CaseFoldUTF8" not in ops
    assert json.loads(ids) == [101, 7592, 1010, 2088, 999]
