#!/usr/bin/env bash
# huntlab installer: checks the machine, creates the virtualenv, installs huntlab with its lab
# extra, fetches what the engines need, then runs `huntlab up`.
# Idempotent: a rerun reuses the venv, the downloads, the data and the token.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: ./install.sh [options]

Brings up the huntlab threat-hunting lab: Elasticsearch, Spark (master + worker) and a
token-protected JupyterLab, with the default Security-Datasets recordings loaded.

Runtime (default: docker when `docker info` and `docker compose version` both succeed,
native otherwise; a home that already ran keeps its runtime):
  --docker             run the services in Docker Compose
  --native             run them as local processes (needs Java 17)

Options:
  --venv DIR           virtualenv to create/use (default: .venv in this checkout)
  --python PATH        Python (>= 3.11) to create the virtualenv with (default: newest found)
  --home DIR           huntlab home: data, logs, token, notebooks (default: $HUNTLAB_HOME
                       or ~/.huntlab)
  --listen ADDR        address JupyterLab listens on (default 127.0.0.1); anything beyond
                       loopback needs --tls or --tls-cert/--tls-key
  --tls                serve JupyterLab over HTTPS with a self-signed certificate for this host
  --tls-cert FILE      your PEM certificate for JupyterLab (with --tls-key)
  --tls-key FILE       its PEM private key
  --team               a team server: JupyterHub over HTTPS in front of the lab, each hunter
                       their own login, server and Elasticsearch user (docker: a container per
                       hunter; native: a unix account per hunter, as root); add hunters with
                       `huntlab users add NAME`; see docs/team.md
  --idle-timeout SECS  with --team: stop a hunter's idle server after SECS (default 3600)
  --spark-workers N    run N Spark workers (default 1): local processes, or replicas in Docker
  --spark-master URL   native: use an existing Spark cluster (spark://HOST:PORT; `local`
                       returns to the lab's own), with --spark-secret-file FILE holding its
                       spark.authenticate secret
  --es-url URL         native: use an existing Elasticsearch cluster (https://HOST:PORT,
                       security on; `local` returns to the lab's own node), as --es-user USER
                       with the password on the first line of --es-password-file FILE;
                       --es-ca FILE: its CA certificate (PEM)
  --no-logstash        docker: do not run Logstash (saves its memory; --logstash runs it again)
  --no-data            do not load the default datasets
  --datasets A,B       load these datasets instead of the defaults
  -h, --help           show this help

Environment: HUNTLAB_DATASETS_MIRROR (a local folder of dataset archives), HUNTLAB_*_PORT
(ports), HUNTLAB_CACHE (download cache). See docs/lab.md.
USAGE
}

log() { echo "install.sh: $*" >&2; }
die() {
  echo "install.sh: error: $*" >&2
  exit 1
}

checkout="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
runtime=""
venv="$checkout/.venv"
python=""
home=""
team=""
up_args=()

need_value() {
  [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (see --help)"
}

while (($#)); do
  case "$1" in
    --docker | --native)
      [[ -z $runtime || $runtime == "${1#--}" ]] || die "choose one of --docker and --native"
      runtime="${1#--}"
      ;;
    --venv) need_value "$@"; venv="$2"; shift ;;
    --python) need_value "$@"; python="$2"; shift ;;
    --home) need_value "$@"; home="$2"; shift ;;
    --listen | --tls-cert | --tls-key | --datasets | --idle-timeout | --spark-workers | \
      --spark-master | --spark-secret-file | --es-url | --es-user | --es-password-file | --es-ca)
      need_value "$@"
      up_args+=("$1" "$2")
      shift
      ;;
    --tls | --no-data | --logstash | --no-logstash) up_args+=("$1") ;;
    --team)
      team=1
      up_args+=("$1")
      ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

if [[ -n $home ]]; then
  (umask 077 && mkdir -p "$home")
  home="$(cd "$home" && pwd)"
  export HUNTLAB_HOME="$home"
fi
effective_home="${HUNTLAB_HOME:-$HOME/.huntlab}"

# --- Python >= 3.11 ------------------------------------------------------------------------
python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
if [[ -x $venv/bin/python ]]; then
  python_ok "$venv/bin/python" || die "$venv holds $("$venv/bin/python" --version 2>&1); huntlab needs Python >= 3.11: remove it or pass --venv DIR"
elif [[ -n $python ]]; then
  python_ok "$python" || die "$python is not Python >= 3.11"
else
  candidates=(python3.13 python3.12 python3.11 python3)
  if [[ -n $team ]]; then
    # Hunters (other unix accounts) run the virtualenv's interpreter: the system's Python,
    # not one in root's private home (pyenv).
    candidates=(/usr/bin/python3.13 /usr/bin/python3.12 /usr/bin/python3.11 /usr/bin/python3)
  fi
  for candidate in "${candidates[@]}"; do
    if command -v "$candidate" >/dev/null && python_ok "$candidate"; then
      python="$candidate"
      break
    fi
  done
  [[ -n $python ]] || die "no Python >= 3.11 found; install one (Debian: apt-get install python3 python3-venv) or pass --python PATH"
fi

# --- runtime -------------------------------------------------------------------------------
if [[ -z $runtime && -f $effective_home/config.json ]]; then
  recorded="$(sed -n 's/.*"runtime": *"\([a-z]*\)".*/\1/p' "$effective_home/config.json" | head -n 1)"
  if [[ $recorded == docker || $recorded == native ]]; then
    runtime="$recorded"
    log "runtime: $runtime (recorded in $effective_home/config.json by an earlier run)"
  fi
