"""The batch serializer writes the bytes of ``Example.SerializeToString(deterministic=True)``."""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow.core.example import example_pb2

from components.preprocess.examples import serialize_examples


def reference(ints: dict[str, np.ndarray], texts: dict[str, list[bytes]]) -> list[bytes]:
    out = []
    for i in range(len(next(iter(ints.values())))):
        example = example_pb2.Example()
        feature = example.features.feature
        for name, values in ints.items():
            feature[name].int64_list.value.extend(values[i].tolist())
        for name, values in texts.items():
            feature[name].bytes_list.value.append(values[i])
        out.append(example.SerializeToString(deterministic=True))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_same_bytes_as_protobuf(seed):
    rng = np.random.default_rng(seed)
    rows, width = [1, 3, 50, 7, 2, 20][seed], [1, 8, 64, 128, 2, 5][seed]
    top = [2, 200, 30522, 1 << 40, 1 << 62, 128][seed]
    ints = {"input_word_ids": rng.integers(0, top, (rows, width)),
            "input_mask": rng.integers(0, 2, (rows, width)),
            "input_type_ids": rng.integers(0, 2, (rows, width)),
            "label": rng.integers(-2 if seed % 2 else 0, 300, (rows, 1))}

    def text() -> bytes:
        length = int(rng.choice([0, 1, 127, 128, 300, 20000]))
        return "".join(rng.choice(list("ab é😀[]"), length)).encode("utf-8")

    # "text" is a prefix of "text_pair": protobuf orders such map keys longest first.
    texts = {"text": [text() for _ in range(rows)], "slice": [text()[:9] for _ in range(rows)]}
    if seed % 3:
        texts["text_pair"] = [text() for _ in range(rows)]
    assert serialize_examples(ints, texts) == reference(ints, texts)
