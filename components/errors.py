"""The errors bertpipe reports to a person as one line (no traceback unless ``--debug``)."""

from __future__ import annotations

import json
from typing import Any


class ConfigError(ValueError):
    """A configuration value is invalid; the message is one line meant for the user."""


class StorageError(Exception):
    """A ``gs://`` request failed for good (retries exhausted, or an error no retry fixes);
    the message is one line naming the object."""


class ContractError(ValueError):
    """A file one step hands the next is missing, unreadable or of another schema version;
    the message names the file."""


def require(condition: bool, message: str) -> None:
    """Raises ``ConfigError(message)`` unless ``condition``: the shape of every check of a
    setting."""
    if not condition:
        raise ConfigError(message)


def api_error_line(err: Any) -> str:
    """``404 Not Found: <the server's message>`` on one line, from the ``ApiException`` of a
    generated REST client (Kubeflow Pipelines' or Kubernetes'): the server's JSON message when
    the body has one, else the body itself."""
    if getattr(err, "status", None) is None:  # not an HTTP answer: the error itself
        return " ".join(str(err).split())
    body = getattr(err, "body", None) or ""
    try:
        parsed = json.loads(body)
        message = (parsed.get("message") or parsed.get("error") or "") if isinstance(
            parsed, dict) else ""
    except (ValueError, TypeError):
        message = str(body).strip()
    text = f"{err.status} {err.reason}" + (f": {message}" if message else "")
    return " ".join(str(text).split())
