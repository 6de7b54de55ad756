"""The native Elasticsearch node: a real single-node server run as a local process.

It runs on the lab's one supervisor (:mod:`huntlab.lab.processes`) as the service
``elasticsearch``: started in the foreground in its own session, its console output in
``$HUNTLAB_HOME/logs/elasticsearch.log``, its pid record (pid, start time, argv) in
``$HUNTLAB_HOME/run/elasticsearch.pid``. The pid counts only when a live process has it *and*
was created at the recorded time, so a stale record or a recycled pid is never signalled.
Each home keeps the node's config, data, server logs and temporary files under
``$HUNTLAB_HOME/elasticsearch/``; the distribution itself is shared in the download cache
(:mod:`huntlab.lab.native.distribution`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huntlab.errors import ServiceError
from huntlab.files import PRIVATE_FILE, atomic_write, private_dirs
from huntlab.java import Java
from huntlab.lab import processes
from huntlab.lab.native.distribution import install
from huntlab.lab.team import es_realm
from huntlab.settings import DEFAULT_BIND, Settings, local_es_url

NAME = "elasticsearch"
START_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0
# The uid/gid the server sees inside its user namespace when huntlab runs as root.
UNPRIVILEGED_ID = 65534


@dataclass(frozen=True)
class NodePaths:
    """Where one home keeps its node: config, data, server logs and temporary files."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def server_log(self) -> Path:
        # The cluster name is "huntlab", so the server writes logs/huntlab.log.
        return self.logs / "huntlab.log"

    @property
    def console_log(self) -> Path:
        """What the launcher prints (start-up failures), kept by the supervisor."""
        return processes.log_path(self.root.parent, NAME)


def node_paths(settings: Settings) -> NodePaths:
    return NodePaths(settings.home / "elasticsearch")


def local_url(settings: Settings) -> str:
    """Where the native node answers: always loopback, whatever address Jupyter serves on."""
    return local_es_url(settings.es_port)


def unprivileged_prefix() -> list[str]:
    """How to start the server when huntlab runs as root (CI, containers).

    Elasticsearch refuses to run as root. Rather than needing a second account that can read
    the cache and home, the server runs in a user namespace where it is an ordinary user while
    its files stay the caller's (``unshare --map-user``; unshare execs the server, so the
    supervised pid is the server's launcher itself).
    """
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        raise ServiceError(
            "Elasticsearch refuses to run as root and `unshare` (util-linux) is missing; "
            "run huntlab as an ordinary user or install util-linux"
        )
    return [unshare, "--user", f"--map-user={UNPRIVILEGED_ID}", f"--map-group={UNPRIVILEGED_ID}"]


def config_yaml(settings: Settings, paths: NodePaths, *, security: bool = False) -> str:
    """``elasticsearch.yml``; with ``security``, users and roles from the file realm only
    (:mod:`huntlab.lab.team.es_realm`), otherwise no security at all."""
    lines = [
        "# Written by huntlab on every start; edit huntlab settings instead.",
        "cluster.name: huntlab",
        "node.name: huntlab-native",
        # Always loopback: plain HTTP (with or without security), and `listen` is
        # JupyterLab's address on a team server, never Elasticsearch's.
        f"network.host: {DEFAULT_BIND}",
        f"http.port: {settings.es_port}",
        # The transport port is not used by a single node; pick any free one.
        "transport.port: 0",
        "discovery.type: single-node",
        f"path.data: {paths.data}",
        f"path.logs: {paths.logs}",
        *(
            [f"{key}: {value}" for key, value in es_realm.security_settings().items()]
            if security
            else ["xpack.security.enabled: false"]
        ),
        # Absolute free-space watermarks: percentages block indexing on large, full disks.
        "cluster.routing.allocation.disk.watermark.low: 2gb",
        "cluster.routing.allocation.disk.watermark.high: 1gb",
        "cluster.routing.allocation.disk.watermark.flood_stage: 500mb",
        "action.destructive_requires_name: true",
    ]
    return "\n".join([*lines, ""])


def write_config(settings: Settings, dist: Path, *, security: bool = False) -> NodePaths:
    """The node's config folder for this home: ``elasticsearch.yml``, heap, and the
    distribution's JVM and logging defaults; with ``security``, the file realm written from
    the home's credential store (:func:`huntlab.lab.team.es_realm.apply`)."""
    paths = node_paths(settings)
    for folder in (paths.root, paths.config, paths.data, paths.logs, paths.tmp):
        private_dirs(folder)
    for name in ("jvm.options", "log4j2.properties"):
        atomic_write(paths.config / name, (dist / "config" / name).read_bytes())
    options = paths.config / "jvm.options.d"
    heap = settings.es_heap
    atomic_write(options / "heap.options", f"-Xms{heap}\n-Xmx{heap}\n")
    security_options = options / "security.options"
    if security:
        atomic_write(security_options, "".join(f"{o}\n" for o in es_realm.SECURITY_JVM_OPTIONS))
    else:
        security_options.unlink(missing_ok=True)
    if security:
        es_realm.apply(settings.home, paths.config)
    atomic_write(
        paths.config / "elasticsearch.yml", config_yaml(settings, paths, security=security)
    )
    return paths


def server_env(paths: NodePaths, java: Java) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ES_JAVA_HOME": str(java.home),
            "ES_PATH_CONF": str(paths.config),
            "ES_TMPDIR": str(paths.tmp),
        }
    )
    env.pop("ES_JAVA_OPTS", None)
    return env


