"""What one step hands the next: typed, versioned files, each with its own save and load.

    info = EncoderInfo.load(encoder_dir)            # import-encoder -> every later step
    examples = PreparedExamples.load(examples_dir)  # preprocess -> train, evaluate, export
    report = TrainingReport.load(model_dir)         # train -> evaluate, export (model card)
    evaluation = Evaluation.load(evaluation_dir)    # evaluate -> quality gate, export, publish
    last = BlessedModel.latest(blessed_root)        # publish -> the next run's quality gate
    card = ModelCard.load(export_dir)               # export -> serving teams, bertpipe predict

Each file is JSON: the contract's fields plus ``kind`` and ``schema_version``. ``load`` takes
the artifact's folder (local or ``gs://``) and fails with ``ContractError`` naming the file when
it is missing, unreadable, of another kind, of another schema version, or lacks a field; files
written before schema versions existed read as version 1. ``save`` writes a temporary file and
renames it into place, so a reader never sees half a file. Bump a contract's ``VERSION`` when a
field changes meaning or goes away. Steps never read each other's files any other way.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
import uuid
from typing import Any, ClassVar, TypeVar

from components.errors import ContractError

# The TF Hub BERT encoder interface: the inputs of every encoder, classifier and export, and
# the int64 features of every example the preprocess step writes.
ENCODER_INPUTS = ("input_word_ids", "input_mask", "input_type_ids")
# The dtypes an encoder exported by bertpipe can compute in (its ``compute_dtype`` argument).
COMPUTE_DTYPES = ("float32", "bfloat16", "float16")

C = TypeVar("C", bound="Contract")


class _LocalFiles:
    """The few ``tf.io.gfile`` calls contracts use, for local paths: reading a contract (say,
    to check a setting against the encoder) then needs no TensorFlow import."""

    GFile = staticmethod(lambda path, mode="r": open(path, mode, encoding="utf-8"))
    exists = staticmethod(os.path.exists)
    makedirs = staticmethod(lambda path: os.makedirs(path, exist_ok=True))
    rename = staticmethod(lambda src, dst, overwrite=False: os.replace(src, dst))


def _files(path: str):
    """``tf.io.gfile`` for URIs (``gs://``...), plain Python for local paths."""
    if "://" not in path:
        return _LocalFiles
    import tensorflow as tf

    return tf.io.gfile


def _build(kind: Any, value: Any) -> Any:
    """``value`` (parsed JSON) as ``kind``: nested contracts' dataclasses are rebuilt, in
    dicts, lists and optionals too; anything else is kept as it is."""
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        inner = [k for k in typing.get_args(kind) if k is not type(None)]
        return _build(inner[0], value) if len(inner) == 1 else value
    if origin is dict and dataclasses.is_dataclass(typing.get_args(kind)[1]):
        return {k: _build(typing.get_args(kind)[1], v) for k, v in value.items()}
    if origin is list and dataclasses.is_dataclass(typing.get_args(kind)[0]):
        return [_build(typing.get_args(kind)[0], v) for v in value]
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        fields = {f.name for f in dataclasses.fields(kind) if f.init}
        missing = [f.name for f in dataclasses.fields(kind)
                   if f.init and f.name not in value and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise KeyError(", ".join(missing))
        return kind(**{k: _build(hints[k], v) for k, v in value.items() if k in fields})
    return value


@dataclasses.dataclass(frozen=True)
class Contract:
    """A file one step writes and others read (see the module docstring)."""

    FILE: ClassVar[str]
    KIND: ClassVar[str]
    VERSION: ClassVar[int] = 1

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.KIND, "schema_version": self.VERSION, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def save(self, folder: str) -> str:
        """Writes ``folder/FILE`` through a temporary file renamed into place; returns its path.
        The temporary name is this writer's own, so two writers at once (a scheduled run and
        a manual one publishing ``blessed.json``) never mix their bytes: a reader sees one
        whole file or the other."""
        path = f"{str(folder).rstrip('/')}/{self.FILE}"
        gfile = _files(path)
        gfile.makedirs(path.rsplit("/", 1)[0])
        tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        with gfile.GFile(tmp, "w") as f:
            f.write(self.to_json())
        gfile.rename(tmp, path, overwrite=True)
        return path

    @classmethod
    def path_in(cls, folder: str) -> str:
        return f"{str(folder).rstrip('/')}/{cls.FILE}"

    @classmethod
    def exists(cls, folder: str) -> bool:
        path = cls.path_in(folder)
        return _files(path).exists(path)

    @classmethod
    def load(cls: type[C], folder: str) -> C:
        """The contract stored in ``folder`` (see the module docstring for what fails)."""
        path = cls.path_in(folder)
        gfile = _files(path)
        if not gfile.exists(path):
            raise ContractError(f"{path}: missing: {folder} holds no {cls.__name__}")
        try:
            with gfile.GFile(path) as f:
                text = f.read()
        except (ValueError, OSError) as err:
            raise ContractError(f"{path}: not readable as JSON ({err})") from None
        return cls.from_json(text, path)

    @classmethod
    def from_json(cls: type[C], text: str | bytes, where: str = "") -> C:
        """The contract in ``text``: a file's content read some other way (the retrying
        ``gs://`` client, say), failing as ``load`` does; ``where`` names the file."""
        try:
            raw = json.loads(text)
        except ValueError as err:
            raise ContractError(f"{where or cls.__name__}: not readable as JSON "
                                f"({err})") from None
        return cls.from_dict(raw, where)

    @classmethod
    def from_dict(cls: type[C], raw: Any, where: str = "") -> C:
        where = where or cls.__name__
        if not isinstance(raw, dict):
            raise ContractError(f"{where}: expected a JSON object, got {type(raw).__name__}")
        kind = raw.get("kind", cls.KIND)
        if kind != cls.KIND:
            raise ContractError(f"{where}: a {kind!r} file, expected {cls.KIND!r}")
        version = raw.get("schema_version", 1)
        if version != cls.VERSION:
            raise ContractError(f"{where}: schema version {version}, this bertpipe reads "
                                f"version {cls.VERSION} of {cls.__name__}: rerun the step "
                                f"that wrote it with this version")
        try:
            return _build(cls, raw)
        except KeyError as err:
            raise ContractError(f"{where}: {cls.__name__} lacks a field: "
                                f"{err.args[0]}") from None
        except (TypeError, AttributeError) as err:
            raise ContractError(f"{where}: {cls.__name__} has a mistyped field: "
                                f"{err}") from None


@dataclasses.dataclass(frozen=True)
class LocatedContract(Contract):
    """A contract whose relative paths mean something only beside it: ``load`` remembers the
    folder it came from in ``root`` (not stored in the file)."""

    root: str = dataclasses.field(default="", compare=False, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.pop("root")
        return data

    @classmethod
    def load(cls: type[C], folder: str) -> C:
        return dataclasses.replace(super().load(folder), root=str(folder).rstrip("/"))


@dataclasses.dataclass(frozen=True)
class EncoderInfo(LocatedContract):
    """An imported encoder's vocab, casing and block layout, readable without TensorFlow's
    SavedModel loader (tokenizing workers, freezing-spec checks). In ``assets/``."""

    FILE: ClassVar[str] = "assets/encoder_info.json"
    KIND: ClassVar[str] = "bertpipe.encoder_info"

    do_lower_case: bool
    num_layers: int
    hidden_size: int
    max_position_embeddings: int
    source: str
    variable_names: list[str] = dataclasses.field(default_factory=list)
    bert_config: dict[str, Any] | None = None
    # What ``__call__(inputs, training, compute_dtype=...)`` accepts; encoders exported before
    # mixed precision existed compute in float32 only.
    compute_dtypes: list[str] = dataclasses.field(default_factory=lambda: ["float32"])

    @property
    def vocab_file(self) -> str:
        return f"{self.root}/assets/vocab.txt"


@dataclasses.dataclass(frozen=True)
class SplitInfo:
    pattern: str  # relative to the examples folder: the files move with it
    count: int
    per_label: dict[str, int]


@dataclasses.dataclass(frozen=True)
class Columns:
    text: str
    text_pair: str | None
    text_pair_separator: str | None
    label: str
    split_key: str
    slice: str | None


@dataclasses.dataclass(frozen=True)
class TokenizerInfo:
    vocab_sha256: str
    do_lower_case: bool
    encoder_source: str
    max_chars_per_word: int
    pair_truncation: str
    normalization: str


@dataclasses.dataclass(frozen=True)
class DeadLetters:
    path: str  # relative to the examples folder
    count: int


@dataclasses.dataclass(frozen=True)
class PreparedExamples(LocatedContract):
    """The preprocess step's output: labels, splits and their files, data statistics."""

    FILE: ClassVar[str] = "metadata.json"
    KIND: ClassVar[str] = "bertpipe.prepared_examples"

    labels: list[str]
    splits: dict[str, SplitInfo]
    stats: dict[str, Any]
    rows_read: int
    dead_letter: DeadLetters
    inputs: list[str]
    columns: Columns
    eval_fraction: float
    test_fraction: float
    max_seq_length: int
    compression: str | None
    tokenizer: TokenizerInfo

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def is_pair(self) -> bool:
        """A pair task has a second text column or splits one column at a separator."""
        return bool(self.columns.text_pair or self.columns.text_pair_separator)

    def count(self, split: str) -> int:
        info = self.splits.get(split)
        return info.count if info else 0

    def pattern(self, split: str) -> str:
        """The split's files as an absolute glob (under the folder it was loaded from)."""
        return f"{self.root}/{self.splits[split].pattern}"

    def check_records(self, split: str) -> None:
        """Reads the split's shards once (in the graph, no Python per record): a truncated or
        corrupt shard, or a record count other than this file's, fails with a
        ``ContractError`` naming the file, before a step trains or scores on it."""
        import tensorflow as tf

        files = sorted(tf.io.gfile.glob(self.pattern(split)))
        total = 0
        for path in files:
            ds = tf.data.TFRecordDataset(path, compression_type=self.compression or "")
            try:
                total += int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
            except tf.errors.OpError as err:
                reason = (err.message or type(err).__name__).strip().splitlines()[0]
                raise ContractError(f"{path}: corrupt or truncated TFRecord shard ({reason}): "
                                    f"rerun the preprocess step") from None
        expected = self.count(split)
        if total != expected:
            raise ContractError(f"{self.pattern(split)}: {total:,} {split} records, but "
                                f"{self.path_in(self.root)} says {expected:,}: a shard is "
                                f"missing or was replaced; rerun the preprocess step")


@dataclasses.dataclass(frozen=True)
class FreezeDecision:
    """One block frozen by ``freeze: auto``: after training step ``step`` (1-based, counted
    over the whole run) in epoch ``epoch`` (1-based), because ``signal`` was ``value``, at or
    below ``threshold``."""

    step: int
    epoch: int
    block: str
    signal: str
    value: float
    threshold: float

    SIGNALS: ClassVar[dict[str, str]] = {"grad_norm_change": "grad-norm change",
                                         "with_block_above": "with the block above"}

    def describe(self) -> str:
        """``step 120: layer_0 frozen (grad-norm change 0.8% <= 2.0%)``; a block frozen for
        the one above it (``with_block_above``: its ``value`` and ``threshold`` are that
        block's) says so."""
        if self.signal == "with_block_above":
            return (f"step {self.step}: {self.block} frozen (with the block above: "
                    f"grad-norm change {100 * self.value:.1f}% <= {100 * self.threshold:.1f}%)")
        signal = self.SIGNALS.get(self.signal, self.signal)
        return (f"step {self.step}: {self.block} frozen ({signal} {100 * self.value:.1f}% <= "
                f"{100 * self.threshold:.1f}%)")


@dataclasses.dataclass(frozen=True)
class TrainingReport(Contract):
    """What the train step did: the freezing table, the curves, the settings. Beside the
    Keras model in the ``model`` artifact."""

    FILE: ClassVar[str] = "training_report.json"
    KIND: ClassVar[str] = "bertpipe.training_report"

    freeze: str
    trainable_variables: list[str]
    unused_blocks: list[str]
    table: list[dict[str, Any]]
    trainable_params: int
    total_params: int
    global_batch_size: int
    replicas: int
    max_seq_length: int
    labels: list[str]
    config: dict[str, Any]
    history: dict[str, list[float]]
    # The precision training ran in: {requested, policy, encoder_dtype, reason}.
    precision: dict[str, str] = dataclasses.field(default_factory=dict)
    # Batches padded to their longest text rounded up to this (0: to max_seq_length).
    bucket_width: int = 0
    # ``freeze: auto``'s decisions, in order (blocks only ever go from trainable to frozen).
    freeze_decisions: list[FreezeDecision] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Blessing:
    """The quality gate's verdict and the numbers behind it (``baseline``: the last blessed
    model's value, None without history)."""

    blessed: bool
    reason: str
    main_metric: str
    value: float
    min_metric: float
    max_regression: float
    baseline: float | None = None
    baseline_version: str | None = None


@dataclasses.dataclass(frozen=True)
class Evaluation(Contract):
    """The evaluate step's findings: metrics per split and slice, the worst mistakes, and the
    training and data facts the report, the gate and the model card show."""

    FILE: ClassVar[str] = "evaluation.json"
    KIND: ClassVar[str] = "bertpipe.evaluation"
    # The metrics a table shows first (report, Markdown summary, model card).
    HEADLINE: ClassVar[tuple[str, ...]] = ("examples", "accuracy", "macro_f1", "weighted_f1",
                                           "mcc", "roc_auc", "pr_auc", "log_loss")

    labels: list[str]
    splits: dict[str, dict[str, Any]]
    slices: dict[str, Any]
    mistakes: list[dict[str, Any]]
    history: dict[str, list[float]]
    training: dict[str, Any]
    data: dict[str, Any]
    blessing: Blessing | None = None

    @property
    def eval_metrics(self) -> dict[str, Any]:
        return self.splits["eval"]


@dataclasses.dataclass(frozen=True)
class BlessedModel(Contract):
    """``<blessed_root>/blessed.json``: the last published model, the gate's baseline."""

    FILE: ClassVar[str] = "blessed.json"
    KIND: ClassVar[str] = "bertpipe.blessed_model"

    version: str
    path: str
    main_metric: str
    value: float
    metrics: dict[str, float]
    published_utc: str

    @classmethod
    def latest(cls, blessed_root: str) -> "BlessedModel | None":
        """The last blessed model, or None when ``blessed_root`` is empty or has none yet."""
        if not blessed_root or not cls.exists(blessed_root):
            return None
        return cls.load(blessed_root)


@dataclasses.dataclass(frozen=True)
class ModelCard(Contract):
    """``model_card.json`` beside the exports, for whoever serves the model (and for
    ``bertpipe predict``): labels and their order, the input contract, how it was trained,
    how good it is, what it was trained on, library versions."""

    FILE: ClassVar[str] = "model_card.json"
    KIND: ClassVar[str] = "bertpipe.model_card"

    created_utc: str
    task: str
    labels: list[str]
    max_seq_length: int
    tokenizer: dict[str, Any]
    encoder: dict[str, Any]
    training: dict[str, Any]
    data: dict[str, Any]
    exports: dict[str, Any]
    versions: dict[str, Any]
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    blessing: Blessing | None = None

    @property
    def is_pair(self) -> bool:
        return self.task.startswith("sentence-pair")


def example_feature_spec(max_seq_length: int, with_texts: bool = False) -> dict[str, Any]:
    """How the preprocess step's ``tf.train.Example`` records parse: the encoder inputs and the
    label (and, ``with_texts``, the raw texts and the slice value, empty when absent)."""
    import tensorflow as tf

    spec = {name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in ENCODER_INPUTS}
    spec["label"] = tf.io.FixedLenFeature([1], tf.int64)
    if with_texts:
        for name in ("text", "text_pair", "slice"):
            spec[name] = tf.io.FixedLenFeature([], tf.string, default_value="")
    return spec
