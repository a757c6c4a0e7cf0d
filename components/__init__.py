"""bertpipe's pipeline steps: each a plain function, each with a thin KFP component.

tensorflow-hub needs Keras 2 (tf-keras); TensorFlow 2.21 defaults to Keras 3 unless this is set
before TensorFlow is first imported, so every entry point imports this package first.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ INFO lines drown the pipeline's own output; warnings and errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
