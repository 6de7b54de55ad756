"""huntlab in Spark: the lab's session and the canonical event table as Spark DataFrames.

- ``session()``: the lab's SparkSession, Elasticsearch connector on (``session``);
- ``read_events(spark, source)``, ``event_schema(spark, source)``: recordings read by Spark
  into the canonical table (``events``);
- ``read_es(spark, index, query)``, ``connector_options``: an index through the connector
  (``es``);
- ``es_options``, ``truststore``: the connector's way to the cluster (``connector``).

pyspark is imported only when a function runs, so ``import huntlab.spark`` starts no JVM.
"""

from __future__ import annotations

from huntlab.spark.connector import TRUSTSTORE_PASSWORD, es_options, keytool, truststore
from huntlab.spark.es import SCROLL_SIZE, connector_options, read_es
from huntlab.spark.events import event_schema, read_events
from huntlab.spark.session import session

__all__ = [
    "SCROLL_SIZE",
    "TRUSTSTORE_PASSWORD",
    "connector_options",
    "es_options",
    "event_schema",
    "keytool",
    "read_es",
    "read_events",
    "session",
    "truststore",
]
