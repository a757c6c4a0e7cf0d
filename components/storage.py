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


def check_writable_folder(path: str, setting: str) -> None:
    """Fails with one line when a local output folder cannot be created or written, before
    any heavy work (a ``gs://`` prefix is checked by the step that writes it, which holds the
    credentials)."""
    import os
    from pathlib import Path

    from components.errors import ConfigError

    if not path or "://" in path:
        return
    target = Path(path).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{setting} {path}: exists and is not a folder")
    existing = target
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == target else f" (its nearest existing folder {existing} is not)"
        raise ConfigError(f"{setting} {path}: not writable{where}: choose a folder you can "
                          "write, or fix its permissions")
