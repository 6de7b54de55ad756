"""Zircolite's method, as an independent oracle and as the benchmark's baseline.

Zircolite (https://github.com/wagga40/Zircolite) flattens each evtx_dump ``{"Event": ...}``
record into one row of an in-memory SQLite table ``logs`` whose columns are ``TEXT COLLATE
NOCASE``, registers a ``regexp`` function, and runs every rule as the SQL pySigma's SQLite
backend writes for it. Nothing here uses huntlab's reader, logsource map or IR: the flattening
and the logsource conditions (SigmaHQ's tests/thor.yml, which its evtx-sigma-checker uses)
are written out again below, so an agreement with huntlab's engine means something.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.rule import SigmaRule

SYSMON = "Microsoft-Windows-Sysmon/Operational"
# tests/thor.yml in SigmaHQ/sigma: category -> Sysmon event IDs (EventID only; Sysmon's
# channel added here so that other channels' events with the same number stay out).
THOR_SYSMON = {
    "process_creation": (1,),
    "file_change": (2,),
    "network_connection": (3,),
    "sysmon_status": (4, 16),
    "process_termination": (5,),
    "driver_load": (6,),
    "image_load": (7,),
    "create_remote_thread": (8,),
    "raw_access_thread": (9,),
    "process_access": (10,),
    "file_event": (11,),
    "registry_add": (12,),
    "registry_delete": (12,),
    "registry_set": (13,),
    "registry_rename": (14,),
    "registry_event": (12, 13, 14),
    "create_stream_hash": (15,),
    "pipe_created": (17, 18),
    "wmi_event": (19, 20, 21),
    "dns_query": (22,),
    "file_delete": (23, 26),
    "clipboard_capture": (24,),
    "process_tampering": (25,),
    "file_block_executable": (27,),
    "file_block_shredding": (28,),
    "file_executable_detected": (29,),
}
SERVICES = {
    "security": ("Security",),
    "system": ("System",),
    "application": ("Application",),
    "sysmon": (SYSMON,),
    "powershell": ("Microsoft-Windows-PowerShell/Operational",),
    "taskscheduler": ("Microsoft-Windows-TaskScheduler/Operational",),
}


def evtx_dump_records(path: Path) -> Iterator[dict[str, Any]]:
    """The ``{"Event": ...}`` objects of an evtx_dump JSON file (concatenated, not lines)."""
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        obj, pos = decoder.raw_decode(text, pos)
        yield obj


def flatten(record: dict[str, Any]) -> dict[str, str]:
    """Zircolite's flattening: leaf names only; XML attributes as ``Element_Attribute``."""
    out: dict[str, str] = {}

    def walk(value: Any, name: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "#attributes":
                    for attr, attr_value in inner.items():
                        if attr != "xmlns":
                            walk(attr_value, f"{name}_{attr}" if name else attr)
                elif key == "#text":
                    walk(inner, name)
                else:
                    walk(inner, key)
        elif value is not None:
            out.setdefault(name, value if isinstance(value, str) else json.dumps(value))

    event = record.get("Event", record)
    walk(event.get("System", {}), "")
    for part in ("EventData", "UserData"):
        if part in event:
            walk(event[part], "")
    return out


def _regexp(pattern: str, value: Any) -> bool:
    return value is not None and re.search(pattern, str(value)) is not None


def database(rows: Iterable[dict[str, str]]) -> sqlite3.Connection:
    """An in-memory ``logs`` table, one TEXT COLLATE NOCASE column per field name."""
    rows = list(rows)
    columns: dict[str, str] = {}
    for row in rows:
        for name in row:
            columns.setdefault(name.lower(), name)
    conn = sqlite3.connect(":memory:")
    conn.create_function("regexp", 2, _regexp, deterministic=True)
    names = list(columns.values())
    spec = ", ".join(f'"{n}" TEXT COLLATE NOCASE' for n in names)
    conn.execute(f"CREATE TABLE logs (row_id INTEGER PRIMARY KEY, {spec})")
    marks = ", ".join("?" * (len(names) + 1))
    lower = {n.lower(): i for i, n in enumerate(names)}
    data = []
    for i, row in enumerate(rows):
        values: list[Any] = [None] * len(names)
        for name, value in row.items():
            values[lower[name.lower()]] = value
        data.append([i, *values])
    conn.executemany(f"INSERT INTO logs VALUES ({marks})", data)
    return conn


@dataclass(frozen=True)
class SqlRule:
    id: str
    title: str
    where: str  # logsource and detection, one SQL condition


def _logsource_sql(rule: SigmaRule) -> str | None:
    ls = rule.logsource
    if ls.product != "windows":
        return None
    parts = []
    if ls.category:
        ids = THOR_SYSMON.get(ls.category)
        if ids is None:
            return None
        parts.append(f"Channel = '{SYSMON}' AND EventID IN ({', '.join(map(str, ids))})")
    if ls.service:
        channels = SERVICES.get(ls.service)
        if channels is None:
            return None
        parts.append("Channel IN (" + ", ".join(f"'{c}'" for c in channels) + ")")
    return " AND ".join(f"({p})" for p in parts) or "1"


@cache
def _backend() -> sqliteBackend:
    return sqliteBackend()


def sql_rule(path: Path) -> SqlRule | None:
    """The rule in ``path`` as SQL, or None where the backend or the logsource table above
    cannot express it."""
    collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
    [rule] = collection.rules
    if not isinstance(rule, SigmaRule):
        return None
    source = _logsource_sql(rule)
    if source is None:
        return None
    try:
        queries = _backend().convert_rule(rule)
    except Exception:  # the backend's refusal: the oracle has no opinion on this rule
        return None
    prefix = "SELECT * FROM logs WHERE "
    conditions = [q[len(prefix) :] for q in queries if q.startswith(prefix)]
    if len(conditions) != len(queries):
        return None
    detection = " OR ".join(f"({c})" for c in conditions)
    return SqlRule(str(rule.id), rule.title, f"({source}) AND ({detection})")


def matching_rows(conn: sqlite3.Connection, rule: SqlRule) -> list[int]:
    """Row numbers (insertion order, from 0) of the events ``rule`` matches."""
    cursor = conn.execute(f"SELECT row_id FROM logs WHERE {rule.where} ORDER BY row_id")
    return [r[0] for r in cursor]
