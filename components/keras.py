"""The Keras every module uses: tf-keras (Keras 2), which tensorflow-hub's ``KerasLayer``
needs; ``components/__init__.py`` sets ``TF_USE_LEGACY_KERAS=1`` before TensorFlow loads.

    from components.keras import keras
"""

try:
    import tf_keras as keras
except ImportError:  # pragma: no cover - tf-keras is a pinned dependency
    import tensorflow as tf

    keras = tf.keras

__all__ = ["keras"]
