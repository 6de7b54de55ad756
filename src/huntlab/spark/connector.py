"""The Elasticsearch connector for Spark (``elasticsearch-spark-30``): reaching the cluster.

``es_options`` gives the ``es.*`` options for the cluster of the settings (nodes, TLS,
credentials); over HTTPS with a CA file the connector needs a Java truststore, which
``truststore`` builds once with the ``keytool`` of the Java huntlab finds. The options of one
read (index, query, fields) are ``huntlab.spark.es.connector_options``.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from huntlab import versions
from huntlab.errors import HuntlabError
from huntlab.java import find_java
from huntlab.settings import Settings, cache_dir

# The connector's published POM lists modules that were never released
# (elasticsearch-hadoop-mr, elasticsearch-spark_2.12) and Spark itself; the jar is
# self-contained and pyspark brings Spark and Scala, so Ivy must skip them all.
PACKAGE_EXCLUDES = ",".join(
    [
        "org.elasticsearch:elasticsearch-hadoop-mr",
        "org.elasticsearch:elasticsearch-spark_2.12",
        "org.apache.spark:spark-core_2.12",
        "org.apache.spark:spark-sql_2.12",
        "org.apache.spark:spark-streaming_2.12",
        "org.apache.spark:spark-yarn_2.12",
        "org.scala-lang:scala-library",
        "org.scala-lang:scala-reflect",
        "org.slf4j:slf4j-api",
        "commons-logging:commons-logging",
        "javax.xml.bind:jaxb-api",
    ]
)


def connector_jar(cache: Path) -> Path:
    """Where Spark's Ivy puts the Elasticsearch connector, resolved once into ``cache``."""
    group, artifact, version = versions.es_spark_connector().split(":")
    return cache / "ivy2" / "jars" / f"{group}_{artifact}-{version}.jar"


def connector_conf(cache: Path) -> dict[str, str]:
    """The session settings that put the connector on the classpath: its jar once Ivy has
    resolved it (no resolution, and none of Ivy's report, at each session), else the
    package for Ivy to resolve into ``cache`` (the first time, or ``huntlab fetch``)."""
    jar = connector_jar(cache)
    if jar.is_file():
        return {"spark.jars": str(jar)}
    return {
        "spark.jars.packages": versions.es_spark_connector(),
        "spark.jars.excludes": PACKAGE_EXCLUDES,
        "spark.jars.ivy": str(cache / "ivy2"),
    }


# The truststore holds public certificates only; its password guards integrity, not secrets.
TRUSTSTORE_PASSWORD = "huntlab-truststore"
_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)


def es_options(settings: Settings) -> dict[str, str]:
    """Elasticsearch connector (es-hadoop) options for ``settings``: nodes, TLS, credentials.

    Over HTTPS with ``es_ca`` set, the connector trusts that CA through a PKCS12 truststore
    built from it once (see ``truststore``); without ``es_ca`` it uses the JVM's default trust.
    """
    url = urlsplit(settings.es_url)
    https = url.scheme == "https"
    options = {
        "es.nodes": url.hostname or "127.0.0.1",
        "es.port": str(url.port or (443 if https else 9200)),
        "es.net.ssl": "true" if https else "false",
        # Talk to the given address only: in containers or behind a proxy, the addresses
        # nodes publish are not reachable from the driver.
        "es.nodes.wan.only": "true",
    }
    if https and settings.es_ca:
        store = truststore(settings.es_ca, settings)
        options["es.net.ssl.truststore.location"] = store.as_uri()
        options["es.net.ssl.truststore.pass"] = TRUSTSTORE_PASSWORD
    if settings.es_api_key:
        options["es.net.http.header.Authorization"] = f"ApiKey {settings.es_api_key}"
    elif settings.es_user:
        options["es.net.http.auth.user"] = settings.es_user
        options["es.net.http.auth.pass"] = settings.es_password or ""
    return options


def keytool() -> Path:
    """The ``keytool`` of the lab's Java (``huntlab.java.find_java``)."""
    try:
        return find_java().tool("keytool")
    except HuntlabError as exc:
        raise HuntlabError(
            "keytool not found: the Spark connector needs a Java truststore for --es-ca / "
            f"HUNTLAB_ES_CA ({exc})"
        ) from exc


def truststore(ca_file: str | Path, settings: Settings | None = None) -> Path:
    """A PKCS12 truststore holding the certificates of the PEM (or DER) file ``ca_file``,
    built once with ``keytool`` and kept in ``<cache>/truststores/<sha256 of the file>.p12``."""
    ca = Path(ca_file).expanduser()
    try:
        data = ca.read_bytes()
    except OSError as exc:
        raise HuntlabError(f"{ca}: the CA certificate file cannot be read ({exc})") from exc
    cache = (settings.cache if settings is not None else cache_dir()) / "truststores"
    target = cache / f"{hashlib.sha256(data).hexdigest()}.p12"
    if target.is_file():
        return target
    tool = keytool()
    cache.mkdir(parents=True, exist_ok=True)
    # keytool -importcert takes one certificate per call: a bundle is split first.
    certificates = [pem + b"\n" for pem in _PEM_CERTIFICATE.findall(data)] or [data]
    # Built beside the target and renamed: a concurrent build never sees half a store.
    with tempfile.TemporaryDirectory(dir=cache, prefix=".build-") as tmp:
        store = Path(tmp) / "truststore.p12"
        for number, certificate in enumerate(certificates):
            cert_file = Path(tmp) / f"ca-{number}.crt"
            cert_file.write_bytes(certificate)
            result = subprocess.run(
                [
                    str(tool),
                    "-importcert",
                    "-noprompt",
                    "-storetype",
                    "PKCS12",
                    "-keystore",
                    str(store),
                    "-storepass",
                    TRUSTSTORE_PASSWORD,
                    "-alias",
                    f"huntlab-ca-{number}",
                    "-file",
                    str(cert_file),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise HuntlabError(
                    f"{ca}: keytool could not import certificate {number + 1} of "
                    f"{len(certificates)} into a truststore (exit {result.returncode}): "
                    f"{(result.stdout + result.stderr).strip()}"
                )
        store.replace(target)
    return target
