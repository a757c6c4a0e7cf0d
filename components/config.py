"""Configuration of a bertpipe run: the one source of truth.

The CLI flags, the KFP pipeline parameters, the Python API and the README's parameter table
are all derived from the dataclasses below (``PipelineConfig.parameters()`` lists them; each
field's meaning and allowed values are its ``setting(...)`` metadata, ``field_docs()``
collects them). Every field is validated in ``__post_init__`` so that a bad value fails with
one clear line before any heavy work starts.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

from components.errors import ConfigError, require as _require
from components.freeze_spec import FreezeSpec

BUILTIN_ENCODERS = ("minilm-l6",)
# Built-in datasets and the column that keeps related rows on one side of the split.
BUILTIN_DATASETS = {"builtin://rotten_tomatoes": "movie_name"}
POOLINGS = ("pooled", "cls", "mean", "max")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
CLASS_WEIGHTINGS = ("none", "balanced")
MAX_FIELD_CHARS_LIMIT = 2**31 - 2  # what Python's csv module can be told (a C long, less one)
MAIN_METRICS = ("accuracy", "macro_f1", "weighted_f1", "mcc", "roc_auc", "pr_auc")


def setting(default: Any = dataclasses.MISSING, help: str = "", choices: Sequence[str] = (),
            factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field that explains itself: ``help`` says what it does (for ``--help``, the
    README's table and the API), ``choices`` are the allowed values of an enumerated field
    (shown, not enforced: ``__post_init__`` validates). ``factory`` instead of ``default`` for
    a mutable default. Whitespace in ``help`` is collapsed, so it may span lines."""
    text = " ".join(help.split())
    if not text:
        raise ValueError("a setting needs a help text")
    metadata = {"help": text, "choices": tuple(choices)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class FieldDoc:
    """One documented setting: ``type`` is the annotation's name (``str``, ``int``...),
    ``group`` the dataclass it belongs to (``encoder``, ``data``, ``train``, ``eval``,
    ``cluster``)."""

    name: str
    type: str
    default: Any
    help: str
    choices: tuple[str, ...]
    group: str

    @property
    def flag(self) -> str:
        return f"--{self.name.replace('_', '-')}"


def docs_of(klass: type, group: str, names: Sequence[str] | None = None) -> list[FieldDoc]:
    """``FieldDoc`` of each field of ``klass`` (or of those in ``names``), in field order."""
    docs = []
    for f in dataclasses.fields(klass):
        if names is not None and f.name not in names:
            continue
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        docs.append(FieldDoc(name=f.name, type=str(f.type), default=default,
                             help=f.metadata.get("help", ""),
                             choices=tuple(f.metadata.get("choices", ())), group=group))
    return docs


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the rows come from and how they become model inputs (the preprocess step)."""

    data_path: str = setting(next(iter(BUILTIN_DATASETS)), """
        CSV / TSV / JSONL file, glob or folder (`builtin://rotten_tomatoes`: the built-in
        Rotten Tomatoes reviews)""")
    text_column: str = setting("text", "column holding the text")
    text_pair_column: str = setting("", """
        column holding the second sentence: makes it a sentence-pair task (empty: single
        texts)""")
    text_pair_separator: str = setting("", """
        e.g. `|||`: one text column holds both sentences of a pair, split at this (instead of
        `text_pair_column`)""")
    label_column: str = setting("label", "column holding the label")
    label_vocab: str = setting("", """
        comma-separated labels, e.g. `neg,pos`: fixes the labels and their order; rows with
        other labels become dead letters (empty: built in the job, sorted; numerically when
        every label is an integer)""")
    split_key_column: str = setting("", """
        rows with the same value of this column stay on one side of the train/eval split
        (empty: the built-in dataset's grouping column, `movie_name` for
        `builtin://rotten_tomatoes`, else the text itself)""")
    eval_fraction: float = setting(0.2, """
        share of split keys that go to eval, in (0, 1) (stable sha256 hash)""")
    test_fraction: float = setting(0.0, """
        share of split keys for a held-out test split (0: none); the rest is train""")
    max_seq_length: int = setting(64, """
        tokens per example, 8 to 512: `[CLS] a [SEP] (b [SEP])`, pairs truncated
        longest-first""")
    num_shards: int = setting(0, """
        TFRecord shards per split (0: automatic, about 20,000 rows each)""")
    gzip: bool = setting(True, "GZIP-compress the TFRecords")
    max_rejected_fraction: float = setting(0.1, """
        the preprocess job fails (one line: count and dead-letter path) when a larger share
        of rows is rejected""")
    max_field_chars: int = setting(1_048_576, """
        the longest field read, in characters (default 1 MiB): a longer text is still read,
        tokenized and truncated to `max_seq_length`; only a row with a field over this is a
        dead letter, whose reason names this setting""")
    beam_options: str = setting("", """
        standard Beam pipeline flags for the preprocess job, passed through unchanged, e.g.
        `--runner=DataflowRunner --project=...` (no `--runner`: Beam's in-process runner,
        never the Prism binary Beam's DirectRunner would fetch from GitHub at run time)""")
    slice_column: str = setting("", """
        a column carried into the examples; evaluation also reports metrics per value of it
        (e.g. a domain or source column)""")
    data_version: str = setting("", """
        a label for the data's contents (a date, a checksum): KFP's cache sees `data_path`
        only as a string, so new files at the same path would be served from the cache; a
        new value re-runs preprocess and every step after it""")

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
        _require(1 <= self.max_field_chars <= MAX_FIELD_CHARS_LIMIT,
                 f"max_field_chars must be in [1, {MAX_FIELD_CHARS_LIMIT}], "
                 f"got {self.max_field_chars}")

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
    """How the classifier is fine-tuned (the train step): freezing, head, optimizer (AdamW,
    linear warmup then linear decay), precision and batching."""

    freeze: str = setting("last:2", """
        which encoder weights stay frozen: `none` (full fine-tuning) | `all` (feature
        extraction) | `embeddings` | `first:N` (the embeddings and the first N blocks) |
        `last:N` (only the last N blocks and the pooler train) | `blocks:I,J` |
        `include:REGEX` | `exclude:REGEX` (kept trainable), joined with `+`, e.g.
        `embeddings+blocks:0,1` | `word_embeddings` (the word-embedding matrix only) | `auto`
        (blocks freeze bottom up during training once their gradients have settled, see
        `auto_freeze_*`; joins `embeddings`, `word_embeddings`, `first:N`, `last:N`, `blocks:…`
        as its start) (components/freeze_spec.py)""")
    pooling: str = setting("mean", """
        how the token vectors become one: `pooled` (the encoder's pooler), `cls`, `mean` or
        `max` (mask-aware)""", choices=POOLINGS)
    epochs: int = setting(2, "passes over the train split")
    batch_size: int = setting(32, """
        examples per step, global (split across replicas)""")
    learning_rate: float = setting(2e-4, """
        AdamW's peak learning rate: linear warmup from 0, then linear decay to 0""")
    warmup_fraction: float = setting(0.1, "share of the training steps spent warming up")
    dropout: float = setting(0.1, "dropout rate before the head")
    hidden_units: int = setting(0, """
        units of an optional GELU layer between dropout and the logits (0: none)""")
    class_weighting: str = setting("none", """
        `balanced` weighs each class by n / (classes * n_class) of the train split; `none`:
        every example counts the same""", choices=CLASS_WEIGHTINGS)
    weight_decay: float = setting(0.01, """
        AdamW's decoupled weight decay (never on LayerNorm or biases)""")
    clip_norm: float = setting(1.0, "global-norm gradient clipping (0: off)")
    gradual_unfreeze: bool = setting(False, """
        start from `freeze` and unfreeze one more block per epoch, top down (the embeddings
        last)""")
    auto_freeze_interval: int = setting(0, """
        with `freeze: auto`: training steps between two looks at the gradients (0: 5% of the
        run's steps, at least 5); a block can freeze at the end of each interval""")
    auto_freeze_percentile: float = setting(75.0, """
        with `freeze: auto`: the lowest trainable blocks freeze while their gradient-norm change
        over the last interval is at or below this percentile of all trainable blocks'
        changes (higher freezes sooner; AutoFreeze's median, 50, froze too late and in too
        many retraces to pay off in a 200-step run, benchmarks/README.md), in (0, 100]""")
    auto_freeze_min_trainable_blocks: int = setting(2, """
        with `freeze: auto`: the top N transformer blocks never freeze (nor the pooler and
        the head), >= 1""")
    auto_freeze_min_progress: float = setting(0.2, """
        with `freeze: auto`: no transformer block freezes before the training loss over two
        intervals in a row is this share below the loss of always predicting the train
        split's label frequencies (ln of the classes under `balanced` weighting): until the
        model has learned that much, its lower blocks may still be needed (on VitaminC, 400
        steps, the loss got 10-26% below the prior while the lower blocks' gradient norms
        grew tenfold, and a gate at 10% lost 4.7 points; at 20% the gate opened at steps
        340-380 there at no cost, and on Rotten Tomatoes at steps 40-90 of 200, inside the
        first epoch, where 30% waited for the second epoch's drop on some seeds,
        benchmarks/README.md); 0 turns the gate off, in [0, 1)""")
    auto_freeze_embeddings: bool = setting(True, """
        with `freeze: auto`: the embeddings are frozen from the first step, all of them for
        single texts (`embeddings+auto`), the word-embedding matrix only for sentence pairs
        (`word_embeddings+auto`: their position and token-type embeddings and LayerNorm train
        until the lowest block freezes; frozen, VitaminC lost about a point, and MiniLM's two
        token types start nearly equal). The matrix is half of MiniLM's weights, and AdamW
        updates all of it every step: 1.1-1.3x the speed. False: the embeddings follow the
        blocks' rule""")
    mixed_precision: str = setting("auto", """
        `auto`: bfloat16 on CPUs with AVX-512 BF16/AMX and GPUs of compute capability >= 8.0,
        float16 with loss scaling on older GPUs, float32 elsewhere; or `float32` (also
        empty), `mixed_bfloat16`, `mixed_float16`. The encoder's dense layers and attention
        matmuls run in it; variables, LayerNorm, softmax and logits stay float32; evaluation
        and exports run in float32. The choice and its reason are in the train log and the
        model card""", choices=PRECISIONS)
    xla: bool = setting(False, """
        compile the train step with XLA (`jit_compile`): one compilation per batch shape, at
        most `max_seq_length / bucket_width`""")
    bucket_width: int = setting(16, """
        batches hold texts of similar length and are cut to their longest text rounded up to
        a multiple of this (0: pad every batch to `max_seq_length`); the same shape on every
        replica of a step""")
    max_train_examples: int = setting(0, "train on at most this many examples (0: all)")
    checkpoint_steps: int = setting(0, """
        back up every N steps (0: at the end of each epoch); a killed run restarted with the
        same output folder resumes from the last backup""")
    seed: int = setting(42, "seed of the shuffle, dropout and the head's initial weights")

    def start_freeze(self, pairs: bool) -> str:
        """The freeze spec training starts from: ``freeze``, with the embeddings frozen too
        under ``auto`` when ``auto_freeze_embeddings`` says so: for sentence ``pairs`` only
        the word embeddings (the token types tell the two texts apart, and MiniLM's start
        nearly equal), for single texts all of them (one token type, nothing to learn)."""
        spec = FreezeSpec.parse(self.freeze)
        frozen_by_terms = any(name in ("embeddings", "word_embeddings", "first", "last")
                              for name, _ in spec.terms)
        if spec.auto and self.auto_freeze_embeddings and not frozen_by_terms:
            return f"{'word_embeddings' if pairs else 'embeddings'}+{self.freeze}"
        return self.freeze

    def __post_init__(self) -> None:
        auto = FreezeSpec.parse(self.freeze).auto
        _require(not (auto and self.gradual_unfreeze),
                 f"freeze {self.freeze!r} freezes blocks during training and gradual_unfreeze "
                 f"unfreezes them: use one of the two")
        _require(self.auto_freeze_interval >= 0,
                 f"auto_freeze_interval must be >= 0 (0: automatic), got "
                 f"{self.auto_freeze_interval}")
        _require(0.0 < self.auto_freeze_percentile <= 100.0,
                 f"auto_freeze_percentile must be in (0, 100], got {self.auto_freeze_percentile}")
        _require(0.0 <= self.auto_freeze_min_progress < 1.0,
                 f"auto_freeze_min_progress must be in [0, 1), got {self.auto_freeze_min_progress}")
        _require(self.auto_freeze_min_trainable_blocks >= 1,
                 f"auto_freeze_min_trainable_blocks must be >= 1, got "
                 f"{self.auto_freeze_min_trainable_blocks}")
        _require(self.pooling in POOLINGS, f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        _require(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        _require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _require(0.0 < self.learning_rate < 1.0,
                 f"learning_rate must be in (0, 1), got {self.learning_rate}")
        _require(0.0 <= self.warmup_fraction < 1.0,
                 f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        _require(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        _require(self.hidden_units >= 0, f"hidden_units must be >= 0, got {self.hidden_units}")
        _require(self.class_weighting in CLASS_WEIGHTINGS,
                 f"class_weighting must be {' or '.join(map(repr, CLASS_WEIGHTINGS))}, "
                 f"got {self.class_weighting!r}")
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



@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """How a trained model is judged and whether it is blessed (exported and published): the
    quality gate."""

    main_metric: str = setting("accuracy", """
        the metric (on the eval split) the quality gate compares""", choices=MAIN_METRICS)
    min_metric: float = setting(0.0, """
        the gate's absolute threshold: blessed only when `main_metric` >= this""")
    max_regression: float = setting(0.01, """
        the gate's allowed drop: blessed only when `main_metric` >= the last blessed model's
        value minus this""")
    blessed_root: str = setting("", """
        folder or `gs://` prefix holding `blessed.json` of the last blessed model and every
        published export (empty: no history: only `min_metric` applies and nothing is
        published)""")

    def __post_init__(self) -> None:
        _require(self.main_metric in MAIN_METRICS,
                 f"main_metric must be one of {MAIN_METRICS}, got {self.main_metric!r}")
        _require(-1.0 <= self.min_metric <= 1.0,
                 f"min_metric must be in [-1, 1], got {self.min_metric}")
        _require(0.0 <= self.max_regression <= 1.0,
                 f"max_regression must be in [0, 1], got {self.max_regression}")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """A whole run: which encoder, which data, how to train, how to judge."""

    encoder: str = setting(BUILTIN_ENCODERS[0], f"""
        the BERT encoder: a built-in name ({', '.join(f'`{n}`' for n in BUILTIN_ENCODERS)})
        or a folder: Hugging Face layout (config.json, vocab.txt, model.safetensors), Google's
        original BERT checkpoint, a TF Hub BERT encoder SavedModel (also `gs://`), or a
        bertpipe encoder import""")
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


def field_docs() -> dict[str, FieldDoc]:
    """Name, type, default, meaning and allowed values of every flat parameter, in the order
    of ``field_types()``: what ``--help`` and the README's parameter table show."""
    docs = docs_of(PipelineConfig, "encoder", ["encoder"])
    for klass, group in ((DataConfig, "data"), (TrainConfig, "train"), (EvalConfig, "eval")):
        docs += docs_of(klass, group)
    return {doc.name: doc for doc in docs}


def field_types() -> dict[str, type]:
    """Python type of every flat parameter (for CLI parsing and KFP signatures)."""
    types: dict[str, type] = {"encoder": str}
    for klass in (DataConfig, TrainConfig, EvalConfig):
        for f in dataclasses.fields(klass):
            types[f.name] = {"str": str, "int": int, "float": float, "bool": bool}[str(f.type)]
    return types
