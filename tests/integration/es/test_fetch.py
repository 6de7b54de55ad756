"""``huntlab fetch`` against the real download cache: what the native engines need is there
afterwards, and a second run downloads nothing."""

from __future__ import annotations

import subprocess
import sys

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
