"""``huntlab up|down|status|token|logs``: the lab's life cycle, native or docker.

Each command asks :func:`huntlab.lab.runtime.runtime_for` for the home's runtime and calls the
runtime interface: the one recorded in ``$HUNTLAB_HOME/config.json`` by ``huntlab up``; ``up``
takes ``--docker``/``--native``, and without either picks docker where a working Docker engine
with Compose v2 answers, native otherwise (and says why).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from huntlab.errors import HuntlabError
from huntlab.settings import Settings, load_settings

if TYPE_CHECKING:
    from huntlab.lab.runtime import Runtime


def _settings(**overrides: Any) -> Settings:
    """The settings of the home ``--home`` (in any position: cli.HoistingGroup) or
    HUNTLAB_HOME names, with these overrides."""
    try:
        return load_settings(**overrides)
    except ValueError as exc:
        raise HuntlabError(str(exc)) from exc


def _runtime() -> Runtime:
    """The runtime ``huntlab up`` recorded for this home (native when none was)."""
    from huntlab.lab.runtime import runtime_for

    return runtime_for(_settings())


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
@click.option(
    "--spark-workers",
    type=click.IntRange(1, 16),
    default=None,
    help="How many Spark workers (default 1; kept on reruns): local processes (native) or "
    "spark-worker replicas (docker).",
)
@click.option(
    "--spark-master",
    default=None,
    metavar="URL",
    help="Native lab: use an existing Spark cluster (spark://HOST:PORT) instead of running "
    "one; `local` returns to the lab's own. Kept on reruns.",
)
@click.option(
    "--spark-secret-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="With --spark-master URL: the file whose first line is that cluster's "
    "spark.authenticate secret.",
)
@click.option(
    "--es-url",
    default=None,
    metavar="URL",
    help="Native lab: use an existing Elasticsearch cluster (https://HOST:PORT, security on) "
    "instead of running a node; `local` returns to the lab's own. Kept on reruns.",
)
@click.option("--es-user", default=None, help="With --es-url URL: the user the lab works as.")
@click.option(
    "--es-password-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="With --es-url URL: the file whose first line is that user's password.",
)
@click.option(
    "--es-ca",
    type=click.Path(dir_okay=False),
    default=None,
    help="With --es-url URL: the PEM CA certificate of the cluster (when the system's CAs do "
    "not vouch for it).",
)
@click.option(
    "--team",
    is_flag=True,
    help="A team server: JupyterHub over HTTPS, each hunter their own login, server and "
    "Elasticsearch user (root; add hunters with `huntlab users add`).",
)
@click.option(
    "--idle-timeout",
    type=click.IntRange(min=60),
    default=None,
    help="With --team: seconds before an idle hunter's server is stopped (default 3600).",
)
@click.option(
    "--logstash/--no-logstash",
    default=None,
    help="Docker: run Logstash for live events (the default; --no-logstash saves its memory). "
    "Kept on reruns.",
)
def up(
    runtime: str | None,
    listen: str | None,
    tls_self_signed: bool,
    tls_cert: str | None,
    tls_key: str | None,
    no_data: bool,
    datasets: str | None,
    spark_workers: int | None,
    spark_master: str | None,
    spark_secret_file: str | None,
    es_url: str | None,
    es_user: str | None,
    es_password_file: str | None,
    es_ca: str | None,
    team: bool,
    idle_timeout: int | None,
    logstash: bool | None,
) -> None:
    """Bring the lab up (idempotent) and print its URLs and token."""
    from huntlab.lab.runtime import UpOptions, runtime_for

    settings = _settings(listen=listen, spark_workers=spark_workers)
    lab = runtime_for(settings, runtime, detect=True)
    names = tuple(n.strip() for n in datasets.split(",") if n.strip()) if datasets else None
    options = UpOptions(
        datasets=names,
        load_data=not no_data,
        tls_self_signed=tls_self_signed,
        tls_cert=tls_cert,
        tls_key=tls_key,
        team=team,
        idle_timeout=idle_timeout,
        logstash=logstash,
        spark_workers=spark_workers,
        spark_master=spark_master,
        spark_secret_file=spark_secret_file,
        es_url=es_url,
        es_user=es_user,
        es_password_file=es_password_file,
        es_ca=es_ca,
    )
    if idle_timeout is not None and not team:
        raise click.UsageError("--idle-timeout goes with --team")
    for line in lab.up(options).lines:
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
def down(purge: bool, purge_notebooks: bool) -> None:
    """Stop everything the lab started; data is kept unless --purge."""
    if purge_notebooks and not purge:
        raise click.UsageError("--purge-notebooks goes with --purge")
    if not _runtime().down(purge=purge, purge_notebooks=purge_notebooks):
        click.echo("huntlab: nothing was running", err=True)


@click.command()
def status() -> None:
    """Show each lab service: up or down, URL, version. Exits 3 when one is down."""
    lab = _runtime()
    rows = lab.status()
    click.echo(f"runtime: {lab.name}   home: {lab.settings.home}")
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
def token(rotate: bool) -> None:
    """Print the JupyterLab token (or rotate it)."""
    lab = _runtime()
    click.echo(lab.rotate_token() if rotate else lab.token())


@click.command()
@click.argument("service", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "--lines", default=100, show_default=True, help="How many last lines to show.")
def logs(service: str | None, follow: bool, lines: int) -> None:
    """Show a lab service's log (all services' log files when SERVICE is omitted)."""
    _runtime().logs(service, follow=follow, lines=lines)
