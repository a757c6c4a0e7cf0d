"""The container image every bertpipe component runs in (see the Dockerfile)."""

import os

IMAGE = os.environ.get("BERTPIPE_IMAGE", "ghcr.io/bertpipe/bertpipe:0.1.0")
