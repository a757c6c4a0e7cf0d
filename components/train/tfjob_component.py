"""KFP component: fine-tuning on several workers as a TFJob (``train.tfjob``).

It takes the ``train`` component's inputs plus the cluster shape, launches a TFJob whose
workers run ``bertpipe train`` under MultiWorkerMirroredStrategy, waits for it, and leaves the
model where the single-pod ``train`` would: model/, training_report.json and logs/ in
``model``. The workers reach the artifacts directly, so the pipeline root must be gs:// or on
the bertpipe-shared PVC (/mnt/bertpipe); anything else fails before a TFJob is created.
``worker_image`` is an input, not this component's own image, because the value is fixed when
the pipeline is compiled (pass ``components.images.IMAGE``, or its GPU variant).
"""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import COMPONENT


@dsl.component(**COMPONENT)
def train_tfjob(encoder_model: Input[Model], examples: Input[Dataset], freeze: str,
                pooling: str, epochs: int, batch_size: int, learning_rate: float,
                warmup_fraction: float, dropout: float, hidden_units: int, class_weighting: str,
                weight_decay: float, clip_norm: float, gradual_unfreeze: bool,
                auto_freeze_interval: int, auto_freeze_percentile: float,
                auto_freeze_min_trainable_blocks: int, auto_freeze_min_progress: float,
                auto_freeze_embeddings: bool,
                mixed_precision: str, xla: bool, bucket_width: int,
                max_train_examples: int,
                checkpoint_steps: int, seed: int,
                workers: int, gpus_per_worker: int, namespace: str, worker_image: str,
                model: Output[Model], train_metrics: Output[Metrics],
                service_account: str = "bertpipe-runner",
                gcp_credentials_secret: str = "bertpipe-gcp-credentials",
                gcp_credentials_key: str = "key.json",
                shared_pvc: str = "bertpipe-shared", shared_mount: str = "/mnt/bertpipe",
                image_pull_secret: str = "", timeout_hours: float = 24.0):
    """Trains the classifier on ``workers`` pods; ``model`` as in the ``train`` component.

    ``gcp_credentials_secret=""``: Workload Identity instead of a key secret.
    ``shared_pvc=""``: no shared volume, the pipeline root must be gs://.
    """
    import dataclasses
    import os
    import signal
    import sys
    import uuid

    from components.config import TrainConfig, pick
    from components.contracts import TrainingReport
    from components.train.kfp_outputs import train_outputs
    from components.train.tfjob import (TFJobSpec, launch_tfjob, owner_reference,
                                        worker_location)

    # A cancelled run gets SIGTERM: exit through launch_tfjob's cleanup (deletes the TFJob).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cfg = pick(TrainConfig, locals())
    mount = shared_mount if shared_pvc else ""
    output_dir = worker_location(model.uri, model.path, mount)
    deadline_s = int(timeout_hours * 3600)
    manifest = TFJobSpec(
        name=f"bertpipe-train-{uuid.uuid4().hex[:8]}", image=worker_image, workers=workers,
        gpus_per_worker=gpus_per_worker,
        encoder_dir=worker_location(encoder_model.uri, encoder_model.path, mount),
        examples_dir=worker_location(examples.uri, examples.path, mount), output_dir=output_dir,
        train_args=dataclasses.asdict(cfg), namespace=namespace,
        service_account=service_account, gcp_credentials_secret=gcp_credentials_secret,
        gcp_credentials_key=gcp_credentials_key, shared_pvc=shared_pvc,
        shared_mount=shared_mount, image_pull_secret=image_pull_secret,
        active_deadline_s=deadline_s, owner=owner_reference(namespace)).render()
    # KFP uploads this folder after the step; on a gs:// root it stays empty (the workers
    # wrote to the artifact's URI), on the PVC it is the workers' output_dir itself.
    os.makedirs(model.path, exist_ok=True)
    # The operator's activeDeadlineSeconds fires first and names the reason; this is a backstop.
    launch_tfjob(manifest, namespace, timeout_s=deadline_s + 600, poll_s=30)
    # The chief's report: a TFJob that "succeeded" without one fails here, naming the file.
    metrics, metadata = train_outputs(TrainingReport.load(output_dir))
    for name, value in metrics.items():
        train_metrics.log_metric(name, value)
    model.metadata.update({**metadata, "workers": workers})
