"""Files that are not Windows event logs, read as tables of their own.

Azure Sentinel / Log Analytics exports (GoldenSAML, Log4Shell Syslog rows), Microsoft 365
Defender exports, Zeek TSV logs and raw auditd logs keep their own columns; only their time
column is parsed into ``@timestamp`` (UTC) so they line up with the event table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from huntlab.errors import DataFormatError, json_problem
from huntlab.readers import mapping as m
from huntlab.readers.sources import (
    ArchiveError,
    Member,
    iter_lines,
    iter_members,
    list_files,
    resolve_source,
)

_AUDIT = re.compile(rb"^type=(\S+) msg=audit\((\d+(?:\.\d+)?):(\d+)\):\s?(.*)$")
_KV = re.compile(r'(\w+)=("[^"]*"|\S+)')


def _json_table(member: Member, first: bytes, lines: Any) -> tuple[str, pd.DataFrame]:
    rows: list[dict[str, Any]] = []
    number = 0
    for number, line in enumerate(_chain(first, lines), 1):
        if not line.strip():
            continue
        try:
            rows.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise DataFormatError(member.name, number, json_problem(exc)) from exc
    fmt = m.detect_table_format(rows[0]) or m.detect_event_format(rows[0]) or "json"
    frame = pd.DataFrame.from_records(rows)
    for name in frame.columns:
        col = frame[name]
        if col.map(lambda v: isinstance(v, dict | list)).any():
            frame[name] = col.map(
                lambda v: orjson.dumps(v).decode() if isinstance(v, dict | list) else v
            )
    spec = m.mapping()["tables"].get(fmt, {})
    for time_col in spec.get("timestamp", ()):
        if time_col in frame.columns:
            frame.insert(
                0, "@timestamp", pd.to_datetime(frame[time_col], utc=True, format="ISO8601")
            )
            break
    return fmt, frame


def _chain(first: bytes, rest: Any) -> Any:
    yield first
    yield from rest


def _zeek_table(member: Member, first: bytes, lines: Any) -> pd.DataFrame:
    separator = "\t"
    fields: list[str] = []
    rows: list[list[str | None]] = []
    unset, empty = "-", "(empty)"
    for number, raw in enumerate(_chain(first, lines), 1):
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if line.startswith("#"):
            key, _, value = line[1:].partition(" " if line.startswith("#separator") else separator)
            if key == "separator":
                separator = value.encode().decode("unicode_escape")
            elif key == "fields":
                fields = value.split(separator)
            elif key == "unset_field":
                unset = value
            elif key == "empty_field":
                empty = value
            continue
        if not line:
            continue
        if not fields:
            raise DataFormatError(member.name, number, "Zeek log row before its #fields header")
        values = line.split(separator)
        rows.append([None if v in (unset, empty) else v for v in values])
    frame = pd.DataFrame(rows, columns=fields or None)
    if "ts" in frame.columns:
        # Epoch seconds with microseconds: rounded to whole microseconds, as Zeek wrote them.
        micros = (frame["ts"].astype(float) * 1_000_000).round().astype("int64")
        frame.insert(0, "@timestamp", pd.to_datetime(micros, unit="us", utc=True))
    return frame


def _audit_table(member: Member, first: bytes, lines: Any) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for number, raw in enumerate(_chain(first, lines), 1):
        if not raw.strip():
            continue
        match = _AUDIT.match(raw.rstrip(b"\r\n"))
        if match is None:
            raise DataFormatError(
                member.name, number, "not an auditd line (type=... msg=audit(...))"
            )
        row: dict[str, Any] = {
            "type": match[1].decode(),
            "@timestamp": float(match[2]),
            "serial": match[3].decode(),
        }
        for key, value in _KV.findall(match[4].decode("utf-8", errors="replace")):
            row.setdefault(key, value.strip('"'))
        rows.append(row)
    frame = pd.DataFrame.from_records(rows)
    frame["@timestamp"] = pd.to_datetime(frame["@timestamp"], unit="s", utc=True)
    return frame


def _member_table(member: Member) -> tuple[str, pd.DataFrame] | None:
    lines = iter_lines(member)
    for first in lines:
        if first.strip():
            break
    else:
        return None
    if first.startswith(b"#separator"):
        return "zeek-tsv", _zeek_table(member, first, lines)
    if first.startswith(b"type=") and b"msg=audit(" in first:
        return "auditd", _audit_table(member, first, lines)
    if first.lstrip().startswith(b"{"):
        return _json_table(member, first, lines)
    return None


def read_tables(source: str | Path) -> dict[str, pd.DataFrame]:
    """Every file of ``source`` as its own table, keyed by file (``archive.zip!member``).

    Packet captures and unknown binary files are left out.
    """
    path, _ = resolve_source(source)
    tables: dict[str, pd.DataFrame] = {}
    for file in list_files(path):
        try:
            for member in iter_members(file):
                result = _member_table(member)
                if result is not None:
                    tables[member.name] = result[1]
        except ArchiveError as exc:
            raise DataFormatError(exc.name, exc.line + 1, exc.problem) from exc
    if not tables:
        raise DataFormatError(str(path), None, "no JSON-lines, Zeek or auditd file here")
    return tables


def read_table(source: str | Path, name: str | None = None) -> pd.DataFrame:
    """One table of ``source``: the only one, or the one whose file name contains ``name``
    (``read_table(zeek_zip, "conn.log")``)."""
    tables = read_tables(source)
    if name is not None:
        tables = {k: v for k, v in tables.items() if name in k.rsplit("!", 1)[-1]}
    if len(tables) == 1:
        return next(iter(tables.values()))
    names = ", ".join(k.rsplit("!", 1)[-1] for k in (tables or read_tables(source)))
    raise DataFormatError(
        str(source),
        None,
        f"{'several' if tables else 'no matching'} tables: {names}",
        "pick one with read_table(source, name) or use read_tables",
    )
