"""The freezing spec, resolved against real variable names (no training needed)."""

from __future__ import annotations

import pytest

from components.config import ConfigError
from components.model.bert_config import BertConfig
from components.freeze_spec import FreezeSpec, block_of, trainable_blocks_to_spec

NAMES = list(BertConfig(vocab_size=10, hidden_size=8, num_layers=4, num_heads=2,
                        intermediate_size=16).variable_shapes())


def frozen_blocks(spec: str) -> dict[str, int]:
    frozen = FreezeSpec.parse(spec).frozen_names(NAMES)
    counts: dict[str, int] = {}
    for name in frozen:
        counts[block_of(name)] = counts.get(block_of(name), 0) + 1
    return counts


def test_terms_and_composition():
    assert frozen_blocks("none") == {}
    assert frozen_blocks("all") == {"embeddings": 5, "layer_0": 16, "layer_1": 16,
                                    "layer_2": 16, "layer_3": 16, "pooler": 2}
    assert frozen_blocks("first:2") == {"embeddings": 5, "layer_0": 16, "layer_1": 16}
    assert frozen_blocks("last:1") == {"embeddings": 5, "layer_0": 16, "layer_1": 16,
                                       "layer_2": 16}
    assert frozen_blocks("last:0") == frozen_blocks("all")
    assert frozen_blocks("embeddings+blocks:1,3") == {"embeddings": 5, "layer_1": 16,
                                                      "layer_3": 16}
    assert frozen_blocks("all+exclude:layer_norm") == {"embeddings": 3, "layer_0": 12,
                                                       "layer_1": 12, "layer_2": 12,
                                                       "layer_3": 12, "pooler": 2}
    assert frozen_blocks("include:intermediate") == {f"layer_{i}": 2 for i in range(4)}
    # the word-embedding matrix alone: positions, token types and LayerNorm still train
    assert FreezeSpec.parse("word_embeddings").frozen_names(NAMES) == {
        n for n in NAMES if "word_embeddings" in n}
    assert frozen_blocks("word_embeddings") == {"embeddings": 1}
    assert frozen_blocks("word_embeddings+auto") == {"embeddings": 1}
    assert frozen_blocks("word_embeddings+embeddings") == {"embeddings": 5}


@pytest.mark.parametrize("spec, message", [
    ("", "empty"), ("freeze:2", "unknown term"), ("first:-1", "not a non-negative integer"),
    ("all:3", "takes no argument"), ("blocks:", "blocks needs indices"),
    ("include:[", "bad regex"),
])
def test_syntax_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        FreezeSpec.parse(spec)


@pytest.mark.parametrize("spec, message", [
    ("first:5", "first:5 but the encoder has only 4 transformer blocks"),
    ("blocks:0,4", r"block\(s\) \[4\] out of range"),
    ("exclude:nothing_like_this", "matches no encoder variable"),
])
def test_specs_that_do_not_fit_the_encoder(spec, message):
    with pytest.raises(ConfigError, match=message):
        FreezeSpec.parse(spec).frozen_names(NAMES)


def test_trainable_blocks_shorthand():
    assert trainable_blocks_to_spec("all") == "none"
    assert trainable_blocks_to_spec(2) == "last:2"
    with pytest.raises(ConfigError, match="trainable_blocks must be"):
        trainable_blocks_to_spec("two")


def test_auto_is_a_term_that_starts_from_the_other_terms():
    assert FreezeSpec.parse("auto").auto and frozen_blocks("auto") == {}
    assert FreezeSpec.parse("first:1+auto").auto
    assert frozen_blocks("first:1+auto") == frozen_blocks("first:1")
    assert frozen_blocks("embeddings+auto") == {"embeddings": 5}
    assert not FreezeSpec.parse("last:2").auto


@pytest.mark.parametrize("spec, message", [
    ("auto:3", "'auto' takes no argument"),
    ("auto+auto", "'auto' given more than once"),
    ("auto+all", "cannot be joined with 'all'"),
    ("none+auto", "cannot be joined with 'none'"),
    ("auto+exclude:layer_norm", "cannot be joined with 'exclude'"),
])
def test_auto_refuses_terms_it_cannot_start_from(spec, message):
    with pytest.raises(ConfigError, match=message) as err:
        FreezeSpec.parse(spec)
    assert "\n" not in str(err.value)
