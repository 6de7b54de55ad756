#!/usr/bin/env bash
# Run huntlab's whole test suite: lint, then unit, integration (a real Elasticsearch node and
# real Spark), notebook, native-lab and container tests. It first installs what the tests need
# (Debian packages when run as root, the virtualenv, Python packages); reruns reuse the caches.
# Extra arguments go to pytest, e.g. ./test.sh -m "not docker" -x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

./tests/setup.sh

# shellcheck source=/dev/null
source .venv/bin/activate

echo "test.sh: lint (ruff, mypy, import-linter, shellcheck, hadolint)" >&2
ruff check .
mypy
lint-imports
mapfile -t shell_scripts < <(git ls-files -co --exclude-standard -- '*.sh' '.ci/run' | sort -u)
shellcheck "${shell_scripts[@]}"
mapfile -t dockerfiles < <(git ls-files -co --exclude-standard -- '*Dockerfile*' | sort -u)
if ((${#dockerfiles[@]})); then
  hadolint "${dockerfiles[@]}"
fi

echo "test.sh: pytest" >&2
# Not UTC, so a reader that takes a zone-less time as local time fails the tests (Sysmon's
# UtcTime has no zone); tests that need another zone set TZ themselves.
export TZ=${HUNTLAB_TEST_TZ:-America/New_York}
status=0
python -m pytest "$@" || status=$?
# pytest exits 5 when the selection holds no test: that is a failure of the run, say so.
if ((status == 5)); then
  echo "test.sh: pytest collected no tests" >&2
fi
exit "$status"
