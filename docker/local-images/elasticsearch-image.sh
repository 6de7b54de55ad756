#!/usr/bin/env bash
# Build the stand-in for the official Elasticsearch image from Elastic's distribution zip on
# Maven Central (fetched and verified once by huntlab.lab.native.distribution into the download
# cache).
# Usage: docker/local-images/elasticsearch-image.sh [IMAGE] [BASE_IMAGE]
#   IMAGE defaults to huntlab-local/elasticsearch:<ELASTIC_VERSION>,
#   BASE_IMAGE to huntlab-local/debian:bookworm (docker/local-images/base-image.sh).
# Cached: does nothing when the image is up to date. Run with the huntlab virtualenv active
# (the stand-in distribution comes from the checkout's test support code).
set -euo pipefail

log() { echo "elasticsearch-image.sh: $*" >&2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(python3 -c 'from huntlab import versions; print(versions.elastic_version())')
image=${1:-huntlab-local/elasticsearch:$version}
base=${2:-huntlab-local/debian:bookworm}

# The cached distribution plus the huntlab-analysis-standin plugin (a hard-linked copy), so that
# the stack can run with security on as with the official image.
dist=$(cd "$here/../.." && python3 -m tests.support.es_standin)
if [[ ! -x $dist/bin/elasticsearch ]]; then
  log "no Elasticsearch distribution at $dist; run huntlab fetch once to fetch it"
  exit 1
fi
# Rebuild when what goes into the image changed (these files, the engine's plugins).
stamp=$(cat "$here"/elasticsearch/* "$dist"/plugins/*/.source-sha256 2>/dev/null | sha256sum | cut -c1-16)
if [[ $(docker image inspect --format '{{index .Config.Labels "huntlab.stamp"}}' "$image" 2>/dev/null) == "$stamp" ]]; then
  log "$image is up to date; nothing to do"
  exit 0
fi

context=$(mktemp -d "${TMPDIR:-/tmp}/huntlab-es-image.XXXXXX")
trap 'rm -rf "$context"' EXIT
# Hard links when the cache is on the same file system: no 200 MB copy.
cp -al "$dist" "$context/distribution" 2>/dev/null || cp -a "$dist" "$context/distribution"
# The engine adds its huntlab-root plugin (GET /, which this build lacks and the Spark connector
# needs) and the analysis stand-in: standin_distribution() above made sure both are there.
cp "$here/elasticsearch/Dockerfile" "$here/elasticsearch/entrypoint.sh" \
  "$here/elasticsearch/elasticsearch.yml" "$context/"

log "building $image from $dist on $base"
DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE_IMAGE=$base" --label "huntlab.stamp=$stamp" \
  -t "$image" "$context" >/dev/null
log "built $image"
