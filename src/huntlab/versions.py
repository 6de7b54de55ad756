"""Component versions, read from the one file that sets them (``versions.env``)."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def versions() -> dict[str, str]:
    """Return the ``KEY=VALUE`` pairs of ``versions.env`` (comments and blanks skipped)."""
    text = resources.files("huntlab").joinpath("versions.env").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip().strip('"')
    return out


def get(key: str) -> str:
    try:
        return versions()[key]
    except KeyError as exc:  # a programming error, not a user one
        raise KeyError(f"{key} is not set in huntlab/versions.env") from exc


def elastic_version() -> str:
    return get("ELASTIC_VERSION")


def spark_version() -> str:
    return get("SPARK_VERSION")


def es_spark_connector() -> str:
    """Maven coordinates of the Elasticsearch connector for Spark."""
    return get("ES_SPARK_CONNECTOR")
