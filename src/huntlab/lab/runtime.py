"""What every lab runtime offers, and which one a command talks to.

A runtime brings the lab's services up and down and answers for them: the native runtime
(:class:`huntlab.lab.native.NativeRuntime`, local processes) and the docker runtime
(:class:`huntlab.lab.docker.DockerRuntime`, the Compose stack). ``huntlab up|down|status|
token|logs`` ask :func:`runtime_for` for the runtime of a home and call the interface only; a
new runtime implements :class:`Runtime` and is named in :data:`RUNTIME_CLASSES`.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from huntlab.errors import HuntlabError
from huntlab.lab.config import recorded_runtime
from huntlab.lab.status import ServiceStatus
from huntlab.settings import Settings

Say = Callable[[str], None]

# runtime name -> "module:class" implementing Runtime, imported only when chosen.
RUNTIME_CLASSES = {
    "native": "huntlab.lab.native:NativeRuntime",
    "docker": "huntlab.lab.docker:DockerRuntime",
}
DEFAULT_RUNTIME = "native"


def say_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class UpOptions:
    """What ``huntlab up`` asks for beyond the settings: data to load, TLS for JupyterLab."""

    datasets: tuple[str, ...] | None = None  # None: the default datasets
    load_data: bool = True
    tls_self_signed: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    team: bool = False  # JupyterHub in front: each hunter their own login and server
    idle_timeout: int | None = None  # team: seconds before an idle hunter's server stops
    logstash: bool | None = None  # docker: run Logstash (None: as the env file says; default on)
    spark_workers: int | None = None  # docker: spark-worker replicas (None: as the env file says)
    # native: an existing cluster's master ("local": the lab's own again; None: as before) and
    # the file holding that cluster's spark.authenticate secret.
    spark_master: str | None = None
    spark_secret_file: str | None = None
    # native: an existing Elasticsearch cluster ("local": the lab's own node again; None: as
    # before), the user the lab works as there, the file holding its password, the cluster's CA.
    es_url: str | None = None
    es_user: str | None = None
    es_password_file: str | None = None
    es_ca: str | None = None


@dataclass(frozen=True)
class LabSummary:
    """What ``huntlab up`` prints once the lab is up: URLs, token, where things are."""

    runtime: str
    lines: tuple[str, ...]
    token: str


class Runtime(Protocol):
    """One way of running the lab, bound to one huntlab home (its settings)."""

    name: str
    settings: Settings

    def up(self, options: UpOptions) -> LabSummary:
        """Bring every service up (idempotent) and load the datasets asked for."""
        ...

    def down(self, purge: bool = False, purge_notebooks: bool = False) -> list[str]:
        """Stop every service; return the names of those that were running. ``purge`` also
        deletes the lab's data (never the hunters' notebooks); ``purge_notebooks`` with it
        deletes the notebooks too, where the runtime keeps them apart from the user's files."""
        ...

    def status(self) -> list[ServiceStatus]:
        """One row per service: up or down, URL, version, why not."""
        ...

    def token(self) -> str:
        """The JupyterLab token (a clear error when the lab never came up)."""
        ...

    def rotate_token(self) -> str:
        """A new JupyterLab token; a running JupyterLab accepts only it afterwards."""
        ...

    def logs(self, service: str | None, follow: bool = False, lines: int = 100) -> None:
        """Write a service's log to standard output (every service's when None); with
        ``follow``, keep writing new lines until interrupted."""
        ...


def docker_usable() -> tuple[bool, str]:
    """Whether a Docker engine with Compose v2 answers, and why (said to the user)."""
    if shutil.which("docker") is None:
        return False, "no docker command on PATH"
    for argv, what in (
        (["docker", "info"], "`docker info` failed (no running Docker engine)"),
        (["docker", "compose", "version"], "`docker compose version` failed (no Compose v2)"),
    ):
        try:
            done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False, what
        if done.returncode != 0:
            return False, what
    return True, "a Docker engine with Compose v2 answers"


def runtime_named(name: str, settings: Settings, say: Say = say_stderr) -> Runtime:
    entry = RUNTIME_CLASSES.get(name)
    if entry is None:
        raise HuntlabError(f"no runtime {name!r}; choose one of {', '.join(RUNTIME_CLASSES)}")
    module_name, _, class_name = entry.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HuntlabError(f"the {name} runtime is not available here ({exc})") from exc
    runtime: Runtime = getattr(module, class_name)(settings, say=say)
    return runtime


def runtime_for(
    settings: Settings,
    requested: str | None = None,
    *,
    detect: bool = False,
    say: Say = say_stderr,
) -> Runtime:
    """The runtime of the home in ``settings``: ``requested`` (``--docker``/``--native``),
    else the one ``huntlab up`` recorded in config.json, else (``detect``, for ``up``) docker
    where a Docker engine with Compose v2 answers and native otherwise, else native. With
    ``detect`` the choice and its reason are said."""
    name = requested
    if name is None:
        name = recorded_runtime(settings.home)
        if name is not None and detect:
            say(f"huntlab: runtime {name} (recorded in {settings.config_file})")
    if name is None:
        if detect:
            usable, why = docker_usable()
            name = "docker" if usable else DEFAULT_RUNTIME
            say(f"huntlab: runtime {name}: {why}")
        else:
            name = DEFAULT_RUNTIME
    return runtime_named(name, settings, say)
