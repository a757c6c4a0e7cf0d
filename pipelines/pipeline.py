"""The bertpipe KFP v2 pipeline:
import encoder -> preprocess -> train -> evaluate -> gate -> (if blessed) export -> publish.

Parameter names and defaults come from ``components.config.PipelineConfig`` (the one source of
truth shared with the CLI); a test keeps this signature and the dataclasses in step.
``bertpipe_pipeline`` is the plain pipeline (kfp.local, the default compile);
``build_pipeline(cluster)`` is the same graph with a ``ClusterConfig``'s deployment settings
(image, GPUs, resources, node placement, secrets, volumes, retries, TFJob training).
"""

from typing import Any, NamedTuple

from kfp import compiler, dsl
from kfp.dsl import HTML, ClassificationMetrics, Dataset, Markdown, Metrics, Model
from kfp.dsl.graph_component import GraphComponent

import components  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from components.config import PipelineConfig
from components.encoders.component import import_encoder
from components.evaluate.component import evaluate, gate
from components.export.component import export, publish
from components.preprocess.component import preprocess
from components.train.component import train
from pipelines.cluster import ClusterConfig, apply_cluster

PIPELINE_NAME = "bertpipe"
_D = PipelineConfig().parameters()


class Outputs(NamedTuple):
    encoder_model: Model
    examples: Dataset
    model: Model
    metrics: Metrics
    classification_metrics: ClassificationMetrics
    report: HTML
    summary_markdown: Markdown
    summary: str


def build_pipeline(cluster: ClusterConfig | None = None) -> GraphComponent:
    """The pipeline, with ``cluster``'s settings applied to its tasks at compile time (None:
    none, as kfp.local needs). The settings are fixed in the graph, so each config is built
    anew rather than patched onto the shared ``bertpipe_pipeline``."""
    train_step, train_extra = _train_step(cluster)

    @dsl.pipeline(name=PIPELINE_NAME,
                  description="Fine-tune a pretrained BERT encoder with frozen layers for text "
                              "classification, then evaluate and freeze it for inference.")
    def bertpipe_pipeline(
        encoder: str = _D["encoder"],
        data_path: str = _D["data_path"],
        text_column: str = _D["text_column"],
        text_pair_column: str = _D["text_pair_column"],
        text_pair_separator: str = _D["text_pair_separator"],
        label_column: str = _D["label_column"],
        label_vocab: str = _D["label_vocab"],
        split_key_column: str = _D["split_key_column"],
        eval_fraction: float = _D["eval_fraction"],
        test_fraction: float = _D["test_fraction"],
        max_seq_length: int = _D["max_seq_length"],
        num_shards: int = _D["num_shards"],
        gzip: bool = _D["gzip"],
        max_rejected_fraction: float = _D["max_rejected_fraction"],
        beam_options: str = _D["beam_options"],
        slice_column: str = _D["slice_column"],
        data_version: str = _D["data_version"],
        freeze: str = _D["freeze"],
        pooling: str = _D["pooling"],
        epochs: int = _D["epochs"],
        batch_size: int = _D["batch_size"],
        learning_rate: float = _D["learning_rate"],
        warmup_fraction: float = _D["warmup_fraction"],
        dropout: float = _D["dropout"],
        hidden_units: int = _D["hidden_units"],
        class_weighting: str = _D["class_weighting"],
        weight_decay: float = _D["weight_decay"],
        clip_norm: float = _D["clip_norm"],
        gradual_unfreeze: bool = _D["gradual_unfreeze"],
        mixed_precision: str = _D["mixed_precision"],
        xla: bool = _D["xla"],
        max_train_examples: int = _D["max_train_examples"],
        checkpoint_steps: int = _D["checkpoint_steps"],
        seed: int = _D["seed"],
        main_metric: str = _D["main_metric"],
        min_metric: float = _D["min_metric"],
        max_regression: float = _D["max_regression"],
        blessed_root: str = _D["blessed_root"],
    ) -> Outputs:
        encoder_task = import_encoder(encoder=encoder).set_display_name("import-encoder")
        pre = preprocess(encoder_model=encoder_task.outputs["encoder_model"], data_path=data_path,
                         text_column=text_column, text_pair_column=text_pair_column,
                         text_pair_separator=text_pair_separator, label_column=label_column,
                         label_vocab=label_vocab, split_key_column=split_key_column,
                         eval_fraction=eval_fraction, test_fraction=test_fraction,
                         max_seq_length=max_seq_length, num_shards=num_shards, gzip=gzip,
                         max_rejected_fraction=max_rejected_fraction,
                         beam_options=beam_options,
                         slice_column=slice_column,
                         data_version=data_version).set_display_name("preprocess")
        trained = train_step(encoder_model=encoder_task.outputs["encoder_model"],
                             examples=pre.outputs["examples"], freeze=freeze,
                             pooling=pooling, epochs=epochs, batch_size=batch_size,
                             learning_rate=learning_rate, warmup_fraction=warmup_fraction,
                             dropout=dropout, hidden_units=hidden_units,
                             class_weighting=class_weighting, weight_decay=weight_decay,
                             clip_norm=clip_norm, gradual_unfreeze=gradual_unfreeze,
                             mixed_precision=mixed_precision, xla=xla,
                             max_train_examples=max_train_examples,
                             checkpoint_steps=checkpoint_steps, seed=seed,
                             **train_extra).set_display_name("train")
        scored, judged, exported, published = judge_and_export(
            trained.outputs["model"], pre.outputs["examples"], encoder_task.outputs["encoder_model"],
            main_metric, min_metric, max_regression, blessed_root)
        if cluster is not None:
            apply_cluster(cluster, {"import-encoder": encoder_task, "preprocess": pre,
                                    "train": trained, "evaluate": scored, "quality-gate": judged,
                                    "export": exported, "publish": published})
        return Outputs(encoder_model=encoder_task.outputs["encoder_model"],
                       examples=pre.outputs["examples"], model=trained.outputs["model"],
                       metrics=scored.outputs["metrics"],
                       classification_metrics=scored.outputs["classification_metrics"],
                       report=scored.outputs["report"], summary_markdown=scored.outputs["summary"],
                       summary=scored.outputs["Output"])

    return bertpipe_pipeline


