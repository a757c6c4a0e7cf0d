"""The bertpipe KFP v2 pipeline:
import encoder -> preprocess -> train -> evaluate -> gate -> (if blessed) export -> publish.

Parameter names, types and defaults come from ``components.config`` (the one source of truth
shared with the CLI): the pipeline function's signature is made from the dataclasses, and
each component gets its dataclass's fields.
``bertpipe_pipeline`` is the plain pipeline (kfp.local, the default compile);
``build_pipeline(cluster)`` is the same graph with a ``ClusterConfig``'s deployment settings
(image, GPUs, resources, node placement, secrets, volumes, retries, TFJob training).
"""

import dataclasses
import inspect
from typing import Any, NamedTuple

from kfp import compiler, dsl
from kfp.dsl import HTML, ClassificationMetrics, Dataset, Markdown, Metrics, Model
from kfp.dsl.graph_component import GraphComponent

import components  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from components.config import DataConfig, EvalConfig, PipelineConfig, TrainConfig, field_types
from components.encoders.component import import_encoder
from components.evaluate.component import evaluate, gate
from components.export.component import export, publish
from components.preprocess.component import preprocess
from components.train.component import train
from pipelines.cluster import ClusterConfig, apply_cluster

PIPELINE_NAME = "bertpipe"


class Outputs(NamedTuple):
    encoder_model: Model
    examples: Dataset
    model: Model
    metrics: Metrics
    classification_metrics: ClassificationMetrics
    report: HTML
    summary_markdown: Markdown
    summary: str


def _signature() -> inspect.Signature:
    """One typed parameter per config field, default from the dataclasses: what KFP reads to
    make the pipeline's parameters (it calls the function with them in this order)."""
    defaults = PipelineConfig().parameters()
    return inspect.Signature(
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                           default=defaults[name], annotation=kind)
         for name, kind in field_types().items()], return_annotation=Outputs)


def _fields_of(klass: type, params: dict[str, Any]) -> dict[str, Any]:
    """The pipeline parameters that are ``klass``'s fields: one component's inputs."""
    return {f.name: params[f.name] for f in dataclasses.fields(klass)}


def build_pipeline(cluster: ClusterConfig | None = None) -> GraphComponent:
    """The pipeline, with ``cluster``'s settings applied to its tasks at compile time (None:
    none, as kfp.local needs). The settings are fixed in the graph, so each config is built
    anew rather than patched onto the shared ``bertpipe_pipeline``. Its parameters are the
    config dataclasses' fields (``_signature``), handed to each step by dataclass."""
    train_step, train_extra = _train_step(cluster)

    def bertpipe_pipeline(*values: Any) -> Outputs:
        params = dict(zip(field_types(), values))
        encoder_task = import_encoder(encoder=params["encoder"]).set_display_name(
            "import-encoder")
        encoder_model = encoder_task.outputs["encoder_model"]
        pre = preprocess(encoder_model=encoder_model, **_fields_of(DataConfig, params)
                         ).set_display_name("preprocess")
        trained = train_step(encoder_model=encoder_model, examples=pre.outputs["examples"],
                             **_fields_of(TrainConfig, params), **train_extra
                             ).set_display_name("train")
        scored, judged, exported, published = judge_and_export(
            trained.outputs["model"], pre.outputs["examples"], encoder_model,
            **_fields_of(EvalConfig, params))
        if cluster is not None:
            apply_cluster(cluster, {"import-encoder": encoder_task, "preprocess": pre,
                                    "train": trained, "evaluate": scored, "quality-gate": judged,
                                    "export": exported, "publish": published})
        return Outputs(encoder_model=encoder_model,
                       examples=pre.outputs["examples"], model=trained.outputs["model"],
                       metrics=scored.outputs["metrics"],
                       classification_metrics=scored.outputs["classification_metrics"],
                       report=scored.outputs["report"], summary_markdown=scored.outputs["summary"],
                       summary=scored.outputs["Output"])

    bertpipe_pipeline.__signature__ = _signature()
    return dsl.pipeline(name=PIPELINE_NAME,
                        description="Fine-tune a pretrained BERT encoder with frozen layers for "
                                    "text classification, then evaluate and freeze it for "
                                    "inference.")(bertpipe_pipeline)


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
