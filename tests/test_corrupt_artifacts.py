"""Corrupt artifacts fail with a message naming the file and the problem, before a step trains
or scores on them: a truncated or corrupt TFRecord shard, a missing shard, a vocab that does not
belong to the checkpoint, labels that differ between the model and the examples."""

from __future__ import annotations

import dataclasses
import glob
import shutil
from pathlib import Path

import pytest

from components.contracts import PreparedExamples, TrainingReport
from components.errors import ConfigError, ContractError


@pytest.fixture
def examples_copy(preprocessed_tiny, tmp_path) -> Path:
    out = tmp_path / "examples"
    shutil.copytree(preprocessed_tiny.output_dir, out)
    return out


def _shard(folder: Path, split: str) -> Path:
    return sorted(Path(p) for p in glob.glob(PreparedExamples.load(str(folder)).pattern(split)))[0]


def test_intact_splits_pass(examples_copy):
    examples = PreparedExamples.load(str(examples_copy))
    for split in ("train", "eval"):
        examples.check_records(split)


def test_a_truncated_shard_is_named(examples_copy):
    shard = _shard(examples_copy, "train")
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    with pytest.raises(ContractError) as err:
        PreparedExamples.load(str(examples_copy)).check_records("train")
    message = str(err.value)
    assert message.startswith(f"{shard}: corrupt or truncated TFRecord shard (")
    assert message.endswith("rerun the preprocess step") and "\n" not in message


def test_a_corrupt_byte_is_named(examples_copy):
    shard = _shard(examples_copy, "eval")
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ContractError, match=rf"^{shard}: corrupt or truncated TFRecord shard"):
        PreparedExamples.load(str(examples_copy)).check_records("eval")


def test_a_missing_or_emptied_shard_is_a_count_mismatch(examples_copy):
    """(A GZIP shard cut to its first bytes reads as no records without an error: the
    count against metadata.json catches that too.)"""
    examples = PreparedExamples.load(str(examples_copy))
    shard = _shard(examples_copy, "train")
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(ContractError, match=r"train records, but .*metadata.json says "):
        examples.check_records("train")
    shard.unlink()
    with pytest.raises(ContractError, match=r"train records, but .*metadata.json says "):
        examples.check_records("train")


def test_the_train_step_refuses_a_corrupt_shard_before_training(examples_copy, tiny_encoder_dir,
                                                                tmp_path):
    from components.config import TrainConfig
    from components.train.trainer import run_train

    shard = _shard(examples_copy, "train")
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size * 2 // 3])
    with pytest.raises(ContractError, match=rf"^{shard}: corrupt or truncated"):
        run_train(TrainConfig(epochs=1), tiny_encoder_dir, str(examples_copy),
                  str(tmp_path / "out"), verbose=0)
    assert not (tmp_path / "out" / "model").exists()


def test_labels_of_the_model_and_the_examples_must_agree(trained_tiny, examples_copy):
    from components.evaluate.evaluator import run_evaluate

    train_dir = str(trained_tiny.model_dir).rsplit("/model", 1)[0]
    examples = PreparedExamples.load(str(examples_copy))
    dataclasses.replace(examples, labels=["neg", "pos", "neutral"]).save(str(examples_copy))
    with pytest.raises(ContractError) as err:
        run_evaluate(train_dir, str(examples_copy))
    assert str(err.value) == (
        f"{TrainingReport.path_in(train_dir)}: the model was trained on labels ['neg', 'pos'], "
        f"but {examples_copy}/metadata.json has ['neg', 'pos', 'neutral']: evaluate with the "
        f"examples it was trained on")


def test_a_vocab_that_does_not_belong_to_the_weights(tmp_path):
    from components.encoders.hf_safetensors import check_vocab_fits

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(f"tok{i}" for i in range(120)) + "\n")
    check_vocab_fits(vocab, 128, tmp_path / "model.safetensors")  # a padded table is fine
    with pytest.raises(ConfigError) as err:
        check_vocab_fits(vocab, 100, tmp_path / "model.safetensors")
    assert str(err.value) == (f"{vocab} has 120 tokens but the word embeddings in "
                              f"{tmp_path}/model.safetensors have 100 rows: the vocab does not "
                              f"belong to these weights")


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["missing tensor", "foreign vocab"])
def test_a_damaged_hugging_face_folder_is_one_line_naming_the_file(tmp_path, damage):
    """The real MiniLM folder with one tensor removed, or with a vocab longer than its
    embedding table: the import refuses it with one line naming the file."""
    from safetensors.numpy import load_file, save_file

    from components.encoders.sources import import_encoder, resolve_hf_folder

    source = resolve_hf_folder("minilm-l6")
    folder = tmp_path / "damaged"
    shutil.copytree(source, folder)
    tensors = load_file(str(folder / "model.safetensors"))
    if damage == "missing tensor":
        gone = next(k for k in tensors if "layer.5.output.dense.weight" in k)
        del tensors[gone]
        save_file(tensors, str(folder / "model.safetensors"))
        expected = (f"{folder}/model.safetensors has no tensor '{gone}': not a complete 6-block "
                    f"BERT checkpoint")
    else:
        with open(folder / "vocab.txt", "a", encoding="utf-8") as f:
            f.write("".join(f"extra{i}\n" for i in range(10)))
        expected = (f"{folder}/vocab.txt has 30,532 tokens but the word embeddings in "
                    f"{folder}/model.safetensors have 30,522 rows: the vocab does not belong "
                    f"to these weights")
    with pytest.raises(ConfigError) as err:
        import_encoder(str(folder), tmp_path / "out")
    assert str(err.value) == expected
