#!/usr/bin/env bash
# Builds the bertpipe image where a cluster would pull it from, or where nothing can be pulled.
#
#   k8s/image.sh build [TAG]     engine + base + `Dockerfile` build (default TAG bertpipe:local),
#                                then the image's size and what it is made of
#   k8s/image.sh engine          only make sure an engine answers; prints `export DOCKER_HOST=...`
#
# Engine: a Docker daemon that already answers (DOCKER_HOST or /var/run/docker.sock) is used as
# it is. Otherwise podman (installed with apt when run as root) runs rootful with its storage
# under $BERTPIPE_PODMAN_DIR (default /tmp/bertpipe-podman), the runc runtime and explicit
# ulimits (some sandboxes refuse podman's defaults), and `podman system service` serves a
# Docker-compatible socket there for kfp.local's DockerRunner.
# Base: $BASE_IMAGE when set; else the Dockerfile's pinned python image when it can be pulled;
# else a Debian bookworm base made from the apt repository with mmdebstrap (no registry needed).
# $TF_EXTRA=and-cuda builds the GPU variant. A CA bundle in $PIP_CERT, $REQUESTS_CA_BUNDLE or
# $SSL_CERT_FILE (a TLS-inspecting proxy's) reaches pip as a build secret, never a layer.
set -euo pipefail
cd "$(dirname "$0")/.."

PODMAN_DIR=${BERTPIPE_PODMAN_DIR:-/tmp/bertpipe-podman}
LOCAL_BASE=localhost/bertpipe-base:bookworm
DEFAULT_BASE=$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)

log() { echo "image: $*" >&2; }

docker_answers() {
  command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1
}

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "need $*: install them (Debian/Ubuntu: apt-get install $*) or start a Docker daemon"
    exit 1
  fi
  log "installing $* with apt"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

podman_env() {
  mkdir -p "$PODMAN_DIR"
  PODMAN_DIR=$(cd "$PODMAN_DIR" && pwd)  # absolute: the service runs from /
  cat >"$PODMAN_DIR/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$PODMAN_DIR/root"
runroot = "$PODMAN_DIR/run"
EOF
  # nproc stays below the sandbox's own limit: asking for more is refused.
  local nofile; nofile=$(ulimit -n)
  cat >"$PODMAN_DIR/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
[engine]
runtime = "runc"
EOF
  export CONTAINERS_STORAGE_CONF="$PODMAN_DIR/storage.conf"
  export CONTAINERS_CONF="$PODMAN_DIR/containers.conf"
  export DOCKER_HOST="unix://$PODMAN_DIR/podman.sock"
}

# Sets ENGINE (the build command) and DOCKER_HOST (what kfp.local's DockerRunner talks to).
engine_up() {
  if [ -z "${DOCKER_HOST:-}" ] && docker_answers; then
    ENGINE=docker; export DOCKER_HOST=unix:///var/run/docker.sock; return
  fi
  if [ -n "${DOCKER_HOST:-}" ] && [[ "$DOCKER_HOST" != "unix://$PODMAN_DIR/podman.sock" ]] \
      && docker_answers; then
    ENGINE=docker; return
  fi
  command -v podman >/dev/null && command -v runc >/dev/null \
    || apt_install podman buildah runc uidmap fuse-overlayfs
  podman_env
  ENGINE=podman
  if ! curl -sf --unix-socket "$PODMAN_DIR/podman.sock" http://d/_ping >/dev/null 2>&1; then
    rm -f "$PODMAN_DIR/podman.sock"
    # From /: the service outlives this script and serves later callers; started in a folder
    # that is then deleted (a CI clone), its containers fail ("conmon: Failed to get working
    # directory").
    (cd / && exec setsid podman system service --time=0 "$DOCKER_HOST") \
      >"$PODMAN_DIR/service.log" 2>&1 &
    for _ in $(seq 50); do
      curl -sf --unix-socket "$PODMAN_DIR/podman.sock" http://d/_ping >/dev/null 2>&1 && break
      sleep 0.2
    done
    curl -sf --unix-socket "$PODMAN_DIR/podman.sock" http://d/_ping >/dev/null \
      || { log "podman's socket did not answer; see $PODMAN_DIR/service.log"; exit 1; }
  fi
}

base_image() {
  if [ -n "${BASE_IMAGE:-}" ]; then echo "$BASE_IMAGE"; return; fi
  if $ENGINE image inspect "$DEFAULT_BASE" >/dev/null 2>&1 \
      || $ENGINE pull -q "$DEFAULT_BASE" >/dev/null 2>&1; then
    echo "$DEFAULT_BASE"; return
  fi
  if ! $ENGINE image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
    command -v mmdebstrap >/dev/null || apt_install mmdebstrap
    log "no registry: building $LOCAL_BASE from Debian's apt repository (mmdebstrap)"
    local tar; tar=$(mktemp -d)/rootfs.tar
    mmdebstrap --quiet --variant=minbase \
      --include=python3,python3-venv,python3-pip,ca-certificates bookworm "$tar"
    $ENGINE import --change 'CMD ["/bin/bash"]' "$tar" "$LOCAL_BASE" >/dev/null
    rm -rf "$(dirname "$tar")"
  fi
  echo "$LOCAL_BASE"
}

# The image's size, and the biggest parts of it (what to look at to keep it lean).
describe() {
  local tag=$1
  log "$tag: $($ENGINE image inspect --format '{{.Size}}' "$tag" \
    | awk '{printf "%.2f GB", $1/1e9}') in all; largest parts (MB):"
  $ENGINE run --rm --network none --entrypoint sh "$tag" -c \
    'du -sm /usr /opt/bertpipe /opt/venv/lib/python3*/site-packages/* 2>/dev/null \
     | sort -rn | head -12' >&2
}

build() {
  local tag=${1:-bertpipe:local}
  engine_up
  local base; base=$(base_image)
  log "building $tag on $base with $ENGINE${TF_EXTRA:+ (TF_EXTRA=$TF_EXTRA)}"
  local start=$SECONDS
  local opts=(); [ "$ENGINE" = podman ] && opts=(--pull=never)
  local ca=${PIP_CERT:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-}}}
  [ -n "$ca" ] && [ -s "$ca" ] && opts+=(--secret "id=pip_ca,src=$ca")
  local previous; previous=$($ENGINE image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  $ENGINE build --network host "${opts[@]}" --build-arg "BASE_IMAGE=$base" \
    --build-arg "TF_EXTRA=${TF_EXTRA:-}" -t "$tag" . >&2
  log "built $tag in $((SECONDS - start)) s"
  # The image the new tag replaced is left untagged (~3 GB each time); the build stages stay,
  # they are the layer cache. A container still using it keeps it.
  if [ -n "$previous" ] \
      && [ "$previous" != "$($ENGINE image inspect --format '{{.Id}}' "$tag")" ]; then
    $ENGINE image rm "$previous" >/dev/null 2>&1 \
      && log "removed the image $tag replaced ($(cut -c1-12 <<<"${previous#sha256:}"))" || true
  fi
  describe "$tag"
  echo "export DOCKER_HOST=$DOCKER_HOST"
}

case "${1:-}" in
  engine) engine_up; echo "export DOCKER_HOST=$DOCKER_HOST" ;;
  build) shift; build "$@" ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
