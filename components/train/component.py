"""KFP component: fine-tuning (``train.trainer.run_train``)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import COMPONENT


@dsl.component(**COMPONENT)
def train(encoder_model: Input[Model], examples: Input[Dataset], freeze: str,
          pooling: str, epochs: int, batch_size: int, learning_rate: float,
          warmup_fraction: float, dropout: float, hidden_units: int, class_weighting: str,
          weight_decay: float, clip_norm: float, gradual_unfreeze: bool,
          mixed_precision: str, xla: bool,
          max_train_examples: int,
          checkpoint_steps: int, seed: int,
          model: Output[Model], train_metrics: Output[Metrics]):
    """Trains the classifier; ``model`` holds model/, history.json, freeze.json and logs/."""
    from components.config import TrainConfig, pick
    from components.train.trainer import run_train

    cfg = pick(TrainConfig, locals())
    result = run_train(cfg, encoder_model.path, examples.path, model.path)
    train_metrics.log_metric("trainable_params", result.trainable_params)
    train_metrics.log_metric("global_batch_size", result.global_batch_size)
    for name, values in result.history.items():
        train_metrics.log_metric(f"final_{name}", values[-1])
    model.metadata.update({"trainable_params": result.trainable_params,
                           "replicas": result.replicas, "framework": "tensorflow"})
