"""The freezing spec: which encoder variables stay frozen. Pure Python (no TensorFlow), so the
CLI can check a spec against the encoder before any heavy work.

Terms, joined with ``+`` (frozen sets are united, ``exclude`` is applied last):

    none            nothing frozen (full fine-tuning)
    all             the whole encoder frozen (feature extraction: only the head trains)
    embeddings      the embeddings frozen
    word_embeddings the word-embedding matrix frozen (half of MiniLM's weights); position and
                    token-type embeddings and the embeddings' LayerNorm stay trainable
    first:N         the embeddings and the first N transformer blocks frozen
    last:N          only the last N blocks (and the pooler) train; everything else frozen
    blocks:0,2,5    these transformer blocks frozen
    include:REGEX   variables whose name matches REGEX frozen
    exclude:REGEX   variables whose name matches REGEX kept trainable
    auto            adaptive: whole blocks freeze during training, bottom up, once their
                    gradients show they have converged (``model/freezing.py``, AutoFreeze)

e.g. ``first:4``, ``embeddings+blocks:0,1``, ``last:2+exclude:layer_norm``. Blocks are read off
variable names (``embeddings/…``, ``transformer/layer_{i}/…``, ``pooler/…``).

``auto`` freezes nothing up front; joined with ``embeddings``, ``word_embeddings``,
``first:N``, ``last:N`` or ``blocks:…`` it starts from their frozen set (``first:1+auto``).
It decides whole blocks, so it does not combine with ``include``/``exclude`` (they cut
blocks apart), ``all`` (nothing left to decide) or ``none`` (say ``auto`` alone).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable

from components.errors import ConfigError

_LAYER = re.compile(r"(?:^|/)transformer/layer_(\d+)/")
TERMS = ("none", "all", "embeddings", "word_embeddings", "first", "last", "blocks", "include",
         "exclude", "auto")
# The terms ``auto`` combines with: their frozen set is where adaptive freezing starts.
AUTO_STARTS = ("embeddings", "word_embeddings", "first", "last", "blocks")


# bertpipe's names and TF Model Garden's (TF Hub / Kaggle BERT encoders) for the same blocks.
_EMBEDDINGS = re.compile(r"(?:^|/)(?:embeddings|word_embeddings|position_embedding|"
                         r"type_embeddings)/")
_WORD_EMBEDDINGS = re.compile(r"(?:^|/)word_embeddings(?:/|:|$)")
_POOLER = re.compile(r"(?:^|/)(?:pooler|pooler_transform)/")


def block_of(variable_name: str) -> str:
    """``embeddings``, ``layer_{i}``, ``pooler`` or ``other`` for an encoder variable name."""
    match = _LAYER.search(variable_name)
    if match:
        return f"layer_{int(match.group(1))}"
    if _EMBEDDINGS.search(variable_name):
        return "embeddings"
    if _POOLER.search(variable_name):
        return "pooler"
    return "other"


def block_order(names: Iterable[str]) -> list[str]:
    """Blocks present in ``names``, bottom to top."""
    blocks = {block_of(n) for n in names}
    layers = sorted((b for b in blocks if b.startswith("layer_")), key=lambda b: int(b[6:]))
    return ([b for b in ("embeddings",) if b in blocks] + layers
            + [b for b in ("pooler", "other") if b in blocks])


def _int(text: str, spec: str) -> int:
    if not re.fullmatch(r"\d+", text.strip()):
        raise ConfigError(f"freeze spec {spec!r}: {text!r} is not a non-negative integer")
    return int(text)


@dataclasses.dataclass(frozen=True)
class FreezeSpec:
    """A parsed spec; ``frozen_names`` resolves it against an encoder's variable names."""

    text: str
    terms: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> "FreezeSpec":
        spec = text.strip()
        if not spec:
            raise ConfigError("freeze spec is empty (use 'none' for full fine-tuning)")
        terms = []
        for raw in spec.split("+"):
            name, _, arg = raw.strip().partition(":")
            name = name.strip().lower()
            if name not in TERMS:
                raise ConfigError(f"freeze spec {spec!r}: unknown term {raw.strip()!r} "
                                  f"(known: {', '.join(TERMS)})")
            if name in ("none", "all", "embeddings", "word_embeddings", "auto") and arg:
                raise ConfigError(f"freeze spec {spec!r}: {name!r} takes no argument")
            if name in ("first", "last"):
                _int(arg, spec)
            elif name == "blocks":
                if not arg.strip():
                    raise ConfigError(f"freeze spec {spec!r}: blocks needs indices, e.g. blocks:0,2")
                for index in arg.split(","):
                    _int(index, spec)
            elif name in ("include", "exclude"):
                try:
                    re.compile(arg)
                except re.error as err:
                    raise ConfigError(f"freeze spec {spec!r}: bad regex {arg!r}: {err}") from None
                if not arg:
                    raise ConfigError(f"freeze spec {spec!r}: {name} needs a regex")
            terms.append((name, arg.strip()))
        names = [name for name, _ in terms]
        if "auto" in names:
            if names.count("auto") > 1:
                raise ConfigError(f"freeze spec {spec!r}: 'auto' given more than once")
            others = sorted({n for n in names if n != "auto" and n not in AUTO_STARTS})
            if others:
                raise ConfigError(
                    f"freeze spec {spec!r}: 'auto' freezes whole blocks bottom up during "
                    f"training and cannot be joined with {', '.join(map(repr, others))}; it "
                    f"starts from nothing frozen, or from {', '.join(AUTO_STARTS)} terms")
        return cls(text=spec, terms=tuple(terms))

    @property
    def auto(self) -> bool:
        """Adaptive freezing during training (the ``auto`` term)."""
        return any(name == "auto" for name, _ in self.terms)

    def frozen_names(self, names: Iterable[str]) -> set[str]:
        """The variable names the spec freezes; ConfigError if it cannot apply to ``names``."""
        names = list(names)
        layers = [b for b in block_order(names) if b.startswith("layer_")]
        if not layers:
            raise ConfigError("the encoder has no transformer/layer_{i} variables: "
                              "cannot freeze by block")
        count = len(layers)

        def in_blocks(blocks: set[str]) -> set[str]:
            return {n for n in names if block_of(n) in blocks}

        frozen: set[str] = set()
        kept: set[str] = set()
        for name, arg in self.terms:
            if name == "all":
                frozen |= set(names)
            elif name == "embeddings":
                frozen |= in_blocks({"embeddings"})
            elif name == "word_embeddings":
                words = {n for n in in_blocks({"embeddings"}) if _WORD_EMBEDDINGS.search(n)}
                if not words:
                    raise ConfigError(f"freeze spec {self.text!r}: the encoder has no "
                                      f"word_embeddings variable")
                frozen |= words
            elif name in ("first", "last"):
                n = int(arg)
                if n > count:
                    raise ConfigError(f"freeze spec {self.text!r}: {name}:{n} but the encoder "
                                      f"has only {count} transformer blocks")
                if name == "first":
                    frozen |= in_blocks({"embeddings", *layers[:n]})
                else:
                    trainable = set(layers[count - n:]) | ({"pooler", "other"} if n else set())
                    frozen |= {x for x in names if block_of(x) not in trainable}
            elif name == "blocks":
                wanted = [int(i) for i in arg.split(",")]
                missing = [i for i in wanted if i >= count]
                if missing:
                    raise ConfigError(f"freeze spec {self.text!r}: block(s) {missing} out of "
                                      f"range (the encoder has blocks 0-{count - 1})")
                frozen |= in_blocks({f"layer_{i}" for i in wanted})
            elif name in ("include", "exclude"):
                matched = {n for n in names if re.search(arg, n)}
                if not matched:
                    raise ConfigError(f"freeze spec {self.text!r}: regex {arg!r} matches no "
                                      f"encoder variable")
                (frozen if name == "include" else kept).update(matched)
        return frozen - kept

    def auto_candidates(self, names: Iterable[str], min_trainable_blocks: int) -> list[str]:
        """The blocks ``auto`` may freeze, bottom up: the embeddings and the transformer blocks
        below the top ``min_trainable_blocks`` that the other terms leave trainable (the
        embeddings in part, after ``word_embeddings``). ConfigError when there are none."""
        names = [n for n in names if block_of(n) != "other"]
        frozen = self.frozen_names(names)
        layers = [b for b in block_order(names) if b.startswith("layer_")]
        below_floor = layers[:max(len(layers) - min_trainable_blocks, 0)]
        candidates = [b for b in ["embeddings", *below_floor] if b in block_order(names)
                      and any(block_of(n) == b and n not in frozen for n in names)]
        if not candidates:
            raise ConfigError(
                f"freeze {self.text!r}: nothing left for 'auto' to freeze (the embeddings and "
                f"every block below the top {min_trainable_blocks} of {len(layers)} are frozen "
                f"already; lower auto_freeze_min_trainable_blocks or drop the other terms)")
        return candidates


def trainable_blocks_to_spec(value: str | int) -> str:
    """The older ``--trainable-blocks`` option as a spec: ``all`` -> none, ``N`` -> last:N."""
    text = str(value).strip().lower()
    if text == "all":
        return "none"
    if not re.fullmatch(r"\d+", text):
        raise ConfigError(f"trainable_blocks must be 'all' or a non-negative integer, got {value!r}")
    return f"last:{int(text)}"
