"""What the containerised lab publishes, read from the Compose model itself.

``docker compose config`` renders docker/compose.yaml with a generated env file exactly as
``huntlab up --docker`` would run it; no engine is needed. Only JupyterLab may leave loopback,
and only over TLS; a ``--listen`` that disagrees with an existing env file is applied.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from huntlab.errors import HuntlabError
from huntlab.lab import docker
from huntlab.settings import load_settings

# Every port compose.yaml publishes (Logstash's under its profile), by service.
PUBLISHED = {
    "elasticsearch": {9200},
    "spark-master": {7077, 8080},
    "spark-worker": set(),  # scales: its UI is reached through the master's
    "jupyter": {8888},
    "logstash": {5044, 5000, 8090},
}


@pytest.fixture
def lab_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private env file and home; the developer's own compose settings kept out."""
    monkeypatch.setenv(docker.ENV_FILE_ENV, str(tmp_path / "lab.env"))
    monkeypatch.setenv("HUNTLAB_HOME", str(tmp_path / "home"))
    for key in (
        "HUNTLAB_LISTEN",
        docker.COMPOSE_FILES_ENV,
        docker.MIRROR_ENV,
        docker.PROJECT_ENV,
        "COMPOSE_FILE",
        "COMPOSE_PROFILES",
        "COMPOSE_PROJECT_NAME",
    ):
        monkeypatch.delenv(key, raising=False)
    return tmp_path / "lab.env"


