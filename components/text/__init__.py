"""Text to token ids, one tokenizer in two forms that give the same ids: ``wordpiece.py``
(tensorflow-text, the preprocess job and ``bertpipe predict``) and ``graph_wordpiece.py``
(core TensorFlow ops, inside the serving SavedModel)."""
