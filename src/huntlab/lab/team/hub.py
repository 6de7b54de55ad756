"""JupyterHub as the native lab's front door, run on the lab's supervisor as ``jupyterhub``.

The hub (as root: it starts each hunter's server as their unix account) listens on
127.0.0.1 only; its proxy, configurable-http-proxy from npm, is the one door that serves
HTTPS on ``--listen``. Its state stays in ``team/`` of the home: the hub's database (users,
servers), its cookie secret, and ``hub.json``, what :func:`configure` reads in the hub process
(``jupyter/jupyterhub_config.py`` calls it). Idle hunters' servers are stopped by
jupyterhub-idle-culler; their files stay.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huntlab import versions
from huntlab.errors import HuntlabError, ServiceError
from huntlab.files import atomic_write, read_secret_line
from huntlab.lab import processes, tls
from huntlab.lab.status import ServiceStatus
from huntlab.lab.team import accounts
from huntlab.settings import Settings

HUB = "jupyterhub"
API_TOKEN_FILE = "hub-api-token"
CLI_SERVICE = "huntlab"
DEFAULT_IDLE_TIMEOUT = 3600
SHARING_SCOPES = ("shares!user", "read:users:name")


def hub_json(home: Path) -> Path:
    return accounts.team_dir(home) / "hub.json"


def config_file() -> Path:
    from huntlab.resources import resource_dir

    return resource_dir("jupyter") / "jupyterhub_config.py"


def templates_dir() -> Path:
    from huntlab.resources import resource_dir

    return resource_dir("hub-templates")


# --- the proxy ---------------------------------------------------------------------------


def _sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def install_proxy(settings: Settings, say: Callable[[str], None]) -> Path:
    """configurable-http-proxy at the version (and Subresource Integrity hash) huntlab pins,
    installed once with npm into the download cache; return its executable."""
    version = versions.get("CONFIGURABLE_HTTP_PROXY")
    integrity = versions.get("CONFIGURABLE_HTTP_PROXY_INTEGRITY")
    prefix = settings.cache / "hub" / f"configurable-http-proxy-{version}"
    binary = prefix / "node_modules" / ".bin" / "configurable-http-proxy"
    if binary.is_file():
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise HuntlabError(
            "the team server's proxy (configurable-http-proxy) needs Node.js and npm: "
            "apt-get install nodejs npm"
        )
    say(f"huntlab: fetching configurable-http-proxy {version} with npm into {prefix}")
    prefix.mkdir(parents=True, exist_ok=True)
    packed = subprocess.run(
        [npm, "pack", f"configurable-http-proxy@{version}", "--pack-destination", str(prefix)],
        capture_output=True, text=True, check=False, cwd=prefix,
    )  # fmt: skip
    tarball = prefix / f"configurable-http-proxy-{version}.tgz"
    if packed.returncode != 0 or not tarball.is_file():
        raise ServiceError(f"npm pack configurable-http-proxy@{version} failed: "
                           f"{packed.stderr.strip()}; is the npm registry reachable?")  # fmt: skip
    got = _sri(tarball.read_bytes())
    if got != integrity:
        tarball.unlink()
        raise ServiceError(f"configurable-http-proxy-{version}.tgz does not match the pinned "
                           f"hash ({got} != {integrity}): not installed")  # fmt: skip
    with tarfile.open(tarball) as tar:  # a well-formed npm package, checked above
        if any(not m.name.startswith("package/") for m in tar.getmembers()):
            raise ServiceError(f"{tarball}: unexpected layout")
    installed = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--omit=dev", "--prefix", str(prefix),
         str(tarball)],
        capture_output=True, text=True, check=False, cwd=prefix,
    )  # fmt: skip
    if installed.returncode != 0 or not binary.is_file():
        raise ServiceError(f"npm install of configurable-http-proxy failed: "
                           f"{installed.stderr.strip()[-2000:]}")  # fmt: skip
    return binary


# --- the hub process ----------------------------------------------------------------------


def api_token(home: Path) -> str:
    """The token ``huntlab users`` uses on the hub's API (mode 600, root's)."""
    path = accounts.team_dir(home) / API_TOKEN_FILE
    value = read_secret_line(path, "the hub's API token", f"delete {path} and run `huntlab up`")
    if value is None:
        value = secrets.token_hex(32)
        atomic_write(path, value + "\n")
    return value


def write_hub_json(
    settings: Settings,
    *,
    tls_pair: tls.TlsPair,
    proxy: Path,
    idle_timeout: int,
) -> dict[str, Any]:
    conf = {
        "home": str(settings.home),
        "listen": settings.listen,
        "port": settings.jupyter_port,
        "hub_port": settings.hub_port,
        "proxy_api_port": settings.hub_proxy_api_port,
        "tls_cert": str(tls_pair.cert),
        "tls_key": str(tls_pair.key),
        "proxy": str(proxy),
        "python": sys.executable,
        "idle_timeout": idle_timeout,
        "templates": str(templates_dir()),
    }
    atomic_write(hub_json(settings.home), json.dumps(conf, indent=2) + "\n")
    return conf


def start_hub(
    settings: Settings, tls_pair: tls.TlsPair, proxy: Path, idle_timeout: int,
    say: Callable[[str], None],
) -> None:  # fmt: skip
    conf = write_hub_json(settings, tls_pair=tls_pair, proxy=proxy, idle_timeout=idle_timeout)
    # The hub reads its API token at its start: a new one (its file deleted, as an empty
    # file's error says) restarts a running hub, which would refuse `huntlab users` otherwise.
    token = hashlib.sha256(api_token(settings.home).encode("ascii")).hexdigest()
    # The hub's database (sessions, OAuth clients) is root's alone: made here, mode 600,
    # before the hub would create it with the umask's mode (SQLite keeps the mode it finds).
    database = accounts.team_dir(settings.home) / "jupyterhub.sqlite"
    if not database.exists():
        atomic_write(database, b"")
    os.chmod(database, 0o600)
    env = dict(os.environ)
    env["HUNTLAB_HOME"] = str(settings.home)
    # The proxy's own token is made by the hub for each start and handed over by environment.
    env.pop("CONFIGPROXY_AUTH_TOKEN", None)
    processes.ensure(
        settings.home,
        HUB,
        [sys.executable, "-m", "jupyterhub", "-f", str(config_file())],
        env=env,
        cwd=accounts.team_dir(settings.home),
        meta={**conf, "api_token_sha256": token},
        say=say,
    )


def probe_url(settings: Settings) -> str:
    host = settings.listen
    if host in ("0.0.0.0", "::", "", "localhost"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{settings.jupyter_port}"


def hub_ready(settings: Settings) -> bool:
    if not processes.listens(settings.home, HUB, settings.jupyter_port):
        return False
    answer = processes.http_get(f"{probe_url(settings)}/hub/api")
    return answer is not None and answer[0] == 200


def wait_hub(settings: Settings, timeout: float) -> None:
    processes.wait_until(
        lambda: hub_ready(settings),
        what=f"JupyterHub on {probe_url(settings)}",
        log=processes.log_path(settings.home, HUB),
        timeout=timeout,
        alive=lambda: processes.running(settings.home, HUB) is not None,
    )


def stop_hub(home: Path, say: Callable[[str], None] | None = None) -> bool:
    """Stop the hub, its proxy and every hunter's server (and anything a hunter left)."""
    stopped = processes.stop(home, HUB, say=say)
    from huntlab.lab.team import logins

    if logins.logins_path(home).is_file():
        for hunter in logins.hunters(home):
            if accounts.kill_processes(hunter.name) and say is not None:
                say(f"huntlab: stopped what still ran as {accounts.unix_name(hunter.name)}")
    return stopped


