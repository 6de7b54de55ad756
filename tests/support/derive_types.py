"""Derive the canonical table's numeric fields from their sources of truth, and check mapping.json.

The type rule (docs/event-mapping.md, "Numbers"): a field is a number (a 64-bit integer) in
every dataset and every runtime when

1. the OSSEM data dictionaries never type it as an identifier or a non-number (hexadecimal
   integers, pointers, GUIDs, SIDs, dates, booleans, addresses: ``NOT_NUMBERS``), and
2. either OSSEM types it as an integer (``UInt32``, ``UInt64``, ``integer``) wherever it
   documents it, or the recordings hold it; and
3. every value the recordings hold for it is a decimal integer in the 64-bit range (a JSON
   integer, or text of ASCII digits with an optional sign): so ``LogonType`` ("3") and
   ``DestPort`` ("5985", which the dictionaries call UnicodeString: the event manifest's
   type, not the value's) are numbers, and ``LogonId`` ("0x3e7", an "integer" in the Sysmon
   dictionary) and ``ProcessId`` (decimal in Sysmon, hexadecimal in the Security log) are text.

The dictionaries are ``../shared/ossem`` (OTRF/OSSEM-DD); the recordings every Windows event
archive under ``../shared/datasets`` and ``../shared/threathunter-playbook/datasets``. Field
names are the canonical ones (tests/support/derive_columns.py's rules, written apart from
huntlab's code). The derived list is what mapping.json's ``fields.numbers`` must hold
(tests/unit/test_field_types.py checks it); after a change of the rule or of the sources, run

    python -m tests.support.derive_types --write

and review the difference in src/huntlab/mapping.json.
"""

from __future__ import annotations

import json
import re
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import yaml

from tests.support.derive_columns import (
    CASE_TWINS,
    NXLOG_BOOKKEEPING,
    WINLOGBEAT_BOOKKEEPING,
    WINLOGBEAT_NAMES,
    WINLOGBEAT_USER,
)
from tests.support.paths import REPO

MAPPING = REPO / "src" / "huntlab" / "mapping.json"

INTEGER_TYPES = frozenset({"UInt8", "UInt16", "UInt32", "UInt64", "Int8", "Int16", "Int32",
                           "Int64", "integer", "long"})  # fmt: skip
NOT_NUMBERS = frozenset({"HexInt8", "HexInt16", "HexInt32", "HexInt64", "Pointer", "GUID",
                         "SID", "FILETIME", "SYSTEMTIME", "date", "boolean", "bool", "Boolean",
                         "ip", "Binary"})  # fmt: skip
DECIMAL = re.compile(r"[+-]?[0-9]+")
INT64 = (-(2**63), 2**63 - 1)
# Fields the table gives a type of its own (not a number): its core, and EventID (a 32-bit
# integer already).
SET_APART = frozenset({"@timestamp", "EventID", "Dataset"})


def ossem_types(ossem: Path) -> dict[str, set[str]]:
    """Raw field name -> the types the dictionaries give it, over every event."""
    types: dict[str, set[str]] = {}
    for path in sorted(ossem.glob("windows/**/events/*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for entry in doc.get("event_fields") or []:
            name, kind = entry.get("name"), entry.get("type")
            if name and kind:
                types.setdefault(CASE_TWINS.get(name, name), set()).add(str(kind))
    return types


def _json_lines(archive: Path) -> Iterator[bytes]:
    """The lines of every JSON member of ``archive`` (zip or tar.gz); a damaged archive gives
    what it holds up to the damage (the readers' tests cover such files)."""
    if archive.name.endswith((".tar.gz", ".tgz")):
        try:
            with tarfile.open(archive) as tar:
                for info in tar:
                    if info.isfile() and info.name.endswith(".json"):
                        stream = tar.extractfile(info)
                        assert stream is not None
                        yield from stream
        except (tarfile.TarError, EOFError, OSError):
            return
        return
    with zipfile.ZipFile(archive) as zipped:
        for name in zipped.namelist():
            if name.endswith(".json"):
                with zipped.open(name) as stream:
                    yield from stream


def values_of_record(record: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(canonical field, raw value) of one raw record, values not null, objects left out."""
    if {"event_id", "source_name", "computer_name"} <= record.keys():  # Winlogbeat 2019
        for key, value in record.items():
            if value is None or key in WINLOGBEAT_BOOKKEEPING:
                continue
            if key in ("event_data", "user_data") and isinstance(value, dict):
                yield from ((k, v) for k, v in value.items() if v is not None)
            elif key == "user" and isinstance(value, dict):
                yield from ((WINLOGBEAT_USER.get(k, k), v) for k, v in value.items()
                            if v is not None)  # fmt: skip
            else:
                yield WINLOGBEAT_NAMES.get(key, key), value
    else:  # the 2020 formats: flat, Windows names already
        yield from ((k, v) for k, v in record.items()
                    if v is not None and k not in NXLOG_BOOKKEEPING)  # fmt: skip


def is_decimal(value: Any) -> bool:
    """A decimal integer in the 64-bit range: a JSON integer, or such text."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return False
    if isinstance(value, str) and not DECIMAL.fullmatch(value):
        return False
    return INT64[0] <= int(value) <= INT64[1]


def recorded(archives: list[Path]) -> dict[str, bool]:
    """Canonical field -> whether every value the recordings hold for it is decimal."""
    decimal: dict[str, bool] = {}
    for archive in archives:
        for line in _json_lines(archive):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(record, dict):
                continue
            for name, value in values_of_record(record):
                name = CASE_TWINS.get(name, name)
                if decimal.get(name, True):
                    decimal[name] = is_decimal(value)
    return decimal


def windows_archives(shared: Path) -> list[Path]:
    """Every Windows event archive of the shared recordings (network captures left out)."""
    found = [
        p
        for p in sorted((shared / "datasets" / "windows").rglob("*"))
        if p.name.endswith((".zip", ".tar.gz")) and "network" not in p.parts
    ]
    found += sorted((shared / "threathunter-playbook" / "datasets").glob("*.zip"))
    found += sorted((shared / "threathunter-playbook" / "datasets").glob("*.tar.gz"))
    return found


def derive(shared: Path) -> list[str]:
    """The numeric fields, by the rule of this module's docstring."""
    types = ossem_types(shared / "ossem")
    held = recorded(windows_archives(shared))
    numbers = []
    for name in sorted(set(types) | set(held)):
        kinds = types.get(name, set())
        if name in SET_APART or kinds & NOT_NUMBERS:
            continue
        documented = bool(kinds) and kinds <= INTEGER_TYPES
        if name in held:
            if held[name]:
                numbers.append(name)
        elif documented:
            numbers.append(name)
    return numbers


def main() -> None:
    from tests.conftest import shared_dir

    numbers = derive(shared_dir())
    if "--write" in sys.argv[1:]:
        # One line of the hand-laid-out file changes: the rest keeps its layout.
        text = MAPPING.read_text(encoding="utf-8")
        line = f'    "numbers": {json.dumps(numbers)},'
        text, count = re.subn(r'(?m)^    "numbers": \[.*\],$', lambda _: line, text)
        assert count == 1, 'mapping.json has no one-line "numbers": [...] entry'
        MAPPING.write_text(text, encoding="utf-8")
        print(f"wrote {len(numbers)} numeric fields to {MAPPING}", file=sys.stderr)
    else:
        print("\n".join(numbers))


if __name__ == "__main__":
    main()
