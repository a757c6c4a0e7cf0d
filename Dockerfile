# The one image every bertpipe component and every TFJob worker runs in. Its Python environment
# is installed from the same constraints.txt that `make test` uses, so what CI tests is what
# the image runs. Two stages: the build stage's sources and pip state stay out of the image.
#
# Build and push (REGISTRY e.g. ghcr.io/you or europe-docker.pkg.dev/PROJECT/REPO):
#   docker build -t REGISTRY/bertpipe:0.1.0 .                                    # CPU
#   docker build --build-arg TF_EXTRA=and-cuda -t REGISTRY/bertpipe:0.1.0-gpu .  # GPU (CUDA wheels)
#   docker push REGISTRY/bertpipe:0.1.0
#   docker push REGISTRY/bertpipe:0.1.0-gpu
#   BERTPIPE_IMAGE=REGISTRY/bertpipe:0.1.0 bertpipe compile -o bertpipe.yaml
# The pipeline steps run the CPU image; TFJob workers take the GPU one (train_tfjob's
# worker_image). No GPU toolkit is needed in the image: TensorFlow's and-cuda extra brings the
# CUDA libraries as wheels, the node's driver comes in through the NVIDIA container runtime.
# Lint: hadolint Dockerfile (tests/k8s/test_dockerfile.py runs it).

FROM python:3.11.7-slim-bookworm AS build
ARG TF_EXTRA=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY components ./components
COPY pipelines ./pipelines
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt . \
 && if [ -n "$TF_EXTRA" ]; then \
      /opt/venv/bin/pip install --no-cache-dir -c constraints.txt "tensorflow[$TF_EXTRA]==2.21.0"; \
    fi

FROM python:3.11.7-slim-bookworm
LABEL org.opencontainers.image.title="bertpipe" \
      org.opencontainers.image.description="Fine-tune BERT encoders with frozen layers on Kubeflow Pipelines" \
      org.opencontainers.image.licenses="Apache-2.0"
# Root-owned: the bertpipe user can run the environment but not change it.
COPY --from=build /opt/venv /opt/venv
RUN useradd --create-home --uid 1000 --user-group bertpipe
# Numeric, so Kubernetes' runAsNonRoot can verify it (k8s/tfjob.yaml runs as 1000:1000).
USER 1000:1000
WORKDIR /home/bertpipe
ENV PATH=/opt/venv/bin:$PATH \
    TF_USE_LEGACY_KERAS=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
ENTRYPOINT ["bertpipe"]
