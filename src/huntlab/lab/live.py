"""The live-data path of the docker runtime, checked end to end: one probe event sent to
Logstash's HTTP input (TLS, its user) and found in the lab's indexes, as docker-elk's CI does.

The probe is a Sysmon process creation in Winlogbeat's layout, its ``computer_name`` a marker
made for this check, so that what the ingest pipeline ``huntlab-mordor`` makes of it (a
``huntlab-sysmon`` document whose ``Hostname`` is the marker) is found by that marker alone.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huntlab.errors import HuntlabError, ServiceError

PROBE_HOST_PREFIX = "huntlab-live-check-"


def new_marker() -> str:
    return f"{PROBE_HOST_PREFIX}{secrets.token_hex(6)}"


def probe_event(marker: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """A Sysmon event 1 (process creation) as Winlogbeat 6 ships it, from host ``marker``."""
    now = now or dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    guid = (
        "{" + secrets.token_hex(4).upper() + "-0000-0000-0000-" + secrets.token_hex(6).upper() + "}"
    )
    return {
        "@timestamp": stamp,
        "event_id": 1,
        "source_name": "Microsoft-Windows-Sysmon",
        "log_name": "Microsoft-Windows-Sysmon/Operational",
        "computer_name": marker,
        "record_number": "1",
        "level": "Information",
        "message": "Process Create: huntlab live-data check",
        "event_data": {
            "UtcTime": now.strftime("%Y-%m-%d %H:%M:%S.") + f"{now.microsecond // 1000:03d}",
            "ProcessGuid": guid,
            "ProcessId": "4242",
            "Image": "C:\\Windows\\System32\\cmd.exe",
            "CommandLine": f"cmd.exe /c echo {marker}",
            "User": "HUNTLAB\\checker",
            "ParentImage": "C:\\Windows\\explorer.exe",
            "ParentCommandLine": "C:\\Windows\\explorer.exe",
        },
    }


def found_query(marker: str) -> dict[str, Any]:
    """The query that finds the probe's document (a keyword ``Hostname``, or a text one)."""
    return {
        "query": {
            "bool": {
                "should": [
                    {"term": {"Hostname": marker}},
                    {"match_phrase": {"Hostname": marker}},
                ],
                "minimum_should_match": 1,
            }
        }
    }


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def send(url: str, user: str, password: str, ca: Path, event: dict[str, Any]) -> int:
    """POST the event to Logstash's HTTP input over TLS (trusting only ``ca``); its status."""
    context = ssl.create_default_context(cafile=str(ca))
    request = urllib.request.Request(
        url, data=json.dumps(event).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": _basic(user, password)},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise HuntlabError(f"Logstash at {url} refused the HTTP input's user {user}: check "
                               "LOGSTASH_HTTP_USER/LOGSTASH_HTTP_PASSWORD in docker/.env") from exc  # fmt: skip
        raise ServiceError(f"Logstash at {url} answered {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ServiceError(f"Logstash's HTTP input at {url} does not answer over TLS ({exc}); "
                           "is it running (`huntlab status`)?") from exc  # fmt: skip


def count(es_url: str, user: str, password: str, marker: str, index: str = "huntlab-*") -> int:
    """Documents of the lab's indexes from host ``marker``."""
    request = urllib.request.Request(
        f"{es_url.rstrip('/')}/{index}/_count", data=json.dumps(found_query(marker)).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": _basic(user, password)},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(json.load(response)["count"])


def wait_found(counter: Callable[[], int], timeout: float, poll: float = 1.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        found = counter()
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(poll)
