"""A tiny BERT for the fast test tier: MiniLM's layout and interface at a fraction of its size.

Written by the project's own encoder writer (``BertEncoder`` + ``save_hub_encoder``), so it is a
real bertpipe encoder export: TF Hub interface, ``assets/vocab.txt``, ``encoder_info.json``.
Its weights are random (fixed seed): tests that train it check mechanics (freezing, replicas,
resume, export parity, evaluation), never what pretraining taught.

The vocab keeps BERT-uncased's special-token ids ([PAD]=0, [unused0..98], [UNK]=100, [CLS]=101,
[SEP]=102, [MASK]=103), then ASCII punctuation, digits and letters with their ``##`` forms (so
any lower-case ASCII word tokenizes without [UNK]), then the whole words of the test fixtures'
sentences (``tests/fixtures.py`` and the sentences the preprocess tests write).
"""

from __future__ import annotations

import re
import string
from pathlib import Path

from fixtures import NEGATIVE, POSITIVE, TEMPLATES

# Hyper-parameters: 2 blocks, hidden 32, 2 heads, FFN 64 (MiniLM-L6: 6, 384, 12, 1536).
TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64,
        "max_position_embeddings": 128}
TINY_SEED = 1234

SPECIALS = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]",
                                                              "[MASK]"]
# Words of sentences that tests write besides ``sentiment_rows`` (preprocess, CLI, predict).
EXTRA_WORDS = """review json superb moving a man plays guitar number someone makes music fine
film no label here odd too many bad bytes broken text the and is of to it this that was for
with on as at by an be are not but what some one""".split()


def tiny_vocab() -> list[str]:
    """The vocab, in id order: specials, characters and ``##`` characters, fixture words."""
    chars = list(string.punctuation) + list(string.digits) + list(string.ascii_lowercase)
    words = set(EXTRA_WORDS) | {w.lower() for w in POSITIVE + NEGATIVE}
    for template in TEMPLATES:
        words |= set(re.findall(r"[a-z]+", template.lower()))
    vocab = SPECIALS + chars + [f"##{c}" for c in string.digits + string.ascii_lowercase]
    seen = set(vocab)
    return vocab + sorted(w for w in words if w not in seen)


def write_tiny_encoder(export_dir: Path | str, num_layers: int = TINY["num_layers"],
                       seed: int = TINY_SEED) -> Path:
    """Writes the tiny encoder (random weights from ``seed``) as a bertpipe encoder export."""
    from components.encoders.bert import BertEncoder
    from components.model.bert_config import BertConfig
    from components.encoders.hub_export import save_hub_encoder

    export_dir = Path(export_dir)
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab()
    vocab_file = export_dir.parent / f"{export_dir.name}-vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    config = BertConfig(vocab_size=len(vocab), **{**TINY, "num_layers": num_layers})
    save_hub_encoder(BertEncoder(config, seed=seed), vocab_file, do_lower_case=True,
                     export_dir=export_dir, source=f"tiny-bert-{num_layers}l-test")
    return export_dir

