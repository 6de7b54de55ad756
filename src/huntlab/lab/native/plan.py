"""The native lab's shape: where each service listens, derived from the settings."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from huntlab.errors import HuntlabError
from huntlab.lab import tls
from huntlab.lab.config import read_config
from huntlab.lab.native import elasticsearch, external_es
from huntlab.settings import DEFAULT_BIND, Settings

# config.json's key for `huntlab up --spark-master URL` (removed by `--spark-master local`).
EXTERNAL_MASTER_KEY = "spark_master_external"


@dataclass(frozen=True)
class LabPlan:
    """Where each service listens, derived from the settings."""

    settings: Settings
    tls: tls.TlsPair | None
    # An existing cluster's master (`huntlab up --spark-master URL`): the lab runs no Spark.
    spark_external: str | None = None
    # An existing Elasticsearch cluster (`huntlab up --es-url URL`): the lab runs no node.
    es_external: str | None = None

    @property
    def home(self) -> Path:
        return self.settings.home

    @property
    def es_url(self) -> str:
        return self.es_external or elasticsearch.local_url(self.settings)

    @property
    def es_settings(self) -> Settings:
        """The settings the native node runs with: always on loopback, whatever address
        Jupyter serves on; an existing cluster's URL and credentials when the lab uses one."""
        if self.es_external:
            return external_es.settings_for(replace(self.settings, listen=DEFAULT_BIND))
        return replace(self.settings, listen=DEFAULT_BIND, es_url=self.es_url)

    @property
    def spark_master_url(self) -> str:
        if self.spark_external:
            return self.spark_external
        return f"spark://127.0.0.1:{self.settings.spark_master_port}"

    @property
    def spark_master_ui(self) -> str:
        return f"http://127.0.0.1:{self.settings.spark_master_ui_port}"

    @property
    def spark_worker_ui(self) -> str:
        return f"http://127.0.0.1:{self.settings.spark_worker_ui_port}"

    @property
    def jupyter_scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def jupyter_probe(self) -> str:
        """The URL huntlab itself uses to reach Jupyter (loopback when it listens on all)."""
        host = self.settings.listen
        if host in ("0.0.0.0", "::", "", "localhost"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"{self.jupyter_scheme}://{host}:{self.settings.jupyter_port}"

    @property
    def jupyter_url(self) -> str:
        """The URL to give people: this host's name when Jupyter listens beyond loopback."""
        host = self.settings.listen
        if host in ("0.0.0.0", "::"):
            host = tls.public_host()
        if ":" in host:
            host = f"[{host}]"
        return f"{self.jupyter_scheme}://{host}:{self.settings.jupyter_port}"


def plan(
    settings: Settings,
    *,
    tls_self_signed: bool = False,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> LabPlan:
    """Check the listening address against the TLS choice; generate a certificate if asked."""
    if bool(tls_cert) != bool(tls_key):
        raise HuntlabError("give both --tls-cert and --tls-key (PEM files), or neither")
    pair: tls.TlsPair | None = None
    if tls_cert and tls_key:
        pair = tls.user_pair(tls_cert, tls_key)
    elif tls_self_signed:
        pair = tls.self_signed(settings.home)
    if not tls.is_loopback(settings.listen) and pair is None:
        raise HuntlabError(
            f"--listen {settings.listen} would expose JupyterLab beyond this machine without "
            "TLS: add --tls (a self-signed certificate for this host) or --tls-cert and "
            "--tls-key (your own)"
        )
    return LabPlan(
        settings, pair, external_master(settings.home), external_es.external_url(settings.home)
    )


def external_master(home: Path) -> str | None:
    """The existing cluster's master the lab was pointed at (None: the lab's own Spark)."""
    value = read_config(home).get(EXTERNAL_MASTER_KEY)
    return str(value) if value else None


def recorded_plan(settings: Settings) -> LabPlan:
    """The lab as ``huntlab up`` recorded it (its certificate), for later commands."""
    stored = read_config(settings.home)
    pair = None
    if stored.get("tls_cert") and stored.get("tls_key"):
        pair = tls.TlsPair(Path(stored["tls_cert"]), Path(stored["tls_key"]))
    return LabPlan(
        settings, pair, external_master(settings.home), external_es.external_url(settings.home)
    )
