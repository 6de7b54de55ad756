#!/usr/bin/env bash
# Install what the tests need; idempotent and cached, so a rerun takes seconds.
#  - Debian packages (only as root, only those missing): tests/debian-packages.txt
#  - the virtualenv .venv with huntlab installed editable, with its dev and lab extras
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "tests/setup.sh: $*" >&2; }

mapfile -t wanted < <(grep -Ev '^\s*(#|$)' tests/debian-packages.txt)
missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing Debian packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The system's Python when it is new enough: the team server's hunters (other unix accounts)
# run the virtualenv's interpreter, which must not live in root's private home (pyenv).
# npm for the team server's proxy: Debian's package, unless the installed Node.js brings its
# own (NodeSource's nodejs does, and conflicts with Debian's npm).
if ! command -v npm >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    log "npm is missing; install it as root (apt-get install npm)"
    exit 1
  fi
  log "installing Debian's npm"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

python=${PYTHON:-}
if [[ -z $python ]]; then
  python=python3
  if /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python=/usr/bin/python3
  fi
fi
if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi
stamp=.venv/.huntlab-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  log "installing huntlab[dev] into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi
