"""Bring your own Elasticsearch: HTTPS, user/password and a CA, for the Python client and Spark.

A second native node (tests.support.es_secured, in its own temporary home, on a free port) runs
with security and HTTP TLS on, the reserved ``elastic`` user and a usable ``.security`` index.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from huntlab.es import indices
from huntlab.settings import Settings
from tests.support.pki import make_ca, pem

DATASET = "windows/psh_lsass_memory_dump_comsvcs/psh_lsass_memory_dump_comsvcs.zip"


@dataclass(frozen=True)
class TlsNode:
    settings: Settings
    wrong_ca: Path


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsNode]:
    """A native node with security and HTTP TLS on, stopped at the end of the module."""
    from tests.support.es_secured import secured_node

    home = tmp_path_factory.mktemp("es-tls-home")
    pki = tmp_path_factory.mktemp("es-tls-pki")
    with secured_node(home, pki) as node:
        yield TlsNode(node.settings, node.wrong_ca)


@dataclass(frozen=True)
class TlsLoaded:
    settings: Settings
    wrong_ca: Path
    expected: int


@pytest.fixture(scope="module")
def tls_loaded(tls_node: TlsNode, datasets_dir: Path) -> TlsLoaded:
    import huntlab
    from huntlab.es import load
    from huntlab.es.setup import setup

    source = datasets_dir / DATASET
    expected = len(huntlab.read_events(source))
    assert expected > 0
    setup(tls_node.settings)
    report = load(source, tls_node.settings, progress=False)
    assert report.indexed == expected, report
    return TlsLoaded(tls_node.settings, tls_node.wrong_ca, expected)


def test_plain_http_is_refused_by_the_tls_node(tls_node: TlsNode) -> None:
    from huntlab.errors import ServiceError
    from huntlab.es import search

    port = tls_node.settings.es_port
    with pytest.raises(ServiceError, match="does not answer"):
        search(settings=replace(tls_node.settings, es_url=f"http://127.0.0.1:{port}", es_ca=None))


def test_load_and_search_over_https(tls_loaded: TlsLoaded) -> None:
    from huntlab.es import search
    from huntlab.es.client import client

    settings = tls_loaded.settings
    es = client(settings)
    assert es.security.authenticate()["username"] == "elastic"
    assert int(es.count(index=indices.ALIAS)["count"]) == tls_loaded.expected
    frame = search(settings=settings)
    assert len(frame) == tls_loaded.expected
    assert set(frame["Dataset"].astype(str)) == {"psh_lsass_memory_dump_comsvcs"}
    hits = search("CommandLine:*comsvcs*", settings=settings)
    assert len(hits) > 0
    assert hits["CommandLine"].astype(str).str.contains("comsvcs", case=False).all()


def test_cli_query_with_es_ca(tls_loaded: TlsLoaded, tmp_path: Path) -> None:
    import pandas as pd
    from click.testing import CliRunner

    from huntlab.cli import cli

    s = tls_loaded.settings
    args = ["query", "*", "--limit", "0", "--format", "csv", "--fields", "EventID,Dataset"]
    args += ["--es-url", s.es_url, "--es-user", "elastic", "--es-ca", str(s.es_ca)]
    # The password as documented: in the environment, not on the command line.
    env = {"HUNTLAB_HOME": str(tmp_path), "HUNTLAB_ES_PASSWORD": s.es_password or ""}
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(io.StringIO(result.output))) == tls_loaded.expected


def test_wrong_ca_fails_clearly(tls_node: TlsNode) -> None:
    from huntlab.errors import ServiceError
    from huntlab.es import search

    settings = replace(tls_node.settings, es_ca=str(tls_node.wrong_ca))
    with pytest.raises(ServiceError, match=r"TLS verification against the CA in .*other-ca\.crt"):
        search(settings=settings)


def test_no_password_is_a_clear_401(tls_node: TlsNode) -> None:
    from huntlab.errors import ServiceError
    from huntlab.es import search

    with pytest.raises(ServiceError, match=r"401 unauthorized, user 'elastic' given"):
        search(settings=replace(tls_node.settings, es_password=None))
    with pytest.raises(ServiceError, match=r"401 unauthorized, no credentials given"):
        search(settings=replace(tls_node.settings, es_user=None, es_password=None))


def test_spark_reads_over_https_with_the_truststore(spark: Any, tls_loaded: TlsLoaded) -> None:
    from huntlab.spark import es_options, read_es, truststore

    settings = tls_loaded.settings
    options = es_options(settings)
    store = truststore(str(settings.es_ca), settings)
    assert store.parent == settings.cache / "truststores" and store.suffix == ".p12"
    assert options["es.net.ssl"] == "true"
    assert options["es.net.ssl.truststore.location"] == store.as_uri()
    assert options["es.net.http.auth.user"] == "elastic"
    assert "es.net.ssl.cert.allow.self.signed" not in options
    # Built once: the same CA maps to the same, untouched file.
    mtime = store.stat().st_mtime_ns
    assert truststore(str(settings.es_ca), settings) == store
    assert store.stat().st_mtime_ns == mtime

    frame = read_es(spark, indices.ALIAS, settings=settings)
    assert frame.count() == tls_loaded.expected


def test_spark_with_the_wrong_ca_fails(spark: Any, tls_loaded: TlsLoaded) -> None:
    from huntlab.errors import ServiceError
    from huntlab.spark import connector_options, read_es

    settings = replace(tls_loaded.settings, es_ca=str(tls_loaded.wrong_ca))
    # read_es probes first and names the CA file.
    with pytest.raises(ServiceError, match=r"TLS verification against the CA in .*other-ca\.crt"):
        read_es(spark, indices.ALIAS, settings=settings)
    # The connector itself enforces trust too: it logs the PKIX handshake failure and raises
    # "all nodes failed", no self-signed shortcut.
    options = connector_options(indices.ALIAS, settings=settings)
    with pytest.raises(Exception, match=r"Cannot detect ES version|all nodes failed"):
        spark.read.format("org.elasticsearch.spark.sql").options(**options).load().count()


@pytest.fixture(scope="module")
def api_key_settings(tls_loaded: TlsLoaded) -> Settings:
    """The secured node reached with an API key only (no user, no password), the key limited
    to the huntlab indexes, as a team would hand one to an analyst's notebook."""
    from huntlab.es.client import client

    key = client(tls_loaded.settings).security.create_api_key(
        name="huntlab-test-analyst",
        role_descriptors={
            "huntlab_analyst": {
                "cluster": ["monitor"],
                "indices": [
                    {
                        "names": [indices.PATTERN, indices.ALIAS],
                        "privileges": ["read", "write", "view_index_metadata", "maintenance"],
                    }
                ],
            }
        },
    )
    return replace(tls_loaded.settings, es_user=None, es_password=None, es_api_key=key["encoded"])


