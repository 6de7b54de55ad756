"""TLS for a team server: a self-signed certificate for this host, or the user's own pair.

JupyterLab is the only service reachable beyond loopback, so it is the only one given TLS.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from huntlab.errors import HuntlabError
from huntlab.files import atomic_write

CERT_FILE = "jupyter.crt"
KEY_FILE = "jupyter.key"
VALID_DAYS = 825  # the longest lifetime browsers accept for a server certificate


@dataclass(frozen=True)
class TlsPair:
    cert: Path
    key: Path


def tls_dir(home: Path) -> Path:
    return home / "tls"


def _host_names() -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    names = {"localhost", socket.gethostname(), socket.getfqdn()}
    ips: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    for name in list(names):
        try:
            for info in socket.getaddrinfo(name, None):
                ips.add(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
        except (OSError, ValueError):
            continue  # a name that does not resolve still goes in as a DNS SAN
    # The address used to reach the rest of the network (no packet is sent by connect on UDP).
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            ips.add(ipaddress.ip_address(probe.getsockname()[0]))
    except OSError:
        pass
    return sorted(n for n in names if n), sorted(ips, key=str)


def self_signed(home: Path) -> TlsPair:
    """The home's self-signed certificate for this host, generated once and then reused."""
    folder = tls_dir(home)
    pair = TlsPair(folder / CERT_FILE, folder / KEY_FILE)
    if pair.cert.is_file() and pair.key.is_file():
        return pair
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError as exc:  # the lab extra brings it
        raise HuntlabError(
            "generating a TLS certificate needs the 'cryptography' package: "
            "pip install 'huntlab[lab]' (or pass --tls-cert and --tls-key)"
        ) from exc
    names, ips = _host_names()
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, socket.gethostname())])
    now = dt.datetime.now(dt.UTC)
    san: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    san += [x509.IPAddress(ip) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    # Both private (mode 600), like everything in the home.
    atomic_write(
        pair.key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    atomic_write(pair.cert, cert.public_bytes(serialization.Encoding.PEM))
    return pair


def user_pair(cert: str | Path, key: str | Path) -> TlsPair:
    """The user's certificate and key, checked to exist and to belong together."""
    pair = TlsPair(Path(cert).expanduser().resolve(), Path(key).expanduser().resolve())
    for path in (pair.cert, pair.key):
        if not path.is_file():
            raise HuntlabError(f"{path}: no such file (give --tls-cert and --tls-key as PEM files)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(pair.cert), str(pair.key))
    except (ssl.SSLError, OSError) as exc:
        raise HuntlabError(
            f"{pair.cert} and {pair.key} are not a PEM certificate and its private key ({exc})"
        ) from exc
    return pair


def fingerprint(cert: Path) -> str:
    """SHA-256 fingerprint of a PEM certificate, as browsers show it (AA:BB:...)."""
    try:
        der = ssl.PEM_cert_to_DER_cert(cert.read_text(encoding="ascii"))
    except (OSError, ValueError) as exc:
        raise HuntlabError(f"{cert}: not a readable PEM certificate ({exc})") from exc
    return der_fingerprint(der)


def der_fingerprint(der: bytes) -> str:
    import hashlib

    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def is_loopback(address: str) -> bool:
    if address in ("localhost", ""):
        return address == "localhost"
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
