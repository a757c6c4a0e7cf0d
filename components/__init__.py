"""bertpipe's pipeline steps: each a plain function, each with a thin KFP component.

tensorflow-hub needs Keras 2 (tf-keras); TensorFlow 2.21 defaults to Keras 3 unless this is set
before TensorFlow is first imported, so every entry point imports this package first.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
