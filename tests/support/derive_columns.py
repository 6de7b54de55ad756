"""Derive the canonical columns of every shared recording from the raw files, with the
standard library only (json, tarfile, zipfile), and write them to canonical_columns.json.

This is an oracle for the readers that does not come from the code under test: the rules
below are the ones docs/event-mapping.md states in words (Winlogbeat 6 field names to the
Windows names, nested event_data/user_data lifted to the top, Beats bookkeeping dropped,
case twins merged, nulls dropped), written down here independently of huntlab/mapping.json,
which the readers, the Spark reader and the ingest pipeline are all generated from. If the
mapping changes on purpose, rerun this script and review the difference in the JSON file:

    python -m tests.support.derive_columns
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.support.readers_data import EVENT_DATASETS, raw_lines

OUTPUT = Path(__file__).with_name("canonical_columns.json")

# Winlogbeat 6.x (the 2019 Mordor files): its names for the fields of the Windows event's
# <System> element, and the names the canonical table (and current Security-Datasets) uses.
WINLOGBEAT_NAMES = {
    "computer_name": "Hostname",
    "log_name": "Channel",
    "event_id": "EventID",
    "source_name": "SourceName",
    "message": "Message",
    "record_number": "RecordNumber",
    "task": "Task",
    "opcode": "Opcode",
    "level": "Level",
    "process_id": "ExecutionProcessID",
    "thread_id": "ThreadID",
    "provider_guid": "ProviderGuid",
    "version": "Version",
    "keywords": "Keywords",
    "activity_id": "ActivityID",
    "related_activity_id": "RelatedActivityID",
}
# Winlogbeat's "user" object: the account the event was logged for.
WINLOGBEAT_USER = {
    "identifier": "UserID",
    "name": "AccountName",
    "domain": "Domain",
    "type": "AccountType",
}
# What Beats, Logstash and NXLog add about themselves, not part of the event.
WINLOGBEAT_BOOKKEEPING = {"@metadata", "beat", "host", "type"}
NXLOG_BOOKKEEPING = {
    "@version",
    "host",
    "port",
    "tags",
    "SourceModuleName",
    "SourceModuleType",
    "EventReceivedTime",
}
# The same field spelled twice by different providers: one column.
CASE_TWINS = {"ProcessID": "ProcessId", "LogonID": "LogonId"}


def _present(record: dict[str, Any]) -> set[str]:
    return {key for key, value in record.items() if value is not None}


def columns_of_record(record: dict[str, Any]) -> set[str]:
    """The canonical columns one raw record fills."""
    if {"event_id", "source_name", "computer_name"} <= record.keys():  # Winlogbeat 2019
        names: set[str] = set()
        for key, value in record.items():
            if value is None or key in WINLOGBEAT_BOOKKEEPING:
                continue
            if key in ("event_data", "user_data") and isinstance(value, dict):
                names |= _present(value)
            elif key == "user" and isinstance(value, dict):
                names |= {WINLOGBEAT_USER.get(k, k) for k in _present(value)}
                if set(value) - set(WINLOGBEAT_USER):
                    names.add("user")  # what is left of the object stays, as JSON text
            else:
                names.add(WINLOGBEAT_NAMES.get(key, key))
    elif "@timestamp" in record:  # NXLog 2020: flat, Windows names already
        names = _present(record) - NXLOG_BOOKKEEPING
    else:  # reduced 2020: flat, no @timestamp; Sysmon's UtcTime gives one
        names = _present(record)
        if record.get("UtcTime") is not None:
            names.add("@timestamp")
    names = {CASE_TWINS.get(name, name) for name in names}
    return names | {"Dataset"}


def derive(datasets_dir: Path) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for dataset, relative in sorted(EVENT_DATASETS.items()):
        names: set[str] = set()
        for line in raw_lines(datasets_dir / relative):
            if line.strip():
                names |= columns_of_record(json.loads(line))
        result[dataset] = sorted(names)
    return result


def main() -> None:
    from tests.conftest import shared_dir

    text = json.dumps(derive(shared_dir() / "datasets"), indent=1, sort_keys=True) + "\n"
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
