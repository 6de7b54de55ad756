"""The lab's SparkSession: its master, the Elasticsearch connector on, UTC throughout."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from huntlab.settings import Settings, load_settings
from huntlab.spark.connector import connector_conf, es_options
from huntlab.spark.master import driver_address

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


# Settings that hold secrets (passwords, API keys, the Spark authentication secret). pyspark
# hands every setting it has before the JVM starts to spark-submit as `--conf key=value`, where
# any local user reads it in the process list; these are set over the py4j gateway instead, and
# the Spark UI redacts them (spark-defaults' spark.redaction.regex).
SECRET_SETTING = re.compile(r"(?i)secret|password|pass$|token|authorization|api.?key")


def _start_gateway(launch: Mapping[str, str]) -> None:
    """Start the driver JVM with only the non-secret settings on its command line (the ones
    spark-submit itself needs: packages, memory, Java options).

    The JVM inherits this process's file descriptors, and spark-submit writes to its
    standard output (Ivy's ":: loading settings ::" when it resolves packages), so it is
    started with its standard output on this process's standard error: a command's output
    (``huntlab hunts check --format jsonl``) holds its results only."""
    from pyspark import SparkConf, SparkContext

    conf = SparkConf(loadDefaults=False)
    for key, value in launch.items():
        conf.set(key, value)
    if SparkContext._gateway is not None:
        SparkContext._ensure_initialized(conf=conf)
        return
    with _stdout_on_stderr():
        SparkContext._ensure_initialized(conf=conf)


@contextlib.contextmanager
def _stdout_on_stderr() -> Iterator[None]:
    """File descriptor 1 points where 2 does for the duration (child processes started
    meanwhile keep it so); Python's own ``sys.stdout`` is flushed first."""
    import sys

    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no standard output at all: nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
    except OSError:  # no standard error: leave the output where it is
        os.close(saved)
        yield
        return
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def session(
    app_name: str = "huntlab",
    master: str | None = None,
    settings: Settings | None = None,
    *,
    config: Mapping[str, str] | None = None,
) -> SparkSession:
    """The lab's SparkSession: master from settings (``spark_master``) unless given (e.g.
    ``"local[2]"``), the Elasticsearch connector on the classpath (resolved once into
    the download cache), ``es.*`` options from settings, UTC session time zone."""
    from pyspark.sql import SparkSession

    settings = settings or load_settings()
    conf: dict[str, str] = {
        **connector_conf(settings.cache),
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.driver.memory": "2g",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Lab-sized data: the default 200 shuffle partitions only add scheduling overhead.
        "spark.sql.shuffle.partitions": "8",
        # Spark's default is ./spark-warehouse: a folder in whatever folder the notebook is.
        "spark.sql.warehouse.dir": str(settings.cache / "spark-warehouse"),
    }
    conf.update({f"spark.{k}": v for k, v in es_options(settings).items()})
    for key, value in (config or {}).items():
        if key in ("spark.jars", "spark.jars.packages") and conf.get(key):
            # The caller's jars beside the connector, not instead of it.
            value = f"{conf[key]},{value}"
        conf[key] = value
    master = master or settings.spark_master
    secret = _lab_secret(settings, master)
    if secret is not None:
        conf["spark.authenticate"] = "true"
        conf["spark.authenticate.secret"] = secret
        if settings.spark_network_crypto:
            # An existing cluster (huntlab up --spark-master URL): its executors connect back
            # to the driver, whose RPC and block manager serve on the address this host
            # reaches that master from, encrypted as well as authenticated. Its web UI stays
            # where SPARK_LOCAL_IP says (loopback in the lab).
            address = driver_address(master)
            conf["spark.network.crypto.enabled"] = "true"
            conf.setdefault("spark.driver.host", address)
            conf.setdefault("spark.driver.bindAddress", address)
    launch = {k: v for k, v in conf.items() if not SECRET_SETTING.search(k)}
    _start_gateway({**launch, "spark.master": master, "spark.app.name": app_name})
    builder = SparkSession.builder.appName(app_name).master(master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _lab_secret(settings: Settings, master: str) -> str | None:
    """The home's Spark secret when ``master`` is the native lab's own (which refuses any
    application without it); None for another master or a home without one."""
    from huntlab.spark.auth import read_secret

    if not master.startswith("spark://") or master != settings.spark_master:
        return None
    return read_secret(settings.home)
