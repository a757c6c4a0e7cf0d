"""Token ids equal Hugging Face's fast BERT tokenizer on the same vocab, single and paired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer
from tokenizers.implementations import BertWordPieceTokenizer

from components.encoders.sources import resolve_hf_folder
from components.text.wordpiece import WordPieceEncoder, truncate_longest_first
from fixtures import sentiment_rows

CORPUS = Path(__file__).resolve().parents[1] / "golden" / "hard_strings.jsonl"


def hard_strings() -> list[str]:
    """The committed corpus (tests/golden/make_hard_strings.py) plus the fixture sentences."""
    corpus = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    return corpus + [r["text"] for r in sentiment_rows(60)]


def hf_fast_tokenizer(lower: bool, max_len: int) -> Tokenizer:
    folder = resolve_hf_folder("minilm-l6")
    if lower:  # the model's own tokenizer.json: what BertTokenizerFast loads
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    else:
        tok = BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=False,
                                     strip_accents=False, clean_text=True,
                                     handle_chinese_chars=True)
    tok.enable_truncation(max_length=max_len, strategy="longest_first")
    tok.enable_padding(length=max_len, pad_id=0, pad_token="[PAD]")
    return tok


@pytest.mark.slow
@pytest.mark.parametrize("lower", [True, False], ids=["uncased", "cased"])
def test_ids_match_hugging_face(lower):
    max_len = 32
    strings = hard_strings()
    assert len(strings) >= 2000
    folder = resolve_hf_folder("minilm-l6")
    ours = WordPieceEncoder(folder / "vocab.txt", lower, max_len)
    theirs = hf_fast_tokenizer(lower, max_len)

    single = ours.encode(strings)
    for i, (text, ref) in enumerate(zip(strings, theirs.encode_batch(strings))):
        assert list(single["input_word_ids"][i]) == ref.ids, repr(text)
        assert list(single["input_mask"][i]) == ref.attention_mask, repr(text)

    firsts = strings[::2]
    seconds = [s if i % 10 else "" for i, s in enumerate(strings[1::2])]  # some empty seconds
    firsts = firsts[:len(seconds)]
    paired = ours.encode(firsts, seconds)
    refs = theirs.encode_batch(list(zip(firsts, seconds)))
    for i, (a, b, ref) in enumerate(zip(firsts, seconds, refs)):
        assert list(paired["input_word_ids"][i]) == ref.ids, (a, b)
        assert list(paired["input_type_ids"][i]) == ref.type_ids, (a, b)
        assert list(paired["input_mask"][i]) == ref.attention_mask, (a, b)


def test_longest_first_truncation_rule():
    assert truncate_longest_first(3, 4, 10) == (3, 4)
    assert truncate_longest_first(2, 20, 10) == (2, 8)
    assert truncate_longest_first(20, 2, 10) == (8, 2)
    assert truncate_longest_first(20, 20, 9) == (4, 5)
    assert truncate_longest_first(30, 20, 9) == (5, 4)


def test_vocab_without_special_tokens_is_rejected(tmp_path: Path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("a\nb\n")
    with pytest.raises(ValueError, match="special tokens"):
        WordPieceEncoder(vocab, True, 16)
