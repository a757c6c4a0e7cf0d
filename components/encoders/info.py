"""What downstream steps read about an exported encoder, without importing TensorFlow."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

ENCODER_INFO = "encoder_info.json"


@dataclasses.dataclass(frozen=True)
class EncoderInfo:
    """What downstream steps need to know about an exported encoder."""

    vocab_file: str
    do_lower_case: bool
    num_layers: int
    hidden_size: int
    max_position_embeddings: int
    source: str


def read_encoder_info(export_dir: Path | str) -> EncoderInfo:
    """Reads vocab path and casing of an exported encoder without loading its graph."""
    assets = Path(str(export_dir)) / "assets"
    info_file = assets / ENCODER_INFO
    if not info_file.exists():
        raise FileNotFoundError(f"{export_dir} is not a bertpipe encoder export: no {info_file}")
    raw = json.loads(info_file.read_text())
    return EncoderInfo(vocab_file=str(assets / "vocab.txt"), do_lower_case=raw["do_lower_case"],
                       num_layers=raw["num_layers"], hidden_size=raw["hidden_size"],
                       max_position_embeddings=raw["max_position_embeddings"],
                       source=raw["source"])
