"""Training that would not fit in memory is refused up front, with advice, not OOM-killed."""

from __future__ import annotations

import pytest

from components.config import TrainConfig
from components.model.bert_config import BertConfig
from components.errors import ConfigError
from components.train.memory import (GIB, check_training_memory, estimate_training_memory,
                                     memory_limit_bytes)

MINILM = BertConfig(vocab_size=30522, hidden_size=384, num_layers=6, num_heads=12,
                    intermediate_size=1536)

# Peak resident memory (MiB, ru_maxrss) of 3-step fits of bertpipe's classifier on MiniLM
# (float32, CPU, AdamW), measured on the 2-core dev machine on 2026-11-23.
MEASURED = [(32, 128, "none", False, 2868), (64, 256, "none", False, 8832),
            (16, 512, "none", False, 6693), (64, 256, "last:2", False, 3634),
            (128, 128, "none", False, 7532), (64, 256, "none", True, 6695)]


@pytest.mark.parametrize("batch,length,freeze,mixed,peak_mib", MEASURED)
def test_the_estimate_is_within_15_percent_of_measured_peaks(batch, length, freeze, mixed,
                                                              peak_mib):
    estimate = estimate_training_memory(MINILM, freeze, batch, length, mixed).total
    assert abs(estimate / (peak_mib * 2**20) - 1) < 0.15, (estimate / 2**20, peak_mib)


def test_freezing_and_mixed_precision_lower_the_estimate():
    full = estimate_training_memory(MINILM, "none", 32, 256, False)
    assert estimate_training_memory(MINILM, "last:2", 32, 256, False).total < full.total
    assert estimate_training_memory(MINILM, "all", 32, 256, False).total < full.total
    assert estimate_training_memory(MINILM, "none", 32, 256, True).total < full.total
    assert estimate_training_memory(MINILM, "none", 64, 256, False).activations == \
        2 * full.activations


def test_over_the_limit_is_one_line_with_a_batch_that_fits():
    with pytest.raises(ConfigError) as err:
        check_training_memory(MINILM, "none", 256, 512, False, 16 * GIB, "this machine's memory")
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith("training would need about ")
    assert "batch 256 per replica × length 512, 6 trainable blocks" in line
    assert "this machine's memory is 16.0 GiB" in line
    fits = int(line.split("try a batch of ")[1].split()[0])
    assert estimate_training_memory(MINILM, "none", fits, 512, False).total <= 16 * GIB
    assert "freezing more blocks" in line and "shorter max_seq_length" in line


def test_near_the_limit_is_a_warning_and_well_under_it_is_silent():
    need = estimate_training_memory(MINILM, "none", 32, 128, False).total
    assert check_training_memory(MINILM, "none", 32, 128, False, int(need * 1.1), "x") \
        .startswith("warning: training may need about")
    assert check_training_memory(MINILM, "none", 32, 128, False, 10 * need, "x") == ""
    assert check_training_memory(MINILM, "none", 32, 128, False, 0, "") == ""


def test_the_limit_is_read_from_this_machine():
    limit, name = memory_limit_bytes()
    assert limit > GIB and name


def test_the_train_step_refuses_a_batch_that_cannot_fit(preprocessed_tiny, tiny_encoder_dir,
                                                        tmp_path, capsys):
    from components.train.trainer import run_train

    with pytest.raises(ConfigError, match="training would need about .* try a batch of"):
        run_train(TrainConfig(epochs=1, batch_size=2_000_000), tiny_encoder_dir,
                  preprocessed_tiny.output_dir, str(tmp_path / "model"))
    assert "Epoch 1" not in capsys.readouterr().out
    assert not (tmp_path / "model").exists() or not any((tmp_path / "model").iterdir())
