"""Token ids equal Hugging Face's fast BERT tokenizer on the same vocab, single and paired."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from tokenizers import Tokenizer
from tokenizers.implementations import BertWordPieceTokenizer

from components.encoders.sources import resolve_hf_folder
from components.preprocess.tokenizer import WordPieceEncoder, truncate_longest_first
from fixtures import sentiment_rows

HARD = [
    "Café déjà vu: naïve jalapeño façade!", "Straße ß ẞ", "東京で映画を見ました。", "🎬🍿 emoji",
    "a\u200bb zero\u200dwidth", "tab\there\nnew\rline", "ctrl\x07char\x00nul", "x" * 150,
    "é" * 120, "ﬁ ligature", "İstanbul", "ΣΊΣΥΦΟΣ", "don't stop-believing...",
    "$100,000.00 vs 1e-9", "https://example.com/a?b=c&d=e", "", "   ", "\u00a0nbsp\u3000ideo",
    "Ǆ ǅ ǆ", "ＡＢＣ fullwidth", "word" * 30, "\ufffdbad", "ÅÄÖ åäö", "Ελληνικά", "Русский текст",
    "12345678901234567890", "!!!???...---###", "ÀÉÎÕÜ àéîõü", "한국어 문장", "नमस्ते दुनिया",
    "مرحبا بالعالم", "soft\u00adhyphen", "rtl\u200fmark", "bom\ufeffinside", "[CLS] [SEP] [UNK]",
]
POOL = ["movie", "film", "Brilliant", "DULL", "naïve", "résumé", "東京", "映画", "😀", "🍿", "—",
        "...", "!!", "?", "(", ")", "'s", "don't", "3.14", "1,000,000", "http://x.io/a_b",
        "\u200b", "\t", "\u00a0", "Ωmega", "ß", "ǅ", "ﬂ", "x" * 101, "ab" * 40, "İ", "\x01", "e\u0301"]


def varied_strings(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    rows = [r["text"] for r in sentiment_rows(60, seed=seed)]
    out = list(HARD) + rows
    while len(out) < n:
        out.append(" ".join(rng.choice(POOL) for _ in range(rng.randint(1, 25))))
    return out


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


@pytest.mark.parametrize("lower", [True, False], ids=["uncased", "cased"])
def test_ids_match_hugging_face(lower):
    max_len = 32
    strings = varied_strings(300)
    assert len(strings) >= 200
    folder = resolve_hf_folder("minilm-l6")
    ours = WordPieceEncoder(folder / "vocab.txt", lower, max_len)
    theirs = hf_fast_tokenizer(lower, max_len)

    single = ours.encode(strings)
    for i, text in enumerate(strings):
        ref = theirs.encode(text)
        assert list(single["input_word_ids"][i]) == ref.ids, repr(text)
        assert list(single["input_mask"][i]) == ref.attention_mask, repr(text)

    firsts, seconds = strings[::2], strings[1::2] + [""]
    firsts = firsts[:len(seconds)]
    paired = ours.encode(firsts, seconds)
    for i, (a, b) in enumerate(zip(firsts, seconds)):
        ref = theirs.encode(a, b)
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
