"""Files through ``tf.io.gfile``, so the same code serves local paths and ``gs://``."""

from __future__ import annotations



def copy_tree(src: str, dst: str) -> None:
    """Recursive copy (files overwritten, folders created)."""
    import tensorflow as tf

    for root, _, files in tf.io.gfile.walk(src):
        rel = root[len(src):].lstrip("/")
        target = f"{dst}/{rel}" if rel else dst
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.copy(f"{root}/{name}", f"{target}/{name}", overwrite=True)
