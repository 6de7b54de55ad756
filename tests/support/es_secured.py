"""A second native Elasticsearch node as a team's existing cluster would be: security and
HTTP TLS on, the reserved ``elastic`` user (password from the keystore's
``bootstrap.password``), a CA and a node certificate made here, the ``.security`` index usable
(users, roles and API keys through the security API).

The ``.security`` index needs four analysis components of Elastic's analysis-common module,
which the integ-test-zip lacks; the node runs from
``tests.support.es_standin.standin_distribution``, a copy of the distribution with the
``huntlab-analysis-standin`` plugin (Lucene's own implementations under those names).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from huntlab.settings import Settings
from tests.support.fixtures.elasticsearch import free_port
from tests.support.pki import make_ca, make_node_cert, pem


@dataclass(frozen=True)
class SecuredNode:
    settings: Settings  # https URL, user elastic and its password, the CA
    ca_file: Path
    password_file: Path  # elastic's password on its first line (owner-only)
    wrong_ca: Path  # a CA that did not sign the node's certificate

    @property
    def url(self) -> str:
        return self.settings.es_url


@contextlib.contextmanager
def secured_node(home: Path, pki: Path, *, heap: str = "512m") -> Iterator[SecuredNode]:
    """Start the node in ``home`` (its own), certificates in ``pki``; stop it on leaving."""
    from huntlab.lab.native import elasticsearch
    from huntlab.settings import load_settings
    from tests.support.es_node import start_node
    from tests.support.es_standin import standin_distribution

    ca_cert, ca_key = make_ca("huntlab test CA")
    node_pem, key_pem = make_node_cert(ca_cert, ca_key)
    ca_file = pki / "ca.crt"
    ca_file.write_bytes(pem(ca_cert))
    wrong_ca = pki / "other-ca.crt"
    wrong_ca.write_bytes(pem(make_ca("another CA")[0]))
    port = free_port()
    password = secrets.token_urlsafe(18)
    password_file = pki / "elastic-password"
    password_file.touch(mode=0o600)
    password_file.write_text(password + "\n", encoding="utf-8")
    settings = load_settings(
        home=home,
        es_port=port,
        es_url=f"https://127.0.0.1:{port}",
        es_user="elastic",
        es_password=password,
        es_api_key="",
        es_ca=str(ca_file),
        es_heap=heap,
    )
    # The server reads certificates from its config folder only.
    certs = elasticsearch.node_paths(settings).config / "certs"
    certs.mkdir(parents=True)
    (certs / "ca.crt").write_bytes(pem(ca_cert))
    (certs / "node.crt").write_bytes(node_pem)
    (certs / "node.key").write_bytes(key_pem)
    start_node(
        settings,
        timeout=120,
        extra_config={
            "xpack.security.enabled": "true",
            "xpack.security.http.ssl.enabled": "true",
            "xpack.security.http.ssl.certificate": "certs/node.crt",
            "xpack.security.http.ssl.key": "certs/node.key",
            "xpack.security.http.ssl.certificate_authorities": "certs/ca.crt",
            # One node: nothing to protect on the transport layer.
            "xpack.security.transport.ssl.enabled": "false",
        },
        keystore={"bootstrap.password": password},
        dist=standin_distribution(settings),
    )
    try:
        yield SecuredNode(settings, ca_file, password_file, wrong_ca)
    finally:
        elasticsearch.stop(settings)
