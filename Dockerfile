# The one image every bertpipe component runs in. Its Python environment is installed from the
# same constraints.txt that `make test` uses, so what CI tests is what the image runs.
#   docker build -t REGISTRY/bertpipe:0.1.0 .            # CPU
#   docker build --build-arg TF_EXTRA=and-cuda -t REGISTRY/bertpipe:0.1.0-gpu .
FROM python:3.11.7-slim-bookworm AS build
ARG TF_EXTRA=""
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY components ./components
COPY pipelines ./pipelines
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt . \
 && if [ -n "$TF_EXTRA" ]; then /opt/venv/bin/pip install --no-cache-dir -c constraints.txt "tensorflow[$TF_EXTRA]==2.21.0"; fi

FROM python:3.11.7-slim-bookworm
COPY --from=build /opt/venv /opt/venv
RUN useradd --create-home --uid 1000 bertpipe
USER bertpipe
WORKDIR /home/bertpipe
ENV PATH=/opt/venv/bin:$PATH \
    TF_USE_LEGACY_KERAS=1 \
    PYTHONUNBUFFERED=1
ENTRYPOINT ["bertpipe"]