def server_states(answer: tuple[int, Any] | None) -> dict[str, str]:
    """Each user's server (running, starting, stopped) from the hub's ``GET /users`` answer."""
    states: dict[str, str] = {}
    if answer is not None and answer[0] == 200 and isinstance(answer[1], list):
        for user in answer[1]:
            states[user["name"]] = "running" if user.get("server") else (
                "starting" if user.get("pending") else "stopped")  # fmt: skip
    return states


def hub_status(settings: Settings, url: str) -> ServiceStatus:
    up = hub_ready(settings)
    info = processes.http_json(f"{probe_url(settings)}/hub/api") if up else None
    return ServiceStatus(
        HUB,
        up,
        url,
        f"jupyterhub {info.get('version')}" if isinstance(info, dict) else None,
        "" if up else f"log {processes.log_path(settings.home, HUB)}",
    )


# --- in the hub process -------------------------------------------------------------------


LOCAL_CONFIG = "jupyterhub_config_local.py"


def local_config(team: Path, c: Any) -> None:
    """The team's own additions (an identity provider's authenticator, ...), run last, from
    ``team/jupyterhub_config_local.py``: root's, writable by nobody else."""
    path = team / LOCAL_CONFIG
    if not path.is_file():
        return
    info = path.stat()
    if info.st_uid != 0 or info.st_mode & 0o022:
        raise HuntlabError(f"{path} must belong to root and be writable by nobody else "
                           "(chown root: and chmod go-w it)")  # fmt: skip
    code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
    exec(code, {"c": c, "__file__": str(path)})


