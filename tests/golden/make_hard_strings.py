"""Generates tests/golden/hard_strings.jsonl: the tokenizer parity corpus (commit the output).

Deterministic (seeded). Categories: accents composed and decomposed, CJK, emoji (ZWJ
sequences, skin tones, flags), control, format and zero-width characters, Unicode spaces,
private-use and unassigned code points, long numbers, URLs, punctuation runs, words around the
100-character limit, many scripts, special-token literals, empty strings, and random mixes.

    python tests/golden/make_hard_strings.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("hard_strings.jsonl")

FIXED = [
    "", " ", "   ", "\t\n\r", "Café déjà vu: naïve jalapeño façade!",
    "Cafe\u0301 de\u0301ja\u0300 vu (decomposed)", "Straße ß ẞ", "İstanbul ıi", "ΣΊΣΥΦΟΣ σοφός",
    "東京で映画を見ました。", "我爱北京天安门", "한국어 문장입니다", "ｶﾀｶﾅ halfwidth", "ＡＢＣ１２３ fullwidth",
    "🎬🍿 emoji", "👩‍👩‍👧‍👦 family", "👍🏽 skin tone", "🇫🇷🇯🇵 flags", "❤️ heart + VS16",
    "a\u200bb zero\u200dwidth\u200cnon-joiner", "word\u2060joiner", "bom\ufeffinside",
    "ctrl\x07char\x00nul\x1bescape\x7fdel", "soft\u00adhyphen", "rtl\u200fmark\u200eltr",
    "\u00a0nbsp\u3000ideographic\u2028line\u2029para\u202fnarrow\u205fmath\u1680ogham",
    "private\ue000use\U000f0000", "unassigned\u0378\u0379", "lone \ufffd replacement",
    "12345678901234567890123456789012345678901234567890", "3.14159265358979323846",
    "1,000,000.00 -42 +7 1e-9 0x1F", "https://example.com/a/b?c=d&e=f#g", "user@example.org",
    "!!!???...---###***@@@", "(((nested))) [[brackets]] {{braces}}", "«quotes» „these“ ‘too’",
    "x" * 99, "x" * 100, "x" * 101, "é" * 100, "é" * 101, "東" * 150, "ab" * 60,
    "[CLS] [SEP] [UNK] [PAD] [MASK]", "[cls] lower-case specials", "a[SEP]b", "[unused0]",
    "Ǆ ǅ ǆ dz digraphs", "ﬁ ﬂ ﬀ ligatures", "Ωmega ℃ № ™ ®", "נבדק עברית", "مرحبا بالعالم",
    "नमस्ते दुनिया", "สวัสดีครับ", "Привет, мир!", "Ελληνικά κείμενα", "ǰ̌ stacked marks",
    "e\u0301\u0301\u0301 many combining", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇", "ＡＢＣ　ｄｅｆ", "don't stop-believing...",
]

POOL = ["movie", "film", "Brilliant", "DULL", "naïve", "résumé", "Ñandú", "東京", "映画", "😀",
        "🍿", "—", "–", "...", "!!", "?", "¿", "¡", "(", ")", "'s", "don't", "3.14", "1,000,000",
        "http://x.io/a_b", "\u200b", "\t", "\u00a0", "\u3000", "Ωmega", "ß", "ǅ", "ﬂ", "x" * 101,
        "ab" * 40, "İ", "\x01", "e\u0301", "\ue001", "\u0378", "[SEP]", "[MASK]", "ｶﾀｶﾅ",
        "한국어", "ΣΊΣΥΦΟΣ", "A.B.C.", "#hashtag", "@mention", "$9.99", "50%", "C++", "e-mail",
        "\u2028", "\ufeff", "👩‍💻", "🇩🇪", "\x7f", "\ufffd", "Ⅻ", "½", "²", "x²", "ℌ", "ｈｅｌｌｏ"]
SCRIPTS = [(0x0041, 0x024F), (0x0370, 0x03FF), (0x0400, 0x04FF), (0x0590, 0x06FF),
           (0x0900, 0x097F), (0x0E00, 0x0E7F), (0x3040, 0x30FF), (0x4E00, 0x4FFF),
           (0xAC00, 0xACFF), (0x1F300, 0x1F64F), (0x2000, 0x206F), (0xFF00, 0xFFEF),
           (0x0300, 0x036F), (0x0000, 0x001F), (0xE000, 0xE0FF)]


def random_string(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return " ".join(rng.choice(POOL) for _ in range(rng.randint(1, 30)))
    chars = []
    for _ in range(rng.randint(1, 60)):
        if rng.random() < 0.25:
            chars.append(" ")
        else:
            lo, hi = rng.choice(SCRIPTS)
            chars.append(chr(rng.randint(lo, hi)))
    return "".join(chars)


def main(n: int = 2400, seed: int = 20261121) -> None:
    rng = random.Random(seed)
    strings = list(FIXED)
    while len(strings) < n:
        strings.append(random_string(rng))
    with open(OUT, "w", encoding="utf-8") as f:
        for s in strings:
            f.write(json.dumps(s) + "\n")
    print(f"wrote {len(strings)} strings to {OUT}")


if __name__ == "__main__":
    main()