fi
if [[ -z $runtime ]]; then
  if ! command -v docker >/dev/null; then
    runtime=native
    log "runtime: native (no docker command found; pass --docker once Docker is installed)"
  elif ! timeout 30 docker info >/dev/null 2>&1; then
    runtime=native
    log "runtime: native (\`docker info\` failed: no running Docker engine reachable)"
  elif ! timeout 30 docker compose version >/dev/null 2>&1; then
    runtime=native
    log "runtime: native (\`docker compose version\` failed: Docker Compose v2 is missing)"
  else
    runtime=docker
    log "runtime: docker (a Docker engine with Compose v2 answers; --native to run without it)"
  fi
else
  log "runtime: $runtime"
fi

# --- the team server natively: root, Node.js for its proxy (docker: both are in its images) -----
if [[ -n $team && $runtime == native ]]; then
  [[ $(id -u) -eq 0 ]] || die "--team needs root in the native runtime: each hunter is a unix account of their own (run it with sudo)"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    die "the team server's proxy needs Node.js and npm (Debian: apt-get install nodejs npm)"
  fi
fi

# --- Java 17 for the native runtime ---------------------------------------------------------
java_major() {
  "$1" -version 2>&1 | sed -n 's/.* version "\([0-9][0-9]*\)[."].*/\1/p' | head -n 1
}
if [[ $runtime == native ]]; then
  java_bin=""
  for candidate in "${HUNTLAB_JAVA_HOME:-}" "${JAVA_HOME:-}"; do
    if [[ -n $candidate && -x $candidate/bin/java ]]; then
      java_bin="$candidate/bin/java"
      break
    fi
  done
  if [[ -z $java_bin ]] && command -v java >/dev/null; then
    java_bin="$(command -v java)"
  fi
  major="$( [[ -n $java_bin ]] && java_major "$java_bin" || true)"
  if [[ -z $major || $major -lt 17 || $major -gt 21 ]]; then
    # A second JDK (e.g. Debian's 17 beside a newer default) is fine: huntlab finds it.
    mapfile -t jdks < <(compgen -G '/usr/lib/jvm/*17*' || true)
    ((${#jdks[@]})) || die "the native lab needs Java 17 (found: ${major:-none}); install it (Debian: apt-get install openjdk-17-jdk-headless) or set HUNTLAB_JAVA_HOME"
    log "using ${jdks[0]} (the default java is ${major:-missing})"
    export HUNTLAB_JAVA_HOME="${HUNTLAB_JAVA_HOME:-${jdks[0]}}"
    java_bin="$HUNTLAB_JAVA_HOME/bin/java"
  fi
  # The native Elasticsearch node compiles its small root-endpoint plugin once: a JDK, not a JRE.
  java_dir="$(dirname "$(readlink -f "$java_bin")")"
  [[ -x $java_dir/javac ]] || die "the native lab needs a Java 17 JDK (javac not found beside $java_bin); install it (Debian: apt-get install openjdk-17-jdk-headless) or set HUNTLAB_JAVA_HOME"
fi

# --- virtualenv and huntlab -----------------------------------------------------------------
if [[ ! -x $venv/bin/python ]]; then
  log "creating the virtualenv $venv with $("$python" --version 2>&1)"
  "$python" -m venv "$venv" || die "could not create $venv (Debian: apt-get install python3-venv)"
fi
# Reinstall only when pyproject.toml changed since the last install into this venv
# (tests/setup.sh leaves .huntlab-installed after installing the dev extra, a superset).
stamp="$venv/.huntlab-lab-installed"
fresh=""
for s in "$stamp" "$venv/.huntlab-installed"; do
  if [[ -f $s && ! $checkout/pyproject.toml -nt $s ]]; then
    fresh="$s"
  fi
done
if [[ -z $fresh ]]; then
  log "installing huntlab[lab] into $venv (pip's output: $venv/pip-install.log)"
  "$venv/bin/python" -m pip install -q --upgrade pip >"$venv/pip-install.log" 2>&1 ||
    die "pip upgrade failed; read $venv/pip-install.log"
  "$venv/bin/python" -m pip install -q -e "${checkout}[lab]" >>"$venv/pip-install.log" 2>&1 ||
    die "installing huntlab failed; read $venv/pip-install.log"
  touch "$stamp"
else
  log "huntlab already installed in $venv"
fi
huntlab=("$venv/bin/huntlab")

# --- what the engines need ------------------------------------------------------------------
if [[ $runtime == native ]]; then
  log "fetching the Elasticsearch distribution and Spark's Elasticsearch connector (cached)"
  # What it prints (the cached files) is a message here: stdout stays the lab's summary.
  "${huntlab[@]}" fetch >&2 ||
    die "could not fetch what the native engines need; see the message above"
fi

# --- up -------------------------------------------------------------------------------------
log "running: huntlab up --$runtime ${up_args[*]}"
status=0
"${huntlab[@]}" up "--$runtime" "${up_args[@]}" || status=$?
if ((status == 0)); then
  # huntlab lives in the venv: say how to reach it (the docs write plain `huntlab`).
  if [[ -n $team ]]; then
    log "next: $venv/bin/huntlab users add NAME   (or: source $venv/bin/activate)"
  else
    log "next: $venv/bin/huntlab status   (or: source $venv/bin/activate, then huntlab ...)"
  fi
fi
exit "$status"
