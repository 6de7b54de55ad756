"""The lab's SparkSession: its master, the Elasticsearch connector on, UTC throughout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from huntlab import versions
from huntlab.settings import Settings, load_settings
from huntlab.spark.connector import PACKAGE_EXCLUDES, es_options

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def session(
    app_name: str = "huntlab",
    master: str | None = None,
    settings: Settings | None = None,
    *,
    config: Mapping[str, str] | None = None,
) -> SparkSession:
    """The lab's SparkSession: master from settings (``spark_master``) unless given (e.g.
    ``"local[2]"``), the Elasticsearch connector on ``spark.jars.packages`` (fetched once into
    the download cache), ``es.*`` options from settings, UTC session time zone."""
    from pyspark.sql import SparkSession

    settings = settings or load_settings()
    conf: dict[str, str] = {
        "spark.jars.packages": versions.es_spark_connector(),
        "spark.jars.excludes": PACKAGE_EXCLUDES,
        "spark.jars.ivy": str(settings.cache / "ivy2"),
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.driver.memory": "2g",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Lab-sized data: the default 200 shuffle partitions only add scheduling overhead.
        "spark.sql.shuffle.partitions": "8",
    }
    conf.update({f"spark.{k}": v for k, v in es_options(settings).items()})
    conf.update(config or {})
    master = master or settings.spark_master
    builder = SparkSession.builder.appName(app_name).master(master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    secret = _lab_secret(settings, master)
    if secret is not None:
        _start_driver_jvm({**conf, "spark.master": master, "spark.app.name": app_name})
        # Set through py4j on the running JVM's SparkConf, never on spark-submit's argv.
        builder = builder.config("spark.authenticate", "true")
        builder = builder.config("spark.authenticate.secret", secret)
    return builder.getOrCreate()


def _lab_secret(settings: Settings, master: str) -> str | None:
    """The home's Spark secret when ``master`` is the native lab's own (which refuses any
    application without it); None for another master or a home without one."""
    from huntlab.lab.spark_auth import read_secret

    if not master.startswith("spark://") or master != settings.spark_master:
        return None
    return read_secret(settings.home)


def _start_driver_jvm(conf: Mapping[str, str]) -> None:
    """Launch the driver's JVM (PySpark's gateway) with ``conf`` unless it runs already.

    PySpark passes the options it holds when the JVM starts as ``--conf`` arguments of
    spark-submit, visible to every local user; started here first, the JVM exists when the
    session is built, and the options set afterwards (the secret) go to it through py4j.
    """
    from pyspark import SparkConf, SparkContext

    if SparkContext._gateway is None:
        SparkContext._ensure_initialized(conf=SparkConf(loadDefaults=False).setAll(list(conf.items())))
