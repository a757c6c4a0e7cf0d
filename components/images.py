"""The container image every bertpipe component runs in (see the Dockerfile)."""

import os

IMAGE = os.environ.get("BERTPIPE_IMAGE", "ghcr.io/bertpipe/bertpipe:0.1.0")

# Arguments of every ``@dsl.component``. The image already holds the pinned kfp, so the step
# does not pip-install it at start-up (no package index needed on the cluster, and the image's
# environment is not writable by its non-root user anyway).
COMPONENT = {"base_image": IMAGE, "install_kfp_package": False}
