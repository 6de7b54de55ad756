"""The docker runtime's team server, from inside its ``hub`` container (docker/compose.team.yaml).

The hub runs as root in its container with the Docker socket: it starts each hunter's server
as a container of the lab's Jupyter image on the stack's network (DockerSpawner,
:mod:`huntlab.lab.team.docker_spawner`), with memory and CPU limits and a uid of its own. The
hub's state is the volume mounted at ``$HUNTLAB_HOME`` (``/srv/huntlab``): ``team/`` holds the
same files as the native team server's (logins, the hub's database and secrets, the hunters'
Elasticsearch credentials); ``team/datasets`` and ``team/hunts`` are two more volumes, the
team's read-only recordings and its shared hunts, mounted into every hunter's container.

Hunters' Elasticsearch identities are native-realm users of the stack's node (it has the
``.security`` index), made through the security API with the ``elastic`` user; the roles mean
what the native runtime's file realm says (:func:`huntlab.lab.team.es_realm.api_roles`).

``python -m huntlab.lab.team.docker_hub users add|list|remove|reset`` is what the host's
``huntlab users`` runs in the container (``docker compose exec``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from huntlab.errors import HuntlabError
from huntlab.files import private_dirs
from huntlab.lab.team import limits

# Inside the hub container (docker/compose.team.yaml sets these).
DOOR_PORT = 8443
HUB_PORT = 8081
PROXY_API_PORT = 8001
TLS_DIR = Path("/etc/huntlab/tls")
HUNTER_HOME = "/home/huntlab"
HUNTER_WORKSPACE = f"{HUNTER_HOME}/work"
# The group every hunter's server runs with (the image's huntlab group): files in the shared
# hunts volume are the team's, each owned by its author's uid.
TEAM_GID = 1000
FIRST_UID = 10000


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise HuntlabError(f"{name} is not set in the hub container: bring the team lab up "
                           "with `huntlab up --docker --team`")  # fmt: skip
    return value


def project() -> str:
    return _env("HUNTLAB_HUB_PROJECT")


def idle_timeout() -> int:
    from huntlab.lab.team.hub import DEFAULT_IDLE_TIMEOUT

    return int(os.environ.get("HUNTLAB_IDLE_TIMEOUT") or DEFAULT_IDLE_TIMEOUT)


def volume_names() -> dict[str, str]:
    """The Docker volumes the hub mounts into hunters' containers (Compose's names)."""
    return {
        "hunter": f"{project()}_hunter-{{username}}",
        "datasets": f"{project()}_team-datasets",
        "hunts": f"{project()}_team-hunts",
    }


def memory_bytes(value: str) -> int:
    """A hunter's container memory limit (HUNTLAB_HUNTER_MEM_LIMIT) as bytes."""
    return limits.memory_bytes(value, "HUNTLAB_HUNTER_MEM_LIMIT in docker/.env")


def container_prefix() -> str:
    return f"{project()}-hunter"


def prepare_shared(home: Path) -> None:
    """The team's folders in the hub's volumes: ``team/`` root's alone, the hunts volume
    writable by the team's group (setgid, sticky: only a file's author deletes it), the
    datasets volume filled with the recordings the setup service downloaded."""
    from huntlab import datasets as catalog
    from huntlab.lab.team import accounts

    team = accounts.team_dir(home)
    private_dirs(team)
    os.chmod(team, 0o700)
    hunts = accounts.hunts_dir(home)
    hunts.mkdir(exist_ok=True)
    os.chown(hunts, 0, TEAM_GID)
    os.chmod(hunts, accounts.HUNTS_MODE)
    store = catalog.store_dir()
    names = {p.name for p in store.iterdir() if p.is_dir()} if store.is_dir() else set()
    loaded = os.environ.get("HUNTLAB_SETUP_DATASETS", "default")
    if loaded == "default":
        names |= set(catalog.DEFAULT_DATASETS)
    elif loaded != "none":
        names |= set(loaded.split())
    accounts.share_datasets(home, sorted(names), lambda message: print(message, file=sys.stderr))


def configure(c: Any) -> None:
    """The whole hub (``jupyter/jupyterhub_config.py`` calls this in the hub container): the
    door (HTTPS on the container's :data:`DOOR_PORT`, published where ``--listen`` says), the
    proxy and DockerSpawner here; the rest as in the native runtime
    (:func:`huntlab.lab.team.hub.configure_common`); the team's own configuration last."""
    from huntlab.lab.team import accounts, hub

    home = Path(_env("HUNTLAB_HOME"))
    _configure_docker(c, home)
    hub.configure_common(c, home, python=sys.executable, idle_timeout=idle_timeout(),
                         templates=str(hub.templates_dir()))  # fmt: skip
    hub.local_config(accounts.team_dir(home), c)


