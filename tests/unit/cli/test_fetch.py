"""``huntlab fetch``: its place in the CLI, and what it says when it cannot download.

The download itself (Maven Central, Ivy) is exercised against the real cache by
tests/integration/es/test_fetch.py and, from a fresh home, by install.sh in tests/e2e/lab.
"""

from __future__ import annotations

import os
from pathlib import Path

from huntlab.lab.processes import free_ports
from tests.support.cli import run_huntlab as huntlab


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTLAB_")}
    env.update({"HUNTLAB_HOME": str(tmp_path / "home"), **extra})
    return env


def test_fetch_is_a_command_with_help(tmp_path: Path) -> None:
    listed = huntlab("--help", env=_env(tmp_path))
    assert listed.returncode == 0
    assert "fetch" in listed.stdout
    helped = huntlab("fetch", "--help", env=_env(tmp_path))
    assert helped.returncode == 0
    assert "--cache" in helped.stdout


def test_fetch_rejects_an_unknown_option(tmp_path: Path) -> None:
    done = huntlab("fetch", "--no-such-option", env=_env(tmp_path))
    assert done.returncode == 2
    assert "no such option" in done.stderr.lower()


def test_fetch_offline_with_an_empty_cache_says_what_failed_and_what_to_do(
    tmp_path: Path,
) -> None:
    """No network (a proxy that refuses every connection) and nothing cached: exit 1, the URL
    that failed and where to put the file, no traceback, nothing half-written left behind."""
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    cache = tmp_path / "cache"
    env = _env(tmp_path, https_proxy=dead, HTTPS_PROXY=dead, http_proxy=dead, HTTP_PROXY=dead)
    env.pop("no_proxy", None)
    env.pop("NO_PROXY", None)
    done = huntlab("fetch", "--quiet", "--cache", str(cache), env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "huntlab: error:" in done.stderr
    assert "repo1.maven.org" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    leftovers = [p.name for p in (cache / "elasticsearch").glob("*")]
    assert not [name for name in leftovers if name.endswith((".zip", ".part", ".verified"))]
