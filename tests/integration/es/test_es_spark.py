"""Elasticsearch to Spark through the released connector, against the test node."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from huntlab.es import indices
from tests.support.fixtures.elasticsearch import Loaded

WMI_CHILD = "EventID:1 AND ParentImage:*WmiPrvSE.exe"


def test_wmi_child_query_through_spark(spark: Any, es_loaded_reports: Loaded) -> None:
    from pyspark.sql.types import IntegerType, StringType, TimestampType

    from huntlab.spark import read_es

    settings = es_loaded_reports.settings
    frame = read_es(spark, indices.ALIAS, WMI_CHILD, settings=settings)
    types = {f.name: f.dataType for f in frame.schema.fields}
    assert isinstance(types["@timestamp"], TimestampType)
    assert isinstance(types["EventID"], IntegerType)
    assert isinstance(types["Image"], StringType)
    rows = frame.select("Dataset", "EventID", "ParentImage", "@timestamp").collect()
    assert sorted(r["Dataset"] for r in rows) == sorted(es_loaded_reports.sources)
    assert all(r["EventID"] == 1 and r["ParentImage"].endswith("WmiPrvSE.exe") for r in rows)
    # Timestamps arrive as the same instants the reader gives (UTC session time zone).
    from huntlab.es import search

    expected = search(WMI_CHILD, settings=settings)
    # pyspark's collect() gives naive datetimes in the process's local time zone (the tests run
    # under a non-UTC TZ): compare instants.
    got = sorted(
        r["@timestamp"].astimezone(UTC).replace(tzinfo=None).isoformat() for r in rows
    )
    want = sorted(ts.tz_localize(None).isoformat() for ts in expected["@timestamp"])
    assert got == want


def test_spark_count_over_sysmon_equals_es_count(spark: Any, es_loaded: Any) -> None:
    from huntlab.es.client import client
    from huntlab.spark import read_es

    es_count = int(client(es_loaded).count(index=indices.SYSMON_INDEX)["count"])
    assert es_count > 0
    assert read_es(spark, indices.SYSMON_INDEX, settings=es_loaded).count() == es_count


def test_spark_writes_a_batch_the_connector_reads_back(spark: Any, es_settings: Any) -> None:
    """The connector also writes in batch with this Spark (the pin's other half)."""
    from datetime import UTC, datetime

    from huntlab.es.client import client
    from huntlab.spark import es_options

    index = "spark-write-check"
    rows = [
        (datetime(2019, 3, 19, 19, 31, 15, 524000, tzinfo=UTC), 1, "C:\\Windows\\cmd.exe"),
        (datetime(2020, 9, 21, 4, 14, 55, tzinfo=UTC), 4688, None),
    ]
    frame = spark.createDataFrame(rows, "`@timestamp` timestamp, EventID int, Image string")
    options = {**es_options(es_settings), "es.resource": index, "es.write.operation": "index"}
    es = client(es_settings)
    try:
        frame.write.format("org.elasticsearch.spark.sql").options(**options).mode("append").save()
        es.indices.refresh(index=index)
        assert int(es.count(index=index)["count"]) == 2
        back = (
            spark.read.format("org.elasticsearch.spark.sql")
            .options(**options, **{"es.mapping.date.rich": "true"})
            .load()
            .orderBy("EventID")
            .collect()
        )
        assert [r["EventID"] for r in back] == [1, 4688]
        assert back[0]["Image"] == "C:\\Windows\\cmd.exe" and back[1]["Image"] is None
    finally:
        es.options(ignore_status=404).indices.delete(index=index)
