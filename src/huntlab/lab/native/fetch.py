"""What the native engines download, fetched ahead of time into the shared cache.

``huntlab fetch`` (and install.sh) call :func:`fetch`, so that ``huntlab up`` and the first
notebook that opens a Spark session wait for no download, and the lab works offline after.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from huntlab import versions
from huntlab.errors import ServiceError
from huntlab.java import Java
from huntlab.lab.native.distribution import install
from huntlab.settings import Settings


def connector_jar(settings: Settings) -> Path:
    """Where Spark's Ivy puts the Elasticsearch connector (``huntlab.spark.session``)."""
    group, artifact, version = versions.es_spark_connector().split(":")
    return settings.cache / "ivy2" / "jars" / f"{group}_{artifact}-{version}.jar"


def fetch(
    settings: Settings, java: Java, say: Callable[[str], None], *, progress: bool = True
) -> list[Path]:
    """Download, once, the Elasticsearch distribution (unpacked, with its plugin built) and
    the Elasticsearch connector for Spark; return where they are in the cache."""
    dist = install(settings, java, progress=progress)
    jar = connector_jar(settings)
    if jar.is_file():
        return [dist, jar]
    say(f"huntlab: fetching {versions.es_spark_connector()} into {settings.cache / 'ivy2'}")
    # Spark resolves the connector through Ivy in a local session; pyspark starts its JVM from
    # JAVA_HOME, so it must be the Java found and checked for the lab (this process only).
    os.environ["JAVA_HOME"] = str(java.home)
    import huntlab.spark

    spark = huntlab.spark.session(
        app_name="huntlab-fetch",
        master="local[1]",
        settings=settings,
        config={"spark.ui.enabled": "false"},
    )
    spark.stop()
    if not jar.is_file():
        raise ServiceError(
            f"the Spark connector was not fetched into {jar}; check that "
            "Maven Central (repo1.maven.org) is reachable"
        )
    return [dist, jar]
