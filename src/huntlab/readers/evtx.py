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


def _system_rules() -> dict[str, tuple[str | None, dict[str, str]]]:
    """``_SYSTEM`` by element: (the canonical name of its text, {attribute: canonical name}).
    A dotted name is an element's name too (XML allows it), as a lookup by the whole name
    would take it."""
    rules: dict[str, tuple[str | None, dict[str, str]]] = {}
    for key, name in _SYSTEM.items():
        element, dot, attribute = key.partition(".")
        text_name, attributes = rules.get(element, (None, {}))
        if dot:
            attributes[attribute] = name
            rules[key] = (name, {})
        else:
            text_name = name
        rules[element] = (text_name, attributes)
    return rules


_SYSTEM_RULES = _system_rules()


# flatten runs once per record, so its loops look up each key once and call no helper for
# the common case (a plain value); the first value given for a name wins throughout.
def _system(system: dict[str, Any], out: dict[str, Any]) -> None:
    rules = _SYSTEM_RULES
    for element, value in system.items():
        rule = rules.get(element)
        if rule is None:
            continue
        name, attributes = rule
        if isinstance(value, dict):
            if name is not None:
                text = value.get("#text")
                if text is not None and name not in out:
                    out[name] = text
            for attribute, attr_value in (value.get("#attributes") or {}).items():
                attr_name = attributes.get(attribute)
                if attr_name is not None and attr_value is not None and attr_name not in out:
                    out[attr_name] = attr_value
        elif name is not None and value is not None and name not in out:
            out[name] = value


def _data(data: Any, out: dict[str, Any]) -> None:
    """EventData or UserData's fields under their own names (UserData's wrapper element and
    XML attributes such as xmlns dropped)."""
    if not isinstance(data, dict):
        if data is not None and "EventData" not in out:
            out["EventData"] = data
        return
    values = data.values()
    if (
        "#attributes" not in data
        and "#text" not in data
        and None not in values
        and dict not in set(map(type, values))
        and out.keys().isdisjoint(data)
    ):
        out.update(data)  # the common case (flat fields, new names), checked and done in C
        return
    for key, value in data.items():
        if value is None or key == "#attributes":
            continue
        if isinstance(value, dict):
            if "#text" in value:
                value = value["#text"]
            if isinstance(value, dict):
                _data(value, out)  # UserData: <EventXML xmlns=...><Field>...</Field></EventXML>
                continue
            if value is None:
                continue
        if key == "#text":
            key = "Data"
        if key not in out:
            out[key] = value


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """One ``{"Event": ...}`` record as a flat event (System fields first: they win)."""
    event = record.get("Event", record)
    out: dict[str, Any] = {}
    system = event.get("System")
    if system:
        _system(system, out)
    if "EventData" in event:
        _data(event["EventData"], out)
    if "UserData" in event:
        _data(event["UserData"], out)
    return out


def _flatten_dump(parsed: Any) -> dict[str, Any] | None:
    """``flatten`` of one evtx_dump object, or None if it is not ``{"Event": {...}}`` with
    the parts in their shapes (JSON can hold anything; the Rust parser's records always are)."""
    if not isinstance(parsed, dict) or not isinstance(parsed.get("Event"), dict):
        return None
    try:
        return flatten(parsed)
    except (AttributeError, RecursionError):  # a System that is not an object, and kin
        return None


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


class _FlatRecord(RawRecord):
    """The RawRecord of one event of a .evtx or evtx_dump file. Its ``raw`` (the flat record
    as JSON) is written when asked for, by a reject or the Spark reader: most records are kept
    and never need it."""

    __slots__ = ()

    def __init__(self, file: str, line: int, dataset: str, data: dict[str, Any]) -> None:
        self.file = file
        self.line = line
        self.format = FLAT_FORMAT
        self.dataset = dataset
        self.data = data

    @property
    def raw(self) -> bytes:  # type: ignore[override]  # read-only: nothing sets a record's raw
        return orjson.dumps(self.data)


def records(run: Run, path: Path, kind: str, dataset: str | None) -> Iterator[RawRecord]:
    """The RawRecords of one .evtx or evtx_dump JSON file, in the flat ``FLAT_FORMAT``."""
    name = str(path)
    report = run.report
    report.files[name] = kind
    if dataset is None:
        dataset = path.name.rsplit(".", 1)[0] if "." in path.name else path.name
    if kind == EVTX:
        try:
            for number, parsed in _evtx_records(path):
                flat = flatten(parsed)
                report.read += 1
                yield _FlatRecord(name, number, dataset, flat)
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
        event = _flatten_dump(parsed)
        if event is None:
            run.reject(name, number, 'not an evtx_dump {"Event": ...} object', text)
            continue
        report.read += 1
        yield _FlatRecord(name, number, dataset, event)
