"""KFP component: fine-tuning (``train.trainer.run_train``)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import COMPONENT


@dsl.component(**COMPONENT)
def train(encoder_model: Input[Model], examples: Input[Dataset], freeze: str,
          pooling: str, epochs: int, batch_size: int, learning_rate: float,
          warmup_fraction: float, dropout: float, hidden_units: int, class_weighting: str,
          weight_decay: float, clip_norm: float, gradual_unfreeze: bool,
          auto_freeze_interval: int, auto_freeze_percentile: float,
          auto_freeze_min_trainable_blocks: int, auto_freeze_min_progress: float,
          auto_freeze_embeddings: bool,
          mixed_precision: str, xla: bool, bucket_width: int,
          max_train_examples: int,
          checkpoint_steps: int, seed: int,
          model: Output[Model], train_metrics: Output[Metrics]):
    """Trains the classifier; ``model`` holds model/, training_report.json and logs/."""
    from components.config import TrainConfig, pick
    from components.train.kfp_outputs import train_outputs
    from components.train.trainer import run_train

    result = run_train(pick(TrainConfig, locals()), encoder_model.path, examples.path,
                       model.path)
    scalars, metadata = train_outputs(result.report)
    for name, value in scalars.items():
        train_metrics.log_metric(name, value)
    model.metadata.update(metadata)
