"""``huntlab up|down|status|token|logs``: the lab's life cycle, native or docker.

The runtime is the one recorded in ``$HUNTLAB_HOME/config.json`` by ``huntlab up``; ``up``
takes ``--docker``/``--native``, and without either picks docker where a working Docker engine
with Compose v2 answers, native otherwise (and says why).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from huntlab.errors import HuntlabError
from huntlab.settings import Settings, load_settings

home_option = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The lab's home (default $HUNTLAB_HOME or ~/.huntlab).",
)


def _settings(home: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(home=home.expanduser().resolve() if home else None, **overrides)
    except ValueError as exc:
        raise HuntlabError(str(exc)) from exc


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


def _runtime_module(runtime: str) -> ModuleType:
    import importlib

    try:
        return importlib.import_module(f"huntlab.lab.{runtime}")
    except ImportError as exc:
        raise HuntlabError(f"the {runtime} runtime is not available here ({exc})") from exc


def _recorded(settings: Settings) -> str:
    from huntlab.lab.config import recorded_runtime

    return recorded_runtime(settings.home) or "native"


@click.command()
@click.option("--docker", "runtime", flag_value="docker", help="Run the lab in Docker Compose.")
@click.option("--native", "runtime", flag_value="native", help="Run the lab as local processes.")
@click.option(
    "--listen",
    default=None,
    help="Address JupyterLab listens on (default 127.0.0.1; beyond loopback needs TLS).",
)
@click.option(
    "--tls",
    "tls_self_signed",
    is_flag=True,
    help="Serve JupyterLab over HTTPS with a self-signed certificate for this host.",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False),
    default=None,
    help="Your PEM certificate for JupyterLab.",
)
@click.option(
    "--tls-key", type=click.Path(dir_okay=False), default=None, help="Its PEM private key."
)
@click.option("--no-data", is_flag=True, help="Do not load the default datasets.")
@click.option(
    "--datasets", default=None, help="Comma-separated datasets to load instead of the defaults."
)
@home_option
def up(
    runtime: str | None,
    listen: str | None,
    tls_self_signed: bool,
    tls_cert: str | None,
    tls_key: str | None,
    no_data: bool,
    datasets: str | None,
    home: Path | None,
) -> None:
    """Bring the lab up (idempotent) and print its URLs and token."""
    settings = _settings(home, listen=listen)
    if runtime is None:
        from huntlab.lab.config import recorded_runtime

        runtime = recorded_runtime(settings.home)
        if runtime is not None:
            click.echo(f"huntlab: runtime {runtime} (recorded in {settings.config_file})", err=True)
        else:
            usable, why = docker_usable()
            runtime = "docker" if usable else "native"
            click.echo(f"huntlab: runtime {runtime}: {why}", err=True)
    names = [n.strip() for n in datasets.split(",") if n.strip()] if datasets else None
    started = time.monotonic()
    if runtime == "docker":
        docker = _runtime_module("docker")
        docker.up(
            settings,
            datasets=names,
            load_data=not no_data,
            tls_self_signed=tls_self_signed,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
        for row in docker.status(settings):
            click.echo(row.line())
        click.echo(f"token: {docker.token(settings)}")
        return
    from huntlab.lab import native

    lab = native.up(
        settings,
        datasets=names,
        load_data=not no_data,
        tls_self_signed=tls_self_signed,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    from huntlab.lab.token import ensure_token

    click.echo(f"huntlab: the lab is up ({time.monotonic() - started:.0f} s)", err=True)
    for line in native.summary(lab, ensure_token(lab.home)):
        click.echo(line)


@click.command()
@click.option(
    "--purge",
    is_flag=True,
    help="Also delete the lab's data (indexes, Spark work, logs); your notebooks are kept.",
)
@click.option(
    "--purge-notebooks",
    is_flag=True,
    help="With --purge, in the docker lab: delete the notebooks volume too (your edits).",
)
@home_option
def down(purge: bool, purge_notebooks: bool, home: Path | None) -> None:
    """Stop everything the lab started; data is kept unless --purge."""
    if purge_notebooks and not purge:
        raise click.UsageError("--purge-notebooks goes with --purge")
    settings = _settings(home)
    runtime = _recorded(settings)
    if runtime == "docker":
        _runtime_module("docker").down(settings, purge=purge, purge_notebooks=purge_notebooks)
        return
    if purge_notebooks:
        raise click.UsageError(
            "--purge-notebooks is for the docker lab; the native lab's notebooks are files in "
            f"{settings.home / 'workspace'}: delete them yourself if you mean to"
        )
    from huntlab.lab import native

    stopped = native.down(settings, purge=purge)
    if not stopped:
        click.echo("huntlab: nothing was running", err=True)


@click.command()
@home_option
def status(home: Path | None) -> None:
    """Show each lab service: up or down, URL, version. Exits 3 when one is down."""
    settings = _settings(home)
    runtime = _recorded(settings)
    rows = _runtime_module(runtime).status(settings)
    click.echo(f"runtime: {runtime}   home: {settings.home}")
    for row in rows:
        click.echo(row.line())
    if not all(row.up for row in rows):
        sys.exit(3)


@click.command()
@click.option(
    "--rotate",
    is_flag=True,
    help="Make a new token; a running JupyterLab restarts and accepts only it.",
)
@home_option
def token(rotate: bool, home: Path | None) -> None:
    """Print the JupyterLab token (or rotate it)."""
    settings = _settings(home)
    runtime = _recorded(settings)
    if runtime == "docker":
        docker = _runtime_module("docker")
        click.echo(docker.rotate_token(settings) if rotate else docker.token(settings))
        return
    from huntlab.lab import native
    from huntlab.lab.token import read_token

    if rotate:
        click.echo(native.new_token(settings))
        return
    value = read_token(settings.home)
    if value is None:
        raise HuntlabError(f"no token in {settings.home} yet: run `huntlab up` first")
    click.echo(value)


def _follow(path: Path) -> None:
    """Print what is appended to ``path`` until interrupted (Ctrl-C)."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        try:
            while True:
                chunk = fh.read(65536)
                if chunk:
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
                else:
                    time.sleep(0.5)
        except KeyboardInterrupt:
            return


@click.command()
@click.argument("service", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "--lines", default=100, show_default=True, help="How many last lines to show.")
@home_option
def logs(service: str | None, follow: bool, lines: int, home: Path | None) -> None:
    """Show a lab service's log (all services' log files when SERVICE is omitted)."""
    settings = _settings(home)
    runtime = _recorded(settings)
    if runtime == "docker":
        _runtime_module("docker").logs(settings, service, follow=follow)
        return
    from huntlab.lab import native, processes

    if service is None:
        if follow:
            raise HuntlabError(f"-f needs a SERVICE: one of {', '.join(native.SERVICES)}")
        for name in native.SERVICES:
            click.echo(f"{name:<14} {native.log_file(settings, name)}")
        return
    path = native.log_file(settings, service)
    if not path.is_file():
        raise HuntlabError(f"{path}: no log yet ({service} never ran in {settings.home})")
    click.echo(processes.log_tail(path, lines))
    if follow:
        _follow(path)
