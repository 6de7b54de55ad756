"""``huntlab fetch``: download what the native engines need, ahead of time.

The Elasticsearch distribution (from Maven Central, checksum-verified, unpacked, its plugin
built) and the Elasticsearch connector for Spark (through Spark's Ivy) go into the shared
download cache (``$HUNTLAB_CACHE``). install.sh runs it before ``huntlab up --native``; on an
air-gapped machine, run it where the network is and carry the cache over.
"""

from __future__ import annotations

from pathlib import Path

import click

from huntlab.errors import HuntlabError


@click.command()
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Download cache to fill (default $HUNTLAB_CACHE or ~/.cache/huntlab).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def fetch(cache: Path | None, quiet: bool) -> None:
    """Download the native engines' files (Elasticsearch, the Spark connector) into the cache."""
    from huntlab.java import find_java
    from huntlab.lab.native.fetch import fetch as fetch_all
    from huntlab.lab.runtime import say_stderr
    from huntlab.settings import load_settings

    try:
        settings = load_settings(cache=cache.expanduser().resolve() if cache else None)
    except ValueError as exc:
        raise HuntlabError(str(exc)) from exc
    for path in fetch_all(settings, find_java(), say_stderr, progress=not quiet):
        click.echo(str(path))
