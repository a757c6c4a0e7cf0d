"""Files through ``tf.io.gfile``, so the same code serves local paths and ``gs://``."""

from __future__ import annotations

import json
from typing import Any


def copy_tree(src: str, dst: str) -> None:
    """Recursive copy (files overwritten, folders created)."""
    import tensorflow as tf

    for root, _, files in tf.io.gfile.walk(src):
        rel = root[len(src):].lstrip("/")
        target = f"{dst}/{rel}" if rel else dst
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.copy(f"{root}/{name}", f"{target}/{name}", overwrite=True)


def read_json_if_exists(path: str) -> Any:
    """A JSON file's content, or None when it is absent (e.g. a model trained elsewhere)."""
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)
