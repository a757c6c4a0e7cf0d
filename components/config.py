"""Configuration of a bertpipe run: the one source of truth.

The CLI flags, the KFP pipeline parameters and the Python API are all derived from the
dataclasses below (``PipelineConfig.parameters()`` lists them). Every field is validated in
``__post_init__`` so that a bad value fails with one clear line before any heavy work starts.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from components.errors import ConfigError, require as _require
from components.freeze_spec import FreezeSpec

BUILTIN_ENCODERS = ("minilm-l6",)
# Built-in datasets and the column that keeps related rows on one side of the split.
BUILTIN_DATASETS = {"builtin://rotten_tomatoes": "movie_name"}
POOLINGS = ("pooled", "cls", "mean", "max")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the rows come from and how they become model inputs.

    * ``text_pair_column`` makes it a sentence-pair task; alternatively ``text_pair_separator``
      (e.g. ``|||``) splits one text column into the two sentences.
    * ``label_vocab`` (comma-separated) fixes the labels and their order; rows with other labels
      become dead letters. Empty: the vocabulary is built in the job (sorted; numerically when
      every label is an integer).
    * ``eval_fraction`` / ``test_fraction``: shares of split keys; the rest is train.
    * ``num_shards``: TFRecord shards per split, 0 = automatic (about 20,000 rows each).
    * ``max_rejected_fraction``: the job fails when a larger share of rows is rejected.
    * ``slice_column``: a column carried into the examples so that evaluation also reports
      metrics per value of it (e.g. a domain or source column).
    * ``beam_options`` are standard Beam pipeline flags (``--runner=DataflowRunner ...``)
      passed through unchanged; empty means the DirectRunner.
    * ``data_version``: a label for the data's contents (a date, a checksum). KFP's cache key
      sees ``data_path`` only as a string, so new files at the same path would be served from
      the cache; a new ``data_version`` re-runs preprocess and every step after it.
    """

    data_path: str = next(iter(BUILTIN_DATASETS))
    text_column: str = "text"
    text_pair_column: str = ""
    text_pair_separator: str = ""
    label_column: str = "label"
    label_vocab: str = ""
    split_key_column: str = ""
    eval_fraction: float = 0.2
    test_fraction: float = 0.0
    max_seq_length: int = 64
    num_shards: int = 0
    gzip: bool = True
    max_rejected_fraction: float = 0.1
    beam_options: str = ""
    slice_column: str = ""
    data_version: str = ""

    def __post_init__(self) -> None:
        _require(bool(self.data_path.strip()), "data_path must not be empty")
        _require(bool(self.text_column.strip()), "text_column must not be empty")
        _require(bool(self.label_column.strip()), "label_column must not be empty")
        _require(0.0 < self.eval_fraction < 1.0,
                 f"eval_fraction must be in (0, 1), got {self.eval_fraction}")
        _require(0.0 <= self.test_fraction < 1.0 - self.eval_fraction,
                 f"test_fraction must be in [0, 1 - eval_fraction), got {self.test_fraction}")
        _require(not (self.text_pair_column and self.text_pair_separator),
                 "give text_pair_column or text_pair_separator, not both")
        _require(0.0 <= self.max_rejected_fraction <= 1.0,
                 f"max_rejected_fraction must be in [0, 1], got {self.max_rejected_fraction}")
        labels = self.labels
        _require(len(set(labels)) == len(labels), f"label_vocab has duplicates: {self.label_vocab!r}")
        _require(len(labels) != 1, "label_vocab needs at least 2 labels")
        _require(8 <= self.max_seq_length <= 512,
                 f"max_seq_length must be in [8, 512], got {self.max_seq_length}")
        _require(self.num_shards >= 0, f"num_shards must be >= 0, got {self.num_shards}")

    @property
    def labels(self) -> list[str]:
        """The given label vocabulary (empty: built in the job)."""
        return [x.strip() for x in self.label_vocab.split(",") if x.strip()]

    @property
    def is_pair(self) -> bool:
        return bool(self.text_pair_column or self.text_pair_separator)

    @property
    def effective_split_key(self) -> str:
        """The column hashed for the train/eval split.

        Named explicitly, else the built-in dataset's grouping column, else the text itself.
        """
        return (self.split_key_column or BUILTIN_DATASETS.get(self.data_path)
                or self.text_column)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How the classifier is fine-tuned.

    ``freeze`` is a freezing spec (``components/freeze_spec.py``): ``last:2`` trains the
    last 2 transformer blocks, ``none`` is full fine-tuning, ``all`` feature extraction.
    Head: dropout, then an optional GELU layer of ``hidden_units``, then the logits;
    ``class_weighting="balanced"`` weighs each class by n / (classes * n_class) of the train
    split. AdamW with ``weight_decay`` (not on LayerNorm or biases) and global-norm clipping
    at ``clip_norm`` (0: off).
    ``gradual_unfreeze``: start from ``freeze`` and unfreeze one more block per epoch, from
    the top down (the embeddings last).
    ``mixed_precision``: ``auto`` (bfloat16 on CPUs with AVX-512 BF16/AMX and GPUs of compute
    capability >= 8.0, float16 with loss scaling on older GPUs, else float32), ``float32``, or
    a Keras policy (``mixed_bfloat16``, ``mixed_float16``); the encoder's dense layers and
    attention matmuls run in it, variables, LayerNorm, softmax and logits stay float32
    (``train/precision.py``). ``xla``: ``jit_compile`` (one compilation per batch shape).
    ``bucket_width``: batches hold texts of similar length and are cut to their longest text
    rounded up to a multiple of this (0: every batch padded to ``max_seq_length``).
    ``checkpoint_steps``: back up every N steps (0: at the end of each epoch); a killed run
    restarted with the same output folder resumes from the last backup.
    """

    freeze: str = "last:2"
    pooling: str = "mean"
    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 2e-4
    warmup_fraction: float = 0.1
    dropout: float = 0.1
    hidden_units: int = 0
    class_weighting: str = "none"
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    gradual_unfreeze: bool = False
    mixed_precision: str = "auto"
    xla: bool = False
    bucket_width: int = 16
    max_train_examples: int = 0
    checkpoint_steps: int = 0
    seed: int = 42

    def __post_init__(self) -> None:
        FreezeSpec.parse(self.freeze)
        _require(self.pooling in POOLINGS, f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        _require(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        _require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _require(0.0 < self.learning_rate < 1.0,
                 f"learning_rate must be in (0, 1), got {self.learning_rate}")
        _require(0.0 <= self.warmup_fraction < 1.0,
                 f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        _require(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        _require(self.hidden_units >= 0, f"hidden_units must be >= 0, got {self.hidden_units}")
        _require(self.class_weighting in ("none", "balanced"),
                 f"class_weighting must be 'none' or 'balanced', got {self.class_weighting!r}")
        _require(0.0 <= self.weight_decay < 1.0,
                 f"weight_decay must be in [0, 1), got {self.weight_decay}")
        _require(self.clip_norm >= 0.0, f"clip_norm must be >= 0 (0: off), got {self.clip_norm}")
        _require(self.mixed_precision in PRECISIONS + ("",),
                 f"mixed_precision must be one of {PRECISIONS}, got {self.mixed_precision!r}")
        _require(self.bucket_width == 0 or 1 <= self.bucket_width <= 512,
                 f"bucket_width must be 0 (off) or in [1, 512], got {self.bucket_width}")
        _require(self.checkpoint_steps >= 0,
                 f"checkpoint_steps must be >= 0, got {self.checkpoint_steps}")
        _require(self.max_train_examples >= 0,
                 f"max_train_examples must be >= 0, got {self.max_train_examples}")


MAIN_METRICS = ("accuracy", "macro_f1", "weighted_f1", "mcc", "roc_auc", "pr_auc")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """How a trained model is judged and whether it is blessed (exported and published).

    A run is blessed when ``main_metric`` on the eval split is >= ``min_metric`` and >= the last
    blessed model's value minus ``max_regression``. ``blessed_root`` (a folder or ``gs://``
    prefix) holds ``blessed.json`` of the last blessed model and every published export; empty
    means no history: only the absolute threshold applies and nothing is published.
    """

    main_metric: str = "accuracy"
    min_metric: float = 0.0
    max_regression: float = 0.01
    blessed_root: str = ""

    def __post_init__(self) -> None:
        _require(self.main_metric in MAIN_METRICS,
                 f"main_metric must be one of {MAIN_METRICS}, got {self.main_metric!r}")
        _require(-1.0 <= self.min_metric <= 1.0,
                 f"min_metric must be in [-1, 1], got {self.min_metric}")
        _require(0.0 <= self.max_regression <= 1.0,
                 f"max_regression must be in [0, 1], got {self.max_regression}")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """A whole run: which encoder, which data, how to train."""

    encoder: str = BUILTIN_ENCODERS[0]
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        _require(bool(self.encoder.strip()), "encoder must not be empty")

    def parameters(self) -> dict[str, Any]:
        """Flat ``{name: value}`` view: the KFP pipeline parameters and the CLI flags."""
        flat: dict[str, Any] = {"encoder": self.encoder}
        flat.update(dataclasses.asdict(self.data))
        flat.update(dataclasses.asdict(self.train))
        flat.update(dataclasses.asdict(self.eval))
        return flat

    @classmethod
    def from_parameters(cls, params: Mapping[str, Any]) -> "PipelineConfig":
        """Inverse of ``parameters()``; unknown names are an error, missing ones take defaults."""
        known = cls().parameters()
        unknown = sorted(set(params) - set(known))
        _require(not unknown, f"unknown parameter(s): {', '.join(unknown)}")

        merged = {**known, **params}
        return cls(encoder=str(merged["encoder"]), data=pick(DataConfig, merged),
                   train=pick(TrainConfig, merged), eval=pick(EvalConfig, merged))


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def parse_bool(value: Any, name: str) -> bool:
    """A flag's or setting's true/false, also as text (``yes``, ``off``, ``1``...)."""
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    _require(lowered in TRUE_WORDS + FALSE_WORDS, f"{name} must be true or false, got {value!r}")
    return lowered in TRUE_WORDS


def pick(klass: type, values: Mapping[str, Any]) -> Any:
    """``klass`` built from the entries of ``values`` named like its fields (others ignored):
    how a KFP component turns its flat inputs (``locals()``) into a config. A field missing
    from ``values`` is an error, never a silent default."""
    names = [f.name for f in dataclasses.fields(klass)]
    missing = [name for name in names if name not in values]
    if missing:
        raise TypeError(f"{klass.__name__} needs {', '.join(missing)}: not among the inputs")
    return klass(**{name: values[name] for name in names})


def field_types() -> dict[str, type]:
    """Python type of every flat parameter (for CLI parsing and KFP signatures)."""
    types: dict[str, type] = {"encoder": str}
    for klass in (DataConfig, TrainConfig, EvalConfig):
        for f in dataclasses.fields(klass):
            types[f.name] = {"str": str, "int": int, "float": float, "bool": bool}[str(f.type)]
    return types
