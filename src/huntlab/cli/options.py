"""The shared Elasticsearch options of every command that talks to a cluster.

``@es_options`` adds ``--es-url``, ``--es-user``, ``--es-password``, ``--es-api-key`` and
``--es-ca`` and hands the command a ready ``settings`` (flag > ``HUNTLAB_ES_*`` > the home's
config.json > default).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = [
    click.option("--es-url", help="Elasticsearch URL [env HUNTLAB_ES_URL; default the lab's]"),
    click.option("--es-user", help="user for basic auth [env HUNTLAB_ES_USER]"),
    click.option("--es-password", help="password for basic auth [env HUNTLAB_ES_PASSWORD]"),
    click.option(
        "--es-api-key", help="API key (instead of user/password) [env HUNTLAB_ES_API_KEY]"
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
            es_password=es_password,
            es_api_key=es_api_key,
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
