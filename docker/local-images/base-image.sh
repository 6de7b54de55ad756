#!/usr/bin/env bash
# Build a Debian bookworm base image locally with debootstrap, for machines that cannot pull
# from an image registry (CI, air-gapped servers). It stands in for `debian:bookworm-slim`,
# the BASE_IMAGE the Spark and Jupyter Dockerfiles name by default.
# Usage: docker/local-images/base-image.sh [IMAGE]   (default huntlab-local/debian:bookworm)
# Cached: does nothing when the image exists. Needs root, debootstrap and a Docker engine.
set -euo pipefail

log() { echo "base-image.sh: $*" >&2; }

image=${1:-huntlab-local/debian:bookworm}
mirror=${HUNTLAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$image" >/dev/null 2>&1; then
  log "$image exists; nothing to do"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  log "debootstrap needs root; run as root"
  exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  log "debootstrap not installed: apt-get install debootstrap"
  exit 1
fi

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/huntlab-rootfs.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT

log "debootstrap bookworm into $rootfs from $mirror (a few minutes)"
if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
  log "debootstrap failed; read $rootfs.log"
  exit 1
fi
rm -f "$rootfs.log"

# Same apt sources and slimming as the official image: main + updates + security, no caches.
cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb

log "importing as $image"
tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$image" >/dev/null
log "built $image"
