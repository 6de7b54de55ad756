"""Spark standalone master URLs: their parts, whether they are this host's, and the address a
driver must serve on for that master's executors to reach it."""

from __future__ import annotations

import ipaddress
import re
import socket

from huntlab.errors import HuntlabError

# spark://HOST:PORT, or spark://H1:P1,H2:P2 for masters in ZooKeeper's high availability.
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")


def parse_master(url: str) -> list[tuple[str, int]]:
    """The (host, port) pairs of a ``spark://`` master URL; a clear error otherwise."""
    if not url.startswith("spark://"):
        raise HuntlabError(
            f"Spark master {url!r}: expected spark://HOST:PORT (a standalone master, e.g. "
            "spark://spark.example.org:7077)"
        )
    out = []
    for part in url[len("spark://") :].rstrip("/").split(","):
        match = _HOST_PORT.match(part.strip())
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise HuntlabError(
                f"Spark master {url!r}: {part!r} is not HOST:PORT (e.g. spark://host:7077)"
            )
        out.append((match.group(1).strip("[]"), int(match.group(2))))
    return out


def _is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def driver_address(url: str) -> str:
    """The local address a driver serves on (SPARK_LOCAL_IP) for the executors of ``url``'s
    workers to reach it: loopback for a master on this host, otherwise the address this host
    routes to that master from (no packet is sent: a UDP socket only picks its route)."""
    host, port = parse_master(url)[0]
    if _is_loopback(host):
        return "127.0.0.1"
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(sockaddr)
            return str(probe.getsockname()[0])
    except OSError as exc:
        raise HuntlabError(
            f"Spark master {url}: no route from this host to {host}:{port} ({exc}); check the "
            "name and the network, or return to the lab's own cluster with "
            "`huntlab up --spark-master local`"
        ) from exc


def reachable(url: str, timeout: float = 5.0) -> str | None:
    """None when some master of ``url`` accepts a TCP connection; else why not."""
    problems = []
    for host, port in parse_master(url):
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return None
        except OSError as exc:
            problems.append(f"{host}:{port}: {exc.strerror or exc}")
    return "; ".join(problems)
