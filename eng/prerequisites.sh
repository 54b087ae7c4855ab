#!/usr/bin/env bash
# Makes sure everything Executor needs outside .NET is present: a reachable Docker engine and the
# Python runtime image that sandboxes run. Safe to run repeatedly; does nothing that is already done.
#
#   eng/prerequisites.sh            engine + runtime image
#   eng/prerequisites.sh --compose  also docker-compose (the tests check the compose file with it)
#   EXECUTOR_RUNTIME_IMAGE=name     image tag to build (default executor-python:3.11)
#   EXECUTOR_RUNTIME_BUILD=offline|registry|auto   how to build the image when missing (default auto)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
image=${EXECUTOR_RUNTIME_IMAGE:-executor-python:3.11}
mode=${EXECUTOR_RUNTIME_BUILD:-auto}

# shellcheck source=eng/common.sh
. "$here/common.sh"

ensure_engine() {
  if command -v docker >/dev/null 2>&1 && "$(docker_cli)" info >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    if is_root && is_debian_like; then
      say "installing docker.io from the distribution"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq docker.io >/dev/null
    else
      die "no Docker engine is reachable and dockerd is not installed. Install Docker (https://docs.docker.com/engine/install/) or run this as root on Debian/Ubuntu."
    fi
  fi
  if ! "$(docker_cli)" info >/dev/null 2>&1; then
    is_root || die "dockerd is installed but not running, and only root can start it here: start it (e.g. 'sudo systemctl start docker') and retry."
    say "starting dockerd"
    mkdir -p /var/log
    # runc is the default runtime: crun fails on hosts with hybrid cgroups.
    nohup dockerd >/var/log/executor-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do
      "$(docker_cli)" info >/dev/null 2>&1 && break
      sleep 1
    done
    "$(docker_cli)" info >/dev/null 2>&1 || die "dockerd did not become ready in 60 s; see /var/log/executor-dockerd.log"
  fi
  say "docker engine ready ($("$(docker_cli)" version --format '{{.Server.Version}} API {{.Server.APIVersion}}'))"
}

registry_reachable() {
  timeout 20 "$(docker_cli)" pull -q python:3.11-slim-bookworm >/dev/null 2>&1
}

build_offline() {
  # The full python3 package: python3-minimal lacks json, asyncio, sqlite3, unittest...
  debootstrap_image "$image" python3 \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]'
}

build_registry() {
  say "building $image from eng/runtime/Dockerfile"
  "$(docker_cli)" build -q -t "$image" "$here/runtime" >/dev/null
}

ensure_image() {
  if "$(docker_cli)" image inspect "$image" >/dev/null 2>&1; then
    say "runtime image $image present"
    return 0
  fi
  case "$mode" in
    offline) build_offline ;;
    registry) build_registry ;;
    auto) if registry_reachable; then build_registry; else build_offline; fi ;;
    *) die "EXECUTOR_RUNTIME_BUILD must be offline, registry or auto" ;;
  esac
  # The image must hold the full standard library.
  "$(docker_cli)" run --rm --network none "$image" python3 -c 'import json, asyncio, sqlite3, unittest, ssl, uuid' \
    || die "runtime image $image lacks parts of the Python standard library"
  say "runtime image $image built"
}

ensure_compose() {
  command -v docker-compose >/dev/null 2>&1 && return 0
  if is_root && is_debian_like; then
    say "installing docker-compose from the distribution"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  else
    die "docker-compose is not installed"
  fi
}

ensure_engine
ensure_image
if [ "${1:-}" = "--compose" ]; then ensure_compose; fi