def _configure_docker(c: Any, home: Path) -> None:
    prepare_shared(home)
    c.JupyterHub.bind_url = f"https://0.0.0.0:{DOOR_PORT}"
    c.JupyterHub.ssl_cert = str(TLS_DIR / "jupyter.crt")
    c.JupyterHub.ssl_key = str(TLS_DIR / "jupyter.key")
    # Hunters' servers reach the hub's API over the stack's network (by the service's name).
    c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{HUB_PORT}"
    c.JupyterHub.hub_connect_url = f"http://hub:{HUB_PORT}"
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PROXY_API_PORT}"
    c.ConfigurableHTTPProxy.command = ["configurable-http-proxy"]
    c.JupyterHub.spawner_class = "huntlab.lab.team.docker_spawner.HunterDockerSpawner"
    c.HunterDockerSpawner.huntlab_home = str(home)
    volumes = volume_names()
    c.DockerSpawner.image = _env("HUNTLAB_HUNTER_IMAGE")
    c.DockerSpawner.network_name = _env("HUNTLAB_HUB_NETWORK")
    c.DockerSpawner.use_internal_ip = True
    # A stopped server's container goes; the hunter's files stay in their volume.
    c.DockerSpawner.remove = True
    c.DockerSpawner.prefix = container_prefix()
    c.DockerSpawner.name_template = "{prefix}-{username}"
    c.DockerSpawner.notebook_dir = HUNTER_WORKSPACE
    c.DockerSpawner.volumes = {
        volumes["hunter"]: HUNTER_WORKSPACE,
        volumes["datasets"]: {"bind": f"{HUNTER_WORKSPACE}/datasets", "mode": "ro"},
        volumes["hunts"]: f"{HUNTER_WORKSPACE}/hunts",
    }
    c.DockerSpawner.mem_limit = memory_bytes(os.environ.get("HUNTLAB_HUNTER_MEM_LIMIT") or "2g")
    c.DockerSpawner.cpu_limit = float(os.environ.get("HUNTLAB_HUNTER_CPU_LIMIT") or 1)
    # The server starts as root only to take its uid (huntlab-hunter-start: the workspace's
    # owner, the team's names), then runs as the hunter, with no capability left.
    # The image's health check is the single JupyterLab's (/api at the root), not a hunter's.
    c.DockerSpawner.extra_create_kwargs = {"user": "root", "healthcheck": {"test": ["NONE"]}}
    c.DockerSpawner.extra_host_config = {
        "cap_drop": ["ALL"],
        "cap_add": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"],
        "security_opt": ["no-new-privileges"],
    }
    c.DockerSpawner.cmd = ["huntlab-hunter-start", "jupyterhub-singleuser"]


# --- hunters' Elasticsearch users (the security API) ----------------------------------------


def _es() -> Any:
    from huntlab.es.client import client
    from huntlab.settings import load_settings

    settings = load_settings()
    return client(settings, basic_auth=("elastic", _env("HUNTLAB_ES_ADMIN_PASSWORD")))


def put_es_hunter(name: str, password: str) -> None:
    from huntlab.lab.team import es_realm

    # The stack's own node: every user on it but `elastic` and the system users is the lab's.
    es_realm.put_api_hunter(_es(), name, password, shared=False)


def delete_es_hunter(name: str) -> None:
    from huntlab.lab.team import es_realm

    es_realm.delete_api_hunter(_es(), name, shared=False)


# --- the hub's API and the hunters' containers ----------------------------------------------