def configure(c: Any) -> None:
    """Configure the hub from ``hub.json`` (called by ``jupyterhub_config.py``), then the
    team's own ``team/jupyterhub_config_local.py`` when there is one. (The docker runtime's
    hub container is configured by :func:`huntlab.lab.team.docker_hub.configure` instead.)"""
    home = Path(os.environ["HUNTLAB_HOME"])
    team = accounts.team_dir(home)
    conf = json.loads(hub_json(home).read_text(encoding="utf-8"))
    listen = conf["listen"]
    host = f"[{listen}]" if ":" in listen else listen
    c.JupyterHub.bind_url = f"https://{host}:{conf['port']}"
    c.JupyterHub.ssl_cert = conf["tls_cert"]
    c.JupyterHub.ssl_key = conf["tls_key"]
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{conf['hub_port']}"
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{conf['proxy_api_port']}"
    c.ConfigurableHTTPProxy.command = [conf["proxy"]]
    c.JupyterHub.spawner_class = "huntlab.lab.team.spawner.HunterSpawner"
    c.HunterSpawner.huntlab_home = str(home)
    c.Spawner.cmd = [conf["python"], "-m", "jupyterhub.singleuser"]
    configure_common(c, home, python=conf["python"], idle_timeout=int(conf["idle_timeout"]),
                     templates=conf["templates"])  # fmt: skip
    local_config(team, c)


def configure_common(c: Any, home: Path, *, python: str, idle_timeout: int, templates: str) -> None:
    """What the hub is in both runtimes: its state in ``team/``, huntlab's logins, the
    hunters, the services (``huntlab users``, the idle culler) and the roles."""
    team = accounts.team_dir(home)
    c.ConfigurableHTTPProxy.should_start = True
    c.JupyterHub.db_url = f"sqlite:///{team / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(team / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = ""
    c.JupyterHub.template_paths = [templates]
    c.JupyterHub.cleanup_servers = True
    c.JupyterHub.authenticator_class = "huntlab.lab.team.authenticator.HuntlabAuthenticator"
    c.HuntlabAuthenticator.huntlab_home = str(home)
    # Every hunter is a hub user from the start (so an admin can act on them before their
    # first login); who may log in is decided by the authenticator at each login.
    from huntlab.lab.team import logins

    hunters = logins.hunters(home) if logins.logins_path(home).is_file() else []
    c.Authenticator.allowed_users = {h.name for h in hunters}
    c.Authenticator.admin_users = {h.name for h in hunters if h.admin}
    c.Spawner.default_url = "/lab"
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 90
    c.JupyterHub.services = [
        {"name": CLI_SERVICE, "api_token": api_token(home)},
        {
            "name": "idle-culler",
            "command": [python, "-m", "jupyterhub_idle_culler", f"--timeout={int(idle_timeout)}"],
        },
    ]
    c.JupyterHub.load_roles = [
        # Two hunters on one notebook: a hunter shares their own server with named teammates
        # (JupyterHub's shares; jupyter-collaboration makes the edits live). `shares!user`: only
        # their own servers; `read:users:name`: to name the teammate (docs/team.md says why).
        {"name": "user", "scopes": ["self", *SHARING_SCOPES]},
        {
            "name": "huntlab-cli",
            "scopes": ["admin:users", "admin:servers", "list:users", "read:users", "tokens"],
            "services": [CLI_SERVICE],
        },
        {
            "name": "idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["idle-culler"],
        },
    ]
