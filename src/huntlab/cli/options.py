"""The options several commands share.

``format_option`` is the one ``--format``: each command's own layouts (table, csv) plus
``json``, always one JSON array of records, and ``jsonl`` (alias ``ndjson``), one JSON object
per line; ``write_records`` and ``echo_frame`` print them.

``@es_options`` adds ``--es-url``, ``--es-user``, ``--es-password``, ``--es-api-key`` and
``--es-ca`` and hands the command a ready ``settings`` (flag > ``HUNTLAB_ES_*`` > the home's
config.json > default).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = [
    click.option("--es-url", help="Elasticsearch URL [env HUNTLAB_ES_URL; default the lab's]"),
    click.option("--es-user", help="user for basic auth [env HUNTLAB_ES_USER]"),
    click.option(
        "--es-password",
        help="password for basic auth: prefer the variable HUNTLAB_ES_PASSWORD, or '-' to read "
        "it from standard input (a value here shows in the process list)",
    ),
    click.option(
        "--es-api-key",
        help="API key (instead of user/password): prefer HUNTLAB_ES_API_KEY, or '-' to read it "
        "from standard input",
    ),
    click.option(
        "--es-ca",
        type=click.Path(exists=True, dir_okay=False),
        help="CA certificate (PEM) to trust for https [env HUNTLAB_ES_CA]",
    ),
]


# The readers' choice for a bad line, shared by `huntlab read` and `huntlab load`.
errors_option = click.option(
    "--errors",
    type=click.Choice(["raise", "skip"]),
    default="raise",
    show_default=True,
    help="What to do with a bad line: stop with an error, or set it aside and go on.",
)


JSON_FORMATS = ("json", "jsonl", "ndjson")


def _same_jsonl(ctx: click.Context, param: click.Parameter, value: str) -> str:
    return "jsonl" if value == "ndjson" else value


def format_option(*layouts: str, default: str, help: str = "") -> Callable[[F], F]:
    """``--format`` (passed as ``fmt``): ``layouts`` plus json (an array) and jsonl/ndjson."""
    described = "json: one JSON array; jsonl (or ndjson): one JSON object per line."
    return click.option(
        "--format",
        "fmt",
        type=click.Choice([*layouts, *JSON_FORMATS]),
        default=default,
        show_default=True,
        callback=_same_jsonl,
        help=f"{help} {described}".strip(),
    )


def write_records(records: Iterable[dict[str, Any]], fmt: str) -> None:
    """Stream ``records`` to stdout as one JSON array (json) or JSON lines (jsonl)."""
    import orjson

    out = sys.stdout.buffer
    if fmt == "jsonl":
        for record in records:
            out.write(orjson.dumps(record, default=str) + b"\n")
    else:
        # "[" goes out with the first record, so an error before it leaves no stray bracket.
        sep = b"["
        for record in records:
            out.write(sep + orjson.dumps(record, default=str))
            sep = b",\n"
        out.write(b"[]\n" if sep == b"[" else b"]\n")
    out.flush()


def echo_frame(frame: Any, fmt: str) -> None:
    """A pandas frame as json (one array) or jsonl, ISO timestamps."""
    text = frame.to_json(orient="records", lines=fmt == "jsonl", date_format="iso")
    click.echo(
        text if fmt == "json" or not text or text.endswith("\n") else text + "\n", nl=fmt == "json"
    )


def _secret(flag: str, variable: str, value: str | None) -> str | None:
    """A secret given as an option: ``-`` reads one line from standard input; a literal value
    works but is visible to every local account in the process list, so say so."""
    if value == "-":
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise click.UsageError(f"{flag} -: nothing on standard input")
        return line
    if value is not None:
        click.echo(
            f"huntlab: warning: {flag} on the command line is visible to other local users "
            f"(ps); set {variable} or pass {flag} - and the value on standard input",
            err=True,
        )
    return value


def es_options(command: F) -> F:
    """Add the Elasticsearch options; the command receives ``settings`` instead of them."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        es_url: str | None,
        es_user: str | None,
        es_password: str | None,
        es_api_key: str | None,
        es_ca: str | None,
        **kwargs: Any,
    ) -> Any:
        from huntlab.settings import load_settings

        kwargs["settings"] = load_settings(
            es_url=es_url,
            es_user=es_user,
            es_password=_secret("--es-password", "HUNTLAB_ES_PASSWORD", es_password),
            es_api_key=_secret("--es-api-key", "HUNTLAB_ES_API_KEY", es_api_key),
            es_ca=es_ca,
        )
        return command(*args, **kwargs)

    decorated: Any = wrapper
    for option in reversed(_OPTIONS):
        decorated = option(decorated)
    result: F = decorated
    return result


def bounds_options(command: F) -> F:
    """Add ``--max-record-bytes`` and ``--max-decompression-ratio``, the readers' input
    bounds (docs/event-mapping.md, "Limits"), shared by `huntlab read` and `huntlab load`."""
    from huntlab.readers.sources import (
        DECOMPRESSION_FLOOR,
        MAX_DECOMPRESSION_RATIO,
        MAX_RECORD_BYTES,
    )

    floor_mib = DECOMPRESSION_FLOOR // (1024 * 1024)
    decorated: Any = click.option(
        "--max-decompression-ratio",
        type=click.IntRange(min=1),
        default=MAX_DECOMPRESSION_RATIO,
        show_default=True,
        help="How many times its compressed size an archive member or .gz file may expand "
        f"(and at least {floor_mib} MiB) before the read stops as a likely decompression "
        "bomb; raise it for a file you trust.",
    )(command)
    decorated = click.option(
        "--max-record-bytes",
        type=click.IntRange(min=1),
        default=MAX_RECORD_BYTES,
        show_default=True,
        help="Longest record (one line) accepted; a longer one is a bad line, rejected with "
        "its file and line and never held whole in memory.",
    )(decorated)
    result: F = decorated
    return result
