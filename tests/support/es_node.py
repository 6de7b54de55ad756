"""Test nodes beyond the lab's own: a node with extra settings (security, TLS, tight limits),
a keystore, or another installation folder; and a node killed the hard way.

The product starts its node one way (:func:`huntlab.lab.native.elasticsearch.start`); tests
compose the same steps (install, write config, keystore, spawn, wait) with their additions.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Mapping
from pathlib import Path

from huntlab.java import find_java
from huntlab.lab import processes
from huntlab.lab.native import elasticsearch
from huntlab.lab.native.distribution import install
from huntlab.settings import Settings


def _add_config(config: Path, extra: Mapping[str, str]) -> None:
    """Extra ``elasticsearch.yml`` settings, replacing huntlab's of the same name."""
    lines = config.read_text(encoding="utf-8").splitlines()
    lines = [line for line in lines if line.split(":", 1)[0] not in extra]
    lines.append("# Extra settings given by the tests.")
    lines.extend(f"{key}: {value}" for key, value in extra.items())
    config.write_text("\n".join([*lines, ""]), encoding="utf-8")


def start_node(
    settings: Settings,
    *,
    extra_config: Mapping[str, str] | None = None,
    keystore: Mapping[str, str] | None = None,
    dist: Path | None = None,
    timeout: float = elasticsearch.START_TIMEOUT,
) -> int:
    """Start a node in ``settings.home`` and wait for health; return its pid.

    ``extra_config``: more ``elasticsearch.yml`` settings; ``keystore``: secure settings
    written to a new keystore; ``dist``: an installation other than the cached one. A node
    with HTTP TLS on is probed at ``settings.es_url`` (``https://127.0.0.1:<port>``) with the
    settings' credentials.
    """
    java = find_java()
    dist = dist or install(settings, java, progress=False)
    paths = elasticsearch.write_config(settings, dist)
    if extra_config:
        _add_config(paths.config / "elasticsearch.yml", extra_config)
    if keystore:
        elasticsearch.write_keystore(dist, paths, java, keystore)
    node = elasticsearch.spawn(settings, dist, java)
    url = settings.es_url if settings.es_url.startswith("https://") else None
    if url is None:
        elasticsearch.wait(settings, timeout)
        return node.pid
    headers = settings.auth_headers()
    processes.wait_until(
        lambda: elasticsearch.healthy(url, headers),
        what=f"Elasticsearch on {url}",
        log=paths.console_log,
        timeout=timeout,
        alive=lambda: elasticsearch.running(settings) is not None,
    )
    return node.pid


def kill_node(settings: Settings) -> None:
    """SIGKILL every process of the running node (launcher and server), as a crash would."""
    node = elasticsearch.running(settings)
    assert node is not None, "no node is running"
    for pid in processes.family(node.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
