"""``huntlab read``: a dataset or file as the canonical event table, in the shell."""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Any

import click

from huntlab.cli.options import (
    bounds_options,
    echo_frame,
    errors_option,
    format_option,
    write_records,
)
from huntlab.readers.report import ReadReport

_TABLE_COLUMNS = ["@timestamp", "Hostname", "Channel", "EventID", "SourceName"]


def _echo_counts(report: ReadReport, source: str, *, expect_events: bool = True) -> None:
    if expect_events and report.read == 0 and report.rejected == 0 and not report.skipped:
        from huntlab.errors import HuntlabError

        # An empty result is a hunting tool's worst answer: say it loudly.
        what = (
            "check the file"
            if Path(source).expanduser().exists()
            else f"check the stored copy: `huntlab datasets get --verify {source}`"
        )
        raise HuntlabError(f"{source}: no events in it (empty, or only blank lines); {what}")
    click.echo(f"huntlab read: {report.summary()}", err=True)
    for name, fmt in report.files.items():
        click.echo(f"  {name}: {fmt}", err=True)
    for name, why in report.skipped.items():
        click.echo(f"  {name}: skipped, {why}", err=True)


def _condition(text: str) -> tuple[str, bool, str]:
    """``COLUMN=VALUE`` or ``COLUMN!=VALUE`` as (column, equal, value)."""
    column, sep, value = text.partition("=")
    equal = not column.endswith("!")
    column = column.rstrip("!").strip()
    if not sep or not column:
        raise click.BadParameter(
            f"{text!r}: expected COLUMN=VALUE or COLUMN!=VALUE (e.g. EventID=1)",
            param_hint="--where",
        )
    return column, equal, value


def _text(value: Any) -> str:
    """A cell as --where compares it, the same in the table and the stream: 1 for 1 or 1.0,
    empty for no value, a timestamp as the stream writes it (2019-03-19T19:31:56.948Z)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if hasattr(value, "tz_convert") and hasattr(value, "strftime"):  # a pandas Timestamp
        if value != value:  # NaT
            return ""
        utc = value.tz_convert("UTC") if value.tzinfo is not None else value
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _print_tables(source: str, limit: int | None, fmt: str) -> None:
    from huntlab.readers import read_tables

    for name, frame in read_tables(source).items():
        click.echo(f"== {name}: {len(frame):,} rows x {len(frame.columns)} columns", err=True)
        shown = frame.head(limit) if limit is not None else frame
        if fmt == "csv":
            click.echo(shown.to_csv(index=False), nl=False)
        elif fmt in ("json", "jsonl"):
            echo_frame(shown, fmt)
        else:
            click.echo(shown.to_string(max_colwidth=60))


@click.command("read")
@click.argument("source")
@errors_option
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where --errors skip writes rejected lines (JSON lines). "
    "Default: $HUNTLAB_HOME/rejects/<source>-<time>.jsonl.",
)
@format_option(
    "table",
    "csv",
    default="table",
    help="table: the first rows, for a look; csv, json, jsonl: every row, to pipe on.",
)
@click.option("--limit", type=click.IntRange(min=0), help="Rows to print (table: 20).")
@click.option(
    "--columns",
    help="Comma-separated columns to print (table: @timestamp, Hostname, Channel, EventID, "
    "SourceName; csv: all).",
)
@click.option(
    "--where",
    "conditions",
    multiple=True,
    metavar="COLUMN=VALUE",
    help="Only the events whose COLUMN is VALUE (COLUMN!=VALUE: is not); repeat to require "
    "each, e.g. --where EventID=1 --where Channel=Microsoft-Windows-Sysmon/Operational.",
)
@click.option("--dataset", help="The Dataset column's value (default: from the file name).")
@click.option(
    "--table",
    "as_tables",
    is_flag=True,
    help="Read Azure exports, Zeek or auditd logs as tables of their own.",
)
@bounds_options
def read(
    source: str,
    errors: str,
    rejects: Path | None,
    fmt: str,
    limit: int | None,
    columns: str | None,
    conditions: tuple[str, ...],
    dataset: str | None,
    as_tables: bool,
    max_record_bytes: int,
    max_decompression_ratio: int,
) -> None:
    """Read SOURCE (a dataset name or id, an archive, a JSON-lines file or a folder) into the
    canonical event table; print rows on stdout and the counts on stderr."""
    tests = [_condition(text) for text in conditions]
    if as_tables:
        if tests:
            raise click.BadParameter("goes with the event table, not --table", param_hint="--where")
        _print_tables(source, limit if limit is not None or fmt != "table" else 20, fmt)
        return
    report = ReadReport()
    options: dict[str, Any] = {
        "errors": errors,
        "rejects": rejects,
        "report": report,
        "max_record_bytes": max_record_bytes,
        "max_decompression_ratio": max_decompression_ratio,
    }
    wanted = [c.strip() for c in columns.split(",")] if columns else None
    if fmt in ("json", "jsonl"):
        # Streamed: canonical events as iter_events yields them.
        from huntlab.readers import iter_events

        seen: set[str] = set()

        def kept(event: dict[str, Any]) -> bool:
            seen.update(col for col, _, _ in tests if col in event)
            return all((_text(event.get(col)) == value) == equal for col, equal, value in tests)

        events = islice(
            (e for e in iter_events(source, dataset=dataset, **options) if kept(e)), limit
        )
        write_records(({k: e.get(k) for k in wanted} for e in events) if wanted else events, fmt)
        unknown = [col for col, _, _ in tests if col not in seen]
        if unknown and report.read and limit != 0:
            # No event had it: a misspelt column, not an answer (stated after the stream).
            raise click.BadParameter(
                f"no such column in {source}'s events: {', '.join(unknown)}", param_hint="--where"
            )
        _echo_counts(report, source, expect_events=limit != 0)
        return
    from huntlab.readers import read_events

    frame = read_events(source, dataset=dataset, **options)
    for column, equal, value in tests:
        if column not in frame.columns:
            raise click.BadParameter(f"no such column: {column}", param_hint="--where")
        same = frame[column].map(_text) == value
        frame = frame[same if equal else ~same]
    if wanted:
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise click.BadParameter(
                f"no such column(s): {', '.join(missing)}", param_hint="--columns"
            )
    if fmt == "csv":
        shown = frame[wanted] if wanted else frame
        shown = shown.head(limit) if limit is not None else shown
        click.echo(shown.to_csv(index=False), nl=False)
    else:
        shown = frame[wanted or [c for c in _TABLE_COLUMNS if c in frame.columns]]
        click.echo(shown.head(20 if limit is None else limit).to_string(max_colwidth=80))
        if len(frame):
            click.echo("\nby SourceName:", err=True)
            for name, count in frame["SourceName"].value_counts().items():
                if not count:
                    continue  # a category of the table that --where left out
                click.echo(f"  {count:>8,}  {name}", err=True)
    _echo_counts(report, source)
