"""The hub's configuration as the hub process reads it (no hub started)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from traitlets.config import Config

from huntlab.errors import HuntlabError
from huntlab.lab.team import hub
from huntlab.lab.tls import TlsPair
from huntlab.settings import Settings


def _configured(home: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    settings = Settings(home=home, listen="0.0.0.0", jupyter_port=8443, hub_port=18881,
                        hub_proxy_api_port=18882)  # fmt: skip
    pair = TlsPair(home / "tls" / "c.crt", home / "tls" / "c.key")
    hub.write_hub_json(settings, tls_pair=pair, proxy=Path("/x/chp"), idle_timeout=900)
    monkeypatch.setenv("HUNTLAB_HOME", str(home))
    c = Config()
    hub.configure(c)
    return c


def test_only_the_door_leaves_loopback_and_idle_servers_are_culled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = _configured(tmp_path, monkeypatch)
    assert c.JupyterHub.bind_url == "https://0.0.0.0:8443"
    assert c.JupyterHub.ssl_cert.endswith("c.crt")
    assert c.JupyterHub.hub_bind_url == "http://127.0.0.1:18881"
    assert c.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:18882"
    culler = next(s for s in c.JupyterHub.services if s["name"] == "idle-culler")
    assert "--timeout=900" in culler["command"]
    cli = next(s for s in c.JupyterHub.services if s["name"] == hub.CLI_SERVICE)
    token = tmp_path / "team" / hub.API_TOKEN_FILE
    assert cli["api_token"] == token.read_text(encoding="ascii").strip()
    assert token.stat().st_mode & 0o077 == 0


def test_the_teams_local_config_runs_last_and_only_if_nobody_else_can_write_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "team" / hub.LOCAL_CONFIG
    local.parent.mkdir(parents=True)
    local.write_text('c.JupyterHub.authenticator_class = "generic-oauth"\n', encoding="utf-8")
    local.chmod(0o664)
    with pytest.raises(HuntlabError, match="writable by nobody else"):
        _configured(tmp_path, monkeypatch)
    local.chmod(0o644)
    if os.geteuid() != 0:
        with pytest.raises(HuntlabError, match="belong to root"):
            _configured(tmp_path, monkeypatch)
        return
    assert _configured(tmp_path, monkeypatch).JupyterHub.authenticator_class == "generic-oauth"


def test_hunters_memory_limit_reads_compose_sizes_and_refuses_others() -> None:
    from huntlab.errors import HuntlabError
    from huntlab.lab.team.docker_hub import memory_bytes

    assert memory_bytes("2g") == 2 * 1024**3
    assert memory_bytes("1536m") == 1536 * 1024**2
    assert memory_bytes("512M") == 512 * 1024**2
    assert memory_bytes("1073741824") == 1024**3
    with pytest.raises(HuntlabError, match="HUNTLAB_HUNTER_MEM_LIMIT"):
        memory_bytes("lots")
