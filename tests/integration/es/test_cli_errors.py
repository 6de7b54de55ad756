"""Expected failures of the Elasticsearch commands are one `huntlab: error:` line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from huntlab.settings import Settings


def test_a_query_elasticsearch_cannot_parse_is_one_clear_line(es_settings: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTLAB_")}
    env["HUNTLAB_HOME"] = str(es_settings.home)
    done = subprocess.run(
        [sys.executable, "-m", "huntlab", "query", "EventID:1 AND (", "--es-url", es_settings.es_url],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("huntlab: error: ")
    assert "(400)" in lines[0] and "Lucene syntax" in lines[0]