def _render() -> dict[str, Any]:
    cmd = docker.compose_args("--profile", "logstash", "config", "--format", "json")
    done = subprocess.run(
        cmd, env=docker.compose_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = json.loads(done.stdout)
    return config


def _host_ips(config: dict[str, Any]) -> dict[tuple[str, int], str]:
    out = {}
    for name, service in config["services"].items():
        for port in service.get("ports", []):
            out[(name, int(port["target"]))] = port.get("host_ip", "")
    return out


def _configure(listen: str, **tls: Any) -> Path:
    settings = load_settings(listen=listen)
    return docker.configure_env(settings, **tls)


def test_loopback_listen_publishes_everything_on_loopback(lab_env: Path) -> None:
    _configure("127.0.0.1")
    ips = _host_ips(_render())
    expected = {(name, port) for name, ports in PUBLISHED.items() for port in ports}
    assert set(PUBLISHED) <= set(_render()["services"])
    assert set(ips) == expected
    assert set(ips.values()) == {"127.0.0.1"}, ips


def test_public_listen_moves_only_jupyter_and_serves_it_over_tls(lab_env: Path) -> None:
    _configure("0.0.0.0", tls_self_signed=True)
    config = _render()
    ips = _host_ips(config)
    assert ips.pop(("jupyter", 8888)) == "0.0.0.0"
    assert ips and set(ips.values()) == {"127.0.0.1"}, ips
    jupyter = config["services"]["jupyter"]
    env = jupyter["environment"]
    mounts = {v["target"]: v for v in jupyter["volumes"] if v["type"] == "bind"}
    for variable in ("JUPYTER_CERTFILE", "JUPYTER_KEYFILE"):
        mount = mounts[env[variable]]
        assert mount["read_only"] is True
        assert Path(mount["source"]).is_file()
    values = docker.read_env_file(lab_env)
    assert values["HUNTLAB_LISTEN"] == "0.0.0.0"


def test_public_listen_without_tls_is_refused(lab_env: Path) -> None:
    with pytest.raises(HuntlabError, match="TLS"):
        _configure("0.0.0.0")
    assert not lab_env.exists()
    # Nor on an existing env file: it stays as it was.
    _configure("127.0.0.1")
    before = lab_env.read_bytes()
    with pytest.raises(HuntlabError, match="TLS"):
        _configure("0.0.0.0")
    assert lab_env.read_bytes() == before


def test_a_listen_that_disagrees_with_the_env_file_is_applied(lab_env: Path) -> None:
    _configure("127.0.0.1")
    first = docker.read_env_file(lab_env)
    _configure("0.0.0.0", tls_self_signed=True)
    second = docker.read_env_file(lab_env)
    assert second["HUNTLAB_LISTEN"] == "0.0.0.0"
    for key in docker.SECRET_KEYS:
        assert second[key] == first[key], key  # the secrets are kept
    assert _host_ips(_render())[("jupyter", 8888)] == "0.0.0.0"
    # Back to loopback: applied too; TLS, once configured, stays on.
    _configure("127.0.0.1")
    assert docker.read_env_file(lab_env)["HUNTLAB_LISTEN"] == "127.0.0.1"
    assert set(_host_ips(_render()).values()) == {"127.0.0.1"}
    assert lab_env.stat().st_mode & 0o777 == 0o600


def test_env_file_holds_a_spark_secret(lab_env: Path) -> None:
    _configure("127.0.0.1")
    values = docker.read_env_file(lab_env)
    assert "SPARK_AUTH_SECRET" in docker.SECRET_KEYS
    assert len(values["SPARK_AUTH_SECRET"]) >= 32
    config = _render()
    # Given to the daemons and the notebook drivers through the environment, never argv.
    for name in ("spark-master", "spark-worker", "jupyter"):
        service = config["services"][name]
        assert service["environment"]["_SPARK_AUTH_SECRET"] == values["SPARK_AUTH_SECRET"]
        assert values["SPARK_AUTH_SECRET"] not in json.dumps(service.get("command", [])), name


def test_logstash_is_on_by_default_with_its_pki_mounted_and_off_when_asked(
    lab_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure("127.0.0.1")
    assert "logstash" in docker.compose_env()["COMPOSE_PROFILES"].split(",")
    logstash = _render()["services"]["logstash"]
    mount = next(v for v in logstash["volumes"] if v["target"] == "/usr/share/logstash/config/tls")
    assert mount["read_only"] is True
    assert {p.name for p in Path(mount["source"]).iterdir()} == {
        "ca.crt", "logstash.crt", "logstash.key"
    }
    assert logstash["environment"]["LOGSTASH_HTTP_PASSWORD"]
    monkeypatch.setenv(docker.LOGSTASH_KEY, "false")
    assert "logstash" not in docker.compose_env()["COMPOSE_PROFILES"].split(",")


def test_an_env_file_older_than_a_secret_still_runs_compose(lab_env: Path) -> None:
    """`down`, `ps` and `logs` on a lab whose env file predates LOGSTASH_HTTP_PASSWORD."""
    _configure("127.0.0.1")
    lines = [line for line in lab_env.read_text().splitlines()
             if not line.startswith("LOGSTASH_HTTP_PASSWORD=")]  # fmt: skip
    lab_env.write_text("\n".join(lines) + "\n")
    assert _render()["services"]["logstash"]["environment"]["LOGSTASH_HTTP_PASSWORD"]
    assert "LOGSTASH_HTTP_PASSWORD" not in docker.read_env_file(lab_env)


def test_the_team_server_publishes_only_the_hubs_https_door(lab_env: Path) -> None:
    path = _configure("0.0.0.0", tls_self_signed=True)
    docker._set_env_keys(path, {docker.TEAM_KEY: "true"})
    config = _render()
    assert "jupyter" not in config["services"]  # the hub replaces the single JupyterLab
    ips = _host_ips(config)
    assert ips.pop(("hub", 8443)) == "0.0.0.0"
    assert set(ips.values()) == {"127.0.0.1"}, ips
    hub = config["services"]["hub"]
    targets = {v["target"]: v for v in hub["volumes"]}
    assert targets["/etc/huntlab/tls/jupyter.key"]["read_only"] is True
    assert "/var/run/docker.sock" in targets
    assert hub["environment"]["HUNTLAB_PUBLIC_URL"].startswith("https://")
    assert hub["environment"]["HUNTLAB_HUB_NETWORK"] == f"{config['name']}_default"


def test_spark_workers_scale_without_fixed_names_or_ports(lab_env: Path) -> None:
    """`--spark-workers N` (SPARK_WORKERS) gives N replicas of one worker service: none with a
    fixed hostname or a published port, which would keep a second replica from starting."""
    _configure("127.0.0.1")
    worker = _render()["services"]["spark-worker"]
    assert worker["deploy"]["replicas"] == 1
    assert "hostname" not in worker and not worker.get("ports")
    assert "--host" not in worker["command"]
    docker._set_env_keys(lab_env, {"SPARK_WORKERS": "3"})
    assert _render()["services"]["spark-worker"]["deploy"]["replicas"] == 3
    assert docker.spark_workers() == 3
    docker._set_env_keys(lab_env, {"SPARK_WORKERS": "lots"})
    with pytest.raises(HuntlabError, match=r"SPARK_WORKERS='lots'.*whole number"):
        docker.spark_workers()


def test_the_url_given_to_people_names_this_host_as_its_certificate_does(lab_env: Path) -> None:
    _configure("127.0.0.1")
    assert docker.jupyter_door().startswith("http://127.0.0.1:")
    _configure("0.0.0.0", tls_self_signed=True)
    door = docker.jupyter_door()
    host = door.split("://", 1)[1].rsplit(":", 1)[0]
    assert door.startswith("https://") and host not in ("127.0.0.1", "0.0.0.0", "localhost")
    from cryptography import x509

    cert_file = docker.read_env_file(lab_env)["JUPYTER_TLS_CERT"]
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert host in names.get_values_for_type(x509.DNSName), (host, names)