def hub_api(home: Path, method: str, path: str) -> tuple[int, Any] | None:
    from huntlab.lab.team.hub import api_token

    request = urllib.request.Request(
        f"http://127.0.0.1:{HUB_PORT}/hub/api{path}",
        data=None if method == "GET" else b"",
        method=method,
        headers={"Authorization": f"token {api_token(home)}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
            return response.status, json.loads(body) if body else None
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError):
        return None


def _docker_sdk() -> Any:
    # The Docker SDK comes with DockerSpawner, in the hub's image only.
    import importlib

    return importlib.import_module("docker")


def _docker() -> Any:
    return _docker_sdk().from_env()


def remove_hunter_container(name: str) -> None:
    with contextlib.suppress(_docker_sdk().errors.NotFound):
        _docker().containers.get(f"{container_prefix()}-{name}").remove(force=True)


def remove_hunter_volume(name: str) -> None:
    with contextlib.suppress(_docker_sdk().errors.NotFound):
        _docker().volumes.get(volume_names()["hunter"].format(username=name)).remove(force=True)


def door_url() -> str:
    return _env("HUNTLAB_PUBLIC_URL").rstrip("/")


def add(home: Path, name: str, *, admin: bool, password: str | None) -> str | None:
    """Add a hunter (their login and their Elasticsearch user, all or nothing); return
    their invite link, or None when a password was given."""
    from huntlab.lab.team import accounts, es_realm, logins

    accounts.check_name(name)
    if name in es_realm.hunters(home) or any(h.name == name for h in logins.hunters(home)):
        raise HuntlabError(f"hunter {name} exists already: `huntlab users reset {name}` "
                           "gives them a new invite")  # fmt: skip
    es_password = es_realm.add_hunter(home, name)
    try:
        put_es_hunter(name, es_password)
        token = logins.add(home, name, admin=admin, password=password)
    except BaseException:
        es_realm.remove_hunter(home, name)
        delete_es_hunter(name)
        raise
    answer = hub_api(home, "POST", f"/users/{name}")
    if answer is not None and answer[0] not in (201, 409):
        raise HuntlabError(f"the hub answered {answer[0]} adding {name}: `huntlab logs hub`")
    return f"{door_url()}/hub/invite/{token}" if token else None


def remove(home: Path, name: str, *, keep_files: bool) -> None:
    from huntlab.lab.team import es_realm, logins

    known = {h.name for h in logins.hunters(home)} | set(es_realm.hunters(home))
    if name not in known:
        raise HuntlabError(f"no hunter {name}: `huntlab users list` shows who there is")
    if any(h.name == name for h in logins.hunters(home)):
        logins.remove(home, name)
    answer = hub_api(home, "DELETE", f"/users/{name}")
    if answer is not None and answer[0] not in (204, 404):
        print(f"huntlab: the hub answered {answer[0]} removing {name}", file=sys.stderr)
    remove_hunter_container(name)
    es_realm.remove_hunter(home, name)
    delete_es_hunter(name)
    if not keep_files:
        remove_hunter_volume(name)


def rows(home: Path) -> list[dict[str, Any]]:
    from huntlab.lab.team import hub, logins

    answer = hub_api(home, "GET", "/users")
    servers = hub.server_states(answer)
    return [
        {
            "name": entry.name,
            "admin": entry.admin,
            "login": "password set" if entry.has_password else "invited",
            "account": f"{container_prefix()}-{entry.name}",
            "server": servers.get(entry.name, "stopped" if answer else "hub down"),
        }
        for entry in logins.hunters(home)
    ]


def main(argv: list[str]) -> int:
    """``users add NAME [--admin] [--password-stdin] | list | remove NAME [--keep-files] |
    reset NAME [--password-stdin]``, as the host's ``huntlab users`` passes them."""
    from huntlab.lab.team import logins

    home = Path(_env("HUNTLAB_HOME"))
    args = argv[1:] if argv[:1] == ["users"] else argv
    if not args:
        print("usage: users add|list|remove|reset ...", file=sys.stderr)
        return 2
    command, rest = args[0], args[1:]
    flags = {a for a in rest if a.startswith("--")}
    names = [a for a in rest if not a.startswith("--")]
    password = None
    if "--password-stdin" in flags:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise HuntlabError("--password-stdin: standard input held no password")
    try:
        if command == "list":
            print(json.dumps(rows(home)))
        elif command == "add" and len(names) == 1:
            invite = add(home, names[0], admin="--admin" in flags, password=password)
            print(json.dumps({"invite_url": invite}))
        elif command == "remove" and len(names) == 1:
            remove(home, names[0], keep_files="--keep-files" in flags)
            print(json.dumps({"removed": names[0]}))
        elif command == "reset" and len(names) == 1:
            token = logins.reset(home, names[0], password=password)
            print(json.dumps({"invite_url": f"{door_url()}/hub/invite/{token}" if token else None}))
        else:
            print(
                f"usage: users add|list|remove|reset NAME (got {' '.join(args)})", file=sys.stderr
            )
            return 2
    except HuntlabError as exc:
        print(f"huntlab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
