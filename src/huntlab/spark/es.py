"""Elasticsearch to Spark through the released connector (``elasticsearch-spark-30``).

The options that make huntlab events read correctly: ``es.mapping.date.rich`` so
``@timestamp`` is a TimestampType, the query sent as DSL (a Lucene string is wrapped in
``query_string``, so no URI escaping issue), large scroll pages, and arrays declared when the
index holds any (canonical events hold none: lists are stored as JSON text). Columns come out
in the canonical order: core fields first, then the rest alphabetically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from huntlab.es.query import build_query
from huntlab.readers.frame import column_order
from huntlab.settings import Settings
from huntlab.spark.connector import es_options

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SCROLL_SIZE = 5000


def connector_options(
    index: str,
    query: str | Mapping[str, Any] | None = None,
    settings: Settings | None = None,
    *,
    fields: Iterable[str] | None = None,
    array_fields: Iterable[str] | None = None,
    start: Any = None,
    end: Any = None,
) -> dict[str, str]:
    """The connector's options for one read of ``index`` (see above); with ``settings``, the
    cluster's options too (``es_options``)."""
    options: dict[str, str] = {
        "es.resource": index,
        "es.mapping.date.rich": "true",
        "es.read.metadata": "false",
        "es.scroll.size": str(SCROLL_SIZE),
        # A field mapped but absent from every document is null, not an error.
        "es.field.read.empty.as.null": "true",
    }
    if settings is not None:
        options.update(es_options(settings))
    if query is not None or start is not None or end is not None:
        options["es.query"] = orjson.dumps({"query": build_query(query, start, end)}).decode()
    if fields:
        options["es.read.field.include"] = ",".join(fields)
    if array_fields:
        options["es.read.field.as.array.include"] = ",".join(array_fields)
    return options


def read_es(
    spark: SparkSession,
    index: str,
    query: str | Mapping[str, Any] | None = None,
    settings: Settings | None = None,
    fields: Iterable[str] | None = None,
    *,
    array_fields: Iterable[str] | None = None,
    start: Any = None,
    end: Any = None,
    **options: str,
) -> DataFrame:
    """Events of ``index`` (index, alias or pattern) matching ``query`` (Lucene string or DSL
    dict) as a Spark DataFrame with the canonical columns.

    ``settings`` names the cluster (default: the session's ``spark.es.*`` configuration);
    extra ``options`` are passed to the connector as they are (``es.*`` keys). With
    ``settings``, the cluster is probed first from Python, so that a refused password or key,
    a wrong CA or a stopped node is reported as such (the connector says only "all nodes
    failed" and leaves the cause in its log).
    """
    if settings is not None:
        from huntlab.es.client import check, client

        check(client(settings), settings)

    conf = connector_options(
        index, query, settings, fields=fields, array_fields=array_fields, start=start, end=end
    )
    conf.update(options)
    frame = spark.read.format("org.elasticsearch.spark.sql").options(**conf).load()
    present = set(frame.columns)
    ordered = [name for name in column_order(frame.columns) if name in present]
    return frame.select(*[f"`{name}`" for name in ordered])