def test_api_key_loads_searches_and_queries(
    api_key_settings: Settings, tls_loaded: TlsLoaded, datasets_dir: Path, tmp_path: Path
) -> None:
    import pandas as pd
    from click.testing import CliRunner

    from huntlab.cli import cli
    from huntlab.es import load, search
    from huntlab.es.client import client

    settings = api_key_settings
    es = client(settings)
    assert es.security.authenticate()["authentication_type"] == "api_key"
    # Loading again with the key: same ids, so the count stays the reader's.
    report = load(datasets_dir / DATASET, settings, progress=False)
    assert (
        report.summary()
        == f"read {tls_loaded.expected} = indexed {tls_loaded.expected} + rejected 0"
    )
    assert int(es.count(index=indices.ALIAS)["count"]) == tls_loaded.expected
    assert len(search(settings=settings)) == tls_loaded.expected

    args = ["query", "EventID:*", "--limit", "0", "--format", "csv", "--fields", "EventID"]
    args += ["--es-url", settings.es_url, "--es-api-key", "-", "--es-ca", str(settings.es_ca)]
    env = {"HUNTLAB_HOME": str(tmp_path), "HUNTLAB_ES_USER": "", "HUNTLAB_ES_PASSWORD": ""}
    # The key on standard input (`--es-api-key -`): never in the process list.
    result = CliRunner().invoke(cli, args, env=env, input=f"{settings.es_api_key}\n")
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(io.StringIO(result.output))) == tls_loaded.expected


