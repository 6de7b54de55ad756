"""``huntlab es start|stop|status|setup``, ``huntlab load`` and ``huntlab query``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from huntlab.cli.options import bounds_options, echo_frame, errors_option, es_options, format_option
from huntlab.es.loader import CHUNK_DOCS, THREADS
from huntlab.settings import Settings, load_settings


@click.group()
def es() -> None:
    """Run the native Elasticsearch node and set up its templates and pipeline."""


def _node_settings(port: int | None, heap: str | None) -> Settings:
    return load_settings(es_port=port, es_heap=heap)


@es.command()
@click.option("--port", type=int, help="HTTP port [env HUNTLAB_ES_PORT; default 9200]")
@click.option("--heap", help="JVM heap, e.g. 1g or 512m [env HUNTLAB_ES_HEAP; default 1g]")
@click.option("--timeout", type=float, default=180.0, show_default=True, help="seconds to wait")
@click.option("--no-setup", is_flag=True, help="do not apply templates and pipeline")
def start(port: int | None, heap: str | None, timeout: float, no_setup: bool) -> None:
    """Start the native node (downloading it once) and wait until it is healthy."""
    from huntlab.java import find_java
    from huntlab.lab.home import ensure_home
    from huntlab.lab.native import elasticsearch, team
    from huntlab.lab.team import es_realm

    settings = _node_settings(port, heap)
    ensure_home(settings.home)
    # A team lab's node runs with security on, its users from the lab's credential store.
    security = team.is_team(settings.home)
    pid = elasticsearch.start(settings, find_java(), timeout=timeout, security=security)
    url = elasticsearch.local_url(settings)
    click.echo(f"elasticsearch: running, pid {pid}, {url}")
    if not no_setup:
        setup = load_settings(es_url=url)
        _run_setup(es_realm.admin_settings(setup) if security else setup)


@es.command()
@click.option("--port", type=int, help="HTTP port of the node [env HUNTLAB_ES_PORT]")
@click.option("--timeout", type=float, default=60.0, show_default=True)
def stop(port: int | None, timeout: float) -> None:
    """Stop the native node (SIGTERM, then SIGKILL after --timeout seconds)."""
    from huntlab.lab.native import elasticsearch

    stopped = elasticsearch.stop(
        _node_settings(port, None), timeout=timeout, say=lambda line: click.echo(line, err=True)
    )
    click.echo("elasticsearch: stopped" if stopped else "elasticsearch: was not running")


@es.command()
@click.option("--port", type=int, help="HTTP port of the node [env HUNTLAB_ES_PORT]")
def status(port: int | None) -> None:
    """Show the native node: pid, URL, version, health, log file. Exit 3 when down."""
    from huntlab.lab.native import elasticsearch

    state = elasticsearch.status(_node_settings(port, None))
    if state.running:
        click.echo(
            f"elasticsearch: running, pid {state.pid}, {state.url}, version {state.version}, "
            f"health {state.health}, log {state.log}"
        )
    else:
        click.echo(f"elasticsearch: not running ({state.url}); log {state.log}")
        sys.exit(3)


def _run_setup(settings: Settings) -> None:
    from huntlab.es.setup import setup as apply

    report = apply(settings)
    click.echo(
        "setup: component templates "
        + ", ".join(report.component_templates)
        + "; index templates "
        + ", ".join(report.index_templates)
        + "; pipelines "
        + (", ".join(report.pipelines) or "none")
        + (f"; created {', '.join(report.created_indexes)}" if report.created_indexes else "")
    )
    for warning in report.warnings:
        click.echo(f"setup: warning: {warning}", err=True)


@es.command()
@es_options
def setup(settings: Settings) -> None:
    """Apply index templates, the ingest pipeline and the indexes (idempotent)."""
    _run_setup(settings)


@click.command()
@click.argument("source")
@click.option("--dataset", help="dataset name to record (default: from the source)")
@errors_option
@click.option(
    "--threads", type=int, default=THREADS, show_default=True, help="bulk requests in flight"
)
@click.option("--chunk-docs", type=int, default=CHUNK_DOCS, show_default=True)
@click.option("--no-progress", is_flag=True, help="no progress bar")
@bounds_options
@es_options
def load(
    source: str,
    dataset: str | None,
    errors: str,
    threads: int,
    chunk_docs: int,
    no_progress: bool,
    max_record_bytes: int,
    max_decompression_ratio: int,
    settings: Settings,
) -> None:
    """Load SOURCE (dataset id or name, archive, JSON-lines file or folder) into Elasticsearch.

    Loading the same source again changes nothing (document ids are deterministic).
    """
    from huntlab import datasets as catalog
    from huntlab.es.loader import load as run_load

    by_name = not Path(source).expanduser().exists() and catalog.NAME_PATTERN.fullmatch(source)
    if by_name:
        # A dataset by name goes into the store first: the lab's workspace shows it in
        # datasets/ (a link to the store), wherever it came from.
        catalog.keep(source)
    report = run_load(
        source,
        settings,
        dataset=dataset,
        errors=errors,
        threads=threads,
        chunk_docs=chunk_docs,
        progress=not no_progress and sys.stderr.isatty(),
        max_record_bytes=max_record_bytes,
        max_decompression_ratio=max_decompression_ratio,
    )
    for index, count in sorted(report.by_index.items()):
        click.echo(f"  {index}: {count}", err=True)
    for rejected in report.rejects[:10]:
        click.echo(f"  rejected {rejected.id} ({rejected.index}): {rejected.reason}", err=True)
    if report.reader_rejects_path is not None:
        click.echo(f"  unreadable lines in {report.reader_rejects_path}", err=True)
    click.echo(report.summary())
    if by_name and not report.rejects:
        from huntlab.lab.native.data import record_loaded

        # The native lab's next `up` knows it is there (and does not load it again).
        record_loaded(settings, dataset or source)


TABLE_WIDTH = 60


def _emit(frame: Any, fmt: str) -> None:
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt in ("json", "jsonl"):
        echo_frame(frame, fmt)
    elif not len(frame):
        click.echo("(no events)")
    else:
        # Command lines and messages run to kilobytes: cut them for the terminal.
        def cut(value: Any) -> str:
            text = "" if value is None or value != value else str(value)
            text = text.replace("\r", " ").replace("\n", " ")
            return text if len(text) <= TABLE_WIDTH else text[: TABLE_WIDTH - 1] + "…"

        click.echo(frame.to_string(index=False, formatters={c: cut for c in frame.columns}))


@click.command()
@click.argument("query", required=False, default="*")
@click.option("--index", default="huntlab", show_default=True, help="index, alias or pattern")
@click.option(
    "--fields", help="comma-separated columns (default: all; a few core ones for --format table)"
)
@click.option("--start", help="from this @timestamp (inclusive), e.g. 2019-03-19T19:30:00Z")
@click.option("--end", help="up to this @timestamp (exclusive)")
@click.option("--limit", type=int, default=100, show_default=True, help="0: no limit")
@format_option("table", "csv", default="table")
@click.option("--all-fields", is_flag=True, help="every column, not only the core ones")
@es_options
def query(
    query: str,
    index: str,
    fields: str | None,
    start: str | None,
    end: str | None,
    limit: int,
    fmt: str,
    all_fields: bool,
    settings: Settings,
) -> None:
    """Search with a Lucene QUERY, e.g. "EventID:1 AND ParentImage:*WmiPrvSE.exe"."""
    from huntlab.es.query import search as run_search

    wanted = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    frame = run_search(
        query,
        index=index,
        fields=wanted,
        start=start,
        end=end,
        limit=limit or None,
        settings=settings,
    )
    if wanted is None and not all_fields and fmt == "table":
        core = ["@timestamp", "Hostname", "EventID", "Dataset", "Image", "CommandLine"]
        frame = frame[[c for c in core if c in frame.columns]]
    _emit(frame, fmt)
