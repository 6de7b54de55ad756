"""``huntlab fetch`` against the real download cache: what the native engines need is there
afterwards, and a second run downloads nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from huntlab import versions
from huntlab.lab.native.fetch import connector_jar
from huntlab.settings import load_settings


def test_fetch_fills_the_cache_and_is_idempotent() -> None:
    runs = [
        subprocess.run(
            [sys.executable, "-m", "huntlab", "fetch", "--quiet"],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        for _ in range(2)
    ]
    for done in runs:
        assert done.returncode == 0, done.stderr[-3000:]
    settings = load_settings()
    dist = settings.cache / "elasticsearch" / f"elasticsearch-{versions.elastic_version()}"
    assert runs[1].stdout.splitlines() == [str(dist), str(connector_jar(settings))]
    assert (dist / "bin" / "elasticsearch").is_file()
    assert (dist / "plugins" / "huntlab-root" / ".source-sha256").is_file()
    assert connector_jar(settings).is_file()
    # Everything was there already: the second run fetched nothing.
    assert "fetching" not in runs[1].stderr


def test_the_connector_is_resolved_quietly_then_used_without_ivy(tmp_path: Path) -> None:
    """A cache without the connector: `huntlab fetch` has Spark's Ivy resolve it from Maven
    Central, keeping Ivy's report to itself; a session then loads that jar (no resolution)."""
    settings = load_settings()
    cache = tmp_path / "cache"
    cache.mkdir()
    # The Elasticsearch distribution as it is (hundreds of MB): only the connector is missing.
    (cache / "elasticsearch").symlink_to(settings.cache / "elasticsearch")
    env = {**os.environ, "HUNTLAB_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-m", "huntlab", "fetch"], env=env,
                          capture_output=True, text=True, timeout=1200, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    jar = connector_jar(load_settings(cache=cache))
    assert jar.is_file() and done.stdout.splitlines()[-1] == str(jar)
    said = done.stdout + done.stderr
    for noise in (":: loading settings ::", "resolving dependencies", "confs: [default]"):
        assert noise not in said, said[-3000:]
    assert f"fetching {versions.es_spark_connector()}" in done.stderr
    from huntlab.spark.connector import connector_conf

    assert connector_conf(cache) == {"spark.jars": str(jar)}
