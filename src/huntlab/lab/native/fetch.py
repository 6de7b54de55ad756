"""What the native engines download, fetched ahead of time into the shared cache.

``huntlab fetch`` (and install.sh) call :func:`fetch`, so that ``huntlab up`` and the first
notebook that opens a Spark session wait for no download, and the lab works offline after.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from huntlab import versions
from huntlab.errors import ServiceError
from huntlab.java import Java
from huntlab.lab.native.distribution import install
from huntlab.settings import Settings, verbose


def connector_jar(settings: Settings) -> Path:
    """Where Spark's Ivy puts the Elasticsearch connector (``huntlab.spark.session``)."""
    from huntlab.spark.connector import connector_jar as in_cache

    return in_cache(settings.cache)


# A local session, only to make Spark's Ivy resolve the connector into HUNTLAB_CACHE.
_RESOLVE = """
import huntlab.spark
spark = huntlab.spark.session(app_name="huntlab-fetch", master="local[1]",
                              config={"spark.ui.enabled": "false"})
spark.stop()
"""


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
    # Spark resolves the connector through Ivy in a local session, in a child process whose
    # output (Ivy's report, some 25 lines) is shown only if it fails. pyspark starts its JVM
    # from JAVA_HOME: the Java found and checked for the lab.
    env = {**os.environ, "JAVA_HOME": str(java.home), "HUNTLAB_CACHE": str(settings.cache)}
    done = subprocess.run(
        [sys.executable, "-c", _RESOLVE], env=env, capture_output=not verbose(), text=True,
        timeout=1800, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not jar.is_file():
        said = ((done.stdout or "") + (done.stderr or "")).strip()[-3000:] or "(above)"
        raise ServiceError(
            f"the Spark connector was not fetched into {jar}; check that Maven Central "
            f"(repo1.maven.org) is reachable. Spark said:\n{said}"
        )
    return [dist, jar]
