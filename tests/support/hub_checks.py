"""What the team server tests of both runtimes do the same way: log in through the hub's
form, open a browser that trusts exactly the lab's certificate, and the kernels' checks of
Elasticsearch rights and Spark caps. ``lab`` is a team lab fixture of either runtime (``url``,
``cert``)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import requests

from tests.support.browser import chromium

WAIT = 120


def try_login(
    lab: Any, name: str, password: str, session: requests.Session | None = None
) -> tuple[requests.Session, requests.Response]:
    """Post the hub's login form (as a browser navigating would); the answer is not followed."""
    session = session or requests.Session()
    if "_xsrf" not in session.cookies:
        session.get(f"{lab.url}/hub/login", verify=lab.cert, timeout=30)
    answer = session.post(
        f"{lab.url}/hub/login",
        data={"username": name, "password": password, "_xsrf": session.cookies.get("_xsrf")},
        verify=lab.cert, timeout=120, allow_redirects=False,
        headers={"Sec-Fetch-Mode": "navigate"},
    )  # fmt: skip
    return session, answer


def login(lab: Any, name: str, password: str) -> requests.Session:
    session, answer = try_login(lab, name, password)
    assert answer.status_code == 302, (answer.status_code, answer.text[-2000:])
    return session


def pinned_chromium(tmp_path: Path, cert_path: str) -> Any:
    """Headless Chromium trusting exactly the lab's self-signed certificate (its key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")
    return chromium(tmp_path / "chromium", f"--ignore-certificate-errors-spki-list={pin}")


# A hunter's kernel: who Elasticsearch says they are, what they may read and write (SHARED,
# OTHER and NAME are replaced: a shared index, another hunter, this hunter).
KERNEL_ES = """
import json
import huntlab
from huntlab.es.client import client
es = client(huntlab.load_settings())
out = {"who": es.security.authenticate()["username"],
       "count": es.count(index="SHARED")["count"]}
def status(call):
    try:
        call()
        return 200
    except Exception as exc:
        return getattr(exc, "status_code", None) or getattr(getattr(exc, "meta", None), "status", None)
out["index_shared"] = status(lambda: es.index(index="SHARED", document={"x": 1}))
out["delete_shared"] = status(lambda: es.indices.delete(index="SHARED"))
out["index_other"] = status(lambda: es.index(index="huntlab-user-OTHER-notes", document={"x": 1}))
es.index(index="huntlab-user-NAME-notes", document={"note": "mine"}, refresh=True)
out["own"] = es.count(index="huntlab-user-NAME-notes")["count"]
print(json.dumps(out))
"""


# A hunter's kernel: a Spark job on the lab's cluster, named hunt-NAME (its cap shows there).
KERNEL_SPARK = """
import huntlab.spark
spark = huntlab.spark.session("hunt-NAME")
print(spark.range(0, 3_000_000, numPartitions=4).selectExpr("sum(id) as s").collect()[0]["s"])
"""
