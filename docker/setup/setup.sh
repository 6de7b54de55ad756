#!/usr/bin/env bash
# The compose stack's one-shot setup (service "setup"), safe to rerun:
#  1. index templates and the ingest pipeline (`huntlab es setup`);
#  2. the roles in roles/*.json and the users in users.json (skipped when security is off);
#  3. the datasets named by HUNTLAB_SETUP_DATASETS (`huntlab load`, deterministic ids, so a
#     rerun leaves the same counts).
# Elasticsearch is reached through HUNTLAB_ES_URL / HUNTLAB_ES_USER / HUNTLAB_ES_PASSWORD.
# No secret ever goes into a command's arguments (any account can read those): curl reads
# the credentials as a config file on stdin, python reads passwords from its environment.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { echo "setup: $*" >&2; }

curl_credentials() {
  # A curl config line with the user and password, quoted as curl's config syntax wants.
  local secret="${HUNTLAB_ES_USER}:${HUNTLAB_ES_PASSWORD}"
  secret=${secret//\\/\\\\}
  secret=${secret//\"/\\\"}
  printf 'user = "%s"\n' "$secret"
}

es() {
  # es METHOD PATH [JSON-FILE]: one authenticated request; fails on HTTP errors, says which.
  local method=$1 path=$2 body=${3:-}
  local args=(-sS --fail-with-body -K - -X "$method"
    -H 'Content-Type: application/json' "${HUNTLAB_ES_URL}${path}")
  if [[ -n $body ]]; then
    args+=(--data-binary "@$body")
  fi
  local answer
  if ! answer=$(curl_credentials | curl "${args[@]}"); then
    log "$method $path failed: $answer"
    return 1
  fi
}

log "templates and ingest pipeline"
huntlab es setup

if [[ ${HUNTLAB_ES_SECURITY:-true} == true ]]; then
  for file in "$here"/roles/*.json; do
    role=$(basename "$file" .json)
    log "role $role"
    es PUT "/_security/role/$role" "$file"
  done
  body=$(mktemp)
  trap 'rm -f "$body"' EXIT
  while IFS=$'\t' read -r user roles password_env; do
    password=${!password_env:-}
    if [[ -z $password ]]; then
      log "$password_env is empty: the password of user $user; set it in docker/.env"
      exit 1
    fi
    log "user $user ($roles)"
    # The body file is mktemp's (mode 600); python takes the password's variable name only.
    python3 -c 'import json, os, sys; print(json.dumps({"password": os.environ[sys.argv[1]], "roles": sys.argv[2].split(",")}))' \
      "$password_env" "$roles" >"$body"
    es PUT "/_security/user/$user" "$body"
  done < <(python3 -c '
import json, sys
for user, spec in json.load(open(sys.argv[1])).items():
    print(user, ",".join(spec["roles"]), spec["password_env"], sep="\t")
' "$here/users.json")
else
  log "security is off (HUNTLAB_ES_SECURITY=false): no roles or users to create"
fi

case ${HUNTLAB_SETUP_DATASETS:-default} in
  none) datasets=() ;;
  default) mapfile -t datasets < <(python3 -c 'from huntlab.datasets import DEFAULT_DATASETS; print(*DEFAULT_DATASETS, sep="\n")') ;;
  *) read -r -a datasets <<<"$HUNTLAB_SETUP_DATASETS" ;;
esac
for dataset in "${datasets[@]}"; do
  log "loading $dataset"
  huntlab load "$dataset"
done
log "done"