def judge_and_export(model, examples, encoder_model, main_metric, min_metric, max_regression,
                     blessed_root) -> tuple[Any, Any, Any, Any]:
    """evaluate -> quality-gate -> (blessed only) export -> publish, inside the pipeline being
    defined; returns the four tasks. Shared with the gate's kfp.local test, which feeds it
    imported artifacts."""
    scored = evaluate(model=model, examples=examples, main_metric=main_metric,
                      min_metric=min_metric, max_regression=max_regression,
                      blessed_root=blessed_root).set_display_name("evaluate")
    judged = gate(evaluation=scored.outputs["evaluation"]).set_display_name("quality-gate")
    # Only a blessed model is frozen for inference and published. The gate returns a single
    # bool (its ``Output``): kfp.local resolves conditions on single outputs of a task.
    with dsl.If(judged.output == True, name="blessed"):  # noqa: E712 (a KFP condition)
        exported = export(model=model, encoder_model=encoder_model, examples=examples,
                          evaluation=scored.outputs["evaluation"]).set_display_name("export")
        published = publish(
            exported_model=exported.outputs["exported_model"],
            evaluation=scored.outputs["evaluation"], blessed_root=blessed_root,
            main_metric=main_metric,
            schedule_time=dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER,
            job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER).set_display_name("publish")
    return scored, judged, exported, published


def _train_step(cluster: ClusterConfig | None) -> tuple[Any, dict[str, Any]]:
    """The single-pod ``train`` component, or ``train_tfjob`` and its extra inputs when the
    cluster asks for a multi-worker TFJob (chosen at compile time, not with ``dsl.If``)."""
    if cluster is None or not cluster.tfjob_workers:
        return train, {}
    from components.train.tfjob_component import train_tfjob

    # The workers get the same image, identity, secret and volume as the pipeline's pods.
    return train_tfjob, {"workers": cluster.tfjob_workers, "gpus_per_worker": cluster.train_gpus,
                         "namespace": cluster.tfjob_namespace, "worker_image": cluster.image,
                         "service_account": cluster.service_account or "bertpipe-runner",
                         "gcp_credentials_secret": cluster.gcs_secret,
                         "gcp_credentials_key": cluster.gcs_secret_key,
                         "shared_pvc": cluster.pvc_name, "shared_mount": cluster.pvc_mount_path,
                         "image_pull_secret": cluster.image_pull_secret}


bertpipe_pipeline = build_pipeline()


def compile_pipeline(package_path: str, cluster: ClusterConfig | None = None,
                     parameters: dict[str, Any] | None = None) -> str:
    """Writes the pipeline YAML that the Kubeflow Pipelines UI and API accept.

    ``parameters`` become the compiled parameters' defaults (what the UI pre-fills); with
    neither argument the output is the plain pipeline."""
    plain = cluster is None or cluster.is_default()
    pipeline = bertpipe_pipeline if plain else build_pipeline(cluster)
    compiler.Compiler().compile(pipeline, package_path=package_path,
                                pipeline_parameters=parameters or None)
    return package_path
