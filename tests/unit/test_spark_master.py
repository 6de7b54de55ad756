"""Spark master URLs and `huntlab up --spark-master`'s choice, without a cluster: what is
accepted, what is refused and with which words, and what the home keeps."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from huntlab.errors import HuntlabError
from huntlab.lab.native.plan import EXTERNAL_MASTER_KEY, external_master
from huntlab.lab.native.spark import choose_master
from huntlab.settings import load_settings
from huntlab.spark.auth import ensure_secret, secret_path
from huntlab.spark.master import driver_address, parse_master, reachable


def test_master_urls_parse_into_hosts_and_ports() -> None:
    assert parse_master("spark://10.0.0.5:7077") == [("10.0.0.5", 7077)]
    assert parse_master("spark://a.example:7077,b.example:7078/") == [
        ("a.example", 7077),
        ("b.example", 7078),
    ]
    assert parse_master("spark://[::1]:7077") == [("::1", 7077)]
    for bad in ("local[2]", "spark://host", "spark://host:0", "spark://host:99999", "host:7077",
                "spark://a b:7077"):  # fmt: skip
        with pytest.raises(HuntlabError, match="HOST:PORT"):
            parse_master(bad)


def test_the_driver_serves_on_loopback_for_a_local_master_else_on_the_route_to_it() -> None:
    assert driver_address("spark://127.0.0.1:7077") == "127.0.0.1"
    assert driver_address("spark://localhost:7077") == "127.0.0.1"
    # A documentation address (TEST-NET-1): routed like any remote master, never contacted.
    routed = driver_address("spark://192.0.2.10:7077")
    assert routed and not routed.startswith("127."), routed


def test_an_unanswering_master_is_reported_with_its_address() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        problem = reachable(f"spark://127.0.0.1:{port}", timeout=2)
    assert problem and f"127.0.0.1:{port}" in problem


def test_choosing_an_existing_cluster_and_back(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    said: list[str] = []
    own = ensure_secret(home)
    given = tmp_path / "cluster-secret"
    given.write_text("the-cluster-secret\nignored second line\n")
    with pytest.raises(HuntlabError, match="--spark-secret-file"):
        choose_master(home, "spark://spark.example:7077", None, said.append)
    with pytest.raises(HuntlabError, match="no secret on its first line"):
        choose_master(home, "spark://spark.example:7077", str(tmp_path / "missing"), said.append)
    with pytest.raises(HuntlabError, match="goes with --spark-master"):
        choose_master(home, None, str(tmp_path / "missing"), said.append)
    # A master that does not answer (a typo): refused before anything changes.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        with pytest.raises(HuntlabError, match=r"does not answer.*nothing changed"):
            choose_master(home, f"spark://127.0.0.1:{port}", str(given), said.append)
    assert external_master(home) is None and secret_path(home).read_text().strip() == own

    with socket.socket() as master:  # a port that answers, as a master's does
        master.bind(("127.0.0.1", 0))
        master.listen()
        url = f"spark://127.0.0.1:{master.getsockname()[1]}"
        choose_master(home, url, str(given), said.append)
    assert external_master(home) == url
    assert secret_path(home).read_text() == "the-cluster-secret\n"
    assert secret_path(home).stat().st_mode & 0o777 == 0o600
    stored = json.loads((home / "config.json").read_text())
    assert stored[EXTERNAL_MASTER_KEY] == url
    assert load_settings(home=home).spark_network_crypto is True

    choose_master(home, None, None, said.append)  # a rerun without the flag keeps the choice
    assert external_master(home) == url
    choose_master(home, "local", None, said.append)
    assert external_master(home) is None
    assert not secret_path(home).exists()  # the lab's own master makes a new one
    assert load_settings(home=home).spark_network_crypto is False
    assert any("own Spark" in line for line in said), said


def test_a_boolean_setting_says_which_values_it_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUNTLAB_SPARK_NETWORK_CRYPTO", "yes")
    assert load_settings(home=tmp_path).spark_network_crypto is True
    monkeypatch.setenv("HUNTLAB_SPARK_NETWORK_CRYPTO", "maybe")
    with pytest.raises(HuntlabError, match="HUNTLAB_SPARK_NETWORK_CRYPTO"):
        load_settings(home=tmp_path)