def write_keystore(dist: Path, paths: NodePaths, java: Java, entries: Mapping[str, str]) -> Path:
    """A new ``elasticsearch.keystore`` in the node's config holding ``entries`` (secure
    settings such as ``bootstrap.password``), written by the distribution's own tool."""
    keystore = paths.config / "elasticsearch.keystore"
    keystore.unlink(missing_ok=True)
    tool = [*unprivileged_prefix(), str(dist / "bin" / "elasticsearch-keystore")]
    env = server_env(paths, java)
    commands = [([*tool, "create"], "")]
    commands += [([*tool, "add", "-x", name], value) for name, value in entries.items()]
    for command, value in commands:
        result = subprocess.run(
            command, input=value, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ServiceError(
                f"elasticsearch-keystore {' '.join(command[len(tool) :])} failed "
                f"(exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )
    os.chmod(keystore, PRIVATE_FILE)  # the tool makes it 660; it holds passwords
    return keystore


def running(settings: Settings) -> processes.Running | None:
    """The node's supervised process when it runs (see the module's note on identity)."""
    return processes.running(settings.home, NAME)


def spawn(
    settings: Settings, dist: Path, java: Java, *, security: bool = False
) -> processes.Running:
    """Start the server of ``dist`` with the config already in this home's node folder
    (``security``: whether that config turns security on, recorded with the pid); return at
    once (:func:`wait` waits for health)."""
    paths = node_paths(settings)
    # Foreground under the supervisor; -q: the server logs to its own files, not the console
    # (start-up failures still reach the console log).
    argv = [*unprivileged_prefix(), str(dist / "bin" / "elasticsearch"), "-q"]
    return processes.start(
        settings.home,
        NAME,
        argv,
        env=server_env(paths, java),
        cwd=paths.root,
        meta={"port": settings.es_port, "dist": str(dist), "security": security},
    )


def health(url: str, headers: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The node's cluster health (``headers``: its credentials when security is on)."""
    answer = processes.http_json(f"{url}/_cluster/health", headers=headers, timeout=2.0)
    return answer if isinstance(answer, dict) else None


def healthy(url: str, headers: Mapping[str, str] | None = None) -> bool:
    state = health(url, headers)
    return state is not None and state.get("status") in ("yellow", "green")


def wait(settings: Settings, timeout: float = START_TIMEOUT) -> None:
    """Wait (at most ``timeout`` seconds) until the node answers with yellow or green health
    (asked with the settings' credentials); fail at once, with the console log's last lines,
    when its process exits."""
    url = local_url(settings)
    paths = node_paths(settings)
    headers = settings.auth_headers()

    def ready() -> bool:
        # Our own node, not whatever else answers on the port (nor a secret sent to it).
        return processes.listens(settings.home, NAME, settings.es_port) and healthy(url, headers)

    processes.wait_until(
        ready,
        what=f"Elasticsearch on {url} (server log {paths.server_log})",
        log=paths.console_log,
        timeout=timeout,
        alive=lambda: running(settings) is not None,
    )


def start(
    settings: Settings,
    java: Java,
    *,
    timeout: float = START_TIMEOUT,
    progress: bool = True,
    security: bool = False,
) -> int:
    """Start the node (installing it first if needed) and wait for health; return its pid.
    A node already running in this home is left as it is (a ServiceError when it runs with
    security the other way: stop it first).

    ``security``: users and roles from the file realm, written from the home's credential
    store (:mod:`huntlab.lab.team.es_realm`); health is then asked with the settings'
    credentials, the lab admin's when the settings have none.
    """
    if security and not (settings.es_user or settings.es_api_key):
        settings = es_realm.admin_settings(settings)
    current = running(settings)
    if current is None:
        dist = install(settings, java, progress=progress)
        write_config(settings, dist, security=security)
        current = spawn(settings, dist, java, security=security)
    elif bool(current.meta.get("security", False)) != security:
        said = "on" if current.meta.get("security") else "off"
        raise ServiceError(
            f"Elasticsearch already runs in {settings.home} with security {said} (pid "
            f"{current.pid}); stop it (`huntlab es stop`) and start the lab again"
        )
    wait(settings, timeout)
    # The server makes its keystore 660 when it creates one; it may hold passwords.
    with contextlib.suppress(FileNotFoundError):
        os.chmod(node_paths(settings).config / "elasticsearch.keystore", PRIVATE_FILE)
    return current.pid


def stop(
    settings: Settings,
    *,
    timeout: float = STOP_TIMEOUT,
    say: Callable[[str], None] | None = None,
) -> bool:
    """Stop the node and every process it started: SIGTERM, at most ``timeout`` seconds, then
    SIGKILL. False when no node was running (``say`` hears of a pid record naming a process
    huntlab did not start, which is left alone)."""
    return processes.stop(settings.home, NAME, timeout=timeout, say=say)


@dataclass(frozen=True)
class NodeStatus:
    running: bool
    pid: int | None
    url: str
    version: str | None
    health: str | None
    log: Path


def status(settings: Settings) -> NodeStatus:
    current = running(settings)
    url = local_url(settings)
    headers = settings.auth_headers()
    state = health(url, headers)
    version = None
    if state is not None:
        info = processes.http_json(url, headers=headers, timeout=2.0)
        if isinstance(info, dict):
            version = info.get("version", {}).get("number")
    return NodeStatus(
        running=current is not None,
        pid=current.pid if current else None,
        url=url,
        version=version,
        health=str(state.get("status")) if state else None,
        log=node_paths(settings).server_log,
    )
