"""Windows ``.evtx`` files, and the JSON ``evtx_dump`` writes, as canonical events.

``.evtx`` is parsed by the ``evtx`` package (a Rust parser); ``evtx_dump``'s JSON is a run of
pretty-printed ``{"Event": ...}`` objects (not JSON lines; one object per line is read too).
Both give the same ``{"Event": {"System": ..., "EventData"|"UserData": ...}}`` records, which
``flatten`` turns into the flat shape of the 2020 Security-Datasets files (the ``nxlog-2020``
format of mapping.json), so the usual normaliser, the Spark reader and the ingest pipeline
take them unchanged: System fields to ``@timestamp``, ``Hostname``, ``Channel``, ``EventID``,
``SourceName`` (and kin, below), EventData and UserData fields under their own names.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from huntlab.errors import json_problem
from huntlab.readers.records import RawRecord

if TYPE_CHECKING:
    from huntlab.readers.events import Run

EVTX = "evtx"
EVTX_JSON = "evtx-json"
# The mapping.json format whose flat shape the records are given (see the module notes).
FLAT_FORMAT = "nxlog-2020"
_MAGIC = b"ElfFile\x00"

# <System> element -> canonical name; attributes as "Element.Attribute".
_SYSTEM = {
    "Provider.Name": "SourceName",
    "Provider.Guid": "ProviderGuid",
    "Provider.EventSourceName": "EventSourceName",
    "EventID": "EventID",
    "EventID.Qualifiers": "Qualifiers",
    "Version": "Version",
    "Level": "Level",
    "Task": "Task",
    "Opcode": "Opcode",
    "Keywords": "Keywords",
    "TimeCreated.SystemTime": "@timestamp",
    "EventRecordID": "RecordNumber",
    "Correlation.ActivityID": "ActivityID",
    "Correlation.RelatedActivityID": "RelatedActivityID",
    "Execution.ProcessID": "ExecutionProcessID",
    "Execution.ThreadID": "ThreadID",
    "Channel": "Channel",
    "Computer": "Hostname",
    "Security.UserID": "UserID",
}


def file_kind(path: Path) -> str | None:
    """``EVTX``, ``EVTX_JSON`` or None (another kind of file)."""
    if not path.is_file():
        return None
    with path.open("rb") as stream:
        head = stream.read(512)
    if head.startswith(_MAGIC) or path.suffix.lower() == ".evtx":
        return EVTX
    text = head.lstrip()
    if text.startswith(b"{") and text[1:].lstrip().startswith(b'"Event"'):
        return EVTX_JSON
    return None


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and key not in out:
        out[key] = value


def _system(system: dict[str, Any], out: dict[str, Any]) -> None:
    for element, value in system.items():
        if isinstance(value, dict):
            text = value.get("#text")
            name = _SYSTEM.get(element)
            if name is not None and text is not None:
                _put(out, name, text)
            for attribute, attr_value in (value.get("#attributes") or {}).items():
                name = _SYSTEM.get(f"{element}.{attribute}")
                if name is not None:
                    _put(out, name, attr_value)
        else:
            name = _SYSTEM.get(element)
            if name is not None:
                _put(out, name, value)


def _data(data: Any, out: dict[str, Any]) -> None:
    """EventData or UserData's fields under their own names (UserData's wrapper element and
    XML attributes such as xmlns dropped)."""
    if not isinstance(data, dict):
        if data is not None:
            _put(out, "EventData", data)
        return
    for key, value in data.items():
        if key == "#attributes":
            continue
        if isinstance(value, dict) and "#text" in value:
            value = value["#text"]
        if isinstance(value, dict):
            _data(value, out)  # UserData: <EventXML xmlns=...><Field>...</Field></EventXML>
        else:
            _put(out, "Data" if key == "#text" else key, value)


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """One ``{"Event": ...}`` record as a flat event (System fields first: they win)."""
    event = record.get("Event", record)
    out: dict[str, Any] = {}
    _system(event.get("System") or {}, out)
    for part in ("EventData", "UserData"):
        if part in event:
            _data(event[part], out)
    return out


def _evtx_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    from evtx import PyEvtxParser

    parser = PyEvtxParser(str(path))
    for number, item in enumerate(parser.records_json(), start=1):
        if item is not None:
            yield number, orjson.loads(item["data"])


def _json_objects(path: Path) -> Iterator[tuple[int, bytes]]:
    """(first line, text) of each top-level object: evtx_dump closes each with ``}`` alone at
    the start of a line; an object on one line (JSON lines) stands alone."""
    chunk: list[bytes] = []
    start = 0
    with path.open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            if not chunk:
                if not line.strip():
                    continue
                start = number
                stripped = line.rstrip()
                if stripped.startswith(b"{") and stripped.endswith(b"}") and len(stripped) > 1:
                    yield start, stripped  # one object on this line
                    continue
            chunk.append(line)
            if line.rstrip() == b"}":
                yield start, b"".join(chunk)
                chunk = []
    if chunk:
        yield start, b"".join(chunk)


def records(run: Run, path: Path, kind: str, dataset: str | None) -> Iterator[RawRecord]:
    """The RawRecords of one .evtx or evtx_dump JSON file, in the flat ``FLAT_FORMAT``."""
    name = str(path)
    run.report.files[name] = kind
    if dataset is None:
        dataset = path.name.rsplit(".", 1)[0] if "." in path.name else path.name
    if kind == EVTX:
        try:
            for number, parsed in _evtx_records(path):
                flat = flatten(parsed)
                run.report.read += 1
                yield RawRecord(name, number, FLAT_FORMAT, dataset, flat, orjson.dumps(flat))
        except (OSError, RuntimeError) as exc:
            # The Rust parser raises RuntimeError on damaged chunks.
            run.reject(name, None, f"not a readable .evtx file ({exc})", b"")
        return
    for number, text in _json_objects(path):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            run.reject(name, number, json_problem(exc), text)
            continue
        if not isinstance(parsed, dict) or "Event" not in parsed:
            run.reject(name, number, 'not an evtx_dump {"Event": ...} object', text)
            continue
        flat = flatten(parsed)
        run.report.read += 1
        yield RawRecord(name, number, FLAT_FORMAT, dataset, flat, orjson.dumps(flat))
