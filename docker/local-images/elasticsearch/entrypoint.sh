#!/usr/bin/env bash
# Start Elasticsearch the way the official image does:
#  - every environment variable whose name looks like a setting (lower case with dots:
#    discovery.type, xpack.security.enabled, ...) becomes a -E option;
#  - ELASTIC_PASSWORD becomes the bootstrap password of the `elastic` user (in the keystore).
set -euo pipefail

java_bin=$(readlink -f "$(command -v java)")
ES_JAVA_HOME=$(dirname "$(dirname "$java_bin")")
export ES_JAVA_HOME

if [[ -n ${ELASTIC_PASSWORD:-} ]]; then
  if [[ ! -f config/elasticsearch.keystore ]]; then
    elasticsearch-keystore create >/dev/null
  fi
  printf '%s' "$ELASTIC_PASSWORD" | elasticsearch-keystore add -x -f bootstrap.password >/dev/null
fi

opts=()
while IFS='=' read -r -d '' name value; do
  if [[ $name =~ ^[a-z0-9_]+(\.[a-z0-9_]+)+$ ]]; then
    opts+=("-E" "$name=$value")
  fi
done < <(env -0)

exec elasticsearch "${opts[@]}" "$@"
