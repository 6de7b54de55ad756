"""Elasticsearch to Spark through the released connector (``elasticsearch-spark-30``).

Columns come out in the canonical order: core fields first, then the rest alphabetically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from huntlab.readers.frame import column_order
from huntlab.settings import Settings
from huntlab.spark.connector import connector_options

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


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
