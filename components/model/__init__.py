"""The classifier the train step builds and the evaluate and export steps load: a partially
frozen TF Hub BERT encoder (``freezing.py``: where layers are frozen) under a pooling and
dense head (``classifier.py``)."""
