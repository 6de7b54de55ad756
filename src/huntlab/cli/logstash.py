"""``huntlab logstash check``: is the live-data path working? One event through Logstash's
HTTP input (TLS, its user), then found in Elasticsearch (docs/team.md, "Live data")."""

from __future__ import annotations

from pathlib import Path

import click

from huntlab.errors import HuntlabError


@click.group()
def logstash() -> None:
    """The docker runtime's Logstash: live events from the team's machines."""


@logstash.command()
@click.option("--host", default="localhost",
              help="Where Logstash's inputs are published (a name its certificate holds).")  # fmt: skip
@click.option("--wait", "wait_seconds", type=float, default=60.0, show_default=True,
              help="Seconds to wait for the event in Elasticsearch.")  # fmt: skip
def check(host: str, wait_seconds: float) -> None:
    """Send one Sysmon event to Logstash's HTTP input and find it in the lab's indexes."""
    from huntlab.lab import docker, live

    values = docker.read_env_file()
    if not values:
        raise HuntlabError(f"{docker.env_file()} not found: bring the lab up with "
                           "`huntlab up --docker` first")  # fmt: skip
    if not docker.logstash_enabled(values):
        raise HuntlabError("Logstash is off in this lab (`huntlab up --logstash` turns it on)")
    tls_dir = Path(values.get("LOGSTASH_TLS_DIR", ""))
    marker = live.new_marker()
    url = f"https://{host}:{values.get('LOGSTASH_HTTP_PORT') or 8090}/"
    live.send(url, values.get("LOGSTASH_HTTP_USER") or "huntlab-shipper",
              values.get("LOGSTASH_HTTP_PASSWORD", ""), tls_dir / "ca.crt",
              live.probe_event(marker))  # fmt: skip
    es_url = docker.endpoints()["elasticsearch"]
    found = live.wait_found(
        lambda: live.count(es_url, "elastic", values.get("ELASTIC_PASSWORD", ""), marker),
        wait_seconds,
    )
    if not found:
        raise HuntlabError(f"the event from host {marker} was taken by Logstash but is not in "
                           f"huntlab-* after {wait_seconds:.0f} s: read `huntlab logs logstash`")  # fmt: skip
    click.echo(f"huntlab: live data works: the event from host {marker} went through Logstash "
               "and is in huntlab-sysmon")  # fmt: skip
