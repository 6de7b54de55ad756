"""Expected failures of the Elasticsearch commands are one `huntlab: error:` line, no traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
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


def _broken_archive(folder: Path, datasets_dir: Path) -> Path:
    """A real recording with line 101 broken, zipped as users download them."""
    with tarfile.open(datasets_dir / "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".json"))
        source = tar.extractfile(member)
        assert source is not None
        lines = source.read().splitlines(keepends=True)[:300]
    lines[100] = b'{"EventID": 1, "Image": }\n'
    path = folder / "broken.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("broken.json", b"".join(lines))
    return path


def test_a_bad_line_names_one_line_and_the_command_that_was_run(
    es_settings: Settings, tmp_path: Path, datasets_dir: Path
) -> None:
    broken = _broken_archive(tmp_path, datasets_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTLAB_")}
    env["HUNTLAB_HOME"] = str(es_settings.home)
    load = ["--dataset", "broken-cli", "--no-progress", "--es-url", es_settings.es_url]
    for command, extra in (("read", []), ("load", load)):
        done = subprocess.run([sys.executable, "-m", "huntlab", command, str(broken), *extra],
                              capture_output=True, text=True, timeout=300, env=env, check=False)  # fmt: skip
        assert done.returncode == 1, done
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith(f"huntlab: error: {broken}!broken.json, line 101: not JSON at column ")
        assert f"rerun `huntlab {command}` with --errors skip" in lines[0], lines[0]
        assert len(re.findall(r"line \d+", lines[0])) == 1, lines[0]  # one line number
        # The hint works as written: the bad line set aside, every other one read or indexed.
        done = subprocess.run([sys.executable, "-m", "huntlab", command, str(broken), *extra,
                               "--errors", "skip"],
                              capture_output=True, text=True, timeout=300, env=env, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        said = done.stdout[-3000:] + done.stderr[-3000:]
        assert re.search(r"\b299\b", said) and re.search(r"rejected:? 1\b", said), said
