"""TLS for a team server: a self-signed certificate for this host, or the user's own pair,
for the door (JupyterLab or the hub); and a small CA of the lab's own for Logstash's inputs,
whose shippers authenticate with a client certificate it signs (:func:`logstash_pki`).
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


def public_host() -> str:
    """This host's name as teammates type it: its fully qualified name when it has a real
    one, else its host name (the self-signed certificate names both), else the address it
    reaches the network from. Never "localhost", which names each reader's own machine."""
    for name in (socket.getfqdn(), socket.gethostname()):
        if name and name != "localhost" and not name.startswith("localhost."):
            return name
    _, ips = _host_names()
    outward = [str(ip) for ip in ips if not ip.is_loopback]
    return outward[0] if outward else "localhost"


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


# --- Logstash's inputs: a CA of the lab's, a server certificate, one client certificate -------

LOGSTASH_DIR = "logstash"
CA_VALID_DAYS = 3650


@dataclass(frozen=True)
class LogstashPki:
    folder: Path
    ca: Path  # the CA's certificate: shippers trust it, Logstash checks clients with it
    cert: Path  # Logstash's server certificate (this host's names, and "logstash")
    key: Path  # its key, PKCS#8 (what the Beats input wants)
    client_cert: Path  # the shippers' client certificate (Winlogbeat's ssl.certificate)
    client_key: Path


def logstash_pki(home: Path, extra_names: tuple[str, ...] = ()) -> LogstashPki:
    """The home's Logstash PKI, generated once and then reused (every file mode 600): a CA,
    Logstash's server certificate for this host (and ``extra_names``), and a client
    certificate for the team's shippers."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError as exc:  # the lab extra brings it
        raise HuntlabError(
            "generating certificates needs the 'cryptography' package: pip install 'huntlab[lab]'"
        ) from exc
    folder = tls_dir(home) / LOGSTASH_DIR
    pki = LogstashPki(folder, folder / "ca.crt", folder / "logstash.crt", folder / "logstash.key",
                      folder / "shipper.crt", folder / "shipper.key")  # fmt: skip
    if all(p.is_file() for p in (pki.ca, pki.cert, pki.key, pki.client_cert, pki.client_key)):
        return pki
    now = dt.datetime.now(dt.UTC)

    def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())  # fmt: skip

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "huntlab Logstash CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip

    def leaf(common_name: str, usage: x509.ObjectIdentifier,
             san: list[x509.GeneralName] | None) -> tuple[bytes, bytes]:  # fmt: skip
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )  # fmt: skip
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), pem_key(key)

    names, ips = _host_names()
    san: list[x509.GeneralName] = [x509.DNSName(n) for n in sorted({*names, "logstash"})]
    for extra in extra_names:
        try:
            ips.append(ipaddress.ip_address(extra))
        except ValueError:
            san.append(x509.DNSName(extra))
    san += [x509.IPAddress(ip) for ip in sorted(set(ips), key=str)]
    server_cert, server_key = leaf("logstash", ExtendedKeyUsageOID.SERVER_AUTH, san)
    client_cert, client_key = leaf("huntlab-shipper", ExtendedKeyUsageOID.CLIENT_AUTH, None)
    atomic_write(pki.key, server_key)
    atomic_write(pki.cert, server_cert)
    atomic_write(pki.client_key, client_key)
    atomic_write(pki.client_cert, client_cert)
    atomic_write(pki.ca, ca.public_bytes(serialization.Encoding.PEM))
    # The CA's key is not kept: a new shipper certificate means a new PKI (delete the folder).
    return pki