def test_read_only_api_key_reads_and_gets_a_clear_403_elsewhere(
    tls_loaded: TlsLoaded, api_key_settings: Settings
) -> None:
    """A key with no cluster privilege (not even `monitor` for the health probe) and only
    `read` on the huntlab indexes: searching works, anything else is a 403 that says why."""
    from huntlab.errors import ServiceError
    from huntlab.es import search
    from huntlab.es.client import client

    key = client(tls_loaded.settings).security.create_api_key(
        name="huntlab-test-reader",
        role_descriptors={
            "huntlab_reader": {"indices": [{"names": [indices.PATTERN], "privileges": ["read"]}]}
        },
    )
    reader = replace(api_key_settings, es_api_key=key["encoded"])
    assert len(search(index=indices.PATTERN, settings=reader)) == tls_loaded.expected
    with pytest.raises(ServiceError, match=r"403 forbidden, an API key given\): .*not-huntlab"):
        search(index="not-huntlab", settings=reader)


def test_write_only_api_key_loads(
    tls_loaded: TlsLoaded, api_key_settings: Settings, datasets_dir: Path
) -> None:
    """A shipper's key: `write` on the huntlab indexes and nothing else. The loader cannot
    tune refresh or refresh at the end (403), and loads all the same."""
    from huntlab.es import load
    from huntlab.es.client import client

    key = client(tls_loaded.settings).security.create_api_key(
        name="huntlab-test-writer",
        role_descriptors={
            "huntlab_writer": {"indices": [{"names": [indices.PATTERN], "privileges": ["write"]}]}
        },
    )
    writer = replace(api_key_settings, es_api_key=key["encoded"])
    report = load(datasets_dir / DATASET, writer, progress=False)
    n = tls_loaded.expected
    assert report.summary() == f"read {n} = indexed {n} + rejected 0"
    es = client(tls_loaded.settings)
    es.indices.refresh(index=indices.PATTERN)
    assert int(es.count(index=indices.ALIAS)["count"]) == n
    refresh = es.indices.get_settings(
        index=indices.PATTERN, name="index.refresh_interval", include_defaults=True
    )
    assert all("-1" not in str(body) for body in refresh.body.values()), (
        "a load must never leave refresh turned off"
    )


def test_spark_reads_with_an_api_key(
    spark: Any, api_key_settings: Settings, tls_loaded: TlsLoaded
) -> None:
    from huntlab.spark import es_options, read_es

    options = es_options(api_key_settings)
    assert options["es.net.http.header.Authorization"].startswith("ApiKey ")
    assert "es.net.http.auth.user" not in options
    assert read_es(spark, indices.ALIAS, settings=api_key_settings).count() == tls_loaded.expected


def test_missing_keytool_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from huntlab.errors import HuntlabError
    from huntlab.java import find_java
    from huntlab.settings import load_settings
    from huntlab.spark import truststore

    ca = tmp_path / "ca.crt"
    ca.write_bytes(pem(make_ca("keytool-less CA")[0]))
    # keytool comes from the Java huntlab finds (huntlab.java); point it at a Java 17 without
    # one, as a JRE is.
    jre = tmp_path / "jre"
    (jre / "bin").mkdir(parents=True)
    (jre / "bin" / "java").symlink_to(find_java().home / "bin" / "java")
    monkeypatch.setenv("HUNTLAB_JAVA_HOME", str(jre))
    settings = load_settings(home=tmp_path, cache=tmp_path / "cache")
    with pytest.raises(HuntlabError, match=r"keytool not found: .*no bin/keytool"):
        truststore(ca, settings)


def test_a_ca_bundle_becomes_one_truststore_entry_per_certificate(tmp_path: Path) -> None:
    import subprocess

    from huntlab.settings import load_settings
    from huntlab.spark import TRUSTSTORE_PASSWORD, keytool, truststore

    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pem(make_ca("first CA")[0]) + pem(make_ca("second CA")[0]))
    store = truststore(bundle, load_settings(home=tmp_path, cache=tmp_path / "cache"))
    listing = subprocess.run(
        [str(keytool()), "-list", "-keystore", str(store), "-storepass", TRUSTSTORE_PASSWORD],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert listing.count("trustedCertEntry") == 2, listing
